"""What a window is for, read from its title and application: the places where the gate asks.

Two questions, answered by meaning rather than by one spelling:

- **Is typed text a command here?** A terminal (by its emulator or its shell prompt), a
  PowerShell or cmd window, a database console or an interpreter's prompt runs what is typed
  when Return is pressed; a mail, chat or document window does not, whatever the text says.
- **Is this a place where a click commits something?** Paying, transferring money, checking
  out, deleting an account, formatting a volume, terminating cloud machines, sending crypto,
  online banking, password managers and authentication dialogs, in several languages. Clicks,
  keys and typing there ask a person; scrolling, pointing and reading never do.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from perception.windows import WindowInfo
from safety.normalise import fold

Language = Literal["shell", "windows", "sql", "code", "prose", "unknown"]


@dataclass(frozen=True)
class Place:
    """What the gate knows of the window an action goes to."""

    language: Language  # how typed text is read there
    sensitive: str = ""  # why acting here needs a person ("" when it does not)


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


# Terminal emulators and shells, by application or title; prompts such as user@host:~$ .
_TERMINAL = _words(
    r"\b(x|u|rxvt-unicode|u?rxvt|gnome-|mate-|xfce4-|lx|q|deepin-|cool-retro-)term\b", r"\bterminal\b", r"\bkonsole\b",
    r"\bterminator\b", r"\btilix\b", r"\balacritty\b", r"\bkitty\b", r"\bwezterm\b", r"\bfoot\b", r"\bguake\b",
    r"\byakuake\b", r"\btilda\b", r"\bst-256color\b", r"\bhyper\b", r"\biterm2?\b", r"\btmux\b", r"\bscreen\b",
    r"\bwarp\b", r"\bputty\b", r"\bmobaxterm\b", r"\bcloud shell\b", r"\bconsole\b", r"\bshell\b", r"\bptyxis\b",
    r"\bblackbox\b", r"\bcontour\b", r"\bkgx\b", r"\bssh\b", r"^(ba|z|fi|k|c|tc|da)?sh$", r"^(bash|zsh|fish|sh)\b",
    r"\b(bash|zsh|fish|dash|ksh)\b", r"[\w.\-]+@[\w.\-]+\s*:\s*[~/]", r"^[~/][\w./\-]*$", r"[$#]\s*$",
    r"\brun (a )?command\b", r"^run$")
_POWERSHELL = _words(r"\bpowershell\b", r"\bpwsh\b", r"\bps [a-z]:\\")
_CMD = _words(r"\bcommand prompt\b", r"\bcmd(\.exe)?\b", r"^[a-z]:\\.*>$", r"\\system32\\")
_SQL = _words(r"\bpsql\b", r"\bmysql\b", r"\bmariadb\b", r"\bsqlite3?\b", r"\bpgadmin\b", r"\bdbeaver\b",
              r"\bquery (tool|editor|console|window)\b", r"\bsql\b", r"\bdatagrip\b", r"\btableplus\b",
              r"\bphpmyadmin\b", r"\bheidisql\b", r"\bdb browser\b", r"\bdatabase\b", r"\bmongo(sh| shell| compass)?\b",
              r"\bredis\b", r"\bclickhouse\b", r"\bduckdb\b", r"\bsnowflake\b", r"\bbigquery\b", r"\bsupabase\b",
              r"\bworkbench\b", r"\bazure data studio\b", r"\bssms\b", r"\bmanagement studio\b")
_CODE = _words(r"\bpython( ?3)?( shell| console| repl| interpreter)?\b", r"\bipython\b", r"\bjupyter(lab)?\b",
               r"\.ipynb\b",
               r"\bidle\b", r"\bnode(\.js)?( repl)?\b", r"\birb\b", r"\brepl\b", r"\bdevtools\b",
               r"\bdeveloper tools\b", r"\bjavascript console\b", r"\bscratchpad\b", r"\bpry\b", r"\bghci\b",
               r"\bspyder\b", r"\bthonny\b", r"\bnotebook\b", r"\bcolab\b")
_PROSE = _words(
    r"\bthunderbird\b", r"\bevolution\b", r"\bgeary\b", r"\bclaws\b", r"\bmutt\b", r"\boutlook\b", r"\bgmail\b",
    r"\bmail\b", r"\bcompose\b", r"\bnew message\b", r"^write:", r"\breply\b", r"\bre:", r"\bfwd?:",
    r"\bslack\b", r"\bdiscord\b", r"\bteams\b", r"\btelegram\b", r"\bsignal\b", r"\bwhatsapp\b", r"\belement\b",
    r"\bmattermost\b", r"\brocket\.chat\b", r"\bzulip\b", r"\bmessenger\b", r"\bchat\b", r"\bwechat\b",
    r"\bwriter\b", r"\bword\b", r"\bdocs\b", r"\bdocument\b", r"\bnotes?\b", r"\bobsidian\b", r"\bnotion\b",
    r"\bjoplin\b", r"\bgedit\b", r"\btext editor\b", r"\bmousepad\b", r"\bkate\b", r"\bnotepad\b",
    r"\btextedit\b", r"\babiword\b", r"\bonenote\b", r"\bevernote\b", r"\bcalc\b", r"\bexcel\b", r"\bsheets\b",
    r"\bspreadsheet\b", r"\bimpress\b", r"\bpowerpoint\b", r"\bslides\b", r"\bwordpad\b", r"\bpages\b",
    r"\bkeynote\b", r"\bnumbers\b", r"\bblog\b", r"\bcomment\b", r"\bforum\b", r"\bwiki\b", r"\.(txt|md|docx?|odt|rtf)\b",
    # code editors: what is typed is written into a file, not run
    r"\bvisual studio code\b", r"\bvs ?code\b", r"\bvscodium\b", r"\bsublime text\b", r"\bintellij\b", r"\bpycharm\b",
    r"\bwebstorm\b", r"\bgoland\b", r"\bclion\b", r"\brider\b", r"\bandroid studio\b", r"\beclipse\b", r"\bnetbeans\b",
    r"\bzed\b", r"\batom\b", r"\bgeany\b", r"\bbluefish\b", r"\bnotepad\+\+", r"\bemacs\b", r"\bgvim\b",
    r"\bkwrite\b", r"\bxed\b", r"\bpluma\b", r"\bgnome text editor\b")

_SENSITIVE: list[tuple[str, re.Pattern[str]]] = [
    ("payment or checkout", _words(
        r"\bcheck ?out\b", r"\bpay(ment|ments|ing)?\b(?! history)", r"\bpay now\b", r"\bpaypal\b", r"\bstripe\b",
        r"\bbilling\b", r"\bpurchase\b", r"\bbuy( now)?\b", r"\bplace (your )?order\b", r"\bcomplete (your )?order\b",
        r"\breview (your )?order\b", r"\bbestellen\b", r"\bpedido\b", r"заказ", r"\bzamówienie\b", r"\bsiparış",
        r"\bconfirm (your )?order\b", r"\bcomplete purchase\b", r"\border summary\b", r"\bsubscri(be|ption) (now|plan)",
        r"\bupgrade (plan|now)\b", r"\bcredit card\b", r"\bcard details\b", r"\bapple pay\b", r"\bgoogle pay\b",
        r"\bklarna\b", r"\bcheckout\.", r"\bkasse\b", r"\bzahlung\b", r"\bbezahl", r"\bbestellung (abschlie|aufgeben)",
        r"\bjetzt kaufen\b", r"\bpaiement\b", r"\bpayer\b", r"\bcommande\b", r"\bpago\b", r"\bpagar\b",
        r"\bfinalizar compra\b", r"\bpagamento\b", r"\bpagare\b", r"支付", r"付款", r"结账", r"結帳", r"收银台",
        r"お支払い", r"支払", r"決済", r"ご購入", r"購入手続き", r"レジに進む", r"결제", r"оплат")),
    ("money transfer or banking", _words(
        r"\btransfer\b.*\b(money|funds|to)\b", r"\b(money|wire|bank|funds?) transfer\b", r"\bwire\b.*\bfunds?\b",
        r"\bsend money\b", r"\bsend funds\b", r"\bremittance\b", r"\bwise\b.*\btransfer", r"\bvenmo\b", r"\bzelle\b",
        r"\bcash ?app\b", r"\brevolut\b", r"\bwestern union\b", r"\bmoneygram\b", r"\bbanking\b", r"\bonline bank",
        r"\bbank(ing)? (of|account|app)\b", r"\b(chase|hsbc|barclays|santander|wells fargo|citibank|n26|ing|bnp|"
        r"sparkasse|commerzbank|deutsche bank|lloyds|natwest|monzo|bunq|credit agricole|société générale)\b",
        r"\bauthori[sz]e (payment|transfer|transaction)\b", r"\b(approve|confirm) (the )?(payment|transfer|transaction)\b",
        r"\bwire funds\b", r"\büberweisung\b", r"\bvirement\b", r"\btransferencia\b", r"\bbonifico\b", r"转账",
        r"汇款", r"银行", r"銀行", r"振込", r"送金", r"송금", r"은행", r"перевод", r"\bprzelew\b", r"\bbank\b.*\bonline\b",
        r"\bonline\b.*\bbank\b", r"\bpix\b", r"\bsepa\b", r"\bswift transfer\b")),
    ("deleting an account", _words(
        r"\b(delete|close|deactivate|terminate|remove|cancel)\b.{0,30}\baccount\b", r"\baccount deletion\b",
        r"\bkonto (löschen|schließen)\b", r"\bsupprimer (mon |le )?compte\b", r"\beliminar (mi |la )?cuenta\b",
        r"注销账号", r"删除账号", r"アカウント削除", r"退会")),
    ("deleting or cancelling something", _words(
        r"\b(delete|remove|erase|destroy|wipe|purge|permanently)\b", r"\bempty (the )?(trash|bin|recycle bin)\b",
        r"\bfrom (the )?trash\b", r"\bcancel (your |my )?(membership|subscription|plan|order|booking)\b",
        r"\bunsubscribe\b", r"\bfactory reset\b", r"\bdanger zone\b", r"\breset (this|your) (pc|device|phone)\b", r"\blöschen\b",
        r"\bsupprimer\b", r"\beliminar\b", r"\bborrar\b", r"删除", r"刪除", r"削除", r"삭제")),
    ("booking or ordering", _words(
        r"\bconfirm (your )?(booking|reservation|order|purchase)\b", r"\bbook now\b", r"\breserve now\b",
        r"\bcomplete (your )?(booking|reservation)\b", r"注文", r"確定", r"下单", r"提交订单", r"予約")),
    ("formatting a volume or editing partitions", _words(
        r"\bformat(ting)? (the )?(volume|disk|drive|partition|usb|sd card)\b", r"\bgparted\b", r"\bkde partition",
        r"\bpartition (manager|editor)\b", r"\bdisk management\b", r"\bdisks\b$", r"^disks\b", r"\berase (disk|drive|volume)\b",
        r"\bdisk utility\b", r"\bwipe (disk|drive)\b", r"\bstartup disk creator\b", r"\bbalena ?etcher\b",
        r"\brufus\b", r"\bformatieren\b", r"\bformater\b", r"格式化", r"フォーマット")),
    ("cloud machines and resources", _words(
        r"\bterminate (the )?instances?\b", r"\bdelete (the )?(instance|cluster|bucket|droplet|vm|project|database|stack)s?\b",
        r"\bec2\b", r"\baws (management )?console\b", r"\bconsole\.aws\b", r"\bgoogle cloud console\b",
        r"\bconsole\.cloud\.google\b", r"\bazure portal\b", r"\bportal\.azure\b", r"\bdigitalocean\b",
        r"\blinode\b", r"\bhetzner cloud\b", r"\bvultr\b", r"\bheroku\b.*\b(delete|destroy)", r"\bdestroy\b.*\b(stack|droplet|vm)\b",
        r"\bcloudflare\b.*\bdelete")),
    ("file that controls log-in or access", _words(
        r"\bauthorized_keys\b", r"\.ssh\b", r"\.(bashrc|bash_profile|profile|zshrc|zprofile|xinitrc|xprofile)\b",
        r"\bsudoers\b", r"\bcrontab\b", r"/etc/(passwd|shadow|hosts|fstab|environment)\b", r"\bid_(rsa|ed25519|ecdsa)\b")),
    ("crypto wallet", _words(
        r"\bmetamask\b", r"\bwallet\b", r"\bcoinbase\b", r"\bbinance\b", r"\bkraken\b", r"\bledger live\b",
        r"\btrezor\b", r"\bexodus\b", r"\bphantom\b", r"\belectrum\b", r"\bwasabi\b", r"\bsparrow\b", r"\bmonero\b",
        r"\bbitcoin core\b", r"\batomic wallet\b", r"\brabby\b", r"\btrust wallet\b", r"\bsend (eth|btc|bitcoin|ether|usdt|sol|crypto)\b",
        r"\b(eth|btc|sol|usdc|usdt) transfer\b", r"\bswap tokens\b", r"\buniswap\b", r"\bsign transaction\b", r"钱包",
        r"ウォレット")),
    ("password manager or keyring", _words(
        r"\b1password\b", r"\bkeepass(xc)?\b", r"\bbitwarden\b", r"\blastpass\b", r"\bdashlane\b", r"\bnordpass\b",
        r"\bproton pass\b", r"\benpass\b", r"\bkeychain\b", r"\bkeyring\b", r"\bseahorse\b", r"\bpasswords and keys\b",
        r"\bpassword (manager|vault|safe|store)\b", r"\bvault\b", r"\bkwallet\b", r"\bgnome-keyring\b",
        r"\bpasswort-?manager\b", r"\bgestionnaire de mots de passe\b", r"密码管理", r"パスワードマネージャ")),
    ("authentication", _words(
        r"\bauthenticat(e|ion|or)\b", r"\bpolkit\b", r"\bpkexec\b", r"\bsudo\b.*\bpassword\b", r"\bsign[ -]?in\b", r"\blog[ -]?in\b",
        r"\blogon\b", r"\bpassword\b", r"\bpasswort\b", r"\bmot de passe\b", r"\bcontraseña\b", r"\bsenha\b",
        r"\bpassphrase\b", r"\bpin\b", r"\bcredentials?\b", r"\btwo[- ]factor\b", r"\b2fa\b", r"\bmfa\b", r"\botp\b",
        r"\bverification code\b", r"\bsecurity code\b", r"\bone[- ]time (code|password)\b", r"\bunlock\b",
        r"\buser account control\b", r"\buac\b", r"\bsingle sign[- ]on\b", r"\bsso\b", r"\boauth\b",
        r"\bauthori[sz]e (app|access|application)\b", r"\banmelden\b", r"\bconnexion\b", r"\bse connecter\b",
        r"\biniciar sesión\b", r"\baccedi\b", r"登录", r"登入", r"登錄", r"密码", r"密碼", r"ログイン", r"パスワード",
        r"サインイン", r"로그인", r"비밀번호", r"вход", r"парол")),
]
# Titles that name those subjects without being such a place: reading about them, or histories.
_HARMLESS_SUBJECT = _words(r"\bwikipedia\b", r"\bhow (to|does|do)\b", r"\btutorial\b", r"\bdocumentation\b",
                           r"\bdocs\b", r"\bblog\b", r"\bnews\b", r"\bhistory\b", r"\breport(s)?\b", r"\bstatement(s)?\b",
                           r"\bsettings\b.*\bappearance\b", r"\bmdn\b", r"\bstack overflow\b", r"\bgithub\b.*\bissue",
                           r"\bforgot\b.*\bsubject\b")


def place_of(window: WindowInfo | None) -> Place:
    """What the gate knows of ``window`` (None: nothing is known)."""
    if window is None:
        return Place("unknown")
    title = fold(window.title).strip()
    app = fold(window.app).strip()
    language = _language(title, app)
    # words in other scripts are matched as written too: folding look-alikes helps Latin words only
    readings = {title, app, unicodedata.normalize("NFKC", window.title).casefold(),
                unicodedata.normalize("NFKC", window.app).casefold()}
    sensitive = _sensitive(readings)
    if language == "prose" and sensitive not in ("authentication", "password manager or keyring",
                                                 "file that controls log-in or access"):
        sensitive = ""  # a mail or a chat about paying is not a payment page
    return Place(language, sensitive)


_REPL_TITLE = re.compile(r"(?i)^(python[0-9.]*|ipython3?|node|irb|php|lua|ghci|bpython|ptpython)\b\s*(-|—|–|$)")


def _language(title: str, app: str) -> Language:
    if _REPL_TITLE.match(title):  # "node - Terminal": the terminal runs an interpreter
        return "code"
    for text in (app, title):
        if not text:
            continue
        if _POWERSHELL.search(text) or _CMD.search(text):
            return "windows"
        if _SQL.search(text):
            return "sql"
        if _TERMINAL.search(text):
            return "shell"
        if _CODE.search(text):
            return "code"
        if _PROSE.search(text):
            return "prose"
    return "unknown"


def _sensitive(readings: set[str]) -> str:
    for why, pattern in _SENSITIVE:
        for text in readings:
            if text and pattern.search(text) and not _HARMLESS_SUBJECT.search(text):
                return why
    return ""

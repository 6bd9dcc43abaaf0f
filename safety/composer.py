"""What is being typed, followed across actions, so that a command is judged as it will run.

A model can type ``rm -r`` in one action, `` -f ~`` in the next and press Return in a third;
it can type keys one at a time, backspace a harmless word into a dangerous one, move the
cursor home and prefix ``sudo``, or paste what it copied elsewhere. :class:`Composer` keeps the
line of each window as a readline-style editor would (cursor, kill keys, history recall) and
says, for each action, which pieces of text arrive and which lines would run.

Terminals change language with what runs in them: after ``psql`` the lines are SQL, after
``python3`` they are Python, until ``\\q`` or ``exit()``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace

from actions.keys import MODIFIERS, chord
from actions.schema import Action
from safety.places import Language

_SHIFTED = dict(zip("`1234567890-=[]\\;',./", "~!@#$%^&*()_+{}|:\"<>?"))
_NAMED_CHARACTERS = {"space": " ", "tab": "\t"}
_INTERACTIVE = {"psql": "sql", "mysql": "sql", "mariadb": "sql", "sqlite3": "sql", "sqlcmd": "sql", "duckdb": "sql",
                "mongosh": "sql", "mongo": "sql", "redis-cli": "sql", "pgcli": "sql", "mycli": "sql", "litecli": "sql",
                "python": "code", "python3": "code", "ipython": "code", "ipython3": "code", "node": "code",
                "irb": "code", "php": "code", "perl": "code", "lua": "code", "bpython": "code", "ptpython": "code",
                "ssh": "shell", "bash": "shell", "sh": "shell", "zsh": "shell", "fish": "shell", "su": "shell",
                "pwsh": "windows", "powershell": "windows"}
_LEAVE = {"exit", "logout", "quit", "\\q", "exit()", "quit()", ".exit", "\\quit", "q()", "exit;", "quit;"}


@dataclass(frozen=True)
class Typed:
    """What one action does to the text of its window."""

    pieces: tuple[str, ...] = ()  # text as it arrives (each typed string)
    runs: tuple[tuple[str, Language], ...] = ()  # complete lines that run, with the language they run in
    tails: tuple[tuple[str, Language], ...] = ()  # each run from where one of its typed pieces began
    line: str = ""  # the window's text after the action (the line being composed, or the field)
    unseen: str = ""  # why a line that runs holds text the gate has not seen ("" when it saw all)
    prompted: str = ""  # the program whose password prompt the typed text answers ("" when none)


@dataclass
class _Line:
    text: str = ""
    cursor: int = 0
    origins: list[int] = field(default_factory=list)  # which typed piece each character came from
    pending: str = ""  # earlier lines of a command continued with \, an open quote or a pipe
    unseen: str = ""
    doubtful: bool = False  # something happened that the line model does not follow (a click, an unknown key)
    prompted: str = ""  # a program that asks for a password ran: the next line answers it
    doubted: set[int] = field(default_factory=set)  # pieces typed since then
    modes: list[Language] = field(default_factory=list)

    def copy(self) -> _Line:
        return replace(self, modes=list(self.modes), origins=list(self.origins), doubted=set(self.doubted))

    def tails(self) -> list[str]:
        """The line from where each piece typed after something the model does not follow
        begins: if that cleared the line or moved the cursor, one of these is what runs."""
        starts = sorted({self.origins.index(o) for o in self.doubted if o in self.origins} - {0})
        return [self.text[i:] for i in starts]


class Composer:
    """The text of each window, as the actions the gate allowed have left it."""

    def __init__(self) -> None:
        self._lines: dict[str, _Line] = {}
        self._clipboard: str | None = ""
        self._approved: set[str] = set()
        self._pending: tuple[str, _Line, str | None] | None = None
        self._pieces = 0
        self._last_key_piece = 0

    def preview(self, action: Action, window: str, language: Language) -> Typed:
        """What ``action`` would do in ``window``; the state changes only on :meth:`commit`."""
        line = (self._lines.get(window) or _Line()).copy()
        clipboard = self._clipboard
        pieces: list[str] = []
        runs: list[tuple[str, Language]] = []
        tails: list[tuple[str, Language]] = []
        unseen = ""
        self._pieces += 1
        piece = self._pieces

        prompted = line.prompted

        def submit(force: bool = False) -> None:
            nonlocal unseen
            text = line.pending + line.text
            if not force and _continues(text, line.modes[-1] if line.modes else language):
                line.pending = text + "\n"
                _clear(line)
                return
            mode = line.modes[-1] if line.modes else language
            if text.strip():
                runs.append((text, mode))
                tails.extend((tail, mode) for tail in line.tails() if tail.strip())
            unseen = unseen or line.unseen
            answered_prompt = line.prompted
            line.prompted = "" if answered_prompt else _prompts_for_password(text, language)
            if not answered_prompt:
                _switch_mode(line, text, language)
            line.pending, line.unseen, line.doubtful = "", "", False
            line.doubted.clear()
            _clear(line)

        name = action.action
        if line.doubtful and name in ("type", "key"):
            line.doubted.add(piece)
        if name == "type":
            pieces.append(action.text)
            for character in action.text:
                if character in "\n\r":
                    submit()
                elif character in "\b\x7f":
                    _backspace(line)
                elif character == "\x15":
                    _cut(line, 0, line.cursor)
                elif character == "\t" or ord(character) >= 32:
                    _insert(line, character, piece)
        elif name == "key":
            keys = set(chord(action.keys))
            main = [k for k in keys if k not in MODIFIERS]
            held = keys - set(main)
            key = main[0] if len(main) == 1 else ""
            runs_editor = key in ("f5", "f9") and language in ("sql", "windows", "code")
            if not _modelled(key, held, language):
                line.doubtful = True
            if key == "enter" or runs_editor:
                submit(force=runs_editor or bool(held - {"shift"}) or (key == "enter" and "shift" in held))
            elif key == "esc" and language == "windows":  # PowerShell and cmd clear the line
                _clear(line)
            elif not held - {"shift"} and key:
                if key == "backspace":
                    _backspace(line)
                elif key == "delete":
                    _cut(line, line.cursor, line.cursor + 1)
                elif key in ("left", "right", "home", "end"):
                    line.cursor = {"left": max(0, line.cursor - 1), "right": min(len(line.text), line.cursor + 1),
                                   "home": 0, "end": len(line.text)}[key]
                elif key in ("up", "down", "pageup", "pagedown"):
                    _clear(line)
                    line.unseen = "a command recalled from the shell's history"
                elif key == "insert" and held == {"shift"}:
                    _paste(line, clipboard, piece)
                elif key in _NAMED_CHARACTERS or len(key) == 1:
                    character = _NAMED_CHARACTERS.get(key, key)
                    if "shift" in held:
                        character = _SHIFTED.get(character, character.upper())
                    pieces.append(character)
                    # keys typed one at a time make one piece, as long as they follow each other
                    if line.cursor and line.origins[line.cursor - 1] == self._last_key_piece:
                        piece = self._last_key_piece
                    _insert(line, character, piece)
                    self._last_key_piece = piece
            elif held == {"ctrl"} and key:
                if key == "c":
                    _clear(line)
                    line.pending, line.unseen = "", ""
                elif key == "u":
                    _cut(line, 0, line.cursor)
                elif key == "k":
                    _cut(line, line.cursor, len(line.text))
                elif key == "w":
                    _delete_word(line)
                elif key in ("a", "e"):
                    line.cursor = 0 if key == "a" else len(line.text)
                elif key in ("j", "m", "o"):
                    submit()
                elif key == "h":
                    _backspace(line)
                elif key in ("p", "n", "r"):
                    _clear(line)
                    line.unseen = "a command recalled from the shell's history"
                elif key == "v":
                    _paste(line, clipboard, piece)
                elif key == "x":
                    clipboard = line.text
                elif key == "d" and not line.text and line.modes:
                    line.modes.pop()
            elif held == {"ctrl", "shift"} and key in ("v", "c"):
                if key == "v":
                    _paste(line, clipboard, piece)
                else:
                    clipboard = line.text
            elif held == {"alt"} and key in ("b", "f", "backspace", "d"):
                if key == "backspace":
                    _delete_word(line)
                else:
                    line.cursor = _word_edge(line, forward=key != "b")
        elif name == "middle_click":
            line.unseen = "text pasted with the middle button (the selection the gate has not seen)"
        elif name in ("left_click", "double_click", "triple_click", "right_click", "left_click_drag"):
            if language in ("shell", "windows", "sql", "code"):
                line.doubtful = True  # another pane, tab or editor line may have the focus now
            else:
                line = _Line(modes=line.modes)  # most likely another field now: its text is its own
        self._pending = (window, line, clipboard)
        return Typed(tuple(pieces), tuple(runs), tuple(tails), line.pending + line.text, unseen, prompted)

    def commit(self) -> None:
        """The previewed action happened."""
        if self._pending is not None:
            window, line, clipboard = self._pending
            self._lines[window] = line
            self._clipboard = clipboard
            self._pending = None

    def approve(self, text: str) -> None:
        """A person approved typing ``text``: running exactly that line is approved too."""
        self._approved.add(text.strip())

    def approved(self, text: str) -> bool:
        return text.strip() in self._approved


def _insert(line: _Line, text: str, piece: int) -> None:
    line.text = line.text[:line.cursor] + text + line.text[line.cursor:]
    line.origins[line.cursor:line.cursor] = [piece] * len(text)
    line.cursor += len(text)


def _cut(line: _Line, start: int, end: int) -> None:
    line.text = line.text[:start] + line.text[end:]
    del line.origins[start:end]
    line.cursor = start if line.cursor >= start else line.cursor
    line.cursor = min(line.cursor, len(line.text))


def _clear(line: _Line) -> None:
    line.text, line.cursor, line.origins = "", 0, []


def _backspace(line: _Line) -> None:
    if line.cursor:
        _cut(line, line.cursor - 1, line.cursor)


def _paste(line: _Line, clipboard: str | None, piece: int) -> None:
    if clipboard:
        _insert(line, clipboard, piece)
    else:
        line.unseen = "text pasted from the clipboard, which the gate has not seen"


def _word_edge(line: _Line, forward: bool) -> int:
    if forward:
        match = re.compile(r"\W*\w+").match(line.text, line.cursor)
        return match.end() if match else len(line.text)
    before = line.text[:line.cursor]
    match = re.search(r"\w+\W*$", before)
    return match.start() if match else 0


def _delete_word(line: _Line) -> None:
    before = line.text[:line.cursor].rstrip(" ")
    _cut(line, len(before) - len(before.split(" ")[-1]), line.cursor)


_MODELLED = {frozenset(): {"backspace", "delete", "left", "right", "home", "end", "up", "down", "pageup", "pagedown",
                           "tab", "space", "insert"},
             frozenset({"ctrl"}): set("cukwaejmohpnrvxdl"),
             frozenset({"ctrl", "shift"}): {"v", "c"},
             frozenset({"alt"}): {"b", "f", "backspace", "d"}}


def _modelled(key: str, held: set[str], language: Language) -> bool:
    """Whether the line model follows what this key does to a command line."""
    if key in ("enter", "") or (key == "esc" and language == "windows") or key in ("f5", "f9"):
        return True
    allowed = _MODELLED.get(frozenset(held - {"shift"}) if "ctrl" not in held else frozenset(held), set())
    return key in allowed or (len(key) == 1 and not held - {"shift"})


_PASSWORD_PROMPTS = {"ssh", "su", "sudo", "passwd", "doas", "pkexec", "kinit", "ssh-add", "scp", "sftp", "login",
                     "htpasswd", "vncpasswd", "smbpasswd", "chpasswd", "sshpass", "ftp", "telnet", "openssl"}


def _prompts_for_password(text: str, language: Language) -> str:
    """A program that asks for a password after it starts (``ssh host``, ``sudo ...``, ``mysql -p``)."""
    if language not in ("shell", "unknown"):
        return ""
    try:
        words = shlex.split(text)
    except ValueError:
        return ""
    if not words:
        return ""
    program = re.split(r"[\\/]", words[0])[-1]
    if program in _PASSWORD_PROMPTS or (program in ("mysql", "mariadb") and "-p" in words) or (
            program == "psql" and "-W" in words):
        return program
    return ""


_SQL_STATEMENT = re.compile(r"(?i)^\s*(select|insert|update|delete|drop|alter|create|truncate|grant|revoke|with|exec|execute"
                            r"|merge|replace|call)\b")


def _continues(text: str, language: Language) -> bool:
    """A shell waits for more: a trailing backslash, pipe or ``&&``, or an open quote; a SQL
    console waits for the ``;`` that ends a statement."""
    stripped = text.rstrip()
    if language == "sql":
        return bool(_SQL_STATEMENT.match(text)) and not stripped.endswith(";")
    if language not in ("shell", "unknown"):
        return stripped.endswith(("`", "|")) if language == "windows" else False
    if stripped.endswith(("\\", "|", "&&", "||")):
        return True
    heredoc = re.search(r"(?<!<)<<-?(?!<)\s*(['\"]?)(\w+)\1", text)
    if heredoc and "<<<" not in text[heredoc.start():heredoc.start() + 3] and not re.search(
            rf"\n\s*{heredoc.group(2)}\s*$", text):
        return True
    try:
        shlex.split(text)
    except ValueError:
        return True
    return False


def _switch_mode(line: _Line, text: str, language: Language) -> None:
    """An interactive program started or ended in a terminal: later lines are in its language."""
    if language != "shell" and not line.modes:
        return
    command = text.strip()
    if command in _LEAVE and line.modes:
        line.modes.pop()
        return
    try:
        words = shlex.split(command)
    except ValueError:
        return
    words = [w for w in words if not re.fullmatch(r"[A-Za-z_]\w*=.*", w)]
    if words and words[0] in ("sudo", "doas", "exec"):
        words = words[1:]
    if not words:
        return
    program = re.split(r"[\\/]", words[0])[-1]
    program = "python" if re.fullmatch(r"python[0-9.]*", program) else program
    mode = _INTERACTIVE.get(program)
    if mode is None:
        return
    rest = [w for w in words[1:] if not w.startswith("-")]
    interactive = {"sql": len(rest) <= 2 and not any(o in words for o in ("-c", "-e", "-f", "--command", "--execute")),
                   "code": not rest and not any(o in words for o in ("-c", "-e", "-m", "-r")),
                   "shell": program != "ssh" and not any(o in words for o in ("-c",)) and not rest or (
                       program == "ssh" and len(rest) == 1),
                   "windows": not any(o.lower() in ("-c", "-command", "-file") for o in words)}[mode]
    if interactive:
        line.modes.append(mode)

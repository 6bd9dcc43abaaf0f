"""Judging a command line by the programs it runs and what they are told to do.

:func:`judge_line` parses the line (:mod:`safety.shell`), looks through wrappers (``sudo``,
``env``, ``xargs``, ``nohup``, ``sh -c '...'``) to the program that really runs, and asks that
program's rule whether its arguments make it destructive: ``rm`` with recursive or force flags,
``git push --force``, ``dd of=/dev/sda``. What a pipe feeds into an interpreter, what ``eval``
runs, and where output is redirected are judged for every command. The same rules read
PowerShell and cmd, whose programs are named differently.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import PurePosixPath

from safety.code import Finding, judge_code, judge_sql
from safety.normalise import fold
from safety.shell import Command, Dialect, Script, parse, split_words

_MAX_DEPTH = 4  # sh -c "sh -c '...'" nests; deeper than this is judged unreadable

Rule = Callable[[Command, int], list[Finding]]
_RULES: dict[str, Rule] = {}


def _rule(*programs: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        for program in programs:
            _RULES[program] = function
        return function
    return register


def judge_line(text: str, dialect: Dialect = "posix", depth: int = 0) -> list[Finding]:
    """Every reason to ask a person before ``text`` runs as a command line."""
    if depth > _MAX_DEPTH:
        return [Finding("obfuscation", "commands nested too deep to read")]
    findings: list[Finding] = []
    if dialect == "posix" and re.search(r"(^|[\s;&|])!(!|-?\d|[A-Za-z:$*^])|^\s*\^[^^]*\^", text):
        findings.append(Finding("unseen", "expands the shell's history (!!, !n, ^old^new): what runs is not on the line"))
    if dialect == "windows" and re.search(r"(?i)\[scriptblock\]\s*::\s*create|\.download(string|file|data)\s*\(", text):
        findings.append(Finding("fetch_exec", "builds PowerShell code from a string or a download and runs it"))
    script = parse(text, dialect)
    _expand_variables(script)
    for name, body in script.functions.items():
        if any(command.program == name for command in body):
            findings.append(Finding("processes", f"the function {name!r} calls itself (a fork bomb)"))
    for command in script.commands:
        findings += _judge_command(command, depth)
    findings += _download_then_run(script)
    return _unique(findings)


def _judge_command(command: Command, depth: int) -> list[Finding]:
    if _only_asks(command):
        return []
    findings = _redirects(command)
    command, wrapped = _unwrap(command, depth)
    findings += wrapped
    if not command.words:
        return findings
    program = command.program
    computed = re.search(r"[$`]|^\{|[*?\[]", command.words[0])
    if computed and not (command.dialect == "windows" and re.fullmatch(r"\$[\w:.]+", command.words[0])):
        return findings + [Finding("obfuscation", f"runs a program whose name is computed when it runs ({command.words[0]})")]
    if _only_asks(command):
        return findings
    rule = _RULES.get(program) or (_RULES["mkfs"] if program.startswith(("mkfs", "mke2fs")) else None)
    if rule is not None:
        findings += rule(command, depth)
    findings += _fed_code(command, depth)
    findings += _credentials(command)
    return findings


def _expand_variables(script: Script) -> None:
    """``a=r; b=m; $a$b -rf ~`` runs ``rm``: literal assignments are put into later words."""
    values: dict[str, str] = {}
    for index, command in enumerate(script.commands):
        if values:
            words = tuple(re.sub(r"\$(\w+)", lambda m: values.get(m.group(1), m.group(0)), w) for w in command.words)
            if words and words[0] != command.words[0]:
                words = tuple(split_words(words[0])) + words[1:]
            script.commands[index] = command = command.but(words)
        for word in command.assignments:
            if re.fullmatch(r"[A-Za-z_]\w*=[^$`]*", word):
                name, value = word.split("=", 1)
                values[name] = value
    for index, command in enumerate(script.commands):
        if command.words and "{" in command.words[0] and "," in command.words[0]:
            expanded = re.fullmatch(r"\{([^{}]*)\}", command.words[0])
            if expanded:
                script.commands[index] = command.but(tuple(expanded.group(1).split(",")) + command.args)


def _only_asks(command: Command) -> bool:
    """``--help``, ``--version``, PowerShell's ``-WhatIf`` and a push's ``--dry-run`` change nothing."""
    lowered = [a.lower() for a in command.args]
    if lowered and all(a in ("--help", "-h", "--version", "-v", "/?", "-?", "help") for a in lowered):
        return True
    if any(a in ("--help", "--version", "-help", "--dryrun", "--simulate") or a.startswith("--dry-run") for a in lowered):
        return not command.feeders
    if command.program in ("aws", "gcloud", "az") and lowered and lowered[-1] == "help":
        return True
    return "-whatif" in lowered or (command.program == "git" and ("--dry-run" in lowered or "-n" in lowered)
                                   and "push" in lowered)


def _unique(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


# ---- paths and flags --------------------------------------------------------------------------

_SYSTEM_DIRS = {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root", "/sbin",
                "/srv", "/sys", "/usr", "/var", "/usr/bin", "/usr/lib", "/usr/local", "/var/lib", "c:", "c:\\",
                "c:/", "c:\\windows", "c:\\users", "c:\\windows\\system32", "%systemroot%", "%userprofile%",
                "$env:userprofile", "$home", "~", "\\"}
_DEVICE = re.compile(r"^/dev/(sd|hd|vd|xvd|nvme|mmcblk|disk|mapper/|md\d|dm-|loop|mem$|kmem$|port$|sr\d|fd\d)")
_STARTUP = re.compile(
    r"^(~[^/]*|\$home|/home/[^/]+|/root|/users/[^/]+)/("
    r"\.ssh(/|$)|\.(bashrc|bash_profile|bash_login|bash_logout|profile|zshrc|zshenv|zprofile|zlogin|kshrc|cshrc"
    r"|tcshrc|xinitrc|xprofile|xsession|xsessionrc|pam_environment|inputrc|config/fish/config\.fish)$"
    r"|\.config/(autostart|systemd|environment\.d)(/|$))"
    r"|^/etc/(profile|bash\.bashrc|environment|sudoers|passwd|shadow|group|gshadow|crontab|cron\.|rc\.local|systemd/"
    r"|init\.d/|ld\.so\.preload|ssh/|pam\.d/|security/|hosts$|fstab|apt/sources|modprobe\.d/|udev/)"
    r"|^/(boot|bin|sbin|lib|usr)/|^/proc/sys|^/proc/sysrq-trigger$")
_CREDENTIALS = re.compile(
    r"(^|/)(\.ssh/(id_[a-z0-9_]+|identity)$|\.aws/credentials|\.gnupg(/|$)|\.netrc$|\.git-credentials$"
    r"|\.docker/config\.json$|\.kube/config$|\.config/gh/hosts\.yml$|\.password-store|\.pgpass$|\.my\.cnf$"
    r"|keyring|\.local/share/keyrings)|^/etc/(shadow|gshadow|sudoers)")


def _path(word: str) -> str:
    """A path as rules compare it: lower case, ``$HOME`` and ``~`` alike, no trailing slash."""
    path = word.strip("'\"").lower().replace("${home}", "$home")
    path = re.sub(r"^\$home(?=/|$)", "~", path)
    return path.rstrip("/") or "/"


def _wide(word: str) -> bool:
    """A target that stands for a whole tree: ``/``, ``~``, ``/etc``, ``*``, ``..``, ``C:\\``."""
    path = _path(word)
    if path in _SYSTEM_DIRS or path in ("~", "*", ".", "..", "./*", "../*", ".*", "~/*", "/*", "~/.*"):
        return True
    return bool(re.fullmatch(r"(~|/[a-z0-9]*|\.\.(/\.\.)*)/\*|/[a-z]+|c:[\\/]?.*\*|[a-z]:\\?", path)) and (
        path not in ("/tmp", "/mnt", "/media"))


def _short_flags(args: tuple[str, ...]) -> set[str]:
    return {c for a in args if a.startswith("-") and not a.startswith("--") for c in a[1:]}


def _long_flags(args: tuple[str, ...]) -> set[str]:
    return {a.split("=")[0].lower() for a in args if a.startswith("--")}


def _operands(args: tuple[str, ...]) -> list[str]:
    """Arguments that are not options (cmd's ``/s`` is an option too)."""
    after_dashes = "--" in args
    return [a for i, a in enumerate(args) if not (a.startswith("-") or re.fullmatch(r"/[a-zA-Z?]{1,2}", a))
            or (after_dashes and i > args.index("--"))]


def _literal_code(command: Command, *options: str) -> str | None:
    """The argument after one of ``options`` (``-c``, ``-e``), joined as a program string."""
    for i, arg in enumerate(command.args):
        if arg in options and i + 1 < len(command.args):
            return command.args[i + 1]
        for option in options:
            if option.startswith("--") and arg.startswith(option + "="):
                return arg.split("=", 1)[1]
    return None


# ---- wrappers: the program that really runs -----------------------------------------------------

_PRIVILEGE = {"sudo", "doas", "pkexec", "run0", "gksu", "gksudo", "kdesu", "kdesudo", "sudoedit", "runas"}
_OPTIONS_WITH_VALUE = {
    "sudo": {"-u", "-g", "-h", "-p", "-c", "-d", "-r", "-t", "-u", "-C", "-D", "-R", "-T", "-U", "--user", "--group"},
    "doas": {"-u", "-C"}, "pkexec": {"--user"}, "run0": {"-u", "--user"},
    "env": {"-u", "-C", "--unset", "--chdir"}, "nice": {"-n", "--adjustment"}, "ionice": {"-c", "-n", "-p"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"}, "xargs": {"-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a"},
    "stdbuf": {"-i", "-o", "-e"}, "exec": {"-a"}, "flock": {"-w", "-E"}, "chroot": set(),
    "watch": {"-n", "-d"}, "strace": {"-o", "-e", "-p"}, "systemd-run": {"-p", "-u", "--unit"},
}
_TRANSPARENT = {"env", "nohup", "time", "nice", "ionice", "timeout", "command", "builtin", "exec", "xargs", "stdbuf",
                "busybox", "setsid", "unbuffer", "torsocks", "proxychains", "proxychains4", "chroot", "flock", "strace",
                "ltrace", "systemd-run", "caffeinate", "nocorrect", "noglob", "then", "do", "else", "!"} | _PRIVILEGE
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "yash", "rbash"}


def _unwrap(command: Command, depth: int) -> tuple[Command, list[Finding]]:
    """Peel ``sudo``, ``env X=1``, ``nohup``, ``xargs`` and the like off a command; a wrapper that
    raises privileges is a finding of its own."""
    findings: list[Finding] = []
    for _ in range(8):
        words = list(command.words)
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):  # X=1 cmd
            words.pop(0)
        command = command.but(tuple(words))
        program = command.program
        if program not in _TRANSPARENT:
            break
        if program in _PRIVILEGE:
            findings.append(Finding("privilege", f"{program} runs a command with administrator rights"))
        if program == "su":
            break
        if program == "env" and ("-S" in words or "--split-string" in words):
            rest = words[words.index("-S" if "-S" in words else "--split-string") + 1:]
            command = command.but(tuple(split_words(" ".join(rest))))
            continue
        if program == "watch" and len(words) > 1:
            findings += judge_line(" ".join(w for w in words[1:] if not w.startswith("-")), command.dialect, depth + 1)
        if program == "timeout":
            words = words[:1] + [w for w in words[1:] if not re.fullmatch(r"\d+(\.\d+)?[smhd]?", w)][:]
        with_value = _OPTIONS_WITH_VALUE.get(program, set())
        i = 1
        while i < len(words) and (words[i].startswith("-") or (program == "chroot" and i == 1)):
            i += 2 if words[i] in with_value else 1
        if program == "timeout" and i < len(words) and re.fullmatch(r"\d+(\.\d+)?[smhd]?", command.words[i]):
            i += 1
        command = command.but(tuple(words[i:]))
        if not command.words:
            break
    return command, findings


@_rule("su")
def _su(command: Command, depth: int) -> list[Finding]:
    findings = [Finding("privilege", "su switches to another user (root by default)")]
    code = _literal_code(command, "-c", "--command")
    if code is not None:
        findings += judge_line(code, "posix", depth + 1)
    return findings


# ---- code fed to interpreters ----------------------------------------------------------------------

_FETCHERS = {"curl", "wget", "wget2", "fetch", "aria2c", "http", "https", "lwp-request", "get", "invoke-webrequest",
             "iwr", "invoke-restmethod", "irm", "nc", "ncat", "netcat", "socat", "ftp", "tftp", "lynx", "links", "w3m",
             "scp", "sftp", "rsync", "ssh", "openssl", "certutil", "bitsadmin", "start-bitstransfer", "downloadstring"}
_DECODERS = {"base64", "base32", "basenc", "xxd", "uudecode", "openssl", "gunzip", "zcat", "bzcat", "xzcat",
             "unxz", "gzip", "bzip2", "xz", "rev", "tr", "od", "perl", "python", "python3", "ruby", "node", "awk",
             "sed", "printf", "echo"}
_PRINTERS = {"echo", "printf", "cat", "print", "write-output", "echo.", "type"}
_INTERPRETERS = _SHELLS | {"python", "python2", "python3", "pypy", "pypy3", "perl", "ruby", "node", "nodejs", "deno",
                           "bun", "php", "lua", "luajit", "tclsh", "wish", "rscript", "pwsh", "powershell", "osascript",
                           "iex", "invoke-expression", "source", ".", "eval", "cmd", "at", "batch", "crontab"}
_CODE_OPTIONS = {"python": ("-c",), "perl": ("-e", "-E"), "ruby": ("-e",), "node": ("-e", "--eval", "-p", "--print"),
                 "deno": ("eval",), "bun": ("-e", "--eval"), "php": ("-r",), "lua": ("-e",), "rscript": ("-e",),
                 "osascript": ("-e",)}
_EVAL_GENERATORS = {"ssh-agent", "dircolors", "pyenv", "rbenv", "nodenv", "direnv", "brew", "conda", "starship",
                    "zoxide", "fnm", "mise", "keychain", "thefuck", "opam", "luarocks", "gpg-agent", "register-python-argcomplete",
                    "kubectl", "helm", "gh", "rustup", "poetry", "pip", "npm", "uv", "atuin", "navi", "mcfly"}


def _language(program: str) -> str:
    if program in _SHELLS or program in ("source", ".", "eval", "at", "batch", "crontab"):
        return "shell"
    if program in ("pwsh", "powershell", "iex", "invoke-expression", "cmd"):
        return "windows"
    if re.fullmatch(r"python[0-9.]*|pypy3?", program):
        return "python"
    return program


def _is_interpreter(program: str) -> bool:
    return program in _INTERPRETERS or bool(re.fullmatch(r"python[0-9.]+", program))


def _generated(commands: tuple[Command, ...]) -> str:
    """What kind of source feeds code to an interpreter: a download, a decoder, or nothing to fear."""
    for feeder in commands:
        inner = feeder.program
        if inner in _FETCHERS and inner != "openssl":
            return "downloaded"
        if inner in ("base64", "base32", "basenc", "uudecode") or (inner == "xxd" and "-r" in "".join(feeder.args)) or (
                inner == "openssl" and any(a in ("enc", "base64", "-d") for a in feeder.args)):
            return "decoded"
        if inner in _DECODERS - _PRINTERS and any(a in ("-d", "--decode", "-D") for a in feeder.args):
            return "decoded"
    return ""


def _reads_code_from_stdin(command: Command) -> bool:
    """``sh``, ``python3 -`` and ``bash -s`` run what they read; ``python3 -m json.tool`` or
    ``bash script.sh`` read data."""
    if command.program in ("eval", "source", ".", "iex", "invoke-expression", "at", "batch", "crontab", "cmd"):
        return True
    args = command.args
    if any(a in ("-m", "-c", "-e", "-E", "-r", "-f", "--eval", "-Command", "-File") for a in args):
        return False
    return not [a for a in args if not a.startswith("-")] or "-" in args or "/dev/stdin" in args


def _fed_code(command: Command, depth: int) -> list[Finding]:
    """Code reaching an interpreter through a pipe, ``$(...)`` or ``<(...)``."""
    program = command.program
    if not _is_interpreter(program):
        return []
    findings: list[Finding] = []
    language = _language(program)
    for source, commands in (("pipe", command.feeders), ("substitution", command.substituted)):
        if not commands or (source == "pipe" and not _reads_code_from_stdin(command)):
            continue
        if source == "substitution" and program in ("eval", "source", ".") and all(
                c.program in _EVAL_GENERATORS for c in commands if c.words):
            continue
        kind = _generated(commands)
        if kind:
            findings.append(Finding("fetch_exec", f"runs {kind} code: {' | '.join(_show(c) for c in commands)} into {program}"))
            continue
        literals = [c for c in commands if c.program in ("echo", "printf") and not c.substituted]
        if source == "pipe" and literals and len(literals) == len(commands):
            text = "\n".join(" ".join(w for w in c.args if not re.fullmatch(r"-[neE]+", w)) for c in literals)
            findings += _judge_in(language, text, depth)
        elif source == "pipe" and all(c.program in ("cat", "type", "get-content", "gc") for c in commands):
            continue  # a local script, as if run by name
        elif source == "pipe" or program in ("eval", "source", ".", "iex", "invoke-expression"):
            findings.append(Finding("fetch_exec", f"{program} runs code produced at run time by {_show(commands[0])}"))
    for operator, body in command.redirects:
        if operator == "<<<" and _reads_code_from_stdin(command.but(command.words)):
            findings += _judge_in(language, body, depth)
    if program == "eval" and not command.substituted:
        findings += judge_line(" ".join(command.args), command.dialect, depth + 1)
    return findings


def _judge_in(language: str, text: str, depth: int) -> list[Finding]:
    if language == "shell":
        return judge_line(text, "posix", depth + 1)
    if language == "windows":
        return judge_line(text, "windows", depth + 1)
    if language in ("psql", "mysql", "mariadb", "sqlite3", "sqlcmd", "duckdb", "redis-cli", "mongosh", "mongo"):
        return judge_sql(text)
    return judge_code(text, lambda inner: judge_line(inner, "posix", depth + 1))


def _show(command: Command) -> str:
    text = " ".join(command.words)
    return text if len(text) <= 60 else text[:57] + "..."


@_rule(*_SHELLS)
def _shell(command: Command, depth: int) -> list[Finding]:
    code = _literal_code(command, "-c")
    if code is None:
        return []
    if command.substituted and _generated(command.substituted):
        return [Finding("fetch_exec", f"{command.program} -c runs {_generated(command.substituted)} code")]
    return judge_line(code, "posix", depth + 1)


@_rule("awk", "gawk", "mawk", "nawk")
def _awk(command: Command, depth: int) -> list[Finding]:
    program = next((a for a in command.args if not a.startswith("-")), "")
    return judge_code(program, lambda inner: judge_line(inner, "posix", depth + 1)) if "system" in program else []


@_rule("python", "python2", "python3", "pypy", "pypy3", "perl", "ruby", "node", "nodejs", "deno", "bun", "php", "lua",
       "rscript", "osascript")
def _interpreter(command: Command, depth: int) -> list[Finding]:
    program = "python" if command.program.startswith(("python", "pypy")) else command.program
    program = "node" if program == "nodejs" else program
    code = _literal_code(command, *_CODE_OPTIONS.get(program, ()))
    if code is None:
        return []
    if command.substituted and _generated(command.substituted):
        return [Finding("fetch_exec", f"{command.program} runs {_generated(command.substituted)} code")]
    return judge_code(code, lambda inner: judge_line(inner, "posix", depth + 1))


@_rule("pwsh", "powershell")
def _powershell(command: Command, depth: int) -> list[Finding]:
    lowered = [a.lower() for a in command.args]
    for i, arg in enumerate(lowered):
        if (arg in ("-e", "-ec") or arg.startswith("-enc")) and i + 1 < len(command.args):
            try:
                decoded = base64.b64decode(command.args[i + 1], validate=True).decode("utf-16-le")
            except (ValueError, UnicodeDecodeError):
                return [Finding("obfuscation", "PowerShell runs an encoded command that does not decode")]
            return judge_line(fold(decoded), "windows", depth + 1)
    for i, arg in enumerate(lowered):
        if arg in ("-c", "-command", "-com") and i + 1 < len(command.args):
            return judge_line(" ".join(command.args[i + 1:]), "windows", depth + 1)
    findings = []
    if any(a == "-executionpolicy" for a in lowered) and any(a in ("bypass", "unrestricted") for a in lowered):
        findings.append(Finding("fetch_exec", "PowerShell with its script checks switched off"))
    return findings


@_rule("cmd")
def _cmd(command: Command, depth: int) -> list[Finding]:
    for i, arg in enumerate(command.args):
        if arg.lower() in ("/c", "/k", "/r") and i + 1 < len(command.args):
            return judge_line(" ".join(command.args[i + 1:]), "windows", depth + 1)
    return []


@_rule("iex", "invoke-expression")
def _invoke_expression(command: Command, depth: int) -> list[Finding]:
    return [Finding("fetch_exec", f"{command.program} runs a string as PowerShell code")]


@_rule("alias", "trap")
def _deferred(command: Command, depth: int) -> list[Finding]:
    """``alias ls='rm -rf ~'`` and ``trap '...' EXIT`` run their text later."""
    findings = []
    for arg in command.args:
        text = arg.split("=", 1)[1] if command.program == "alias" and "=" in arg else arg
        findings += judge_line(text, command.dialect, depth + 1)
    return findings


def _download_then_run(script: Script) -> list[Finding]:
    """``curl -o x.sh URL && sh x.sh``: a file fetched and then run on the same line."""
    downloaded: set[str] = set()
    for command in script.commands:
        program = command.program
        if program in ("curl", "wget", "wget2", "aria2c", "invoke-webrequest", "iwr", "fetch"):
            for i, arg in enumerate(command.args):
                if (re.fullmatch(r"-[a-zA-Z]*[oO]", arg) or arg in ("--output", "--output-document", "-outfile")) and (
                        i + 1 < len(command.args)):
                    downloaded.add(PurePosixPath(command.args[i + 1]).name.lower())
                elif arg.startswith(("http://", "https://", "ftp://")):
                    downloaded.add(PurePosixPath(arg.split("?")[0]).name.lower())
            continue
        if not downloaded:
            continue
        ran = [command.words[0]] + ([a for a in command.args if not a.startswith("-")][:1]
                                    if _is_interpreter(program) else [])
        if any(PurePosixPath(w.replace("\\", "/")).name.lower() in downloaded for w in ran if w):
            return [Finding("fetch_exec", f"runs {ran[-1]!r}, which this line downloads")]
    return []


# ---- writes --------------------------------------------------------------------------------------

def _redirects(command: Command) -> list[Finding]:
    findings = []
    if command.program in ("", ":", "true") and any(op in (">", ">|") for op, _ in command.redirects):
        targets = [t for op, t in command.redirects if op in (">", ">|")]
        findings.append(Finding("removal", f"empties {', '.join(targets)}"))
    for operator, target in command.redirects:
        if ">" not in operator and operator not in ("1", "2"):
            if _CREDENTIALS.search(_path(target)):
                findings.append(Finding("credentials", f"reads {target}, which holds credentials"))
            continue
        findings += _written(target, "redirects output to")
    return findings


def _written(target: str, how: str) -> list[Finding]:
    path = _path(target)
    if _DEVICE.match(path):
        return [Finding("disk", f"{how} the disk device {target}, overwriting it")]
    if _STARTUP.search(path):
        return [Finding("startup", f"{how} {target}, which runs at log-in or controls access")]
    return []


@_rule("tee")
def _tee(command: Command, depth: int) -> list[Finding]:
    return [f for target in _operands(command.args) for f in _written(target, "tee writes")]


@_rule("cp", "install", "ln", "rsync", "scp", "mv")
def _copy(command: Command, depth: int) -> list[Finding]:
    operands = _operands(command.args)
    findings: list[Finding] = []
    if command.program == "mv":
        if operands and _path(operands[-1]) in ("/dev/null", "nul"):
            findings.append(Finding("removal", "mv to /dev/null destroys what it moves"))
        if any(_wide(o) for o in operands[:-1]):
            findings.append(Finding("removal", f"moves away a whole tree ({', '.join(o for o in operands[:-1] if _wide(o))})"))
    if command.program == "rsync" and any(a.startswith("--delete") or a == "--remove-source-files" for a in command.args):
        findings.append(Finding("removal", "rsync --delete removes files at the destination"))
    if operands and len(operands) >= 2:
        findings += _written(operands[-1], f"{command.program} writes")
    if command.program in ("cp", "dd") and operands and _path(operands[0]) in ("/dev/zero", "/dev/urandom", "/dev/random"):
        findings += _written(operands[-1], "fills")
    return findings


@_rule("sed", "perl")
def _in_place(command: Command, depth: int) -> list[Finding]:
    findings = []
    if any(a.startswith("-i") or a.startswith("--in-place") for a in command.args):
        operands = _operands(command.args)
        findings += [f for target in operands[1:] for f in _written(target, f"{command.program} -i edits")]
        if command.program == "sed" and operands and re.fullmatch(r"\s*(1,\s*\$)?\s*d\s*;?\s*", operands[0]):
            findings.append(Finding("removal", "sed -i deletes every line of " + ", ".join(operands[1:])))
    if command.program == "perl":
        findings += _interpreter(command, depth)
    return findings


# ---- removal -------------------------------------------------------------------------------------

@_rule("rm", "del", "erase", "remove-item", "ri", "rd", "rmdir", "unlink", "srm", "shred", "wipe", "trash", "gio",
       "trash-put", "truncate", "clear-content", "clc", "clear-recyclebin")
def _remove(command: Command, depth: int) -> list[Finding]:
    program, args = command.program, command.args
    lowered = tuple(a.lower() for a in args)
    operands = _operands(args)
    windows_flags = {a for a in lowered if a.startswith("/") and len(a) <= 3}
    if program in ("shred", "wipe", "srm"):
        return [Finding("removal", f"{program} destroys files beyond recovery")]
    if program == "truncate":
        if any(a in ("-s0", "--size=0") or a.startswith("--size=0") for a in lowered) or (
                "-s" in lowered and lowered.index("-s") + 1 < len(lowered) and lowered[lowered.index("-s") + 1] == "0"):
            return [Finding("removal", "truncate -s 0 empties files")]
        return []
    if program in ("clear-content", "clc"):
        return [Finding("removal", "Clear-Content empties files")]
    if program == "clear-recyclebin":
        return [Finding("removal", "Clear-RecycleBin empties the recycle bin for good")]
    if program == "gio" and (not args or args[0] not in ("trash", "remove")):
        return []
    reasons = []
    if command.dialect == "windows" or program in ("del", "erase", "remove-item", "ri", "rd"):
        if any(a.startswith("-r") and "-recurse".startswith(a[:8]) or a == "-recurse" for a in lowered):
            reasons.append("-Recurse")
        if any(a.startswith("-fo") and "-force".startswith(a) for a in lowered):
            reasons.append("-Force")
        if windows_flags & {"/s", "/q", "/f"}:
            reasons.append(" ".join(sorted(windows_flags & {"/s", "/q", "/f"})))
    flags = _short_flags(args)
    long = _long_flags(args)
    if program in ("rm", "rmdir", "rd") and command.dialect == "posix" or program == "rm":
        if flags & {"r", "R", "f"} or long & {"--recursive", "--force", "--no-preserve-root", "--dir"} - {"--dir"}:
            reasons.append("recursive or forced removal")
    wide = [o for o in operands if _wide(o)]
    guarded = [o for o in operands if _STARTUP.search(_path(o)) or _CREDENTIALS.search(_path(o))]
    if wide or guarded:
        reasons.append("of " + ", ".join(wide + guarded))
    elif any(("*" in o or "?" in o) for o in operands):
        reasons.append("of every file matching " + ", ".join(o for o in operands if "*" in o or "?" in o))
    if program in ("rm", "del", "erase", "remove-item", "ri", "unlink") and command.feeders:
        reasons.append("of files named by its input")
    if not reasons:
        return []
    return [Finding("removal", f"{command.words[0]} {'; '.join(reasons)}")]


@_rule("tar", "bsdtar", "zip", "7z")
def _archive_removing(command: Command, depth: int) -> list[Finding]:
    if any(a in ("--remove-files", "-m", "-sdel", "--move") for a in command.args) and command.program != "tar" or (
            "--remove-files" in command.args):
        return [Finding("removal", f"{command.program} deletes the files it archives")]
    return []


@_rule("find")
def _find(command: Command, depth: int) -> list[Finding]:
    args = command.args
    findings = []
    if "-delete" in args:
        findings.append(Finding("removal", "find -delete removes every file it finds"))
    for i, arg in enumerate(args):
        if arg in ("-exec", "-execdir", "-ok", "-okdir"):
            inner = []
            for word in args[i + 1:]:
                if word in (";", "\\;", "+"):
                    break
                inner.append(word)
            if inner:
                roots = [a for a in args[:args.index(arg)] if not a.startswith(("-", "(", "!"))][:1] or ["."]
                inner = [roots[0] if w == "{}" and _wide(roots[0]) else w for w in inner]
                inner_command = command.but(tuple(inner))
                if inner_command.program in ("rm", "shred", "unlink", "rmdir"):
                    findings.append(Finding("removal", f"find {arg} {inner_command.program} removes every file it finds"))
                findings += _judge_command(inner_command, depth + 1)
    return findings


# ---- disks and filesystems -------------------------------------------------------------------------

@_rule("vssadmin", "wmic", "bcdedit", "wbadmin", "reg", "start-process", "saps", "start", "net", "set-mppreference",
       "set-executionpolicy", "remove-itemproperty", "remove-localuser", "add-localgroupmember")
def _windows_system(command: Command, depth: int) -> list[Finding]:
    program, lowered = command.program, [a.lower() for a in command.args]
    if program == "vssadmin" and "delete" in lowered or program == "wmic" and "delete" in lowered:
        return [Finding("removal", f"{program} deletes the shadow copies that restore lost files")]
    if program == "wbadmin" and "delete" in lowered:
        return [Finding("removal", "wbadmin deletes backups")]
    if program == "bcdedit" and any(a in ("/delete", "/set", "/deletevalue") for a in lowered):
        return [Finding("disk", "bcdedit changes how the machine boots")]
    if program == "reg" and lowered and lowered[0] in ("delete", "add", "import"):
        return [Finding("startup", f"reg {lowered[0]} changes the registry")]
    if program in ("start-process", "saps", "start") and "runas" in lowered:
        return [Finding("privilege", f"{command.words[0]} -Verb RunAs starts a program with administrator rights")]
    if program == "net" and any(a in ("/delete", "/add", "stop") for a in lowered):
        return [Finding("privilege", f"net {' '.join(lowered[:2])} changes users, groups or services")]
    if program == "set-mppreference" and any("disable" in a for a in lowered):
        return [Finding("firewall", "Set-MpPreference switches the virus protection off")]
    if program == "set-executionpolicy":
        return [Finding("fetch_exec", "Set-ExecutionPolicy lets any script run")]
    if program in ("remove-itemproperty", "remove-localuser", "add-localgroupmember"):
        return [Finding("privilege", f"{command.words[0]} changes the registry, users or groups")]
    return []


_DESTROYING = {"delete", "destroy", "terminate", "terminate-instances", "delete-bucket", "rb", "prune", "purge",
               "uninstall", "drain", "deregister", "remove", "rm", "rmi", "kill", "apps:destroy", "delete-stack",
               "delete-db-instance", "delete-cluster", "delete-function", "delete-table", "deprovision"}


@_rule("aws", "gcloud", "gsutil", "az", "kubectl", "oc", "helm", "terraform", "tofu", "pulumi", "docker", "podman",
       "nerdctl", "gh", "glab", "heroku", "doctl", "linode-cli", "hcloud", "vultr-cli", "flyctl", "vercel", "netlify",
       "firebase", "supabase", "wrangler", "svn", "hg", "btrfs", "virsh", "vagrant", "multipass", "lxc", "incus", "k",
       "eksctl", "kind", "minikube", "k3d", "gsutil", "rclone", "s3cmd", "mc", "ansible")
def _cloud(command: Command, depth: int) -> list[Finding]:
    """Cloud, container and repository tools: a verb that deletes, destroys or terminates."""
    lowered = [a.lower() for a in command.args]
    verbs = [a for a in lowered if not a.startswith("-")]
    destroying = [v for v in verbs if v in _DESTROYING or v.startswith(("delete-", "terminate-", "remove-", "destroy"))]
    if "--delete" in lowered and "sync" in verbs or (command.program in ("docker", "podman", "nerdctl") and "reset" in verbs):
        destroying.append("sync --delete" if "sync" in verbs else "system reset")
    if command.program in ("terraform", "tofu") and ("-destroy" in lowered and "apply" in verbs):
        destroying.append("apply -destroy")
    if command.program in ("svn", "hg") and verbs and verbs[0] in ("strip", "purge", "revert") or (
            command.program in ("hg",) and "push" in verbs and ("-f" in lowered or "--force" in lowered)):
        destroying.append(verbs[0] if verbs[0] != "push" else "push -f")
    if command.program in ("terraform", "tofu") and verbs and verbs[0] == "plan":
        return []
    if not destroying:
        return []
    return [Finding("cloud", f"{command.program} {destroying[0]} deletes, destroys or terminates what it names")]


@_rule("dd", "dcfldd", "dc3dd")
def _dd(command: Command, depth: int) -> list[Finding]:
    for arg in command.args:
        if arg.lower().startswith("of="):
            overwrite = "conv=notrunc" in command.args and not any(a.startswith("seek=") for a in command.args)
            return _written(arg[3:], "dd writes") or (
                [Finding("removal", f"dd overwrites {arg[3:]} in place")] if overwrite else [])
    return []


@_rule("mkfs", "mkswap", "mkntfs", "mkdosfs", "wipefs", "blkdiscard", "badblocks", "format", "diskpart",
       "format-volume", "clear-disk", "initialize-disk", "remove-partition", "cipher", "zpool", "zfs", "lvremove",
       "vgremove", "pvremove", "mdadm", "cryptsetup", "hdparm", "sgdisk", "sfdisk", "gdisk", "cfdisk", "fdisk", "parted")
def _disk(command: Command, depth: int) -> list[Finding]:
    program, lowered = command.program, [a.lower() for a in command.args]
    reads = {"fdisk": ("-l", "--list"), "sfdisk": ("-l", "--list", "-d", "--dump"), "parted": ("-l", "--list", "print"),
             "gdisk": ("-l",), "sgdisk": ("-p", "--print"), "hdparm": (), "zpool": ("list", "status", "iostat"),
             "zfs": ("list", "get"), "mdadm": ("--detail", "-d", "--examine", "-e"), "cryptsetup": ("status", "luksdump"),
             "cipher": (), "badblocks": ()}
    if program == "hdparm" and not any("erase" in a or a == "--trim-sector-ranges" for a in lowered):
        return []
    if program == "wipefs" and not any(a.startswith(("-a", "--all", "-o", "--offset")) for a in lowered):
        return []
    if program == "badblocks" and "-w" not in lowered:
        return []
    if program == "cipher" and not any(a.startswith("/w") for a in lowered):
        return []
    if program == "format" and not any(re.fullmatch(r"[a-z]:", a) for a in lowered):
        return []
    if program in ("zpool", "zfs") and not any(a in ("destroy", "labelclear") for a in lowered):
        return []
    if program == "cryptsetup" and not any(a in ("luksformat", "erase", "lukserase", "luksremovekey", "lukskillslot", "reencrypt") for a in lowered):
        return []
    if program == "mdadm" and "--zero-superblock" not in lowered:
        return []
    if program in reads and reads[program] and any(a in reads[program] for a in lowered):
        return []
    if program.startswith(("mkfs", "mke2fs", "mkswap", "mkntfs", "mkdosfs")) and not any(
            o.startswith("/dev/") for o in _operands(command.args)):
        return []  # a file system made in an image file
    return [Finding("disk", f"{program} changes disks or filesystems")]


# ---- permissions ---------------------------------------------------------------------------------------

@_rule("chmod", "chown", "chgrp", "setfacl", "chattr", "icacls", "takeown", "cacls")
def _permissions(command: Command, depth: int) -> list[Finding]:
    args, lowered = command.args, [a.lower() for a in command.args]
    recursive = "R" in _short_flags(args) or "--recursive" in _long_flags(args) or bool({"/t", "/r"} & set(lowered))
    if recursive and command.program == "chmod" and all(re.fullmatch(r"[ugoa]*-[rwxXst]+", a) for a in _operands(args)[:1]):
        recursive = False  # taking permissions away, recursively, exposes nothing
    wide = [o for o in _operands(args) if _wide(o)]
    reasons = (["recursively"] if recursive else []) + (["on " + ", ".join(wide)] if wide else [])
    if command.program == "chmod" and any(re.fullmatch(r"[ugoa]*\+[rwxt]*s[rwxst]*|[4267][0-7]{3}", a) for a in args):
        reasons.append("setting the set-user-id bit")
    guarded = [o for o in _operands(args) if _STARTUP.search(_path(o)) or _CREDENTIALS.search(_path(o))]
    opens = command.program != "chmod" or any(re.fullmatch(r"[0-7]?[0-7]([1-7][0-7]|[0-7][1-7])|[ugoa]*[go][ugoa]*\+\w+|\+\w+", a)
                                               for a in args)
    if guarded and opens:
        reasons.append("of " + ", ".join(guarded))
    if not reasons:
        return []
    return [Finding("permissions", f"{command.program} changes permissions or owners {' '.join(reasons)}")]


# ---- version control ----------------------------------------------------------------------------------

@_rule("git")
def _git(command: Command, depth: int) -> list[Finding]:
    args = list(command.args)
    while args and args[0].startswith("-"):
        args = args[2:] if args[0] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") else args[1:]
    if not args:
        return []
    sub, rest = args[0].lower(), tuple(args[1:])
    if sub == "config" and len(rest) >= 2 and rest[-2].lower().startswith("alias."):
        value = rest[-1]
        return judge_line(value[1:] if value.startswith("!") else "git " + value, command.dialect, depth + 1)
    flags, long = _short_flags(rest), _long_flags(rest)
    reason = ""
    if sub == "push" and (flags & {"f", "d"} or long & {"--force", "--force-with-lease", "--force-if-includes",
                                                            "--mirror", "--delete", "--prune"}
                          or any(r.startswith("+") or (r.startswith(":") and len(r) > 1) for r in _operands(rest))):
        reason = "git push that rewrites or deletes remote history"
    elif sub == "reset" and long & {"--hard", "--merge", "--keep"}:
        reason = "git reset --hard throws away uncommitted work"
    elif sub == "clean" and ("f" in flags or "--force" in long) and "n" not in flags and "--dry-run" not in long:
        reason = "git clean -f deletes untracked files"
    elif sub in ("checkout", "restore") and (any(o in (".", ":/", "*") for o in _operands(rest)) or "f" in flags
                                             or "--force" in long):
        reason = f"git {sub} that discards uncommitted changes"
    elif sub == "branch" and ("D" in flags or ({"d"} & flags and "f" in flags) or {"--delete", "--force"} <= long):
        reason = "git branch -D deletes a branch that may hold unmerged work"
    elif sub == "stash" and rest and rest[0] in ("clear", "drop"):
        reason = f"git stash {rest[0]} throws stashed work away"
    elif sub in ("filter-branch", "filter-repo"):
        reason = f"git {sub} rewrites the whole history"
    elif sub == "reflog" and rest and rest[0] in ("expire", "delete"):
        reason = "git reflog expire drops the history that recovers lost work"
    elif sub == "update-ref" and "d" in flags:
        reason = "git update-ref -d deletes a ref"
    elif sub == "gc" and any(a.startswith("--prune=now") for a in rest):
        reason = "git gc --prune=now drops unreachable work for good"
    return [Finding("vcs", reason)] if reason else []


# ---- processes and services ---------------------------------------------------------------------------

@_rule("kill")
def _kill(command: Command, depth: int) -> list[Finding]:
    targets, signal_given, skip = [], False, False
    for arg in command.args:
        if skip:
            skip = False
            continue
        if arg in ("-s", "-n", "--signal"):
            skip = signal_given = True
        elif arg.startswith("-") and not signal_given and arg not in ("--",):
            signal_given = True
        elif arg != "--":
            targets.append(arg)
    if any(t in ("1", "-1", "0") or re.fullmatch(r"-\d+", t) for t in targets):
        return [Finding("processes", "kill aimed at init or at every process")]
    if command.substituted or command.feeders:
        return [Finding("processes", "kill aimed at processes found by a pattern")]
    return []


@_rule("pkill", "killall", "killall5", "skill", "slay", "xkill", "taskkill", "stop-process", "spps", "tskill")
def _kill_many(command: Command, depth: int) -> list[Finding]:
    return [Finding("processes", f"{command.program} kills processes by name or pattern")]


@_rule("shutdown", "reboot", "poweroff", "halt", "stop-computer", "restart-computer", "logoff", "suspend")
def _power(command: Command, depth: int) -> list[Finding]:
    if command.program == "shutdown" and any(a.lower() in ("-c", "/a", "--show") for a in command.args):
        return []
    return [Finding("processes", f"{command.program} shuts down, restarts or logs off the machine")]


@_rule("gnome-session-quit", "xfce4-session-logout", "lxqt-leave", "lxsession-logout", "mate-session-save",
       "qdbus", "dbus-send", "gdbus", "busctl")
def _session(command: Command, depth: int) -> list[Finding]:
    text = " ".join(command.args).lower()
    if command.program in ("qdbus", "dbus-send", "gdbus", "busctl") and not re.search(
            r"poweroff|reboot|halt|suspend|hibernate|logout|terminate|killsession|killuser|shutdown", text):
        return []
    if command.program == "mate-session-save" and "--logout" not in text and "--shutdown" not in text:
        return []
    return [Finding("processes", f"{command.program} logs off, suspends or powers off the session")]


@_rule("init", "telinit")
def _runlevel(command: Command, depth: int) -> list[Finding]:
    if any(a.lower() in ("0", "1", "6", "s", "single", "q") for a in command.args) and "q" not in command.args:
        return [Finding("processes", f"{command.program} changes the runlevel (halt, single-user or reboot)")]
    return []


_STOPPING = {"stop", "kill", "disable", "mask", "restart", "try-restart", "reload-or-restart", "isolate", "poweroff",
             "reboot", "halt", "suspend", "hibernate", "hybrid-sleep", "kexec", "rescue", "emergency", "default",
             "daemon-reexec", "terminate-session", "terminate-user", "kill-session", "kill-user", "lock-sessions",
             "terminate-seat", "force-reload", "down", "exit", "soft-reboot", "sleep"}


@_rule("systemctl", "service", "loginctl", "rc-service", "sv", "initctl", "launchctl", "stop-service",
       "set-service", "sc")
def _services(command: Command, depth: int) -> list[Finding]:
    lowered = [a.lower() for a in command.args if not a.startswith("-")]
    if command.program in ("stop-service",):
        return [Finding("processes", "Stop-Service stops a system service")]
    if command.program == "set-service" and any("disabled" in a.lower() for a in command.args):
        return [Finding("processes", "Set-Service disables a system service")]
    if command.program == "sc" and lowered and lowered[0] in ("stop", "delete", "config"):
        return [Finding("processes", f"sc {lowered[0]} changes a system service")]
    if command.program == "launchctl" and lowered and lowered[0] in ("unload", "bootout", "remove", "stop", "disable"):
        return [Finding("processes", f"launchctl {lowered[0]} stops a service")]
    if any(a in _STOPPING for a in lowered):
        verb = next(a for a in lowered if a in _STOPPING)
        return [Finding("processes", f"{command.program} {verb} stops or restarts services or the machine")]
    return []


# ---- scheduled jobs, firewalls -------------------------------------------------------------------------

@_rule("crontab")
def _crontab(command: Command, depth: int) -> list[Finding]:
    flags = _short_flags(command.args)
    if "r" in flags:
        return [Finding("cron", "crontab -r deletes every scheduled job")]
    if "l" in flags or "e" in flags:
        return []
    if _operands(command.args) or command.feeders or "-" in command.args:
        return [Finding("cron", "replaces the table of scheduled jobs")]
    return []


@_rule("schtasks", "register-scheduledtask", "unregister-scheduledtask")
def _schtasks(command: Command, depth: int) -> list[Finding]:
    lowered = [a.lower() for a in command.args]
    if command.program == "schtasks" and not {"/create", "/delete", "/change"} & set(lowered):
        return []
    return [Finding("cron", f"{command.program} adds or removes scheduled tasks")]


_FIREWALL_READS = {"iptables": ("-l", "--list", "-s", "--list-rules", "-n", "-v", "-t", "--line-numbers", "-x",
                                "filter", "nat", "mangle", "raw", "input", "output", "forward"),
                   "ufw": ("status", "show", "app", "list", "verbose", "numbered", "info"),
                   "nft": ("list", "-a", "ruleset", "tables", "table", "inet", "ip", "ip6", "filter", "-n"),
                   "pfctl": ("-s", "-sr", "-sa", "-si", "-sn", "rules", "info", "all"),
                   }


@_rule("iptables", "ip6tables", "iptables-legacy", "iptables-nft", "ufw", "nft", "firewall-cmd", "pfctl", "netsh",
       "set-netfirewallprofile", "new-netfirewallrule", "remove-netfirewallrule", "disable-netfirewallrule",
       "set-netfirewallrule", "iptables-restore", "ebtables")
def _firewall(command: Command, depth: int) -> list[Finding]:
    program = "iptables" if command.program.startswith(("iptables", "ip6tables", "ebtables")) else command.program
    lowered = [a.lower() for a in command.args]
    if program == "iptables" and command.program == "iptables-restore":
        return [Finding("firewall", "iptables-restore replaces the firewall rules")]
    if program == "firewall-cmd" and all(a.startswith(("--list", "--get", "--query", "--state", "--info", "--zone"))
                                         for a in lowered):
        return []
    if program == "netsh" and not (lowered and lowered[0] in ("advfirewall", "firewall")) or (
            program == "netsh" and "show" in lowered):
        return []
    reads = _FIREWALL_READS.get(program)
    if reads is not None and lowered and all(a in reads or a.isdigit() for a in lowered):
        return []
    if reads is not None and not lowered:
        return []
    return [Finding("firewall", f"{command.program} changes the firewall")]


# ---- credentials ----------------------------------------------------------------------------------------

_READERS = {"cat", "tac", "less", "more", "head", "tail", "strings", "xxd", "od", "hexdump", "base64", "cp", "scp",
            "rsync", "curl", "wget", "nc", "ncat", "socat", "tar", "zip", "7z", "gpg", "openssl", "grep", "egrep", "rg",
            "awk", "sed", "bat", "vim", "vi", "nano", "emacs", "gedit", "code", "mousepad", "kate", "type",
            "get-content", "gc", "copy-item", "mail", "sendmail", "xclip", "xsel", "wl-copy", "pbcopy", "python",
            "python3", "perl", "ruby", "node", "jq", "yq", "sort", "uniq", "cut", "paste", "diff", "mv", "ln", "tee"}


def _credentials(command: Command) -> list[Finding]:
    if command.program not in _READERS:
        return []
    for word in command.args:
        if _CREDENTIALS.search(_path(word.split("=", 1)[-1].lstrip("@"))) and not word.endswith(".pub"):
            return [Finding("credentials", f"{command.program} reads {word}, which holds credentials")]
    return []


@_rule("ssh-keygen")
def _ssh_keygen(command: Command, depth: int) -> list[Finding]:
    args = command.args
    target = args[args.index("-f") + 1] if "-f" in args and args.index("-f") + 1 < len(args) else ""
    if target and not any(a in ("-l", "-y", "-F", "-R", "-lf") for a in args):
        return _written(target, "ssh-keygen writes")
    return []


@_rule("pip", "pip3", "pipx", "uv", "npm", "pnpm", "yarn", "gem", "cargo", "go")
def _install_from_url(command: Command, depth: int) -> list[Finding]:
    if "install" not in command.args and "add" not in command.args:
        return []
    urls = [a for a in command.args if re.match(r"(git\+)?(https?|ftp)://", a) and not re.search(
        r"//(pypi\.org|files\.pythonhosted\.org|registry\.npmjs\.org|github\.com|gitlab\.com)/", a)]
    if urls:
        return [Finding("fetch_exec", f"{command.program} installs, and runs the set-up code of, {urls[0]}")]
    return []


@_rule("curl", "http", "https", "xh", "wget")
def _http_delete(command: Command, depth: int) -> list[Finding]:
    joined = " ".join(command.args)
    if re.search(r"(?i)(-X\s*|--request[= ]|--method[= ])DELETE\b|^DELETE\b", joined):
        return [Finding("removal", "sends an HTTP DELETE request")]
    return []


@_rule("etcdctl", "consul", "zkcli", "zookeeper-shell", "nats", "vault")
def _key_value_stores(command: Command, depth: int) -> list[Finding]:
    verbs = [a.lower() for a in command.args if not a.startswith("-")]
    if any(v in ("del", "delete", "deleteall", "rmr", "destroy", "purge") for v in verbs):
        return [Finding("sql", f"{command.program} deletes keys or data")]
    return []


@_rule("dropdb", "dropuser", "mysqladmin", "mongodump", "pg_restore")
def _database_tools(command: Command, depth: int) -> list[Finding]:
    lowered = [a.lower() for a in command.args]
    if command.program in ("dropdb", "dropuser") or "drop" in lowered or (
            command.program == "pg_restore" and ("--clean" in lowered or "-c" in lowered)):
        return [Finding("sql", f"{command.program} drops a database or its objects")]
    return []


@_rule("psql", "mysql", "mariadb", "sqlite3", "sqlcmd", "duckdb", "clickhouse-client", "cockroach", "redis-cli",
       "mongosh", "mongo", "usql", "pgcli", "mycli", "litecli")
def _database_client(command: Command, depth: int) -> list[Finding]:
    findings = judge_sql(" ".join(a for a in command.args if not a.startswith("-"))) if command.program == "redis-cli" else []
    if command.program == "redis-cli" and command.feeders and any(a.lower() in ("del", "unlink") for a in command.args):
        findings.append(Finding("sql", "redis-cli deletes every key its input names"))
    for arg in command.args:
        findings += judge_sql(arg.split("=", 1)[-1] if arg.startswith("--") else arg)
    if command.feeders:
        literals = [c for c in command.feeders if c.program in ("echo", "printf")]
        for literal in literals:
            findings += judge_sql(" ".join(literal.args))
    return findings

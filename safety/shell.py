"""Command lines read as a shell reads them: programs, arguments, pipes and redirections.

POSIX shell text goes through bashlex, a real parser: quotes and escapes are removed as the
shell removes them (``'rm'``, ``r''m`` and ``\\rm`` are all ``rm``), and every command is found
wherever it hides (after ``;``, ``&&`` or ``|``, inside ``$(...)``, ``<(...)``, loops, functions).
PowerShell and cmd, and POSIX text bashlex cannot parse (an unclosed quote while a line is still
being typed), go through shlex, which splits words and separators the same way for all three.
"""

from __future__ import annotations

import codecs
import re
import shlex
from dataclasses import dataclass, field
from typing import Literal

import bashlex
import bashlex.errors

Dialect = Literal["posix", "windows"]


@dataclass(frozen=True)
class Command:
    """One simple command: its words as the program will see them, and where its input and
    output go."""

    words: tuple[str, ...]
    redirects: tuple[tuple[str, str], ...] = ()  # (operator, target): ('>', '~/.bashrc')
    feeders: tuple[Command, ...] = ()  # the commands whose output it reads through a pipe
    substituted: tuple[Command, ...] = ()  # commands whose output became part of its words
    dialect: Dialect = "posix"
    assignments: tuple[str, ...] = ()  # NAME=value words before the program

    @property
    def program(self) -> str:
        """The program's name as a shell finds it: ``/usr/bin/rm`` and ``RM.exe`` are ``rm``."""
        if not self.words:
            return ""
        name = re.split(r"[\\/]", self.words[0])[-1].lower()
        return name[:-4] if name.endswith((".exe", ".com", ".bat", ".cmd")) else name

    @property
    def args(self) -> tuple[str, ...]:
        return self.words[1:]

    def but(self, words: tuple[str, ...]) -> Command:
        """The same command with other words: what runs after a wrapper such as ``sudo``."""
        return Command(words, self.redirects, self.feeders, self.substituted, self.dialect, self.assignments)


@dataclass
class Script:
    """Every command of a command line, in the order they run, plus its shell functions."""

    commands: list[Command] = field(default_factory=list)
    functions: dict[str, list[Command]] = field(default_factory=dict)
    parsed: bool = True  # False when only shlex's looser split could read it


def parse(text: str, dialect: Dialect = "posix") -> Script:
    """The commands of ``text``; never raises: unreadable text yields what words it has."""
    if dialect == "posix":
        text = _expand_posix(text)
        try:
            script = Script()
            for node in bashlex.parse(text):
                _walk(node, script, ())
            return script
        except (bashlex.errors.ParsingError, NotImplementedError, TypeError, ValueError,
                AttributeError, IndexError, AssertionError, RecursionError):
            pass
    return _split_loosely(text, dialect)


def _expand_posix(text: str) -> str:
    """What the shell would make of tricks that hide words from a reader: ``$IFS`` as a space,
    ``$'\\x72m'`` as ``'rm'``, ``${HOME}`` as ``$HOME``; a here-document becomes the here-string
    of its body (bashlex reads those, and the body is what the command reads)."""
    text = _heredocs_as_strings(text)
    text = re.sub(r"\$\{IFS\}|\$IFS\b", " ", text)
    text = re.sub(r"\$\{(\w+)\}", r"$\1", text)

    def ansi_c(match: re.Match[str]) -> str:
        try:
            decoded = codecs.decode(match.group(1), "unicode_escape")
        except (UnicodeDecodeError, ValueError):
            decoded = match.group(1)
        return "'" + decoded.replace("'", "'\\''") + "'"

    return re.sub(r"\$'((?:[^'\\]|\\.)*)'", ansi_c, text)


def _heredocs_as_strings(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = re.search(r"(?<!<)<<-?(?!<)\s*(['\"]?)(\w+)\1", line)
        if match and "<<<" not in line[match.start():match.start() + 3]:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == match.group(2)), len(lines))
            body = "\n".join(lines[i + 1:end]).replace("'", "'\\''")
            out.append(line[:match.start()] + f"<<< '{body}'" + line[match.end():])
            i = end + 1
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


def _walk(node: bashlex.ast.node, script: Script, feeders: tuple[Command, ...]) -> list[Command]:
    """Add the commands under ``node`` to ``script``; returns them (a pipeline's next stage reads
    their output)."""
    kind = node.kind
    if kind == "command":
        return _command(node, script, feeders)
    if kind == "pipeline":
        found: list[Command] = []
        upstream: tuple[Command, ...] = feeders
        for part in node.parts:
            if part.kind == "pipe":
                continue
            stage = _walk(part, script, upstream)
            upstream = upstream + tuple(stage)
            found += stage
        return found
    if kind == "function":
        name = node.name.word
        body: list[Command] = []
        for part in node.parts:
            if part.kind not in ("word", "reservedword"):
                body += _walk(part, script, ())
        script.functions[name] = body
        return body
    found = []
    for child in list(getattr(node, "parts", None) or []) + list(getattr(node, "list", None) or []):
        if isinstance(child, bashlex.ast.node) and child.kind not in ("reservedword", "operator", "pipe"):
            found += _walk(child, script, feeders)
    return found


def _command(node: bashlex.ast.node, script: Script, feeders: tuple[Command, ...]) -> list[Command]:
    words: list[str] = []
    assignments: list[str] = []
    redirects: list[tuple[str, str]] = []
    substituted: list[Command] = []
    for part in node.parts:
        if part.kind == "word":
            words.append(part.word)
            substituted += _substitutions(part, script)
        elif part.kind == "assignment":
            substituted += _substitutions(part, script)
            (words if words else assignments).append(part.word)  # after the program it is an argument
        elif part.kind == "redirect":
            target = part.output
            if isinstance(target, bashlex.ast.node):
                substituted += _substitutions(target, script)
                redirects.append((str(part.type), getattr(target, "word", "")))
            else:
                redirects.append((str(part.type), str(target)))
    command = Command(tuple(words), tuple(redirects), feeders, tuple(substituted), "posix", tuple(assignments))
    script.commands.append(command)
    return [command]


def _substitutions(word: bashlex.ast.node, script: Script) -> list[Command]:
    """Commands inside ``$(...)``, backquotes and ``<(...)`` of a word: they run too."""
    found: list[Command] = []
    for part in getattr(word, "parts", None) or []:
        if part.kind in ("commandsubstitution", "processsubstitution"):
            found += _walk(part.command, script, ())
        else:
            found += _substitutions(part, script)
    return found


_SEPARATORS = {";", "&", "&&", "|", "||", "\n"}


def _split_loosely(text: str, dialect: Dialect) -> Script:
    """Words and separators by shlex (quotes kept together, PowerShell's backtick escapes
    removed), for text bashlex cannot read and for PowerShell and cmd."""
    if dialect == "windows":
        text = re.sub(r"`(.)", r"\1", text)
    # PowerShell calls and subexpressions, IEX(...) and $(...), separate commands as pipes do
    lexer = shlex.shlex(text.replace("\n", " ; "), posix=dialect == "posix",
                        punctuation_chars=";&|<>" + ("()" if dialect == "windows" else ""))
    lexer.whitespace_split = True
    lexer.commenters = "" if dialect == "windows" else "#"
    tokens: list[str] = []
    try:
        for token in lexer:
            tokens.append(token)
    except ValueError:  # an unclosed quote: the rest is one word, as a shell still waiting would have it
        tokens.append(lexer.token)
    script = Script(parsed=False)
    words: list[str] = []
    redirects: list[tuple[str, str]] = []
    upstream: tuple[Command, ...] = ()
    pending_redirect = ""

    def close(piped: bool) -> None:
        nonlocal words, redirects, upstream
        if words or redirects:
            command = Command(tuple(words), tuple(redirects), upstream, (), dialect)
            script.commands.append(command)
            upstream = upstream + (command,) if piped else ()
        elif not piped:
            upstream = ()
        words, redirects = [], []

    for token in tokens:
        if pending_redirect:
            redirects.append((pending_redirect, _unquote(token)))
            pending_redirect = ""
        elif token in (">", ">>", "<", "&>", ">&", "<<", "<<<", ">|", "2>", "2>>"):
            pending_redirect = token
        elif set(token) <= set(";&|<>()") and token:
            close(piped=token == "|")
        else:
            words.append(_unquote(token) if dialect == "windows" else token)
    close(piped=False)
    return script


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def split_words(text: str) -> list[str]:
    """Words of a string argument (``sh -c '...'``, ``env -S``), as the shell would split them."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()

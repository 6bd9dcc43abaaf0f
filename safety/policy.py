"""The safety policy: what each proposed action means, judged allow, confirm or deny.

Four readers always judge, by meaning rather than by spelling (each in its own module):

- **geometry**: a point on no monitor is denied, and so is a screen corner, which belongs to
  the person as pyautogui's failsafe;
- **commands** (:mod:`safety.commands`, :mod:`safety.code`): in a window where typed text is a
  command (:mod:`safety.places`), every typed piece and every line that would run, followed
  across actions by :mod:`safety.composer`, is parsed and judged by the programs it runs;
- **secrets** (:mod:`safety.secrets`): typing a secret, or into a password field, asks first;
- **places** (:mod:`safety.places`): clicks, keys and typing in windows about paying, banking,
  deleting accounts, disks, cloud machines, wallets, password managers and authentication ask;
  scrolling and pointing never do.

Rules are data on top (TOML, see ``default_policy.toml``: the key chords that are never
pressed, and your own rules), checked in order. The strictest verdict of all wins.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass, field
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from actions.keys import chord
from actions.schema import Action, InvalidAction
from errors import BadInput
from perception.geometry import ScreenLayout
from perception.windows import WindowInfo
from safety.code import Finding, judge_code, judge_sql
from safety.commands import judge_line
from safety.composer import Composer, Typed
from safety.normalise import fold
from safety.places import Language, place_of
from safety.secrets import find_secrets, looks_like_secret

if TYPE_CHECKING:
    from perception.screen import Screenshot


class Decision(str, Enum):
    ALLOW = "allow"
    CONFIRM = "confirm"
    DENY = "deny"

    @property
    def severity(self) -> int:
        return [Decision.ALLOW, Decision.CONFIRM, Decision.DENY].index(self)


@dataclass(frozen=True)
class Verdict:
    """The policy's judgement of one action, with the reason a person or model can read."""

    decision: Decision
    reason: str
    asked: bool = False  # a person was asked and answered
    secrets: tuple[str, ...] = ()  # secret values found in the action's text: redacted wherever it is recorded

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


@dataclass(frozen=True)
class Proposal:
    """One action the model wants, with where it points and which window is in front."""

    action: Action
    target: tuple[int, int] | None
    window: WindowInfo | None
    screenshot: Screenshot | None = None  # what the model saw, to show a person
    secret: bool = False  # typed text that must not be shown (a password from a form's data)

    def describe(self) -> str:
        """The action in a person's words, e.g. ``type 'hello' in "Contact"``."""
        args = {k: v for k, v in self.action.arguments().items() if k not in ("action", "coordinate")}
        words = self.action.action.replace("_", " ")
        words += "".join((" (hidden text)" if self.secret else f" {v!r}") if k == "text" else f" {k}={v}"
                         for k, v in args.items())
        if self.target is not None:
            words += f" at {self.target}"
        if self.window is not None:
            words += f' in "{self.window.title}"'
        return words


class PolicyError(BadInput):
    """A policy file that cannot be read or has a malformed rule."""


class Rule(BaseModel):
    """One rule: all given conditions must match for the verdict to apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Decision
    reason: str
    actions: frozenset[str] | None = None
    keys: tuple[frozenset[str], ...] | None = None  # chords a key action contains
    text: re.Pattern[str] | None = None
    secret_text: bool | None = None
    window_title: re.Pattern[str] | None = None
    window_app: re.Pattern[str] | None = None
    region: tuple[int, int, int, int] | None = None

    @field_validator("keys", mode="before")
    @classmethod
    def _combos(cls, value: Any) -> Any:
        if value is None:
            return None
        try:
            return tuple(chord([combo]) for combo in value)
        except InvalidAction as error:
            raise ValueError(str(error)) from None

    def matches(self, proposal: Proposal) -> bool:
        action, window, target = proposal.action, proposal.window, proposal.target
        text = action.text if action.action == "type" else None
        checks = [
            self.actions is None or action.action in self.actions,
            self.keys is None or (action.action == "key" and any(combo <= chord(action.keys) for combo in self.keys)),
            self.text is None or (text is not None and self.text.search(text) is not None),
            self.secret_text is None or (text is not None and looks_like_secret(text) == self.secret_text),
            self.window_title is None or (window is not None and self.window_title.search(window.title) is not None),
            self.window_app is None or (window is not None and self.window_app.search(window.app) is not None),
            self.region is None or (target is not None and _inside(target, self.region)),
        ]
        return all(checks)


def _inside(point: tuple[int, int], region: tuple[int, int, int, int]) -> bool:
    left, top, width, height = region
    return left <= point[0] < left + width and top <= point[1] < top + height


@dataclass
class Policy:
    """Ordered rules plus the geometric checks against the desktop's monitors."""

    rules: list[Rule] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        """The default rules, plus (or, with ``include_defaults = false``, instead) a file's."""
        default = files("safety").joinpath("default_policy.toml").read_text(encoding="utf-8")
        rules = _parse_rules(default, "the default policy")
        if path is not None:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as error:
                raise PolicyError(f"cannot read policy file {path}: {error.strerror}") from None
            own = _parse_rules(text, str(path))
            include = tomllib.loads(text).get("include_defaults", True)
            rules = rules + own if include else own
        return cls(rules)

    def mark_sensitive(self, window_title: str | None = None, region: tuple[int, int, int, int] | None = None) -> None:
        """Add a confirm rule for a window (title regex) or screen region the user marked."""
        what = f"window {window_title!r}" if window_title else f"region {region}"
        try:
            self.rules.append(
                Rule(verdict=Decision.CONFIRM, reason=f"you marked {what} as sensitive",
                     window_title=window_title, region=region)
            )
        except ValidationError as error:
            raise PolicyError(f"cannot mark {what} sensitive: {error.errors()[0]['msg']}") from None

    def judge(self, proposal: Proposal, layout: ScreenLayout, composer: Composer | None = None) -> Verdict:
        """The strictest verdict of geometry, the built-in readers and every matching rule.

        ``composer`` follows the text typed across the actions of a run (the gate keeps one);
        this call only previews the action's effect on it."""
        if proposal.target is not None:
            x, y = proposal.target
            monitor = layout.monitor_at(x, y)
            if monitor is None:
                return Verdict(Decision.DENY, f"point ({x}, {y}) is not on any monitor")
            if (x, y) in monitor.corners:
                return Verdict(Decision.DENY, f"point ({x}, {y}) is a screen corner, kept for the person's failsafe")
        place = place_of(proposal.window)
        typed = (composer or Composer()).preview(proposal.action, window_key(proposal.window), place.language)
        verdicts = [Verdict(Decision.ALLOW, "no rule objects")]
        secrets = _typed_secrets(proposal, typed, words=place.language in ("prose", "unknown") or bool(typed.prompted))
        if secrets:
            why = ("the text goes into a password field" if proposal.secret else
                   f"the text answers {typed.prompted}'s password prompt" if typed.prompted else "the text holds a secret")
            verdicts.append(Verdict(Decision.CONFIRM, f"{why} ({_kinds(secrets, proposal)})"))
        for finding, where in _command_findings(typed, place.language, composer):
            verdicts.append(Verdict(Decision.CONFIRM, f"{where}: {finding.reason}"))
        if proposal.action.action == "key" and _MAGIC_SYSRQ < chord(proposal.action.keys):
            verdicts.append(Verdict(Decision.DENY, "key combination of the kernel's magic SysRq (reboots, kills, syncs)"))
        if place.sensitive and proposal.action.action in ACTING_ACTIONS:
            verdicts.append(Verdict(Decision.CONFIRM, f"the window looks like a {place.sensitive} place"))
        for rule in self.rules:
            if rule.matches(proposal):
                verdicts.append(Verdict(rule.verdict, rule.reason))
        strictest = max(verdicts, key=lambda v: v.decision.severity)
        return Verdict(strictest.decision, strictest.reason, secrets=tuple(secrets))


_MAGIC_SYSRQ = frozenset({"alt", "printscreen"})  # SysRq is the Print key: alt+Print alone is a screenshot
ACTING_ACTIONS = frozenset({"left_click", "right_click", "middle_click", "double_click", "triple_click",
                            "left_click_drag", "key", "type"})
"""Actions that commit something where they land; scrolling and moving the pointer only look."""


def window_key(window: WindowInfo | None) -> str:
    """Which window's typed text an action continues: its application, or its title."""
    return "" if window is None else (window.app or window.title)


def _typed_secrets(proposal: Proposal, typed: Typed, words: bool) -> list[str]:
    """Secret values the action types: found in its pieces, or completed by them in the field
    (password-like words count outside command lines only, see :func:`find_secrets`)."""
    if proposal.secret:
        return [p for p in typed.pieces if p.strip()]
    if typed.prompted:  # a single word typed at a password prompt is the password (unless it is a program)
        answers = [p.strip() for p in typed.pieces if len(p.strip()) >= 4 and " " not in p.strip()
                   and shutil.which(p.strip()) is None]
        if answers:
            return answers
    found = [s for piece in typed.pieces for s in find_secrets(piece, words)]
    if typed.pieces:
        in_field = [s for s in find_secrets(typed.line, words) if not any(s in f for f in found)]
        found += [p for p in typed.pieces if in_field and p.strip()]
    return sorted(set(found), key=len, reverse=True)


def _kinds(secrets: list[str], proposal: Proposal) -> str:
    if proposal.secret:
        return "hidden"
    return f"{len(secrets)} value{'s' if len(secrets) > 1 else ''} redacted from every record"


def _command_findings(typed: Typed, language: Language, composer: Composer | None) -> list[tuple[Finding, str]]:
    """Findings for text that is a command where it is typed: each line that runs, whole and
    from where each of its pieces began; in a window of unknown purpose, each piece too (it
    may run without a Return, from a button)."""
    if language == "prose":
        return []
    found = []
    if language in ("unknown", "sql", "code"):  # a button or a key the gate does not know may run it
        found += [(f, "typing a command") for piece in typed.pieces for f in judge_text(piece, language)]
    for run, run_language in typed.runs + typed.tails:
        if composer is not None and composer.approved(run):
            continue
        found += [(f, "running a command") for f in judge_text(run, run_language)]
    if typed.unseen and language != "unknown":
        found.append((Finding("unseen", f"Return runs {typed.unseen}"), "running a command"))
    return found


def judge_text(text: str, language: Language) -> list[Finding]:
    """What ``text`` does if it runs as a command in a window of ``language``."""
    text = fold(text)
    if language == "sql":
        escape = re.match(r"\s*(\\!|system\s)(.*)", text, re.S)  # psql's \! and mysql's system run shell commands
        return judge_sql(text) + (judge_line(escape.group(2)) if escape else [])
    if language == "code":  # a notebook's "!cmd" and %%bash cells are shell; the rest is code
        shell = "\n".join(line.lstrip()[1:] for line in text.splitlines() if line.lstrip().startswith("!"))
        as_shell = [f for f in judge_line(shell or text) if shell or f.category != "obfuscation"]
        return judge_code(text, judge_line) + as_shell + judge_sql(text)
    if language == "windows":
        return judge_line(text, "windows") + judge_sql(text)
    return judge_line(text, "posix") + judge_sql(text)


def _parse_rules(text: str, source: str) -> list[Rule]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source} is not valid TOML: {error}") from None
    unknown = set(document) - {"rules", "include_defaults"}
    if unknown:
        raise PolicyError(f"{source}: unknown top-level keys {sorted(unknown)} (expected [[rules]])")
    rules = []
    for number, raw in enumerate(document.get("rules", []), start=1):
        try:
            rules.append(Rule.model_validate(raw))
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg']}" for e in error.errors())
            raise PolicyError(f"{source}, rule {number}: {problems}") from None
    return rules

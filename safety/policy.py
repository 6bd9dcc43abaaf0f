"""The safety policy: rules that judge each proposed action allow, confirm or deny.

Rules are data (TOML, see ``default_policy.toml``), checked in order; the strictest
matching verdict wins. Two checks are geometry rather than rules and always apply: a point
that lies on no monitor is denied, and so is a screen corner, which belongs to the person
as pyautogui's failsafe.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from actions.keys import chord
from actions.schema import Action, InvalidAction
from perception.geometry import ScreenLayout
from perception.windows import WindowInfo
from safety.secrets import looks_like_secret

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


class PolicyError(ValueError):
    """A policy file that cannot be read or has a malformed rule."""


class Rule(BaseModel):
    """One rule: all given conditions must match for the verdict to apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Decision
    reason: str
    actions: frozenset[str] | None = None
    keys: tuple[frozenset[str], ...] | None = None
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
            self.keys is None or (action.action == "key" and chord(action.keys) in self.keys),
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

    def judge(self, proposal: Proposal, layout: ScreenLayout) -> Verdict:
        """The strictest verdict of every matching rule; geometry first."""
        if proposal.target is not None:
            x, y = proposal.target
            monitor = layout.monitor_at(x, y)
            if monitor is None:
                return Verdict(Decision.DENY, f"point ({x}, {y}) is not on any monitor")
            if (x, y) in monitor.corners:
                return Verdict(Decision.DENY, f"point ({x}, {y}) is a screen corner, kept for the person's failsafe")
        verdict = Verdict(Decision.ALLOW, "no rule objects")
        for rule in self.rules:
            if rule.matches(proposal) and rule.verdict.severity > verdict.decision.severity:
                verdict = Verdict(rule.verdict, rule.reason)
        return verdict


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

"""Prompt profiles: how one family of models is spoken to, as it was trained.

A profile is data (``prompts/profiles/NAME.toml`` and the texts it names): the system message,
the tool description put into it, the user turn's text and its history lines, whether the
screenshot comes before or after that text, the grounding question, the reply format, and any
sampling the model's authors publish. Published texts are kept byte for byte, placeholders
aside: a small model answers best to the exact string it was trained on.

Profiles: ``qwen3-vl`` (default: Qwen's computer-use cookbook), ``agent-rules`` (this project's
own guidance), ``gui-owl-1.5`` and ``ui-venus-1.5`` (GUI fine-tunes of Qwen3-VL). Each TOML file
names its sources.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any, Literal

from actions.schema import tool_schema
from errors import BadInput

DEFAULT_PROFILE = "qwen3-vl"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class UnknownProfile(BadInput):
    """A ``--profile`` that names no profile; the message lists those there are."""


def fill(template: str, **values: Any) -> str:
    """``template`` with its known ``{name}`` placeholders filled; any other braces stay as written."""
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


@cache
def prompt_text(name: str) -> str:
    """A text of ``prompts/``, as written there."""
    return files("agent").joinpath("prompts", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    sources: tuple[str, ...]
    system: str
    """The whole system message."""
    step: str
    history_line: str
    history: str
    no_history: str
    feedback: str
    image_first: bool
    point_image_first: bool
    reply: Literal["tool_call", "venus"]
    point_question: str
    temperature: float | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    """Action names of the model's own that mean one of ours."""

    def step_text(self, instruction: str, lines: list[str], feedback: str, window: str) -> str:
        history = fill(self.history, lines="\n".join(lines)) if lines else self.no_history
        note = fill(self.feedback, feedback=feedback) if feedback else ""
        return fill(self.step, instruction=instruction, history=history, feedback=note, window=window)

    def history_entry(self, index: int, summary: str, thought: str) -> str:
        return fill(self.history_line, index=index, number=index - 1, summary=summary, thought=thought)

    def question(self, question: str) -> str:
        """The grounding question; a closing full stop is left to the template (UI-Venus adds its own)."""
        return fill(self.point_question, question=question.rstrip().removesuffix(".")).strip()


def profile_names() -> list[str]:
    folder = files("agent").joinpath("prompts", "profiles")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


@cache
def load_profile(name: str = DEFAULT_PROFILE) -> Profile:
    if name not in profile_names():
        raise UnknownProfile(f"no prompt profile {name!r}; there are {', '.join(profile_names())}")
    data = tomllib.loads(prompt_text(f"profiles/{name}.toml"))
    system = prompt_text(data["system"])
    if "tools" in data:
        function = tool_schema() if data["tools"] == "schema" else json.loads(prompt_text(data["tools"]))
        system = fill(system, tools=json.dumps({"type": "function", "function": function}, ensure_ascii=False))
    return Profile(
        name=name, description=data["description"], sources=tuple(data["sources"]), system=system,
        step=prompt_text(data["step"]), history_line=data["history_line"], history=data["history"],
        no_history=data["no_history"], feedback=data["feedback"], image_first=data["image_first"],
        point_image_first=data.get("point_image_first", data["image_first"]), reply=data["reply"],
        point_question=prompt_text(data["point_question"]),
        temperature=data.get("temperature"), aliases=data.get("aliases", {}),
    )

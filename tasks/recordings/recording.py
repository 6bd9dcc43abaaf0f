"""A recorded demonstration: what a person did, as steps a replay can find again.

A recording is a folder that a person can read and edit::

    recordings/<name>/
      recording.json        name, when, the screen it was made on, the parameters it takes
      steps.jsonl           one step per line, written (and synced) as it is recorded
      step-NNN.png          the screen just before the step
      step-NNN-target.png   the patch around the pointer: what the step acted on, before the press
      step-NNN-after.png    a click's patch as the click left it (a focused field, a ticked box)

Steps are semantic, not raw events: a click (single, double, right, middle) on a target, a
typed text (keystrokes merged, backspaces applied), a hotkey, a scroll, a drag. Text typed into
a password-looking or marked-secret window is not stored: the step names a parameter instead,
and the replay asks for its value (``--param NAME=VALUE``). Points are desktop pixels; the
target patch is what a replay looks for when the window has moved, and the window's title, class
and application say where it may look.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from errors import BadInput
from perception.windows import WindowInfo

StepKind = Literal["click", "double_click", "right_click", "middle_click", "type", "hotkey", "scroll", "drag"]
CLICK_KINDS = frozenset({"click", "double_click", "right_click", "middle_click"})
POINTER_KINDS = CLICK_KINDS | {"scroll", "drag"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class RecordingError(BadInput):
    """A recording that cannot be used; the message names the file and the problem."""


class Window(BaseModel):
    """The window a step was done in: a replay acts only in the window of that title, class and app."""

    model_config = ConfigDict(extra="forbid")

    title: str
    app: str = ""
    wm_class: str = ""
    left: int
    top: int
    width: int
    height: int

    @classmethod
    def of(cls, info: WindowInfo) -> Window:
        return cls(title=info.title, app=info.app, wm_class=info.wm_class, left=info.left, top=info.top,
                   width=info.width, height=info.height)


class RecordedStep(BaseModel):
    """One thing the person did. Which fields are set depends on ``kind``."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=1)
    kind: StepKind
    at: float = Field(ge=0, description="Seconds since the recording started.")
    window: Window | None = None
    point: tuple[int, int] | None = Field(None, description="Desktop pixel of a click, scroll or drag start.")
    to: tuple[int, int] | None = Field(None, description="Desktop pixel where a drag ended.")
    text: str | None = Field(None, description="What was typed (None when it is a parameter).")
    parameter: str | None = Field(None, description="Typed text supplied at replay: a secret or a data column.")
    keys: list[str] | None = Field(None, description="A hotkey's keys, pressed in order, e.g. ['ctrl', 's'].")
    scroll: tuple[int, int] | None = Field(None, description="Scroll notches (dx, dy); dy > 0 is up.")
    screenshot: str | None = Field(None, description="The screen just before the step (file in the folder).")
    target: str | None = Field(None, description="The patch around the pointer (file in the folder).")
    target_box: tuple[int, int, int, int] | None = Field(None, description="That patch's desktop box: l, t, r, b.")
    after: str | None = Field(None, description="A click's patch as the click left it (file in the folder).")

    def describe(self) -> str:
        where = f" at {self.point}" if self.point else ""
        match self.kind:
            case "type":
                return f"type {{{self.parameter}}}" if self.parameter else f"type {self.text!r}"
            case "hotkey":
                return f"press {'+'.join(self.keys or [])}"
            case "scroll":
                return f"scroll {self.scroll}{where}"
            case "drag":
                return f"drag from {self.point} to {self.to}"
            case _:
                return f"{self.kind.replace('_', ' ')}{where}"


class RecordingInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    created: str
    screen: tuple[int, int] = Field(description="Width and height of the desktop it was recorded on.")
    parameters: list[str] = Field(default_factory=list)
    version: int = 1


class Recording:
    """A recording folder: create and append while recording, load to replay or edit."""

    def __init__(self, folder: Path, info: RecordingInfo, steps: list[RecordedStep]) -> None:
        self.folder, self.info, self.steps = folder, info, steps

    @property
    def name(self) -> str:
        return self.info.name

    @classmethod
    def create(cls, root: Path | str, name: str, screen: tuple[int, int]) -> Recording:
        if not NAME.match(name):
            raise RecordingError(f"{name!r} is not a usable recording name: letters, digits, '.', '_' and '-' only")
        folder = Path(root) / name
        if folder.exists() and any(folder.iterdir()):
            raise RecordingError(f"a recording named {name!r} exists already in {folder}: choose another name")
        folder.mkdir(parents=True, exist_ok=True)
        recording = cls(folder, RecordingInfo(name=name, created=time.strftime("%Y-%m-%dT%H:%M:%S"), screen=screen), [])
        recording.save_info()
        (folder / "steps.jsonl").touch()
        return recording

    @classmethod
    def load(cls, root: Path | str, name: str) -> Recording:
        folder = Path(root) / name if not Path(name).is_dir() else Path(name)
        info_file = folder / "recording.json"
        if not info_file.is_file():
            raise RecordingError(f"there is no recording {name!r} ({info_file} is missing)")
        try:
            info = RecordingInfo.model_validate_json(info_file.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as error:
            raise RecordingError(f"{info_file} is not a valid recording description: {_first(error)}") from None
        return cls(folder, info, list(_read_steps(folder / "steps.jsonl")))

    def append(self, step: RecordedStep, screen: Image.Image | None = None, target: Image.Image | None = None,
               after: Image.Image | None = None) -> None:
        """Add a step: its images first, then its line, synced, so that a crash loses no finished step."""
        if screen is not None:
            step.screenshot = f"step-{step.index:03d}.png"
            screen.save(self.folder / step.screenshot, compress_level=1)
        if target is not None:
            step.target = f"step-{step.index:03d}-target.png"
            target.save(self.folder / step.target)
        if after is not None:
            step.after = f"step-{step.index:03d}-after.png"
            after.save(self.folder / step.after)
        if step.parameter and step.parameter not in self.info.parameters:
            self.info.parameters.append(step.parameter)
            self.save_info()
        with open(self.folder / "steps.jsonl", "a", encoding="utf-8") as steps:
            steps.write(step.model_dump_json(exclude_none=True) + "\n")
            steps.flush()
            os.fsync(steps.fileno())
        self.steps.append(step)

    def save_info(self) -> None:
        (self.folder / "recording.json").write_text(self.info.model_dump_json(indent=2), encoding="utf-8")

    def image(self, file: str | None) -> Image.Image | None:
        """An image of the recording, or None when the step has none (or it was deleted by hand)."""
        if not file or not (self.folder / file).is_file():
            return None
        with Image.open(self.folder / file) as image:
            return image.convert("RGB")


def _read_steps(path: Path) -> Iterator[RecordedStep]:
    if not path.is_file():
        raise RecordingError(f"{path} is missing: the recording has no steps file")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield RecordedStep.model_validate(json.loads(line))
        except (ValidationError, ValueError) as error:
            raise RecordingError(f"{path}, line {number}: {_first(error)}") from None


def _first(error: Exception) -> str:
    if isinstance(error, ValidationError):
        problem = error.errors()[0]
        return f"{'.'.join(map(str, problem['loc'])) or 'value'}: {problem['msg']}"
    return str(error)

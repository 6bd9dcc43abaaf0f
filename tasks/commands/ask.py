"""One question about one image: ``run_agent.py ask IMAGE "question" [--point]``.

Visual question answering, or grounding with ``point=True``: the model names a point on
its 0-1000 grid (as ``point_2d``, a ``bbox_2d`` whose centre is taken, a computer_use
coordinate, or a bare ``[x, y]``), returned in pixels of the image. The question and the order
of image and text are the profile's (:mod:`agent.profiles`). With a :class:`agent.zoom.Zoom`,
the point is refined by a second look at a crop around it. The web UI asks the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from PIL import Image

from actions.schema import GRID
from agent.model import Message, ModelBackend, ModelRequest, Part, Sampling, TextSink
from agent.profiles import Profile, load_profile
from agent.reply import ReplyError, split_thought
from agent.zoom import Zoom
from perception.geometry import grid_to_pixel

_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_POINT = re.compile(rf"\[{_NUMBER},{_NUMBER}(?:,{_NUMBER},{_NUMBER})?\]")


@dataclass(frozen=True)
class Answer:
    text: str
    thought: str = ""
    point: tuple[int, int] | None = None  # pixels of the image, when a point was asked for
    first_point: tuple[int, int] | None = None  # the point before a zoomed second look, if one was taken


def ask(model: ModelBackend, image: Image.Image, question: str, sampling: Sampling, point: bool = False,
        on_text: TextSink | None = None, profile: Profile | None = None, zoom: Zoom | None = None) -> Answer:
    """The model's answer about ``image``; with ``point``, also where the thing is, in pixels."""
    profile = profile or load_profile()
    if not point:
        thought, text, _ = _answer(model, (image, question), sampling, on_text)
        return Answer(text, thought)

    def locate(view: Image.Image) -> tuple[tuple[float, float], str, str]:
        prompt = profile.question(question)
        thought, text, cut_off = _answer(model, (view, prompt) if profile.point_image_first else (prompt, view),
                                         sampling, on_text)
        return find_point(text, cut_off=cut_off), text, thought

    grid, text, thought = locate(image)
    first = grid_to_pixel(grid, image.size)
    if zoom is None:
        return Answer(text, thought, first)
    return Answer(text, thought, zoom.refine(image, first, lambda crop: locate(crop)[0]), first)


def _answer(model: ModelBackend, content: tuple[Part, ...], sampling: Sampling,
            on_text: TextSink | None) -> tuple[str, str, bool]:
    """(thought, answer, whether the token limit cut it off) of one user turn."""
    reply = model.complete(ModelRequest((Message("user", content),), sampling=sampling), on_text)
    thought, text = split_thought(reply.text)
    return thought, text, reply.finish_reason == "length"


def find_point(text: str, cut_off: bool = False) -> tuple[float, float]:
    """The first point (or box centre) in the answer, on the 0-1000 grid."""
    for key in ("point_2d", "bbox_2d", "coordinate"):
        match = re.search(rf'"{key}"\s*:\s*(\[[^\]]*\])', text)
        if match and (found := _grid_point(match.group(1))):
            return found
    for match in _POINT.finditer(text):
        if found := _grid_point(match.group(0)):
            return found
    if cut_off:
        raise ReplyError("the answer was cut off by the token limit before it gave a point")
    raise ReplyError(f"the answer holds no point on the 0-{GRID} grid: {text[:200]!r}")


def _grid_point(text: str) -> tuple[float, float] | None:
    try:
        numbers = json.loads(text)
    except json.JSONDecodeError:
        return None
    if len(numbers) not in (2, 4) or not all(isinstance(n, (int, float)) for n in numbers):
        return None
    x, y = (numbers[0], numbers[1]) if len(numbers) == 2 else ((numbers[0] + numbers[2]) / 2, (numbers[1] + numbers[3]) / 2)
    return (x, y) if 0 <= x <= GRID and 0 <= y <= GRID else None

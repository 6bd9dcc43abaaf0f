"""A stand-in grounder whose error grows as targets shrink, and screens to measure it on.

No weights can be downloaded where this project is tested, so zoom-in refinement is measured
against a simulated model: it finds the target by its marker colour in whatever image it is
shown, after shrinking that image to its pixel budget as Qwen3-VL's processor does, and misses by
a random amount that is larger the fewer pixels the target covers in its view. It answers in the
real format (``{"point_2d": [x, y]}`` on the 0-1000 grid), so the whole path (the question, the
point reader, the crop, the mapping back) runs as with a real model. Where no marker is in view
it answers the centre of the image, as a lost model might. The gain measured with it shows the
mechanism working; what refinement gains with real weights is the literature's figure, not ours.

:func:`write_pro_set` writes a ScreenSpot-Pro-style set (``bbox [x1, y1, x2, y2]``, ``img_size``,
``ui_type``, ``platform``, ``application``, ``group``) of large screens with small marked targets.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from agent.model import ModelReply, ModelRequest, TextSink
from perception.geometry import image_to_grid

MARKER = (255, 0, 255)
"""The target's colour: nothing else on the generated screens has it."""
PIXEL_BUDGET = 1280 * 800
BASE_ERROR = 1.5
SMALLNESS_ERROR = 20.0
"""The miss, in pixels of the model's view, has a spread of ``BASE_ERROR + SMALLNESS_ERROR / side``
where ``side`` is the target's shorter side in that view: about 6.5 px for a 4-px target, 2 px for 40 px."""
SCREEN = (2560, 1440)


class SimulatedGrounder:
    """Answers grounding questions by finding the marker, with a size-dependent miss."""

    name = "simulated"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        image = next(p for m in request.messages for p in m.content if isinstance(p, Image.Image))
        scale = min(1.0, math.sqrt(PIXEL_BUDGET / (image.width * image.height)))
        view = image.convert("RGB").resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                           Image.Resampling.NEAREST)
        box = _marker_box(view)
        rng = random.Random(zlib.crc32(image.tobytes()) ^ self.seed)
        if box is None:
            x, y = view.width / 2, view.height / 2
        else:
            spread = BASE_ERROR + SMALLNESS_ERROR / max(1, min(box[2] - box[0], box[3] - box[1]))
            x, y = (box[0] + box[2]) / 2 + rng.gauss(0, spread), (box[1] + box[3]) / 2 + rng.gauss(0, spread)
        grid = [round(v) for v in image_to_grid((x, y), view.size)]
        text = json.dumps({"point_2d": grid, "label": "target"})
        if on_text is not None:
            on_text(text)
        return ModelReply(text=text, completion_tokens=12)


def _marker_box(view: Image.Image) -> tuple[int, int, int, int] | None:
    """Where the marker colour is, give or take the resampling's rounding."""
    difference = ImageChops.difference(view, Image.new("RGB", view.size, MARKER)).convert("L")
    return difference.point(lambda v: 255 if v < 12 else 0).getbbox()


def write_pro_set(folder: Path, count: int = 100, seed: int = 0) -> int:
    """Write ``count`` screens of one target each (the marker is found by colour), sides 6 to 64 px."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    records = []
    for number in range(count):
        screen = Image.new("RGB", SCREEN, (236, 238, 242))
        draw = ImageDraw.Draw(screen)
        for _ in range(120):  # clutter: panels, buttons and text lines in greys and blues
            x, y = rng.randrange(SCREEN[0] - 200), rng.randrange(SCREEN[1] - 60)
            draw.rectangle((x, y, x + rng.randrange(8, 200), y + rng.randrange(4, 60)),
                           fill=rng.choice([(200, 204, 210), (60, 64, 72), (40, 110, 200), (250, 250, 250)]))
        name = f"images/screen_{number:03d}.png"
        side = round(6 * (64 / 6) ** rng.random())  # log-uniform: as many tiny targets as large ones
        x, y = rng.randrange(20, SCREEN[0] - side - 20), rng.randrange(20, SCREEN[1] - side - 20)
        draw.rectangle((x, y, x + side - 1, y + side - 1), fill=MARKER)
        small = side < 20
        records.append({"img_filename": name, "bbox": [x, y, x + side, y + side], "img_size": list(SCREEN),
                        "instruction": f"the marked {side}-pixel control", "ui_type": "icon" if small else "text",
                        "platform": "linux", "application": "generated", "group": "small" if small else "large"})
        screen.save(folder / name)
    (folder / "screenspot_pro_generated.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    return len(records)

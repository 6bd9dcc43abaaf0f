"""Zoom-in refinement: a second look at a crop around the model's first point.

A small model misses small targets on a large screen first: the screen is shrunk to its pixel
budget and a 12-pixel icon becomes a few pixels. Published test-time methods (ZoomClick,
UI-Zoomer; MVP votes over several crops) ask again on a crop around the first guess, shown
larger, and map the answer back. The crop is ``1/factor`` of the image on each side, centred on
the first point (moved inside the image at its edges), and enlarged ``factor`` times. With
``views`` above one, crops shifted a quarter of their size around the point are asked too and
the median point wins.

The answer on the crop's grid is mapped back through :class:`perception.geometry.CoordinateTransform`,
the one transform from a grid to pixels: the crop plays a monitor placed at its offset in the
image, so the "desktop" point it yields is a pixel of the whole image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import median

from loguru import logger
from PIL import Image

from actions.schema import Action
from errors import ModelMistake
from perception.geometry import Box, CoordinateTransform, Monitor, OffScreen, grid_to_pixel, image_to_grid

GridLocator = Callable[[Image.Image], "tuple[float, float]"]
"""Asks the model where the target is in an image; a point on its 0-1000 grid, or a ModelMistake."""
_SHIFTS = ((0, 0), (-1, -1), (1, 1), (-1, 1), (1, -1))


@dataclass(frozen=True)
class Zoom:
    factor: float = 3.0
    views: int = 1

    def crops(self, size: tuple[int, int], point: tuple[float, float]) -> list[Box]:
        """The crops asked about: centred on ``point``, then shifted a quarter crop each way."""
        width, height = max(1, round(size[0] / self.factor)), max(1, round(size[1] / self.factor))
        boxes = []
        for dx, dy in _SHIFTS[: self.views]:
            left = min(max(0, round(point[0] - width / 2 + dx * width / 4)), size[0] - width)
            top = min(max(0, round(point[1] - height / 2 + dy * height / 4)), size[1] - height)
            boxes.append((left, top, left + width, top + height))
        return boxes

    def view(self, image: Image.Image, box: Box) -> tuple[Image.Image, CoordinateTransform]:
        """The enlarged crop, and the transform from its grid to pixels of ``image``."""
        width, height = box[2] - box[0], box[3] - box[1]
        crop = image.crop(box)
        crop = crop.resize((round(width * self.factor), round(height * self.factor)), Image.Resampling.LANCZOS)
        return crop, CoordinateTransform(Monitor(0, box[0], box[1], width, height), (width, height), crop.size)

    def refine_action(self, action: Action, image: Image.Image, decide: Callable[[Image.Image], Action]) -> Action:
        """``action`` with its point refined by asking ``decide`` again on crops of ``image``, the model's view.

        A crop's answer counts where it is the same kind of action with a point; the point stays
        on the grid over ``image``, as the loop maps every action's point to the desktop.
        """
        assert action.point is not None

        def locate(crop: Image.Image) -> tuple[float, float]:
            again = decide(crop)
            if again.name != action.name or again.point is None:
                raise OffScreen(f"the zoomed view gave {again.name} instead of {action.name}")
            return again.point

        x, y = self.refine(image, grid_to_pixel(action.point, image.size), locate)
        grid = image_to_grid((x + 0.5, y + 0.5), image.size)
        return action.model_copy(update={"coordinate": grid})

    def refine(self, image: Image.Image, point: tuple[float, float], locate: GridLocator) -> tuple[int, int]:
        """The point in pixels of ``image`` after a second look; the first one where no crop answered."""
        found = []
        for box in self.crops(image.size, point):
            crop, transform = self.view(image, box)
            try:
                found.append(transform.to_desktop(locate(crop)))
            except ModelMistake as error:
                logger.debug("no point in the crop {}: {}", box, error)
        if not found:
            return (round(point[0]), round(point[1]))
        return (round(median(p[0] for p in found)), round(median(p[1] for p in found)))

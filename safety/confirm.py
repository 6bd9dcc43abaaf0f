"""Asking a person in the terminal: the action, the reason, and a crop of its target.

The crop is drawn with coloured half-block characters, so the person sees what the agent
is about to click without leaving the terminal.
"""

from __future__ import annotations

import sys
from typing import TextIO

from PIL import Image

from safety.policy import Proposal, Verdict

CROP = (240, 120)  # desktop pixels around the target
COLUMNS = 60


class TerminalAsker:
    """Asks y/N on a terminal; anything but yes (or end of input) declines."""

    def __init__(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stderr, color: bool | None = None) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.color = stdout.isatty() if color is None else color

    def __call__(self, proposal: Proposal, verdict: Verdict) -> bool:
        out = self.stdout
        out.write(f"\n⚠  The agent wants to {proposal.describe()}\n   It needs your approval: {verdict.reason}.\n")
        if self.color and proposal.screenshot is not None and proposal.target is not None:
            out.write(render_crop(target_crop(proposal)) + "\n")
        out.write("   Allow it? [y/N] ")
        out.flush()
        answer = self.stdin.readline()
        out.write("\n" if not answer.endswith("\n") else "")
        return answer.strip().lower() in ("y", "yes")


def target_crop(proposal: Proposal) -> Image.Image:
    """The captured pixels around the proposal's target, with the target marked in red."""
    shot = proposal.screenshot
    assert shot is not None and proposal.target is not None
    sx, sy = shot.transform.scale
    cx, cy = shot.transform.desktop_to_capture(proposal.target)
    half_w, half_h = CROP[0] * sx / 2, CROP[1] * sy / 2
    crop = shot.capture.crop((int(cx - half_w), int(cy - half_h), int(cx + half_w), int(cy + half_h))).convert("RGB")
    mid_x, mid_y = crop.width // 2, crop.height // 2
    for d in range(-6, 7):
        for x, y in ((mid_x + d, mid_y), (mid_x, mid_y + d)):
            if 0 <= x < crop.width and 0 <= y < crop.height:
                crop.putpixel((x, y), (255, 0, 0))
    return crop


def render_crop(image: Image.Image, columns: int = COLUMNS) -> str:
    """An image as 24-bit-colour half blocks: each character shows two pixels, one above the other."""
    rows = max(2, round(image.height / image.width * columns) // 2 * 2)
    small = image.resize((columns, rows), Image.Resampling.BOX)
    lines = []
    for y in range(0, rows, 2):
        cells = []
        for x in range(columns):
            top, bottom = small.getpixel((x, y)), small.getpixel((x, y + 1))
            cells.append(f"\x1b[38;2;{top[0]};{top[1]};{top[2]}m\x1b[48;2;{bottom[0]};{bottom[1]};{bottom[2]}m▀")
        lines.append("   " + "".join(cells) + "\x1b[0m")
    return "\n".join(lines)

"""OCR engines on form labels: how many labels each finds where they are, and how fast.

    python bench/ocr.py            # Tesseract at 1x, 2x and 3x; RapidOCR too if it is installed

A Tk window on a virtual display shows 24 labels in six fonts (9 to 14 point, serif, mono and
CJK-capable sans) on four backgrounds (white, grey, dark, tinted), each above a text field
holding "value N". A label counts as found when the best reading of it matches at 0.8 or more
and lies inside its label widget; a field value likewise. Times are for the whole window.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from desktop.virtual import VirtualDesktop
from perception.ocr import Line, Word, find, read

LABELS = ["Full name", "E-mail address", "Date of birth", "ZIP / Postal code", "Phone number", "Country",
          "Company", "Street and house no.", "Password", "Confirm password", "Newsletter", "Preferred contact time",
          "Notes", "Invoice number", "Amount (EUR)", "VAT ID", "Username", "Department", "Start date", "Comments",
          "Account holder", "Reference", "Due date", "Subscribe"]
FONTS = [("DejaVu Sans", 9), ("DejaVu Sans", 11), ("DejaVu Serif", 12), ("Noto Sans CJK SC", 10),
         ("DejaVu Sans Mono", 10), ("DejaVu Sans", 14)]
COLORS = [("#ffffff", "#000000"), ("#d9d9d9", "#000000"), ("#2b2b2b", "#eeeeee"), ("#e8f0fe", "#1a4d99")]

APP = """
import json, tkinter as tk
labels, fonts, colors = json.loads(input())
root = tk.Tk(); root.title("OCR bench"); root.geometry("1200x740+0+0")
boxes = []
for row, font in enumerate(fonts):
    for col, (bg, fg) in enumerate(colors):
        n = row * len(colors) + col
        x, y = 20 + col * 295, 20 + row * 120
        tk.Label(root, text=labels[n], font=tuple(font), bg=bg, fg=fg, anchor="w").place(x=x, y=y, width=280, height=40)
        entry = tk.Entry(root, font=tuple(font)); entry.insert(0, f"value {n}"); entry.place(x=x, y=y + 45, width=280, height=30)
        boxes.append([[x, y, x + 280, y + 40], [x, y + 45, x + 280, y + 75]])
def report():  # once the window manager has framed the window, its root position is final
    ox, oy = root.winfo_rootx(), root.winfo_rooty()
    print(json.dumps([[[b[0] + ox, b[1] + oy, b[2] + ox, b[3] + oy] for b in pair] for pair in boxes]), flush=True)
root.after(700, report)
root.mainloop()
"""


def rapid_lines(engine, image: Image.Image) -> list[Line]:  # type: ignore[no-untyped-def]
    import numpy as np

    result, _ = engine(np.asarray(image))
    lines = []
    for polygon, text, confidence in result or []:
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        lines.append(Line((Word(text, (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))), confidence * 100),)))
    return lines


def score(lines: list[Line], boxes: list[list[list[int]]]) -> tuple[int, int]:
    def hit(text: str, box: list[int]) -> bool:
        best = next(iter(find(lines, text, minimum=0.8)), None)
        return best is not None and box[0] <= best.center[0] <= box[2] and box[1] <= best.center[1] <= box[3]

    labels = sum(hit(LABELS[n], label) for n, (label, _) in enumerate(boxes))
    values = sum(hit(f"value {n}", field) for n, (_, field) in enumerate(boxes))
    return labels, values


def main() -> None:
    with VirtualDesktop(width=1240, height=780) as desktop:
        app = subprocess.Popen([sys.executable, "-c", APP], env=desktop.env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        assert app.stdin and app.stdout
        app.stdin.write(json.dumps([LABELS, FONTS, COLORS]) + "\n")
        app.stdin.flush()
        boxes = json.loads(app.stdout.readline())
        import mss

        with mss.MSS(display=desktop.display) as grabber:
            shot = grabber.grab(grabber.monitors[1])
        image = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
        app.terminate()

    engines = [(f"tesseract {s}x", lambda img, s=s: read(img, scale=s)) for s in (1, 2, 3)]
    try:
        from rapidocr_onnxruntime import RapidOCR

        engine = RapidOCR()
        engines.append(("rapidocr", lambda img: rapid_lines(engine, img)))
    except ImportError:
        print("(RapidOCR is not installed: pip install rapidocr-onnxruntime to compare)")
    print(f"{'engine':<14} {'labels':>8} {'values':>8} {'seconds':>8}   ({image.width}x{image.height}, "
          f"{len(boxes)} labels, best of 3)")
    for name, run in engines:
        run(image)  # warm-up: model loading, page cache
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            lines = run(image)
            seconds.append(time.perf_counter() - started)
        labels, values = score(lines, boxes)
        print(f"{name:<14} {labels:>5}/{len(boxes)} {values:>5}/{len(boxes)} {min(seconds):>8.2f}")


if __name__ == "__main__":
    main()

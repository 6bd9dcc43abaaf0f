"""How much of the screen's text survives each pixel budget (CPU only, no model).

The model sees the screen shrunk to a pixel budget; below some budget small UI text stops being
legible and the model's grounding suffers. Measuring that point on the model itself needs the
real weights (``run_agent.py ground-eval`` at several ``--max-pixels``); this bench measures the
pixels' side of it, which needs none: it shows real applications on a 1920x1080 virtual display
(the bundled forms in Tk and Qt, xterm with a directory listing, Mousepad with the README),
captures each exactly as the agent does at each budget, reads the picture with Tesseract, and
counts the words read at full resolution that are still read, and names the smallest budget
within a point of the largest. Tesseract needs more pixels per letter than a vision-language
model does, so the budget it calls safe is a conservative one::

    python bench/pixel_budget.py
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.virtual import VirtualDesktop, app_path  # noqa: E402
from perception.ocr import normalize, read  # noqa: E402
from perception.screen import Screen, fit_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1920, 1080)
BUDGETS = {"640x400": 640 * 400, "800x500": 800 * 500, "1024x640": 1024 * 640, "1280x800": 1280 * 800, "1600x1000": 1600 * 1000}
SCENES = {  # name: (command, title of its window)
    "contact form (Tk)": ([sys.executable, str(app_path("contact_form"))], "Contact"),
    "sign-up form (Tk)": ([sys.executable, str(app_path("signup_form"))], "Sign up"),
    "sign-up form (Qt)": ([sys.executable, str(app_path("signup_form_qt"))], "Sign up"),
    "xterm": (["xterm", "-T", "listing", "-geometry", "160x50", "-e", "sh", "-c", "ls -l /usr/bin | head -48; sleep 600"],
              "listing"),
    "Mousepad": (["mousepad", str(ROOT / "README.md")], "README"),
}


def words(image) -> Counter[str]:
    """The words Tesseract reads, normalised; only those of three letters or digits and more."""
    found = (normalize(word.text) for line in read(image) for word in line.words)
    return Counter(word for word in found if len(word) >= 3 and any(c.isalnum() for c in word))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with VirtualDesktop(*SIZE, set_environment=True) as desktop:
        for scene, (argv, title) in SCENES.items():
            app = desktop.launch(argv, quiet=True)
            desktop.wait_for_window(title, timeout=30)
            time.sleep(1.5)  # fonts drawn, the first paint settled
            screen = Screen()
            full = screen.grab(screen.monitor())
            reference = words(full)
            rows[scene] = {"words": sum(reference.values())}
            for name, budget in BUDGETS.items():
                kept = sum((words(fit_image(full, budget)) & reference).values())
                rows[scene][name] = kept / max(1, sum(reference.values()))
            app.terminate()
            app.wait(timeout=10)
            print(scene, {k: round(v, 3) for k, v in rows[scene].items()}, flush=True)
    print(f"\nWords read at full resolution ({SIZE[0]}x{SIZE[1]}) still read after the shrink to each budget:\n")
    print("| scene | words | " + " | ".join(f"{n} ({budget // 1024} tok)" for n, budget in BUDGETS.items()) + " |")
    print("|---|---|" + "---|" * len(BUDGETS))
    for scene, row in rows.items():
        print(f"| {scene} | {row['words']:.0f} | " + " | ".join(f"{row[n]:.0%}" for n in BUDGETS) + " |")
    mean = {n: sum(row[n] for row in rows.values()) / len(rows) for n in BUDGETS}
    print("| **mean** | | " + " | ".join(f"**{mean[n]:.1%}**" for n in BUDGETS) + " |")
    largest = mean[list(BUDGETS)[-1]]
    chosen = next(n for n in BUDGETS if mean[n] >= largest - 0.01)
    print(f"\nThe smallest budget within a point of the largest: {chosen}")


if __name__ == "__main__":
    main()

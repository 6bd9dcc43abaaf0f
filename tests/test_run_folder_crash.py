"""A run killed at any moment leaves a run folder whose every recorded step has its pictures whole.

A real process writes steps of a real screenshot in a loop and is killed (SIGKILL, so nothing of
it gets to clean up) at many moments; each folder it leaves is then read as replay and the web
page read it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from agent.trajectory import read_steps

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import sys, time
from pathlib import Path
from actions.schema import parse_action
from agent.task import Outcome, Step
from agent.trajectory import Trajectory
from perception.screen import Screen
from safety.secrets import Redactor

shot = Screen().capture()
trajectory = Trajectory(Path(sys.argv[1]), "write steps until killed", Redactor(), {})
print("ready", flush=True)
index = 0
while True:
    index += 1
    action = parse_action({"action": "left_click", "coordinate": [100 + index % 800, 500]})
    trajectory.on_step(Step(index=index, screenshot=shot, action=action, outcome=Outcome.DONE, detail="clicked"))
"""

KILLS = 36  # at 0, 7, 14 ... 245 ms after the writer is ready: a step takes ~30 ms, so every phase of one is hit


def test_a_killed_run_names_only_pictures_that_are_whole(desktop, tmp_path):
    # a screen worth looking at, so the pictures take as long to write as real ones
    desktop.launch(["xterm", "-geometry", "100x30+40+40", "-e", "bash -c 'ls -la /usr/bin | head -60; sleep 120'"],
                   quiet=True)
    time.sleep(1.0)
    steps_seen, picture_count = [], 0
    for kill in range(KILLS):
        runs = tmp_path / f"kill-{kill:02d}"
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(runs)], cwd=ROOT, env={**os.environ},
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        time.sleep(kill * 0.007)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        (folder,) = runs.iterdir()
        records = read_steps(folder)
        steps_seen.append(len(records))
        for record in records:
            for key in ("screenshot", "annotated"):
                name = record.get(key)
                if name is None:
                    continue  # a step may leave its pictures out, but then it does not name them
                assert not name.startswith(".") and not name.endswith(".tmp"), name
                with Image.open(folder / name) as picture:
                    picture.load()  # raises on a truncated or empty file
                    assert picture.size == (1280, 800)
                picture_count += 1
    assert steps_seen.count(0) < KILLS // 2, steps_seen  # most kills came while steps were being written
    assert picture_count > 0

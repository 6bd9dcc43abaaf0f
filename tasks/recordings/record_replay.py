"""Record a task once, replay it often: the ``record``, ``replay`` and ``recordings`` commands.

Thin on purpose: the recorder (:mod:`tasks.recordings.record`), the replayer (:mod:`tasks.recordings.replay`), the
format (:mod:`tasks.recordings.recording`) and the conversion to a task script (:mod:`tasks.recordings.to_task`) do
the work; this module wires them to the settings and says what happened.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from agent.settings import Settings
from tasks.recordings.recording import Recording, RecordingError


def record(settings: Settings, name: str, secret_windows: list[str], out: TextIO = sys.stdout) -> int:
    from perception.screen import Screen
    from tasks.recordings.record import Recorder

    screen = Screen(settings.monitor_choice, settings.max_pixels)
    primary = screen.layout().primary
    recording = Recording.create(settings.recordings_dir, name, (primary.width, primary.height))
    with Recorder(recording, screen, settings.stop_hotkey, secret_windows) as recorder:
        out.write(f"Recording '{name}': do the task now. Press {settings.stop_hotkey} or Ctrl+C here to stop.\n")
        out.flush()
        reason = recorder.wait()
    out.write(f"Recorded {len(recording.steps)} steps in {recording.folder} ({reason}).\n")
    if recording.info.parameters:
        out.write("It takes parameters: " + ", ".join(recording.info.parameters) + " (replay with --param NAME=VALUE)\n")
    return 0


def replay(settings: Settings, name: str, params: list[str], data: Path | None, speed: float, from_step: int,
           with_model: bool = False, out: TextIO = sys.stdout) -> int:
    from tasks.recordings.replay import replay as replay_once
    from tasks.recordings.replay import replay_rows

    recording = Recording.load(settings.recordings_dir, name)
    values = {}
    for param in params:
        key, equals, value = param.partition("=")
        if not equals or not key:
            raise RecordingError(f"--param wants NAME=VALUE, not {param!r}")
        values[key] = value
    model = None
    if with_model:
        from agent.backends import make_backend

        model = make_backend(settings)
    results = (replay_rows(settings, recording, data, values, speed, from_step, model=model) if data
               else [replay_once(settings, recording, values, speed, from_step, model=model)])
    for number, result in enumerate(results, start=1):
        row = f"row {number}: " if data else ""
        out.write(f"{row}{result.status.value} after {result.steps} steps: {result.reason} ({result.folder})\n")
    return max(results, key=lambda r: r.exit_code != 0).exit_code


def list_recordings(settings: Settings, out: TextIO = sys.stdout) -> int:
    root = Path(settings.recordings_dir)
    names = sorted(p.name for p in root.iterdir() if (p / "recording.json").is_file()) if root.is_dir() else []
    if not names:
        out.write(f"No recordings in {root}/ yet: run_agent.py record NAME\n")
    for name in names:
        try:
            recording = Recording.load(root, name)
            out.write(f"{name:<30} {len(recording.steps):>4} steps  {recording.info.created}\n")
        except RecordingError as error:
            out.write(f"{name:<30} unreadable: {error}\n")
    return 0


def show(settings: Settings, name: str, out: TextIO = sys.stdout) -> int:
    recording = Recording.load(settings.recordings_dir, name)
    out.write(f"{recording.name}: {len(recording.steps)} steps, recorded {recording.info.created} on a "
              f"{recording.info.screen[0]}x{recording.info.screen[1]} screen\n")
    for step in recording.steps:
        window = f"  in \"{step.window.title}\"" if step.window else ""
        pictures = ", ".join(p for p in (step.screenshot, step.target) if p)
        out.write(f"{step.index:>4}  {step.at:7.2f}s  {step.describe()}{window}" + (f"  [{pictures}]" if pictures else "")
                  + "\n")
    out.write(f"Edit {recording.folder / 'steps.jsonl'} to change, remove or reorder steps.\n")
    return 0


def to_task(settings: Settings, name: str, describe: bool, out: TextIO = sys.stdout) -> int:
    from tasks.recordings.to_task import describe as describe_task
    from tasks.recordings.to_task import task_script

    recording = Recording.load(settings.recordings_dir, name)
    description = None
    if describe:
        from agent.backends import make_backend

        description = describe_task(make_backend(settings), recording, settings.sampling())
    path = recording.folder / "task.replies"
    path.write_text(task_script(recording, description), encoding="utf-8")
    instruction = description or f"Do what the recording {name} does"
    out.write(f"Wrote {path}\nRun it with:\n  run_agent.py run \"{instruction}\" --script {path}\n")
    return 0

"""Record by hand, then replay, as a person does it from the command line: real processes, real input."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from agent.backends.scripted import ScriptedBackend
from tests.test_cli import ROOT, run_agent

NAME_FIELD, SAVE, CLEAR = (431, 117), (282, 490), (421, 490)  # the contact form's controls, in desktop pixels


def test_record_show_replay_after_the_window_moved_and_to_task(contact_form, desktop, tmp_path):
    recordings = tmp_path / "recordings"
    recorder = subprocess.Popen(
        [sys.executable, str(ROOT / "run_agent.py"), "record", "grace", "--recordings-dir", str(recordings)],
        env=desktop.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    assert "do the task now" in recorder.stdout.readline()
    time.sleep(0.5)
    desktop.xdotool("mousemove", *map(str, NAME_FIELD), "click", "1")
    time.sleep(0.3)
    desktop.xdotool("type", "--delay", "30", "Grace Hopper")
    time.sleep(0.3)
    desktop.xdotool("mousemove", *map(str, SAVE), "click", "1")
    contact_form.wait_for(lambda s: len(s["submissions"]) == 1)
    time.sleep(0.8)  # a click is final once it can no longer become a double click
    desktop.xdotool("key", "ctrl+alt+Escape")
    out, err = recorder.communicate(timeout=20)
    assert recorder.returncode == 0, err
    assert "Recorded 3 steps" in out

    shown = run_agent("recordings", "show", "grace", "--recordings-dir", str(recordings))
    assert shown.returncode == 0 and "type 'Grace Hopper'" in shown.stdout and "steps.jsonl" in shown.stdout

    desktop.xdotool("mousemove", *map(str, CLEAR), "click", "1")  # what the recording typed goes
    contact_form.wait_for(lambda s: s["fields"]["name"] == "")
    desktop.xdotool("windowmove", contact_form.window, "300", "150")
    time.sleep(0.5)
    replayed = run_agent("replay", "grace", "--recordings-dir", str(recordings), "--runs-dir", str(tmp_path / "runs"),
                         "--confirm", "allow", "--speed", "3", env=desktop.env, stdin=subprocess.DEVNULL)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    saved = contact_form.wait_for(lambda s: len(s["submissions"]) == 2)["submissions"]
    assert saved[1]["name"] == "Grace Hopper"
    (run,) = (tmp_path / "runs").iterdir()
    assert len((run / "steps.jsonl").read_text().splitlines()) == 3

    task = run_agent("recordings", "to-task", "grace", "--recordings-dir", str(recordings))
    assert task.returncode == 0 and "--script" in task.stdout
    replies = ScriptedBackend.from_file(recordings / "grace" / "task.replies").replies
    assert len(replies) == 4 and '"text": "Grace Hopper"' in replies[1]


def test_recording_names_and_missing_recordings_are_clear_errors(tmp_path):
    bad = run_agent("record", "no/slashes", "--recordings-dir", str(tmp_path))
    assert bad.returncode == 64 and "not a usable recording name" in bad.stderr
    missing = run_agent("replay", "nothing", "--recordings-dir", str(tmp_path))
    assert missing.returncode == 64 and "no recording 'nothing'" in missing.stderr
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "recording.json").write_text(json.dumps({"name": "broken"}))
    broken = run_agent("recordings", "show", "broken", "--recordings-dir", str(tmp_path))
    assert broken.returncode == 64 and "not a valid recording" in broken.stderr

"""run_agent.py as a person runs it: a real process, real exit codes, a real terminal prompt."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.replies import NAME, click, done, script, type_text

ROOT = Path(__file__).resolve().parents[1]


def run_agent(*args: str, env: dict | None = None, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_agent.py"), *args], capture_output=True, text=True,
                          env=env or os.environ, timeout=60, **options)


def test_help_explains_the_commands_and_exit_codes():
    top = run_agent("--help")
    assert top.returncode == 0 and "run" in top.stdout and "demo" in top.stdout
    run = run_agent("run", "--help")
    for words in ("--dry-run", "--confirm", "--monitor", "--runs-dir", "--max-steps", "exit codes", "stop hotkey"):
        assert words in run.stdout
    for command in ("run", "fill", "replay", "serve"):  # every command that acts takes the safety options
        text = run_agent(command, "--help").stdout
        assert "--policy" in text and "--sensitive-window" in text


def test_run_fills_the_form_and_shows_progress(contact_form, tmp_path):
    replies = script(tmp_path / "r.txt", click(NAME), type_text("Grace Hopper"), done())
    result = run_agent("run", "Type the name", "--backend", "scripted", "--script", str(replies),
                       "--runs-dir", str(tmp_path / "runs"), "--confirm", "deny", stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert contact_form.wait_for(lambda s: s["fields"]["name"])["fields"]["name"] == "Grace Hopper"
    progress = [line for line in result.stderr.splitlines() if line.startswith("step ")]
    assert len(progress) == 3 and "left_click" in progress[0] and "type" in progress[1]


def test_settings_come_from_a_config_file_and_the_environment(contact_form, tmp_path):
    replies = script(tmp_path / "r.txt", *[click(NAME)] * 5)
    config = tmp_path / "agent.toml"
    config.write_text(f'backend = "scripted"\nscript = "{replies}"\nmax_steps = 2\nconfirm = "deny"\n')
    env = {**os.environ, "AGENT_RUNS_DIR": str(tmp_path / "runs")}
    result = run_agent("run", "Click", "--config", str(config), env=env)
    assert result.returncode == 2, result.stderr  # budget: the file's max_steps = 2
    (folder,) = (tmp_path / "runs").iterdir()  # the environment's runs dir
    assert json.loads((folder / "summary.json").read_text())["steps"] == 2


def test_bad_settings_and_a_missing_display_are_clear_errors(tmp_path):
    bad = run_agent("run", "x", "--max-steps", "0", "--script", "r.txt")
    assert bad.returncode == 64 and "max_steps" in bad.stderr and "Traceback" not in bad.stderr
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    replies = script(tmp_path / "r.txt", done())
    no_display = run_agent("run", "x", "--script", str(replies), "--runs-dir", str(tmp_path), env=env)
    assert no_display.returncode == 70 and "display" in no_display.stderr.lower()
    assert "Traceback" not in no_display.stderr


def test_ask_mode_prompts_on_the_terminal(contact_form, tmp_path):
    replies = script(tmp_path / "r.txt", click(NAME), type_text("rm -rf ~/old"), done())
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run_agent.py"), "run", "Clean up", "--script", str(replies),
         "--runs-dir", str(tmp_path / "runs"), "--sensitive-window", "^Contact$"],  # a terminal: ask
        stdin=child, stdout=child, stderr=child, close_fds=True,
    )
    os.close(child)
    prompts: list[bytes] = []
    seen = b""
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        if select.select([main], [], [], 0.2)[0]:
            try:
                seen += os.read(main, 65536)
            except OSError:
                break
        if b"Allow it?" in seen:
            prompts.append(seen)
            seen = b""
            os.write(main, b"y\n")
    os.close(main)
    assert process.wait(timeout=10) == 0
    assert len(prompts) == 2  # the click and the typing in the window marked sensitive
    assert b"left click at" in prompts[0] and b"sensitive" in prompts[0]
    assert "\x1b[38;2;".encode() in prompts[0]  # the crop of the target, drawn in colour
    assert b"rm -rf ~/old" in prompts[1] and b"command: rm" in prompts[1]
    assert contact_form.wait_for(lambda s: s["fields"]["name"])["fields"]["name"] == "rm -rf ~/old"


def test_demo_fills_the_bundled_form(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # the demo brings its own display
    result = run_agent("demo", "--runs-dir", str(tmp_path), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"city": "Zürich – 東京"' in result.stdout and '"newsletter": true' in result.stdout


def test_ask_points_at_a_thing_in_pixels_of_the_image(tmp_path):
    from PIL import Image

    Image.new("RGB", (1920, 1080), "white").save(tmp_path / "screen.png")
    answer = 'The Save button is at the bottom.\n</think>\n\n{"point_2d": [250, 500], "label": "Save"}'
    replies = script(tmp_path / "r.txt", answer, "It is a white screen.")
    result = run_agent("ask", str(tmp_path / "screen.png"), "the Save button", "--point", "--script", str(replies))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "480 540"


def test_ask_answers_a_question_and_explains_bad_input(tmp_path):
    from PIL import Image

    Image.new("RGB", (640, 400), "white").save(tmp_path / "screen.png")
    replies = script(tmp_path / "r.txt", "Nothing to see.\n</think>\n\nIt is a blank white screen.", "No idea.")
    answered = run_agent("ask", str(tmp_path / "screen.png"), "What is on screen?", "--script", str(replies))
    assert answered.returncode == 0 and answered.stdout.strip() == "It is a blank white screen."
    no_point = run_agent("ask", str(tmp_path / "screen.png"), "the OK button", "--point", "--script",
                         str(script(tmp_path / "n.txt", "I cannot find it.")))
    assert no_point.returncode == 1 and "holds no point" in no_point.stderr
    (tmp_path / "broken.png").write_bytes(b"not a png")
    broken = run_agent("ask", str(tmp_path / "broken.png"), "What?", "--script", str(replies))
    assert broken.returncode == 64 and "cannot read the image" in broken.stderr

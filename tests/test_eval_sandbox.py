"""The task's machine: a sandbox that nothing a task runs can write out of, and what OSWorld's image offers
that tasks rely on (a terminal on ctrl+alt+t titled Terminal, gsettings on the session bus OSWorld exports)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from test_eval_suite import evaluation


def write_task(folder: Path, task: dict) -> Path:
    (folder / "os").mkdir(parents=True, exist_ok=True)
    path = folder / "os" / f"{task['id']}.json"
    path.write_text(json.dumps(task))
    return path


def test_a_task_writes_only_into_its_own_home(tmp_path: Path) -> None:
    probe = f"sandbox-probe-{os.getpid()}"
    real_home = Path.home()
    outside = [Path("/etc") / probe, Path("/etc") / f"{probe}-sudo", real_home / probe, Path("/tmp") / probe,
               Path("/home") / probe]
    home_user_existed = Path("/home/user").exists()
    tries = "; ".join([
        f"echo inside > /home/user/{probe}", "mkdir -p /home/user/Desktop/dir1/dir2",  # as os/4783cc41 does
        f"echo escaped > /etc/{probe}", f"echo password | sudo -S touch /etc/{probe}-sudo",
        f"echo escaped > {real_home}/{probe}", f"echo escaped > ~/../../{real_home}/{probe}",
        f"echo inside > /tmp/{probe}", f"mkdir /home/{probe}",  # as os/5812b315 does: its /home is its own
    ])
    seen = f"cat /home/user/{probe} /tmp/{probe} /etc/{probe} {real_home}/{probe}; " \
           f"ls -d /home/user/Desktop/dir1/dir2; ls -d /home/{probe}; whoami; echo $HOME"
    write_task(tmp_path / "suite", {
        "id": "escape", "instruction": "Do nothing",
        "config": [{"type": "execute", "parameters": {"command": tries, "shell": True}}],
        "evaluator": {"func": "exact_match", "result": {"type": "vm_command_line", "command": seen, "shell": True},
                      "expected": {"type": "rule", "rules": {"expected": "inside\ninside\n/home/user/Desktop/dir1/dir2"
                                                                         f"\n/home/{probe}\nuser\n/home/user\n"}}}})
    _, (record,), _ = evaluation(tmp_path / "runs", str(tmp_path / "suite"), "--do-nothing")
    assert record["score"] == 1.0, record  # the home and /tmp took the writes, /etc and the real home did not
    assert [p for p in outside if p.exists()] == []
    assert Path("/home/user").exists() == home_user_existed


def test_the_machine_has_a_terminal_on_ctrl_alt_t_and_keeps_gsettings(tmp_path: Path) -> None:
    bus = "export DBUS_SESSION_BUS_ADDRESS='unix:path=/run/user/1000/bus'\n"  # as OSWorld's commands set it
    typing = "import pyautogui, time; pyautogui.write('echo $((6*7))'); pyautogui.press('enter'); time.sleep(1)"
    write_task(tmp_path / "suite", {
        "id": "terminal", "instruction": "Do nothing",
        "config": [
            {"type": "execute", "parameters": {"shell": True, "command": bus + "gsettings set org.gnome.shell "
                                               "favorite-apps \"['thunderbird.desktop', 'vim.desktop']\""}},
            {"type": "execute", "parameters": {"command": ["python", "-c", "import pyautogui; pyautogui.hotkey('ctrl', "
                                                                             "'alt', 't')"]}},
            {"type": "activate_window", "parameters": {"window_name": "Terminal"}},
            {"type": "execute", "parameters": {"command": ["python", "-c", typing]}},
        ],
        "evaluator": {"func": ["check_include_exclude", "check_gnome_favorite_apps"],
                      "result": [{"type": "vm_terminal_output"},
                                 {"type": "vm_command_line", "shell": True,
                                  "command": bus + "gsettings get org.gnome.shell favorite-apps"}],
                      "expected": [{"type": "rule", "rules": {"include": ["\n42"], "exclude": []}},
                                   {"type": "rule", "rules": {"expected": ["vim.desktop", "thunderbird.desktop"]}}]}})
    _, (record,), _ = evaluation(tmp_path / "runs", str(tmp_path / "suite"), "--do-nothing")
    assert (record["score"], record["status"]) == (1.0, "success"), record

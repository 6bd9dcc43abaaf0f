"""``run_agent.py eval`` as a person runs it: every built-in task solved by its reference and failed by doing
nothing, each on its own display; a real OSWorld task file unchanged; hung, unsupported and broken tasks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from evaluation import results

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "suites" / "builtin"
OSWORLD = Path(__file__).parent / "eval_fixtures" / "osworld"


def run_agent(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_agent.py"), *args], capture_output=True, text=True,
                          env=os.environ, timeout=timeout, stdin=subprocess.DEVNULL)


def evaluation(runs: Path, *args: str) -> tuple[Path, list[dict], str]:
    before = set(runs.glob("eval-*")) if runs.exists() else set()
    done = run_agent("eval", *args, "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr[-2000:]
    (folder,) = set(runs.glob("eval-*")) - before
    return folder, results.load(folder), done.stdout


def test_every_builtin_task_scores_one_with_its_reference_and_zero_doing_nothing(tmp_path: Path) -> None:
    solved, records, table = evaluation(tmp_path, str(SUITE), "--reference", "--parallel", "2")
    tasks = {p.stem for p in SUITE.rglob("*.json") if p.parent.name != "files"}
    assert {r["task"] for r in records} == tasks and len(tasks) >= 20
    assert {r["domain"] for r in records} == {"tk_apps", "os", "text_editor", "libreoffice_calc"}
    failed = {r["task"]: r.get("reason") for r in records if r["score"] != 1.0}
    assert not failed, failed
    assert "all" in table and "100%" in table
    page = (solved / "report.html").read_text()
    assert all(t in page for t in tasks) and page.count("data:image/jpeg;base64,") >= sum(r["steps"] for r in records)

    idle, records, _ = evaluation(tmp_path, str(SUITE), "--do-nothing", "--parallel", "2")
    assert {r["task"]: r["score"] for r in records} == {t: 0.0 for t in tasks}
    assert all(r["steps"] == 1 and r["status"] == "success" for r in records)

    compared = run_agent("eval-report", str(solved), str(idle))
    assert compared.returncode == 0, compared.stderr
    assert "100% | 0%" in compared.stdout
    assert (solved / f"compare-{idle.name}.html").read_text().count("<tr>") > len(tasks)


def test_a_real_osworld_task_file_runs_unchanged(tmp_path: Path) -> None:
    # e0df059f (os): setup through sudo and python, judged by a shell command; solved through openbox's menu
    _, (solved,), _ = evaluation(tmp_path, str(OSWORLD), "--reference", "--only", "os")
    assert (solved["score"], solved["status"]) == (1.0, "success"), solved
    _, (idle,), _ = evaluation(tmp_path, str(OSWORLD), "--do-nothing")
    assert idle["score"] == 0.0


def test_hung_unsupported_and_broken_tasks_leave_the_others_alone(tmp_path: Path) -> None:
    suite = tmp_path / "suite" / "mixed"
    suite.mkdir(parents=True)
    for name in ("click-button.json", "click-button.replies"):
        shutil.copy(SUITE / "tk_apps" / name, suite / name)
    hung = {"id": "hung", "instruction": "Wait", "x_timeout": 3,
            "config": [{"type": "execute", "parameters": {"command": "sleep 987", "shell": True}}],
            "evaluator": {"func": "exact_match", "result": {"type": "rule", "rules": 1}, "expected": {}}}
    chrome = {"id": "chrome", "instruction": "Open the tabs",
              "config": [{"type": "chrome_open_tabs", "parameters": {"urls_to_open": ["https://example.com"]}}],
              "evaluator": {"func": "is_expected_tabs", "result": {"type": "open_tabs_info"}}}
    (suite / "hung.json").write_text(json.dumps(hung))
    (suite / "chrome.json").write_text(json.dumps(chrome))
    (suite / "broken.json").write_text('{"id": "broken", "instruction": "x", "config": "open the app"}')
    folder, records, table = evaluation(tmp_path, str(tmp_path / "suite"), "--reference", "--parallel", "2")
    outcome = {r["task"]: (r["score"], r["status"]) for r in records}
    assert outcome == {"click-button": (1.0, "success"), "hung": (0.0, "timeout"), "chrome": (None, "unsupported"),
                       "broken": (None, "invalid")}
    reasons = {r["task"]: r["reason"] for r in records}
    assert "setup step 'chrome_open_tabs'" in reasons["chrome"] and "getter 'open_tabs_info'" in reasons["chrome"]
    assert "'config' must be a list" in reasons["broken"]
    assert subprocess.run(["pgrep", "-f", "sleep 987"], capture_output=True).returncode == 1  # killed with its task
    assert "not run" in table and (folder / "report.html").is_file()


def test_bad_input_gets_a_clear_message(tmp_path: Path) -> None:
    missing = run_agent("eval", str(tmp_path / "nowhere"))
    assert missing.returncode == 64 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    report = run_agent("eval-report", str(tmp_path))
    assert report.returncode == 64 and "is no evaluation folder" in report.stderr
    ground = run_agent("ground-eval", str(tmp_path))
    assert ground.returncode == 64 and "no ScreenSpot annotations" in ground.stderr


def test_a_model_solver_is_metered(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    # a random-weight model writes no usable action: the task fails, with its latency and tokens on record
    _, (record,), _ = evaluation(tmp_path, str(SUITE / "tk_apps" / "click-button.json"), "--backend", "transformers",
                                 "--model", str(tiny_models["instruct"]), "--max-new-tokens", "32",
                                 "--decoder", "plain", "--max-steps", "1")
    assert (record["score"], record["status"], record["steps"], record["invalid"]) == (0.0, "budget", 1, 1)
    assert record["first_text_seconds"] > 0 and record["completion_tokens"] > 0 and record["peak_memory_mb"] > 100


def test_parallel_tasks_share_one_model_loaded_once(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    tasks = SUITE / "tk_apps"
    done = run_agent("eval", str(tasks), "--only", "click-button,choose-radio", "--parallel", "2",
                     "--backend", "transformers", "--model", str(tiny_models["instruct"]), "--max-new-tokens", "32",
                     "--max-steps", "1", "--runs-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count(f"loading {tiny_models['instruct']}") == 1  # here, not in each worker
    (folder,) = tmp_path.glob("eval-*")
    records = results.load(folder)
    assert len(records) == 2 and all(record["completion_tokens"] > 0 for record in records)
    for record in records:  # each worker asked the evaluation's server
        run = json.loads((folder / record["run"] / "run.json").read_text(encoding="utf-8"))
        assert run["backend"] == "openai" and run["settings"]["base_url"].startswith("http://127.0.0.1:")

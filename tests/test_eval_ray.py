"""``eval --ray`` on a real Ray cluster of two nodes on this machine (a head and a worker node, each
hosting one desktop), with the worker node killed in the middle of a task: the task runs again on
the head, and the evaluation folder holds every task's record, run folder and report as a local run
writes them, with the same scores."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluation import results

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "suites" / "builtin"
RAY = Path(sys.executable).with_name("ray")
TASKS = "click-button,create-file,append-line,choose-radio"
NODE = ["--block", "--num-cpus=1", '--resources={"desktop": 1}', "--node-ip-address=127.0.0.1",
        "--disable-usage-stats"]


def table(printed: str) -> list[list[str]]:
    """Each domain's success and number of tasks, as the printed table says."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("domain "))
    return [line.split()[:3] for line in lines[start:start + 5]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(*options: str) -> subprocess.Popen:
    return subprocess.Popen([str(RAY), "start", *options, *NODE], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def kill_node(node: subprocess.Popen) -> None:
    """The node and everything it started, at once (its daemons share its process group)."""
    try:
        os.killpg(node.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    node.wait()


def descendants(pid: int) -> list[tuple[int, str]]:
    """The processes below ``pid``, with their command lines."""
    children: dict[int, list[int]] = {}
    lines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                lines[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append((child, lines.get(child, "")))
            todo.append(child)
    return found


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, subprocess.Popen]]:
    """A head and a worker node; the head notices a lost node within about a second."""
    address = f"127.0.0.1:{free_port()}"
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    head = start_node("--head", f"--port={address.split(':')[1]}", f"--temp-dir={temp}", "--include-dashboard=false",
                      '--system-config={"health_check_period_ms": 500, "health_check_failure_threshold": 2}')
    worker = start_node(f"--address={address}")
    try:
        probe = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                 "print(ray.cluster_resources().get('desktop', 0))")
        deadline = time.monotonic() + 60
        while subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True,
                             timeout=60).stdout.strip() != "2.0":
            assert time.monotonic() < deadline, "the two nodes did not come up"
            time.sleep(0.5)
        yield address, worker
    finally:
        kill_node(worker)
        kill_node(head)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_suite_on_two_nodes_survives_a_node_killed_mid_task(cluster, tmp_path: Path) -> None:
    address, worker = cluster
    command = [sys.executable, str(ROOT / "run_agent.py"), "eval", str(SUITE), "--reference", "--only", TASKS]
    started = time.monotonic()
    evaluation = subprocess.Popen([*command, "--ray", address, "--runs-dir", str(tmp_path / "ray")], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any("evaluation.worker" in line for _, line in descendants(worker.pid)):
        assert time.monotonic() < deadline and evaluation.poll() is None, evaluation.communicate()
        time.sleep(0.1)
    kill_node(worker)  # a task is running there: it must run again on the head
    out, err = evaluation.communicate(timeout=180)
    on_ray = time.monotonic() - started
    assert evaluation.returncode == 0, err[-3000:]

    started = time.monotonic()
    local = subprocess.run([*command, "--runs-dir", str(tmp_path / "local")], cwd=ROOT, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=180)
    assert local.returncode == 0, local.stderr[-3000:]
    here_seconds = time.monotonic() - started
    (folder,) = (tmp_path / "ray").glob("eval-*")
    (here,) = (tmp_path / "local").glob("eval-*")
    records, expected = results.load(folder), results.load(here)
    assert {r["task"]: r["score"] for r in records} == {r["task"]: r["score"] for r in expected} \
        == {t: 1.0 for t in TASKS.split(",")}
    for record in records:  # each task's run folder came back from its node
        assert (folder / record["run"] / "summary.json").is_file(), record
        assert (folder / "tasks" / record["domain"] / record["task"] / "worker.log").is_file()
    assert json.loads((folder / "eval.json").read_text())["ray"] == address
    page = (folder / "report.html").read_text()
    assert page.count("data:image/jpeg;base64,") >= sum(r["steps"] for r in records)
    assert table(out) == table(local.stdout)
    per_task = [sum(r["seconds"] for r in rs) / len(rs) for rs in (records, expected)]
    print(f"4 tasks: {on_ray:.1f} s on Ray (two nodes, one killed mid-task), {here_seconds:.1f} s here; "
          "a task from setup to score: {:.2f} s on Ray, {:.2f} s here".format(*per_task))

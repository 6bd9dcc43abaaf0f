"""One task in a process of its own: ``python -m evaluation.worker < request.json``.

It runs inside the task's sandbox (:mod:`evaluation.suite` starts it there), whose home is
the request's ``home``. The process gets a fresh :class:`~evaluation.machine.Machine`
(display, window manager, that home), runs the task's setup, lets the agent loop work on the instruction, scores
the result and writes ``result.json`` into the task's output folder. The request (task file,
output folder, solver, settings) comes on standard input, so no secret lands on disk.

Solvers: ``model`` (the backend the settings choose), ``reference`` (the task's reference
solution, replayed), ``nothing`` (says it is done at once: every task scores 0 with it).
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loguru import logger

from agent.model import ModelBackend, TimedBackend
from agent.settings import Settings
from agent.trajectory import read_steps
from evaluation.files import FileCache
from evaluation.machine import Machine, SetupFailed, Unsupported
from evaluation.scoring import evaluate
from evaluation.task import Task, load_task

DO_NOTHING = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}}\n</tool_call>'
SOLVERS = ("model", "reference", "nothing")


def solver_backend(solver: str, task: Task, settings: Settings) -> tuple[ModelBackend, Settings]:
    """The backend that answers for ``solver``, and the settings that describe it."""
    from agent.backends import make_backend
    from agent.backends.scripted import ScriptedBackend

    if solver == "reference":
        if task.reference is None:
            raise SetupFailed("the task has no reference solution (x_reference, or <id>.replies beside it)")
        settings = settings.model_copy(update={"backend": "scripted", "script": task.reference})
        return ScriptedBackend.from_file(task.reference), settings
    if solver == "nothing":
        return ScriptedBackend([DO_NOTHING], source="do-nothing"), settings.model_copy(update={"backend": "scripted"})
    return make_backend(settings), settings


def run_task(task: Task, settings: Settings, solver: str, home: Path, files: FileCache | None) -> dict[str, Any]:
    """Set up, run and score one task on a machine with ``home``; the result record (see :mod:`evaluation.results`)."""
    record: dict[str, Any] = {"task": task.id, "domain": task.domain, "instruction": task.instruction}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="task-") as scratch, \
            Machine(task.folder, Path(scratch), home, files) as machine:
        try:
            machine.setup(task.config)
            model, settings = solver_backend(solver, task, settings)
        except Unsupported as error:
            return {**record, "score": None, "status": "unsupported", "reason": f"not supported here: {error}"}
        except SetupFailed as error:
            return {**record, "score": 0.0, "status": "setup_failed", "reason": str(error)}
        # the input stack binds to the display when imported: only now is DISPLAY the task's
        from agent.task import Status
        from tasks.commands.run import run_command

        run = run_command(settings, task.instruction, model=TimedBackend(model))  # the steps record its times
        score = evaluate(task.evaluator, machine, failed=run.status is Status.FAILURE)
    return {**record, "score": score, "status": run.status.value, "reason": run.reason,
            "seconds": round(time.monotonic() - started, 2), **run_figures(run.folder),
            "run": str(run.folder)}


def run_figures(folder: Path) -> dict[str, Any]:
    """Steps, refused and unusable replies, tokens, latency and memory of one run folder."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    steps = read_steps(folder)
    models = [s["model"] for s in steps if s.get("model")]
    first_text = [m["seconds"] if m.get("first_token_seconds") is None else m["first_token_seconds"]
                  for m in models if m.get("seconds") is not None]  # a reply that streamed nothing: its end
    figures = {
        "steps": summary["steps"],
        "agent_seconds": summary["seconds"],
        "invalid": summary["outcomes"].get("invalid", 0),
        "blocked": summary["outcomes"].get("blocked", 0),
        "prompt_tokens": sum(m.get("prompt_tokens", 0) for m in models),
        "completion_tokens": sum(m.get("completion_tokens", 0) for m in models),
        "model_seconds": round(sum(s["timings"].get("model", 0.0) for s in steps), 3),
        "first_text_seconds": round(sum(first_text) / len(first_text), 4) if first_text else None,
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        figures["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return figures


def main() -> int:
    request = json.load(sys.stdin)
    settings = Settings(**request["settings"])
    logger.remove()
    logger.add(sys.stderr, level=settings.log_level, format="{time:HH:mm:ss} {level: <7} {message}")
    out = Path(request["out"])
    task = load_task(Path(request["task"]), request.get("domain"))
    try:
        files = FileCache(Path(request["files"])) if request.get("files") else None
        record = run_task(task, settings, request["solver"], Path(request["home"]), files)
    except Exception as error:  # noqa: BLE001 - whatever broke, the suite gets a result for this task
        logger.exception("the task {} broke the harness", task.id)
        record = {"task": task.id, "domain": task.domain, "instruction": task.instruction, "score": 0.0,
                  "status": "error", "reason": f"{type(error).__name__}: {error}"}
    (out / "result.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

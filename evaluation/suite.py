"""``run_agent.py eval SOURCE``: every task of a suite on its own display, N at a time.

Each task runs in a worker process (:mod:`evaluation.worker`) in a sandbox of its own
(:mod:`evaluation.sandbox`: the task's home at ``/home/user``, the rest of the system
read-only); when it overruns its time the whole sandbox is killed (the apps it started too),
and the next task is not affected. With the in-process model, the weights are loaded once, in
this process, and served to the workers (:mod:`evaluation.model_server`), which decodes their
requests together. Before a worker starts, what the task cannot do here is
named (the task is ``unsupported``) and the files it downloads are fetched into the download
cache (:mod:`evaluation.files`; a URL that cannot be had makes the task ``missing_file``).
Results go to ``<runs-dir>/eval-<time>/``:

- ``eval.json``: what was run, with which solver and settings;
- ``results.jsonl``: one line per task, written as each one ends;
- ``tasks/<domain>/<id>/``: the task's run folder (steps, screenshots) and its worker's log;
- ``report.html``: the report, with every step's screenshot and action.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from loguru import logger

from agent.settings import Settings
from evaluation import cluster, report, results, sandbox
from evaluation.files import FileCache, MissingFile, task_urls
from evaluation.model_server import shared_model
from evaluation.scoring import problems
from evaluation.task import Task, TaskError, find_tasks, load_task

ROOT = Path(__file__).resolve().parent.parent


def run_suite(settings: Settings, source: Path, only: Iterable[str] = (), parallel: int = 1,
              solver: str = "model", task_timeout: float | None = None, shard: tuple[int, int] | None = None,
              files: Path | None = None, ray: str | None = None) -> Path:
    """Run the tasks of ``source`` (``only`` and ``shard`` as for :func:`find_tasks`); the evaluation folder.

    ``files`` is the download cache's folder (``eval --files``); without it, tasks that download are not run.
    ``ray``: run them on that Ray cluster (``""``: the one this machine belongs to; :mod:`evaluation.cluster`).
    """
    paths = find_tasks(source, only, shard)
    sandbox.check()
    cache = FileCache(files) if files is not None else None
    folder = results.new_folder(settings.runs_dir, "eval")
    meta = {"source": str(source), "solver": solver, "parallel": parallel, "tasks": len(paths),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "shard": "/".join(map(str, shard)) if shard else None,
            "files": str(files) if files is not None else None, "ray": ray,
            **({"backend": settings.backend_choice, "model": settings.model_id, "mode": settings.mode}
               if solver == "model" else {"backend": "scripted"})}
    (folder / "eval.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    logger.info("{} tasks from {}, {} at a time; results in {}", len(paths), source, parallel, folder)
    with ExitStack() as hosting:
        if solver == "model" and ray is None and settings.backend_choice == "transformers":
            settings = hosting.enter_context(shared_model(settings))
        placed = (cluster.records(ray, paths, settings, solver, task_timeout, files, folder) if ray is not None
                  else _here(paths, folder, settings, solver, task_timeout, cache, parallel))
        stopped = _record(placed, folder, len(paths))
    records = results.load(folder)
    print(results.summary_table(records))
    report.write(folder)
    print(f"Results: {folder / 'results.jsonl'}\nReport: {folder / 'report.html'}")
    if stopped:
        raise KeyboardInterrupt(f"stopped after {len(records)} of {len(paths)} tasks")
    return folder


def _record(placed: Generator[dict[str, Any], None, None], folder: Path, tasks: int) -> bool:
    """Write each task's record to ``results.jsonl`` as it ends; whether a person stopped the evaluation."""
    with open(folder / "results.jsonl", "a", encoding="utf-8") as lines:
        try:
            for done, record in enumerate(placed, 1):
                lines.write(json.dumps(record, ensure_ascii=False) + "\n")
                lines.flush()
                logger.info("[{}/{}] {}/{}: score {} ({}{})", done, tasks, record["domain"], record["task"],
                            record["score"], record["status"],
                            f", {record['steps']} steps, {record['seconds']} s" if "steps" in record else
                            f": {record.get('reason', '')}")
        except KeyboardInterrupt:  # stop the running tasks now, rather than wait for them
            placed.close()
            return True
    return False


def _here(paths: list[Path], folder: Path, settings: Settings, solver: str, task_timeout: float | None,
          cache: FileCache | None, parallel: int) -> Iterator[dict[str, Any]]:
    """The tasks' records as they end, ``parallel`` tasks at a time on this machine."""
    workers = Workers()
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(run_one, path, folder, settings, solver, task_timeout, workers, cache) for path in paths]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:  # Ctrl+C, or the reader gone: the running tasks' sessions are killed
            pool.shutdown(cancel_futures=True, wait=False)
            workers.stop()
            raise


class Workers:
    """The worker processes running now, so that a person's Ctrl+C stops them all at once."""

    def __init__(self) -> None:
        self._live: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def start(self, argv: list[str], **options: Any) -> subprocess.Popen[bytes] | None:
        """A new worker in a session of its own; None once stopped."""
        with self._lock:
            if self._stopped:
                return None
            worker = subprocess.Popen(argv, start_new_session=True, **options)
            self._live.add(worker)
            return worker

    def end(self, worker: subprocess.Popen[bytes]) -> None:
        """Stop the worker and everything it started (a hung app too)."""
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait()
        with self._lock:
            self._live.discard(worker)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            live = list(self._live)
        for worker in live:
            self.end(worker)


def run_one(path: Path, folder: Path, settings: Settings, solver: str, task_timeout: float | None,
            workers: Workers, cache: FileCache | None = None) -> dict[str, Any]:
    """Run one task in a sandboxed worker process; always a result record, whatever happens to the worker."""
    try:
        task = load_task(path)
    except TaskError as error:
        return {"task": path.stem, "domain": path.parent.name, "score": None, "status": "invalid", "reason": str(error)}
    base = {"task": task.id, "domain": task.domain, "instruction": task.instruction}
    refused = _refusal(task, cache)
    if refused is not None:
        return {**base, "score": None, **refused}
    out = folder / "tasks" / task.domain / task.id
    out.mkdir(parents=True, exist_ok=True)
    timeout = task_timeout or task.timeout
    values = _settings_for_worker(settings, out.resolve())
    request = {"task": str(path.resolve()), "domain": task.domain, "out": str(out.resolve()), "solver": solver,
               "settings": values, "home": sandbox.VM_HOME,
               "files": str(cache.folder.resolve()) if cache is not None else None}
    scratch = Path(tempfile.mkdtemp(prefix=f"task-{task.id[:8]}-"))
    argv, env = _sandboxed_worker(task, out.resolve(), values, cache, scratch)
    try:
        with open(out / "worker.log", "wb") as log:
            worker = workers.start(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env)
            if worker is None:
                return {**base, "score": None, "status": "stopped", "reason": "the evaluation was stopped"}
            try:
                worker.communicate(json.dumps(request).encode(), timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                workers.end(worker)
    finally:
        _remove(scratch)
    result = out / "result.json"
    if timed_out:
        return {**base, "score": 0.0, "status": "timeout", "reason": f"the task took longer than {timeout:g} s"}
    if not result.is_file():
        return {**base, "score": 0.0, "status": "error", "reason": f"the worker ended without a result "
                f"(exit {worker.returncode}); see {out / 'worker.log'}"}
    record = json.loads(result.read_text(encoding="utf-8"))
    if "run" in record:
        record["run"] = str(Path(record["run"]).relative_to(folder.resolve()))
    return record


def _sandboxed_worker(task: Task, out: Path, values: dict[str, Any], cache: FileCache | None,
                      scratch: Path) -> tuple[list[str], dict[str, str]]:
    """The worker's command line in the task's sandbox (its home in ``scratch``), and its environment."""
    # the sandbox's home is not the real one: models from the hub are found where they were downloaded
    models = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "HF_HOME": str(models)}
    # what the worker reads: the task, the download cache, the models and any file the settings name
    named = [Path(v) for v in values.values() if isinstance(v, str) and os.path.isabs(v) and os.path.exists(v)]
    readable = [task.folder.resolve(), *([cache.folder.resolve()] if cache is not None else []), models, *named]
    (scratch / "home").mkdir()
    argv = sandbox.wrap([sys.executable, "-m", "evaluation.worker"], scratch / "home", scratch / "identity",
                        writable=[out], readable=readable)
    return argv, env


def _refusal(task: Task, cache: FileCache | None) -> dict[str, str] | None:
    """Why the task cannot start here (status and reason), or None once its files are in the cache."""
    missing = problems(task)
    if missing:
        return {"status": "unsupported", "reason": "not supported here: " + "; ".join(missing)}
    urls = task_urls(task)
    if urls and cache is None:
        return {"status": "missing_file", "reason": f"the task downloads {len(urls)} file(s), e.g. {urls[0][0]}: "
                "give eval --files DIR (the download cache)"}
    try:
        for url, _ in urls:
            cache.fetch(url)  # type: ignore[union-attr]
    except MissingFile as error:
        return {"status": "missing_file", "reason": str(error)}
    return None


def _remove(scratch: Path) -> None:
    """Delete a task's scratch folder, also what the task made unreadable or unwritable (chmod 000)."""
    def unlock(function: Any, path: str, error: Any) -> None:
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        function(path)

    shutil.rmtree(scratch, onerror=unlock)


def _settings_for_worker(settings: Settings, out: Path) -> dict[str, Any]:
    values = settings.model_dump(mode="json", exclude_none=True)
    if settings.api_key is not None:
        values["api_key"] = settings.api_key.get_secret_value()
    return {**values, "runs_dir": str(out), "confirm": "deny", "monitor": "primary"}

"""``eval --ray [ADDRESS]``: the suite's tasks as Ray tasks, placed by the cluster.

Each task of the suite becomes one Ray task that needs one ``desktop``, a custom resource each
node advertises for the displays it can host at once (``ray start --resources='{"desktop": 4}'``).
On its node the task runs exactly as on this machine (:func:`evaluation.suite.run_one`: a sandboxed
worker process, its own display and home, the time limit) into a scratch evaluation folder there;
what it wrote (``tasks/<domain>/<id>/``: the run folder and the worker's log) comes back as an
archive with the task's record, and is unpacked into the one evaluation folder here as each task
ends, so ``results.jsonl``, the report and the table are those of a local run.

A task whose node or Ray worker dies is run once more (Ray's ``max_retries=1``), wherever the
cluster then places it; one lost twice is recorded as an ``error`` with what Ray said. The model is
the settings' one on every node: a server for all (``--base-url``) or loaded on each node.

Nodes read the suite, the project and the download cache (``--files``) at the paths they have
here: a shared checkout, or the same image on every node.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loguru import logger

from agent.settings import Settings, SettingsError

RESOURCE = "desktop"
RETRIES = 1


def records(address: str, paths: list[Path], settings: Settings, solver: str, task_timeout: float | None,
            files: Path | None, folder: Path) -> Iterator[dict[str, Any]]:
    """The tasks' records as they end on the cluster at ``address`` (``""``: the one this machine is in),
    their output unpacked into ``folder``. Closing this stops the tasks still running."""
    try:
        import ray
    except ImportError:
        raise SettingsError("eval --ray needs Ray: pip install 'desktop-agent[ray]'") from None
    try:
        ray.init(address=address or "auto", logging_level="WARNING", log_to_driver=False)
    except ConnectionError as error:
        where = f"at {address}" if address else "on this machine"
        raise SettingsError(f"no Ray cluster {where}: {error}") from None
    pending: dict[Any, Path] = {}
    try:
        desktops = ray.cluster_resources().get(RESOURCE, 0)
        if not desktops:
            raise SettingsError(f"no node of the Ray cluster advertises a {RESOURCE!r} resource: start them with "
                                f"ray start ... --resources='{{\"{RESOURCE}\": N}}' (N displays at once)")
        logger.info("Ray cluster with {:g} desktops", desktops)
        task = ray.remote(resources={RESOURCE: 1}, num_cpus=0, max_retries=RETRIES, retry_exceptions=False)(run_here)
        request = (_portable(settings), solver, task_timeout, str(files.resolve()) if files is not None else None)
        pending = {task.remote(str(path.resolve()), *request): path for path in paths}
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            path = pending.pop(ready)
            try:
                record, archive = ray.get(ready)
            except ray.exceptions.RayError as error:
                yield {"task": path.stem, "domain": path.parent.name, "score": 0.0, "status": "error",
                       "reason": f"lost on the cluster {RETRIES + 1} times: {type(error).__name__}: {error}"[:2000]}
                continue
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                tar.extractall(folder, filter="data")
            yield record
    finally:
        for left in pending:
            ray.cancel(left, force=True)
        ray.shutdown()


def run_here(path: str, settings: dict[str, Any], solver: str, task_timeout: float | None,
             files: str | None) -> tuple[dict[str, Any], bytes]:
    """One task on this node, as a local evaluation runs it: its record, and its output folder as tar.gz."""
    from evaluation.files import FileCache
    from evaluation.suite import Workers, run_one

    with tempfile.TemporaryDirectory(prefix="eval-node-", ignore_cleanup_errors=True) as scratch:
        record = run_one(Path(path), Path(scratch), Settings(**settings), solver, task_timeout, Workers(),
                         FileCache(Path(files)) if files is not None else None)
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            if (Path(scratch) / "tasks").is_dir():
                tar.add(Path(scratch) / "tasks", arcname="tasks")
    return record, archive.getvalue()


def _portable(settings: Settings) -> dict[str, Any]:
    """The settings as values a node builds its own from, with paths made absolute (nodes work elsewhere)."""
    values = dict(settings)
    return {k: (v.resolve() if isinstance(v, Path) else v) for k, v in values.items() if v is not None}

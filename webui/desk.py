"""The desktop the server drives: one agent run or replay at a time, supervised from the page.

A job is an ordinary ``run`` (:func:`tasks.commands.run.run_command`) or ``replay``
(:func:`tasks.recordings.replay.replay`) with the page standing in for the person at the terminal:

* the safety gate's questions wait for Approve or Deny on the page (:meth:`Job.__call__` is
  the gate's :data:`safety.gate.Asker`); a pending question lives in the server, so a reload of
  the page shows it again;
* the run's model calls go to the shared model in its queue, and their words stream to the page;
* Stop ends the run at the next token the model writes, at a pending question, or after the
  step under way; a replay stops at its next question (the stop hotkey stops it at once);
* the job's run folder, the same one ``run_agent.py run`` writes, is its record: the page reads
  the steps from there.
"""

from __future__ import annotations

import io
import itertools
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from agent.model import Mode, ModelReply, ModelRequest, TextSink
from agent.settings import Settings
from agent.task import Step, TaskState
from safety.confirm import target_crop
from safety.killswitch import StopRequested
from safety.policy import Proposal, Verdict
from webui.model_host import ModelHost

START_WAIT = 20.0  # seconds for a job's run folder to appear


class DeskBusy(RuntimeError):
    """Another run is using the desktop."""


class JobFailed(RuntimeError):
    """A run that ended before it began (no display, a replay missing a parameter); nothing was done."""


class NoApproval(LookupError):
    """A decision for a question that is not (or no longer) pending."""


class RunEnded(LookupError):
    """A decision or stop for a run that is not going on (any more)."""


@dataclass
class Approval:
    """The safety gate's question to the person, shown on the page until answered."""

    number: int
    action: str
    reason: str
    crop: bytes | None  # PNG of the pixels around the target, when the action points somewhere
    answer: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "action": self.action, "reason": self.reason, "has_crop": self.crop is not None}


class Job:
    """One run or replay in a worker thread, and what the page needs to follow and steer it."""

    def __init__(self, kind: str, title: str, mode: Mode) -> None:
        self.kind, self.title, self.mode = kind, title, mode
        self.id = ""  # the name of its run folder, once there is one
        self.finished = False
        self.result: dict[str, Any] | None = None  # status, reason, answer
        self.error: str | None = None
        self.approval: Approval | None = None
        self.text = ""  # what the model has said so far in its current call
        self.calls = 0
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._numbers = itertools.count(1)

    # the page's side

    def stop(self) -> None:
        with self.changed:
            self._stop.set()
            self.changed.notify_all()

    def decide(self, approve: bool, number: int | None = None) -> None:
        with self.changed:
            if self.approval is None or number not in (None, self.approval.number):
                raise NoApproval("no such question is waiting for an answer (it was answered, or the run moved on)")
            self.approval.answer = approve
            self.changed.notify_all()

    # the run's side

    def check(self) -> None:
        if self._stop.is_set():
            raise StopRequested("stopped from the web page")

    def __call__(self, proposal: Proposal, verdict: Verdict) -> bool:
        """The gate asks: wait for the page's answer (or a stop)."""
        crop = None
        if proposal.screenshot is not None and proposal.target is not None:
            buffer = io.BytesIO()
            target_crop(proposal).save(buffer, "PNG")
            crop = buffer.getvalue()
        approval = Approval(next(self._numbers), proposal.describe(), verdict.reason, crop)
        with self.changed:
            self.approval = approval
            self.changed.notify_all()
            while approval.answer is None and not self._stop.is_set():
                self.changed.wait()
            self.approval = None
            self.changed.notify_all()
        self.check()
        return bool(approval.answer)

    def on_step(self, step: Step, task: TaskState | None) -> None:
        with self.changed:
            self.changed.notify_all()  # the step is in the run folder now
        self.check()

    def begin_call(self) -> None:
        with self.changed:
            self.text, self.calls = "", self.calls + 1
            self.changed.notify_all()

    def add_text(self, text: str) -> None:
        self.check()
        with self.changed:
            self.text += text
            self.changed.notify_all()

    def wait(self, timeout: float) -> bool:
        """True once the job has finished, within ``timeout`` seconds."""
        with self.changed:
            return self.changed.wait_for(lambda: self.finished, timeout)

    def end(self, result: dict[str, Any] | None, error: str | None) -> None:
        with self.changed:
            self.result, self.error, self.finished = result, error, True
            self.changed.notify_all()


class RunModel:
    """The shared model as one run uses it: each call takes its turn, streams to the page, stops on Stop."""

    def __init__(self, host: ModelHost, mode: Mode, job: Job) -> None:
        self.host, self.mode, self.job = host, mode, job
        self.name = host.backend_name(mode)

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        self.job.check()

        def sink(text: str) -> None:
            self.job.add_text(text)
            if on_text is not None:
                on_text(text)

        with self.host.use(self.mode) as model:
            self.job.begin_call()
            return model.complete(request, sink)


class Desk:
    """Starts jobs on the server's desktop, one at a time, and keeps those it started."""

    def __init__(self, host: ModelHost, settings: Settings) -> None:
        self.host = host
        self.settings = settings
        self.runs_dir = Path(settings.runs_dir)
        self.jobs: dict[str, Job] = {}
        self._current: Job | None = None
        self._lock = threading.Lock()

    def _job_settings(self, mode: Mode, **overrides: Any) -> Settings:
        # the page is the person who answers the gate's questions, unless the server was told otherwise
        update = {"confirm": self.settings.confirm or "ask", **{k: v for k, v in overrides.items() if v is not None}}
        return self.host.settings_for(mode).model_copy(update=update)

    def live(self, run_id: str) -> Job:
        """The job of a run going on here."""
        job = self.jobs.get(run_id)
        if job is None or job.finished:
            raise RunEnded(f"the run {run_id} is not going on")
        return job

    def run(self, instruction: str, mode: Mode | None = None, max_steps: int | None = None,
            dry_run: bool | None = None) -> Job:
        mode = mode or self.settings.mode
        settings = self._job_settings(mode, max_steps=max_steps, dry_run=dry_run)

        def work(job: Job) -> dict[str, Any]:
            from tasks.commands.run import run_command

            with self.host.pin(mode):
                result = run_command(settings, instruction, ask=job, observers=(job,),
                                     model=RunModel(self.host, mode, job))
            return {"status": result.status.value, "reason": result.reason, "answer": result.answer}

        return self._start(Job("run", instruction, mode), work)

    def replay(self, name: str, params: dict[str, str], speed: float = 1.0) -> Job:
        from tasks.recordings.recording import NAME, Recording, RecordingError

        folder = Path(self.settings.recordings_dir) / name
        if not NAME.match(name) or not (folder / "recording.json").is_file():
            raise RecordingError(f"there is no recording {name!r} in {self.settings.recordings_dir}")
        recording = Recording.load(folder.parent, str(folder))
        settings = self._job_settings(self.settings.mode)

        def work(job: Job) -> dict[str, Any]:
            from tasks.recordings.replay import replay

            result = replay(settings, recording, params, speed, ask=job, observers=(job,))
            return {"status": result.status.value, "reason": result.reason, "answer": None}

        return self._start(Job("replay", f"replay {name}", settings.mode), work)

    def fill(self, form: str, rows: str | None = None, rows_format: str = "csv", locator: str = "auto",
             mode: Mode | None = None) -> Job:
        """Fill a form from a spec (YAML text) and data rows (CSV or JSON-lines text), as ``run_agent.py fill``."""
        from tasks.forms.fill import fill_form
        from tasks.forms.form import FormError, FormSpec, load_rows

        mode = mode or self.settings.mode
        settings = self._job_settings(mode)
        with tempfile.TemporaryDirectory() as scratch:  # the spec's and data's own readers, with their checks
            spec_file, rows_file = Path(scratch) / "form.yaml", Path(scratch) / f"rows.{rows_format}"
            spec_file.write_text(form, encoding="utf-8")
            if rows is not None:
                rows_file.write_text(rows, encoding="utf-8")
            try:
                spec = FormSpec.load(spec_file)
                table = load_rows(spec, rows_file if rows is not None else None)
            except FormError as error:
                raise FormError(str(error).replace(f"{scratch}/", "")) from None

        def work(job: Job) -> dict[str, Any]:
            with self.host.pin(mode):
                result = fill_form(settings, spec, table, spec_name="form", locator=locator, ask=job,
                                   model=RunModel(self.host, mode, job) if locator in ("auto", "model") else None,
                                   observers=(job,))
            status = "stopped" if result.stopped else "success" if result.exit_code == 0 else "failure"
            rows_done = ", ".join(f"row {r.number}: {r.status}" + (f" ({r.reason})" if r.reason else "")
                                  for r in result.rows)
            return {"status": status, "reason": result.stopped or rows_done, "answer": None}

        return self._start(Job("fill", "fill form", mode), work)

    def _start(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> Job:
        with self._lock:
            if self._current is not None and not self._current.finished:
                raise DeskBusy(f"the run {self._current.id} is using the desktop: stop it or wait until it ends")
            # the run makes its folder itself (run_command, replay, fill_form); as one job runs at a
            # time, the folder that appears now is this job's, and its name becomes the job's id
            before = set(self._names())
            threading.Thread(target=self._work, args=(job, work), name=f"{job.kind}-job", daemon=True).start()
            deadline = time.monotonic() + START_WAIT
            while not (new := sorted(set(self._names()) - before)):
                if job.finished:
                    raise JobFailed(job.error or "the run ended before it began")
                if time.monotonic() > deadline:
                    job.stop()
                    job.wait(START_WAIT)  # it must not go on acting unseen
                    raise JobFailed(f"the run did not start within {START_WAIT:g} s")
                time.sleep(0.02)
            job.id = new[0]
            self.jobs[job.id] = self._current = job
            logger.info("web {} {} started: {}", job.kind, job.id, job.title)
            return job

    def close(self, timeout: float = 10.0) -> None:
        """Stop the run going on and wait for its record to be complete (the server is shutting down)."""
        for job in self.jobs.values():
            if not job.finished:
                job.stop()
                if not job.wait(timeout):
                    logger.warning("the run {} did not stop within {:g} s", job.id, timeout)

    def _names(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return [p.name for p in self.runs_dir.iterdir() if (p / "run.json").is_file()]

    @staticmethod
    def _work(job: Job, work: Callable[[Job], dict[str, Any]]) -> None:
        result, error = None, None
        try:
            result = work(job)
        except Exception as failure:  # shown on the page; the run folder has what was done
            error = str(failure) or type(failure).__name__
            expected = isinstance(failure, (ValueError, RuntimeError, LookupError, OSError))
            logger.opt(exception=None if expected else failure).warning("{} ended with an error: {}", job.kind, error)
        job.end(result, error)

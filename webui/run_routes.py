"""Agent runs over HTTP: start, follow, approve or deny, stop; past runs from their folders.

``GET /api/runs/{id}`` and the first event of ``/api/runs/{id}/events`` give the whole state
(the run folder's record, and for a run going on here its pending question and the model's
words so far), so a page that reloads loses nothing. The event stream then sends what changes:
``step`` (a new step record), ``text`` (the model's words), ``approval`` (a question, or null
once answered) and ``end``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from agent.trajectory import read_steps
from webui.chat_routes import sse
from webui.desk import Desk, Job, NoApproval
from webui.run_folders import (
    RunNotFound,
    read_json,
    run_folder,
    run_ids,
    run_overview,
    step_picture,
)
from webui.schemas import DecisionRequest, RunRequest
from webui.speed import step_speed

router = APIRouter(tags=["runs"])
PICTURE_WAIT = 3.0  # seconds a live step's picture may lag behind its record
KEEPALIVE = 15.0


def desk_of(request: Request) -> Desk:
    return request.app.state.desk


def run_state(desk: Desk, run_id: str) -> dict[str, Any]:
    folder = run_folder(desk.runs_dir, run_id)
    job = desk.jobs.get(run_id)
    state = {**run_overview(folder), "steps": [step_view(run_id, r) for r in read_steps(folder)],
             "summary": read_json(folder / "summary.json")}
    if job is None:
        state.update(live=False, kind=None, approval=None, text="", error=None, result=None)
    else:
        with job.changed:
            state.update(live=not job.finished, kind=job.kind, error=job.error, text=job.text, result=job.result,
                         approval=job.approval.to_dict() if job.approval else None)
    return state


def step_view(run_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """A step record as the page shows it: the model's raw words left out (its figures kept),
    pictures as addresses."""
    view = {k: v for k, v in record.items() if k not in ("model", "screenshot", "annotated")}
    view["speed"] = step_speed(record)
    name = record.get("annotated") or record.get("screenshot")
    view["picture"] = f"/api/runs/{run_id}/files/{name}" if name else None  # a step may leave its pictures out
    return view


@router.get("/api/runs", summary="Runs, newest first: those of this server and any in the runs folder")
def list_runs(request: Request, limit: int = 50) -> list[dict[str, Any]]:
    desk = desk_of(request)
    runs = []
    for run_id in run_ids(desk.runs_dir)[:max(1, min(limit, 500))]:
        job = desk.jobs.get(run_id)
        runs.append({**run_overview(desk.runs_dir / run_id), "live": job is not None and not job.finished})
    return runs


@router.post("/api/runs", summary="Start an agent run (or a replay) on the server's desktop")
def start_run(body: RunRequest, request: Request) -> dict[str, Any]:
    desk = desk_of(request)
    if body.kind == "replay":
        if not body.recording:
            raise ValueError("a replay needs the recording's name")
        job = desk.replay(body.recording, body.params, body.speed)
    elif body.kind == "fill":
        if not body.form:
            raise ValueError("a form fill needs the form's spec (YAML)")
        job = desk.fill(body.form, body.rows, body.rows_format, body.locator, body.mode)
    else:
        if not body.instruction or not body.instruction.strip():
            raise ValueError("say what the agent should do: the instruction is empty")
        job = desk.run(body.instruction.strip(), body.mode, body.max_steps, body.dry_run)
    return run_state(desk, job.id)


@router.get("/api/runs/{run_id}", summary="A run's state and steps")
def get_run(run_id: str, request: Request) -> dict[str, Any]:
    return run_state(desk_of(request), run_id)


@router.get("/api/runs/{run_id}/files/{name}", summary="A step's picture (step-NNN.png or step-NNN-action.png)")
def run_file(run_id: str, name: str, request: Request) -> Response:
    desk = desk_of(request)
    folder = run_folder(desk.runs_dir, run_id)
    job = desk.jobs.get(run_id)
    deadline = time.monotonic() + PICTURE_WAIT
    # only what a step's record names: the run writes a picture whole before the line that names it
    while (picture := step_picture(folder, name)) is None and job is not None and not job.finished \
            and time.monotonic() < deadline:
        time.sleep(0.05)  # asked for from a record the page was sent, or ahead of it
    if picture is None:
        raise RunNotFound(f"{name} is not in the run {run_id}")
    return Response(picture, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/api/runs/{run_id}/approval.png", summary="The pixels around the pending action's target")
def approval_picture(run_id: str, request: Request) -> Response:
    job = desk_of(request).live(run_id)
    approval = job.approval
    if approval is None or approval.crop is None:
        raise NoApproval("no question with a picture is waiting")
    return Response(approval.crop, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/api/runs/{run_id}/decision", summary="Approve or deny the action the safety gate asks about")
def decide(run_id: str, body: DecisionRequest, request: Request) -> dict[str, Any]:
    desk = desk_of(request)
    desk.live(run_id).decide(body.approve, body.approval)
    return {"ok": True}


@router.post("/api/runs/{run_id}/stop", summary="Stop a run")
def stop(run_id: str, request: Request) -> dict[str, Any]:
    desk_of(request).live(run_id).stop()
    return {"ok": True}


@router.get("/api/runs/{run_id}/events", summary="The run as server-sent events: state, then step, text, "
            "approval, end")
def events(run_id: str, request: Request) -> StreamingResponse:
    desk = desk_of(request)
    first = run_state(desk, run_id)
    return StreamingResponse(_follow(desk, run_id, first), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


def _follow(desk: Desk, run_id: str, first: dict[str, Any]) -> Iterator[str]:
    yield sse("state", first)
    job = desk.jobs.get(run_id)
    if job is None or not first["live"]:
        yield sse("end", _ending(job, first["summary"]))
        return
    folder: Path = desk.runs_dir / run_id
    steps, calls, said = len(first["steps"]), job.calls, len(first["text"])
    asked = first["approval"]["number"] if first["approval"] else None
    quiet_since = time.monotonic()
    while True:
        with job.changed:
            job.changed.wait(timeout=0.5)
            finished, approval = job.finished, job.approval
            text, call = job.text, job.calls
        sent = []
        for record in read_steps(folder, steps):
            sent.append(sse("step", step_view(run_id, record)))
            steps += 1
        if call != calls:
            calls, said = call, 0
            sent.append(sse("text", {"call": call, "text": "", "new": True}))
        if len(text) > said:
            sent.append(sse("text", {"call": call, "text": text[said:], "new": False}))
            said = len(text)
        if (approval.number if approval else None) != asked:
            asked = approval.number if approval else None
            sent.append(sse("approval", approval.to_dict() if approval else None))
        if finished:
            sent += [sse("step", step_view(run_id, r)) for r in read_steps(folder, steps)]
            sent.append(sse("end", _ending(job, read_json(folder / "summary.json"))))
        if not sent and time.monotonic() - quiet_since > KEEPALIVE:
            sent.append(": still here\n\n")
        if sent:
            quiet_since = time.monotonic()
            yield "".join(sent)
        if finished:
            return


def _ending(job: Job | None, summary: dict[str, Any] | None) -> dict[str, Any]:
    return {"summary": summary, "error": job.error if job else None, "result": job.result if job else None}


@router.get("/api/forms", summary="The bundled form specs, to start a fill from")
def forms() -> list[dict[str, str]]:
    folder = files("tasks").joinpath("forms")
    return [{"name": spec.name.removesuffix(".yaml"), "spec": spec.read_text(encoding="utf-8")}
            for spec in sorted(folder.iterdir(), key=lambda p: p.name) if spec.name.endswith(".yaml")]


@router.get("/api/recordings", summary="Recordings that can be replayed")
def recordings(request: Request) -> list[dict[str, Any]]:
    from tasks.recordings.recording import Recording, RecordingError

    root = Path(desk_of(request).settings.recordings_dir)
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if (path / "recording.json").is_file():
            try:
                recording = Recording.load(root, str(path))
            except RecordingError:
                continue
            found.append({"name": recording.name, "steps": len(recording.steps),
                          "parameters": recording.info.parameters})
    return found

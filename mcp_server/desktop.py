"""The desktop the MCP tools drive: one thing at a time, on one thread, through the agent's hands.

Everything that acts runs on the desktop's own thread, one call at a time (a second call while one
works is refused as busy). Single actions (``act``) share one run, opened at the first of them:
one run folder, one safety gate following what the actions type, one kill switch; it ends when a
whole run, fill or replay needs the desktop, or when the server stops. A stop by a person (the
stop hotkey, the pointer thrown into a corner) is final: nothing acts again until the server is
started anew, as a stopped ``run_agent.py run`` does not start itself again.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from actions.schema import InvalidAction, parse_action
from agent.hands import Hands
from agent.model import ModelBackend
from agent.settings import Settings
from agent.task import Outcome, Status
from agent.trajectory import RunSummary
from errors import Stopped
from mcp_server.calls import ToolCall
from perception.geometry import OffScreen
from perception.screen import Screen
from perception.windows import find_window
from safety.policy import Proposal, Verdict

Result = TypeVar("Result")


class DesktopBusy(RuntimeError):
    """Another call is using the desktop."""


class DesktopStopped(RuntimeError):
    """A person stopped the agent; nothing acts until the server is started again."""


class Desktop:
    def __init__(self, settings: Settings, model: ModelBackend | None = None) -> None:
        self.settings = settings
        self._model = model
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="desktop")
        self._busy = False
        self._stopped: str | None = None
        self._acting: tuple[ExitStack, Hands, RunSummary] | None = None
        self._call: ToolCall | None = None  # the call the shared run's gate asks now

    # calls

    def submit(self, call: ToolCall, work: Callable[[ToolCall], Result]) -> Future[Result]:
        """Run ``work`` on the desktop's thread; :class:`DesktopBusy` while another call works."""
        if self._busy:
            raise DesktopBusy("another call is using the desktop: wait until it ends")
        if self._stopped:
            raise DesktopStopped(f"a person stopped the agent ({self._stopped}); start the server again to go on")
        self._busy = True

        def run() -> Result:
            try:
                return work(call)
            finally:
                self._busy = False

        return self._thread.submit(run)

    def close(self) -> None:
        """End the shared run (its summary written) and the desktop's thread."""
        self._thread.submit(self._end_acting, Status.SUCCESS, "the server stopped").result()
        self._thread.shutdown()

    # seeing

    def screenshot(self, window: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """The screen the agent watches (or one window of it) as PNG, and where it lies on the desktop."""
        shot = Screen(self.settings.monitor_choice, self.settings.max_pixels).capture()
        monitor, picture = shot.monitor, shot.capture
        box = (monitor.left, monitor.top, monitor.left + monitor.width, monitor.top + monitor.height)
        if window is not None:
            found = find_window(window)
            if found is None:
                raise LookupError(f"no window's title matches {window!r}")
            scale_x, scale_y = picture.width / monitor.width, picture.height / monitor.height
            left, top = max(found.left, box[0]), max(found.top, box[1])
            right, bottom = min(found.left + found.width, box[2]), min(found.top + found.height, box[3])
            picture = picture.crop((round((left - box[0]) * scale_x), round((top - box[1]) * scale_y),
                                    round((right - box[0]) * scale_x), round((bottom - box[1]) * scale_y)))
            box = (left, top, right, bottom)
        return _png(picture), {"width": picture.width, "height": picture.height, "desktop_box": list(box),
                               "window": shot.window.title if shot.window else None}

    # acting

    def act(self, call: ToolCall, arguments: dict[str, Any], pixels: bool = False) -> dict[str, Any]:
        """One computer_use action through the shared run's hands: judged, done, checked, recorded."""
        hands = self._hands(call)
        try:
            step = hands.look()
        except Stopped as stop:
            self._stop(str(stop))
            raise DesktopStopped(str(stop)) from None
        transform = step.screenshot.transform
        try:
            if pixels:
                if arguments.get("coordinate") is not None:
                    arguments = {**arguments, "coordinate": list(transform.desktop_to_grid(arguments["coordinate"]))}
            action = parse_action(arguments)
            target = transform.to_desktop(action.point) if action.point is not None else None
        except (InvalidAction, OffScreen, TypeError, ValueError) as error:  # the last two: a point that is no pair
            step.outcome, step.detail = Outcome.INVALID, str(error)
        else:
            hands.act(step, action, target)
        hands.record(step)
        try:
            hands.kill.check()
        except Stopped as stop:  # the action was cut short by a person
            self._stop(str(stop))
        verdict = step.verdict
        return {
            "verdict": {"decision": verdict.decision.value, "reason": verdict.reason, "asked": verdict.asked}
            if verdict else None,
            "outcome": step.outcome.value if step.outcome else None,
            "executed": step.summary(),
            "target": list(step.target) if step.target is not None else None,
            "checks": step.checks,
            "run": hands.folder.name if hands.folder else None,
            "step": step.index,
            "screenshot": _png(hands.screen.capture().image),
        }

    def run_task(self, call: ToolCall, instruction: str, max_steps: int | None = None) -> RunSummary:
        from tasks.commands.run import run_command

        settings = self._settings(call, max_steps=max_steps)
        return self._whole(call, lambda: run_command(settings, instruction, ask=call.ask, observers=(call,),
                                               model=self.model()))

    def fill_form(self, call: ToolCall, spec: Path, data: Path | None, locator: str) -> RunSummary:
        from tasks.forms.fill import fill_form
        from tasks.forms.form import FormSpec, load_rows

        form = FormSpec.load(spec)
        rows = load_rows(form, data)
        model = self.model() if locator == "model" else None
        return self._whole(call, lambda: fill_form(self._settings(call), form, rows, spec_name=spec.stem,
                                             locator=locator, ask=call.ask, model=model,  # type: ignore[arg-type]
                                             observers=(call,)))

    def replay(self, call: ToolCall, name: str, params: dict[str, str], speed: float) -> RunSummary:
        from tasks.recordings.recording import Recording
        from tasks.recordings.replay import replay

        recording = Recording.load(self.settings.recordings_dir, name)
        return self._whole(call, lambda: replay(self._settings(call), recording, params, speed, ask=call.ask,
                                          observers=(call,)))

    def model(self) -> ModelBackend:
        """The model, made from the settings at its first use and kept."""
        if self._model is None:
            from agent.backends import make_backend

            self._model = make_backend(self.settings)
        return self._model

    # the runs

    def _settings(self, call: ToolCall, **overrides: Any) -> Settings:
        """This call's settings: the gate asks the client's user if it can be asked, else refuses."""
        mode = self.settings.confirm or "ask"
        update = {"confirm": "deny" if mode == "ask" and not call.can_ask else mode,
                  **{k: v for k, v in overrides.items() if v is not None}}
        return self.settings.model_copy(update=update)

    def _hands(self, call: ToolCall) -> Hands:
        """The shared run's hands, opened at the first action; its gate asks this call's client."""
        self._call = call
        if self._acting is None:
            summary = RunSummary(kind="run", instruction="actions asked for by an MCP client")
            stack = ExitStack()
            hands = stack.enter_context(Hands.open(self._settings(call), summary.instruction or "", {"backend": "mcp"},
                                                   summary, ask=self._ask))
            self._acting = (stack, hands, summary)
        hands = self._acting[1]
        hands.gate.mode = self._settings(call).confirm_mode
        return hands

    def _ask(self, proposal: Proposal, verdict: Verdict) -> bool:
        return self._call is not None and self._call.ask(proposal, verdict)

    def _whole(self, call: ToolCall, run: Callable[[], RunSummary]) -> RunSummary:
        """A run, fill or replay of its own, after the shared run of single actions has ended."""
        self._end_acting(Status.SUCCESS, "a whole run took over the desktop")
        summary = run()
        if summary.status is Status.STOPPED and not call.cancelled:
            self._stopped = summary.reason
        return summary

    def _stop(self, reason: str) -> None:
        self._stopped = reason
        self._end_acting(Status.STOPPED, reason)

    def _end_acting(self, status: Status, reason: str) -> None:
        if self._acting is not None:
            stack, _, summary = self._acting
            self._acting = None
            summary.end(status, reason)
            stack.close()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()

"""One tool call, followed while the desktop's thread works on it.

The work runs on the desktop's thread (:mod:`mcp_server.desktop`); the call's request waits for
it in the server's event loop and passes on what the work says meanwhile:

* **progress**: each finished step becomes a progress notification of the request;
* **questions**: the safety gate's "ask a person" (:data:`safety.gate.Asker`) becomes an
  elicitation of the client's user. Clients of the handshake protocols (up to 2025-11-25) are
  sent an ``elicitation/create`` request in the middle of the call; on 2026-07-28 and later the
  call returns an ``InputRequiredResult`` that carries the question, the client asks its user
  and calls again with the answer, and the same work goes on. A client that declared no
  elicitation is never asked: the gate refuses instead (:meth:`ToolCall.can_ask`).

A question no one answers within :data:`ANSWER_TIMEOUT` is declined; a request that is cancelled
stops its work at the next question or step.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from pydantic import BaseModel, Field

from agent.task import Step, TaskState
from safety.killswitch import StopRequested
from safety.policy import Proposal, Verdict

ANSWER_TIMEOUT = 300.0  # seconds a question waits for the client's answer before it is declined
ELICITATION = types.ClientCapabilities(elicitation=types.ElicitationCapability(form=types.FormElicitationCapability()))


class Approval(BaseModel):
    """What the client's user is asked to fill in."""

    approve: bool = Field(description="Allow the agent to do this")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    message: str


@dataclass
class Question:
    number: int
    message: str
    answer: bool | None = None


class CallGone(LookupError):
    """A retried call whose work is no longer waiting (answered, timed out or ended)."""


class ToolCall:
    """What one tool call's work tells its request, and the answers that come back.

    The work's side (any thread): :meth:`ask` is the gate's Asker, :meth:`on_step` the hands'
    observer. The request's side (the event loop): :func:`follow`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, can_ask: bool, total: int | None = None) -> None:
        self.can_ask = can_ask
        self.total = total  # the progress's total: the step budget of a run
        self.token = secrets.token_hex(16)
        self.loop = loop
        self._events: asyncio.Queue[Progress | Question | Future[Any]] = asyncio.Queue()
        self._numbers = itertools.count(1)
        self._answered = threading.Condition()
        self._stopped = False

    # the work's side

    def ask(self, proposal: Proposal, verdict: Verdict) -> bool:
        """The gate's question, put to the client's user; False when declined, unanswered or not askable."""
        if not self.can_ask:
            return False
        question = Question(next(self._numbers), f"The agent wants to {proposal.describe()}. "
                            f"It needs your approval: {verdict.reason}.")
        self._post(question)
        with self._answered:
            self._answered.wait_for(lambda: question.answer is not None or self._stopped, ANSWER_TIMEOUT)
        self.check()
        return bool(question.answer)

    def on_step(self, step: Step, task: TaskState | None) -> None:
        self._post(Progress(step.index, self.total, step.summary()))
        self.check()

    @property
    def cancelled(self) -> bool:
        return self._stopped

    def check(self) -> None:
        if self._stopped:
            raise StopRequested("the client cancelled the call")

    def start(self, work: Callable[[], Future[Any]]) -> None:
        future = work()
        future.add_done_callback(self._post)

    def _post(self, event: Progress | Question | Future[Any]) -> None:
        self.loop.call_soon_threadsafe(self._events.put_nowait, event)

    # the request's side

    def answer(self, question: Question, approve: bool) -> None:
        with self._answered:
            question.answer = approve
            self._answered.notify_all()

    def stop(self) -> None:
        with self._answered:
            self._stopped = True
            self._answered.notify_all()

    async def next_event(self) -> Progress | Question | Future[Any]:
        return await self._events.get()


class Calls:
    """The calls waiting for a client's retry with an answer (2026-07-28 and later), by token."""

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[ToolCall, Question]] = {}

    def resume(self, ctx: Any) -> ToolCall | None:
        """The call a retried request continues, its answer delivered; None for a new request."""
        if ctx.request_state is None:
            return None
        waiting = self._waiting.pop(ctx.request_state, None)
        if waiting is None:
            raise CallGone("this call no longer waits for an answer: call the tool again")
        call, question = waiting
        response = (ctx.input_responses or {}).get(_key(question))
        call.answer(question, _approved(response))
        return call

    def park(self, call: ToolCall, question: Question) -> types.InputRequiredResult:
        """The question as the call's result for now; the client retries with the answer."""
        self._waiting[call.token] = (call, question)
        call.loop.call_later(ANSWER_TIMEOUT, self._expire, call.token, question)
        params = types.ElicitRequestFormParams(message=question.message,
                                               requested_schema=Approval.model_json_schema())
        return types.InputRequiredResult(input_requests={_key(question): types.ElicitRequest(params=params)},
                                         request_state=call.token)

    def _expire(self, token: str, question: Question) -> None:
        waiting = self._waiting.get(token)
        if waiting is not None and waiting[1] is question:
            del self._waiting[token]
            waiting[0].answer(question, False)


async def follow(ctx: Any, call: ToolCall, calls: Calls) -> Any:
    """Pass the call's progress and questions on until its work ends; the work's result (or what
    it raised), or, on 2026-07-28 and later, an ``InputRequiredResult`` holding a question."""
    try:
        while True:
            event = await call.next_event()
            if isinstance(event, Progress):
                await ctx.report_progress(event.done, event.total, event.message)
            elif isinstance(event, Question):
                if not ctx.session.can_send_request:
                    return calls.park(call, event)
                reply = await ctx.elicit(event.message, Approval)
                call.answer(event, reply.action == "accept" and reply.data.approve)
            else:
                return event.result()
    except BaseException:  # cancelled, or the connection broke: the work stops at its next question or step
        call.stop()
        raise


def can_ask(ctx: Any) -> bool:
    """Whether the client said it can put a form to its user."""
    return ctx.session.check_client_capability(ELICITATION)


def _key(question: Question) -> str:
    return f"approval-{question.number}"


def _approved(response: Any) -> bool:
    if not isinstance(response, types.ElicitResult) or response.action != "accept":
        return False
    return bool((response.content or {}).get("approve"))

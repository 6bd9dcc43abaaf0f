"""Task state: statuses, exit codes, budgets, repeats and an unchanging screen. Pure."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from actions.schema import parse_action
from agent.model import ModelReply
from agent.task import Budget, Outcome, Status, Step, TaskState
from perception.geometry import Monitor
from perception.screen import Screenshot
from perception.windows import WindowInfo
from safety.policy import Decision, Verdict

MONITOR = Monitor(1, 0, 0, 320, 200, primary=True)


def shot(color: str | tuple[int, int, int] = "white", window: WindowInfo | None = None) -> Screenshot:
    image = Image.new("RGB", (320, 200), color)
    return Screenshot(capture=image, image=image.copy(), monitor=MONITOR, window=window)


WHITE = shot("white")


def act(**arguments: object):
    return parse_action(arguments)


CLICK = act(action="left_click", coordinate=[500, 500])


def step(task: TaskState, outcome: Outcome, action=None, detail: str = "", screenshot: Screenshot = WHITE) -> Step:
    return Step(index=len(task.steps) + 1, screenshot=screenshot, action=action, outcome=outcome, detail=detail)


def record(task: TaskState, outcome: Outcome, action=None, detail: str = "", screenshot: Screenshot = WHITE) -> Step:
    s = step(task, outcome, action, detail, screenshot)
    task.record(s)
    return s


def new_task(**budget: int) -> TaskState:
    return TaskState("Fill in the form", Budget(**budget))


# ---- statuses and exit codes -------------------------------------------------------------


def test_exit_codes():
    assert {s: s.exit_code for s in Status} == {
        Status.SUCCESS: 0, Status.ANSWER: 0, Status.FAILURE: 1, Status.BUDGET: 2, Status.NO_PROGRESS: 3,
        Status.BLOCKED: 4, Status.STOPPED: 130, Status.ERROR: 70,
    }


def test_budget_defaults():
    assert Budget() == Budget(max_steps=30, max_errors=3, still_limit=3, repeat_limit=5)


def test_new_task():
    task = new_task()
    assert task.status is None and task.reason == "" and task.answer is None
    assert task.steps == [] and task.feedback == ""
    assert task.instruction == "Fill in the form"


@pytest.mark.parametrize("status, expected, code", [("success", Status.SUCCESS, 0), ("failure", Status.FAILURE, 1)])
def test_terminate(status, expected, code):
    task = new_task()
    record(task, Outcome.DONE, CLICK)
    assert task.status is None
    record(task, Outcome.DONE, act(action="terminate", status=status))
    assert task.status is expected
    assert task.status.exit_code == code
    assert task.reason == f"the model reported {status}"
    assert task.answer is None


def test_answer():
    task = new_task()
    record(task, Outcome.DONE, act(action="answer", text="Paris"))
    assert task.status is Status.ANSWER
    assert task.status.exit_code == 0
    assert task.answer == "Paris"
    assert task.reason == "the model answered"


def test_terminate_in_a_dry_run_also_ends():
    task = new_task()
    record(task, Outcome.DRY_RUN, act(action="terminate", status="success"))
    assert task.status is Status.SUCCESS


def test_blocked_terminate_does_not_end():
    task = new_task()
    record(task, Outcome.BLOCKED, act(action="terminate", status="success"), "no")
    assert task.status is None


def test_the_first_status_sticks():
    task = new_task()
    task.finish(Status.STOPPED, "hotkey")
    task.finish(Status.ERROR, "later")
    assert (task.status, task.reason) == (Status.STOPPED, "hotkey")
    record(task, Outcome.DONE, act(action="terminate", status="success"))
    assert task.status is Status.STOPPED


# ---- budgets -------------------------------------------------------------------------------


def test_max_steps():
    task = new_task(max_steps=3)
    for n in range(1, 4):
        assert task.status is None
        record(task, Outcome.DONE, act(action="left_click", coordinate=[n * 10, 10]))
    assert task.status is Status.BUDGET
    assert task.status.exit_code == 2
    assert task.reason == "the step budget of 3 is used up"


def test_final_action_on_the_last_step_wins_over_the_budget():
    task = new_task(max_steps=2)
    record(task, Outcome.DONE, CLICK)
    record(task, Outcome.DONE, act(action="terminate", status="success"))
    assert task.status is Status.SUCCESS


def test_consecutive_invalid_replies_use_up_the_budget():
    task = new_task(max_errors=3)
    record(task, Outcome.INVALID, None, "no <tool_call>")
    assert task.feedback == "Your last reply was not usable: no <tool_call>"
    record(task, Outcome.INVALID, None, "bad JSON")
    assert task.status is None
    record(task, Outcome.INVALID, None, "unknown action 'fly'")
    assert task.status is Status.BUDGET
    assert task.reason == "3 unusable replies in a row"


def test_consecutive_refusals_end_blocked():
    task = new_task(max_errors=3)
    deny = act(action="key", keys=["ctrl", "alt", "delete"])
    for _ in range(2):
        record(task, Outcome.BLOCKED, deny, "key combination that ends or locks the session")
        assert task.status is None
    record(task, Outcome.BLOCKED, deny, "key combination that ends or locks the session")
    assert task.status is Status.BLOCKED
    assert task.status.exit_code == 4
    assert task.reason == "3 refused actions in a row"


def test_feedback_mentions_refusals():
    task = new_task()
    record(task, Outcome.BLOCKED, CLICK, "point (0, 0) is a screen corner")
    assert "safety gate refused" in task.feedback
    assert "point (0, 0) is a screen corner" in task.feedback
    assert "Do not repeat it" in task.feedback


def test_an_ok_step_resets_the_error_count():
    task = new_task(max_errors=3)
    record(task, Outcome.INVALID, None, "x")
    record(task, Outcome.BLOCKED, CLICK, "y")
    record(task, Outcome.DONE, act(action="type", text="hello"))
    assert task.feedback == ""
    record(task, Outcome.INVALID, None, "x")
    record(task, Outcome.INVALID, None, "x")
    assert task.status is None
    record(task, Outcome.INVALID, None, "x")
    assert task.status is Status.BUDGET


def test_a_dry_run_step_also_resets_the_error_count():
    task = new_task(max_errors=2)
    record(task, Outcome.INVALID, None, "x")
    record(task, Outcome.DRY_RUN, CLICK)
    record(task, Outcome.INVALID, None, "x")
    assert task.status is None


def test_an_interrupted_step_neither_counts_nor_resets():
    task = new_task(max_errors=2)
    record(task, Outcome.INVALID, None, "x")
    record(task, Outcome.INTERRUPTED, CLICK, "a person used the mouse")
    assert task.status is None
    record(task, Outcome.INVALID, None, "x")
    assert task.status is Status.BUDGET


def test_mixed_errors_end_by_the_kind_of_the_last():
    task = new_task(max_errors=2)
    record(task, Outcome.INVALID, None, "x")
    record(task, Outcome.BLOCKED, CLICK, "y")
    assert task.status is Status.BLOCKED


# ---- repeated actions ----------------------------------------------------------------------


def test_repeated_action_warns_then_stops():
    task = new_task(repeat_limit=5, max_steps=100)
    for _ in range(4):
        record(task, Outcome.DONE, CLICK, "clicked")
        assert task.feedback == ""
    record(task, Outcome.DONE, CLICK, "clicked")
    assert task.status is None
    assert "your last 5 actions were the same" in task.feedback
    assert task.feedback.startswith("Careful:")
    record(task, Outcome.DONE, CLICK, "clicked")
    assert task.status is Status.NO_PROGRESS
    assert task.status.exit_code == 3
    assert task.reason == "your last 6 actions were the same"


def test_repeat_warning_is_added_to_other_feedback():
    task = new_task(repeat_limit=2, still_limit=1, max_steps=100)
    record(task, Outcome.DONE, CLICK)
    task.see(shot("black"))
    assert task.feedback == ""
    record(task, Outcome.DONE, CLICK)
    assert task.feedback.startswith("Careful: your last 2 actions were the same.")
    task.see(shot("white"))  # the screen did not change: a second warning is added, not replacing
    assert task.feedback.startswith("Careful: your last 2 actions were the same.")
    assert "the screen did not change after your last 1 actions" in task.feedback
    assert task.status is None


def test_a_different_action_resets_the_repeat_count():
    task = new_task(repeat_limit=3, max_steps=100)
    other = act(action="left_click", coordinate=[501, 500])
    for action in (CLICK, CLICK, other, CLICK, CLICK, other, CLICK, CLICK):
        record(task, Outcome.DONE, action)
    assert task.status is None
    assert task.feedback == ""


def test_failed_steps_between_repeats_do_not_break_the_run_of_repeats():
    task = new_task(repeat_limit=2, max_steps=100, max_errors=10)
    record(task, Outcome.DONE, CLICK)
    record(task, Outcome.INVALID, None, "x")
    record(task, Outcome.DONE, CLICK)
    assert "your last 2 actions were the same" in task.feedback
    record(task, Outcome.DONE, CLICK)
    assert task.status is Status.NO_PROGRESS


# ---- an unchanging screen -------------------------------------------------------------------


def test_unchanged_screen_warns_at_the_limit_then_stops():
    task = new_task(still_limit=3, max_steps=100, repeat_limit=100)
    white = shot("white")
    for n in range(1, 4):
        record(task, Outcome.DONE, act(action="left_click", coordinate=[n, n]), screenshot=white)
        task.see(shot("white"))  # the very same pixels after the action
        if n < 3:
            assert task.feedback == ""
    assert task.status is None
    assert "the screen did not change after your last 3 actions" in task.feedback
    assert task.feedback.startswith("Careful:")
    record(task, Outcome.DONE, act(action="left_click", coordinate=[4, 4]), screenshot=white)
    task.see(shot("white"))
    assert task.status is Status.NO_PROGRESS
    assert task.reason == "the screen did not change after your last 4 actions"


def test_a_changed_screen_resets_the_still_count():
    task = new_task(still_limit=2, max_steps=100, repeat_limit=100)
    colors = ["white", "white", "black", "black", (1, 2, 3), (1, 2, 3)]
    for n, (before, after) in enumerate(zip(colors, colors[1:]), start=1):
        record(task, Outcome.DONE, act(action="left_click", coordinate=[n, n]), screenshot=shot(before))
        task.see(shot(after))
    # white->white, white->black, black->black, black->(1,2,3), (1,2,3)->(1,2,3): never 2 in a row
    assert task.status is None
    assert task.feedback == ""


@pytest.mark.parametrize("outcome", [Outcome.INVALID, Outcome.BLOCKED, Outcome.DRY_RUN, Outcome.INTERRUPTED])
def test_only_executed_actions_count_as_still(outcome):
    task = new_task(still_limit=1, max_steps=100, max_errors=100, repeat_limit=100)
    for _ in range(3):
        record(task, outcome, CLICK, "x")
        task.see(shot("white"))
    assert task.status is None


def test_waiting_does_not_count_as_still():
    task = new_task(still_limit=1, max_steps=100, repeat_limit=100)
    for _ in range(3):
        record(task, Outcome.DONE, act(action="wait", time=1))
        task.see(shot("white"))
    assert task.status is None


def test_see_before_any_step():
    task = new_task(still_limit=1)
    task.see(WHITE)
    assert task.status is None and task.feedback == ""


# ---- the step record ---------------------------------------------------------------------


def test_step_to_record_is_json_ready():
    window = WindowInfo(title="Contact", app="python3", left=10, top=20, width=300, height=200)
    s = Step(
        index=3,
        screenshot=shot("white", window),
        reply=ModelReply("Clicking.\n</think>\n<tool_call>{}</tool_call>", prompt_tokens=900, completion_tokens=40),
        thought="Clicking.",
        action=CLICK,
        target=(160, 100),
        verdict=Verdict(Decision.ALLOW, "no rule objects"),
        outcome=Outcome.DONE,
        detail="clicked at (160, 100)",
        timings={"model": 1.234567, "act": 0.1},
    )
    record_ = s.to_record()
    assert json.loads(json.dumps(record_)) == record_
    assert record_["step"] == 3
    assert record_["monitor"] == "monitor 1 primary 320x200+0+0"
    assert record_["window"] == {"title": "Contact", "app": "python3", "left": 10, "top": 20, "width": 300,
                                 "height": 200, "wm_class": "", "handle": 0}
    assert record_["model"]["prompt_tokens"] == 900 and record_["model"]["finish_reason"] == "stop"
    assert record_["action"] == {"action": "left_click", "coordinate": [500.0, 500.0]}
    assert record_["target"] == [160, 100]
    assert record_["verdict"] == {"decision": "allow", "reason": "no rule objects", "asked": False}
    assert record_["outcome"] == "done"
    assert record_["timings"] == {"model": 1.2346, "act": 0.1}
    assert len(record_["time"]) == len("2024-01-02T03:04:05.678")


def test_invalid_step_record_and_summary():
    s = Step(index=1, screenshot=WHITE, reply=ModelReply("hmm", finish_reason="length"), outcome=Outcome.INVALID,
             detail="the reply was cut off")
    record_ = s.to_record()
    assert json.loads(json.dumps(record_)) == record_
    assert record_["action"] is None and record_["target"] is None and record_["verdict"] is None
    assert record_["window"] is None
    assert record_["model"]["finish_reason"] == "length"
    assert s.summary() == "(invalid reply: the reply was cut off)"


def test_step_summary():
    s = Step(index=1, screenshot=WHITE, action=act(action="type", text="Ada"), outcome=Outcome.DONE,
             detail="typed 3 characters")
    assert s.summary() == "type text=Ada -> done: typed 3 characters"
    pending = Step(index=2, screenshot=WHITE, action=act(action="wait", time=1))
    assert pending.summary() == "wait time=1.0 -> ?: "

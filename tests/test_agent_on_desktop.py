"""The whole loop on a real X desktop: scripted model, real gate, real input, real app."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import FormApp

from agent.backends.scripted import ScriptedBackend
from agent.hands import Pacing
from agent.model import ModelReply, ModelRequest
from agent.settings import Settings
from agent.task import Status
from perception.accessibility import window_elements
from safety.policy import Proposal, Verdict
from tasks.commands.run import run_command
from tests.replies import BLANK, CITY, EMAIL, NAME, NOTES, SAVE, click, done, reply, script, type_text

FAST = Pacing(settle_timeout=1.0, resume_after=0.5, max_pause=10)


def settings(tmp_path: Path, script_file: Path, **overrides) -> Settings:
    options = {"confirm": "deny", **overrides}
    return Settings(backend="scripted", script=script_file, runs_dir=tmp_path / "runs", **options)


def grid_point(box: tuple[int, int, int, int]) -> list[int]:
    """The centre of a desktop box on the model's grid (the test screen is 1280x800)."""
    return [round((box[0] + box[2]) / 2 / 1280 * 1000), round((box[1] + box[3]) / 2 / 800 * 1000)]


def steps_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines()]


def test_fills_the_form_with_unicode_and_saves(contact_form, tmp_path):
    replies = script(
        tmp_path / "r.txt",
        click(NAME), type_text("Ada Lovelace"),
        click(EMAIL), type_text("ada@analytical-engine.org"),
        click(CITY), type_text("Zürich – 東京 😀 ça"),
        click(NOTES), type_text("Line one\nLigne deux: éàü"),
        click(SAVE), done(),
    )
    result = run_command(settings(tmp_path, replies), "Fill the form", pacing=FAST)

    assert result.status is Status.SUCCESS and result.exit_code == 0
    saved = contact_form.wait_for(lambda s: s["submissions"])["submissions"]
    assert saved == [{"name": "Ada Lovelace", "email": "ada@analytical-engine.org", "city": "Zürich – 東京 😀 ça",
                      "notes": "Line one\nLigne deux: éàü", "newsletter": False}]
    # the run folder is complete: run.json, one line and two pictures per step, summary
    folder = result.folder
    records = steps_of(folder)
    assert [r["step"] for r in records] == list(range(1, 11))
    assert all((folder / r["screenshot"]).is_file() and (folder / r["annotated"]).is_file() for r in records)
    assert records[0]["action"] == {"action": "left_click", "coordinate": [337.0, 146.0]}
    assert records[0]["target"] == [431, 116] and records[0]["window"]["title"] == "Contact"
    assert records[0]["verdict"]["decision"] == "allow" and records[0]["outcome"] == "done"
    assert "</think>" in records[0]["model"]["text"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "success" and summary["steps"] == 10
    assert json.loads((folder / "run.json").read_text())["instruction"] == "Fill the form"


def test_demo_script_with_a_small_pixel_budget_still_hits_its_targets(contact_form, tmp_path):
    """Grid coordinates survive the resize: the model sees 640x384, clicks land at full size."""
    replies = script(tmp_path / "r.txt", click(EMAIL), type_text("small@budget.org"), done())
    result = run_command(settings(tmp_path, replies, max_pixels=640 * 400), "Fill the email", pacing=FAST)
    assert result.status is Status.SUCCESS
    assert contact_form.wait_for(lambda s: s["fields"]["email"])["fields"]["email"] == "small@budget.org"


def test_gate_denies_a_destructive_command_and_tells_the_model(contact_form, tmp_path):
    backend = ScriptedBackend([click(NAME), type_text("rm -rf ~/projects"), type_text("Ada"), done()])
    result = run_command(settings(tmp_path, tmp_path / "unused"), "Type something", model=backend, pacing=FAST)

    assert result.status is Status.SUCCESS
    assert contact_form.wait_for(lambda s: s["fields"]["name"])["fields"]["name"] == "Ada"  # never typed the rm
    records = steps_of(result.folder)
    assert records[1]["outcome"] == "blocked" and "command: rm" in records[1]["verdict"]["reason"]
    assert "refused" in backend.requests[2].messages[1].text  # the model hears why


def test_gate_denies_session_killing_keys_even_with_confirm_allow(contact_form, tmp_path):
    backend = ScriptedBackend([reply("Lock the screen.", action="key", keys=["super", "l"]), done()])
    result = run_command(settings(tmp_path, tmp_path / "unused", confirm="allow"), "Lock", model=backend, pacing=FAST)
    assert steps_of(result.folder)[0]["outcome"] == "blocked"
    assert result.status is Status.SUCCESS


@pytest.mark.parametrize("approve", [True, False])
def test_confirmation_asks_a_person_and_follows_the_answer(contact_form, tmp_path, approve):
    asked: list[Proposal] = []

    def person(proposal: Proposal, verdict: Verdict) -> bool:
        asked.append(proposal)
        return approve

    backend = ScriptedBackend([click(NAME), type_text("Hunter2!x9"), done()])
    result = run_command(settings(tmp_path, tmp_path / "unused", confirm="ask"), "Log in", ask=person,
                         model=backend, pacing=FAST)

    assert [p.action.action for p in asked] == ["type"]
    expected = "Hunter2!x9" if approve else ""
    assert contact_form.wait_for(lambda s: s["fields"]["name"] == expected)["fields"]["name"] == expected
    # the secret never reaches the run folder
    for path in result.folder.iterdir():
        if path.suffix in (".json", ".jsonl"):
            assert "Hunter2!x9" not in path.read_text(encoding="utf-8"), path.name


def test_dry_run_touches_nothing(contact_form, tmp_path):
    replies = script(tmp_path / "r.txt", click(NAME), type_text("Ada"), click(SAVE), done())
    result = run_command(settings(tmp_path, replies, dry_run=True), "Fill", pacing=FAST)

    assert result.status is Status.SUCCESS
    assert [r["outcome"] for r in steps_of(result.folder)] == ["dry_run"] * 4
    time.sleep(0.3)
    assert contact_form.state()["fields"]["name"] == "" and contact_form.state()["submissions"] == []


class PersonActsWhileModelThinks(ScriptedBackend):
    """The scripted model, plus a person who grabs the mouse while reply ``at`` is being made."""

    def __init__(self, replies: list[str], at: int, person) -> None:
        super().__init__(replies)
        self.at, self.person = at, person

    def complete(self, request: ModelRequest, on_text=None) -> ModelReply:
        if len(self.requests) == self.at:
            self.person()
        return super().complete(request, on_text)


def test_person_input_pauses_the_agent_and_drops_the_stale_action(contact_form, desktop, tmp_path):
    backend = PersonActsWhileModelThinks(
        [click(NAME), type_text("A"), type_text("B"), type_text("C"), done()],
        at=2, person=lambda: (time.sleep(0.5), desktop.xdotool("mousemove", "900", "700"), time.sleep(0.3)),
    )
    result = run_command(settings(tmp_path, tmp_path / "unused"), "Type", model=backend, pacing=FAST)

    assert result.status is Status.SUCCESS
    assert contact_form.wait_for(lambda s: s["fields"]["name"] == "AC")["fields"]["name"] == "AC"
    assert [r["outcome"] for r in steps_of(result.folder)] == ["done", "done", "interrupted", "done", "done"]


def test_stop_hotkey_ends_the_run(contact_form, desktop, tmp_path):
    backend = ScriptedBackend([reply("Waiting for the app.", action="wait", time=20), done()])
    threading.Timer(1.0, desktop.xdotool, ("key", "ctrl+alt+Escape")).start()
    started = time.monotonic()
    result = run_command(settings(tmp_path, tmp_path / "unused"), "Wait", model=backend, pacing=FAST)

    assert result.status is Status.STOPPED and result.exit_code == 130
    assert "hotkey" in result.reason and time.monotonic() - started < 10
    assert json.loads((result.folder / "summary.json").read_text())["status"] == "stopped"


def test_failsafe_corner_stops_the_run(contact_form, desktop, tmp_path):
    # the person throws the pointer into the top-left corner while the model thinks
    backend = PersonActsWhileModelThinks([click(NAME), click(EMAIL), done()], at=1,
                                         person=lambda: (desktop.xdotool("mousemove", "0", "0"), time.sleep(0.3)))
    result = run_command(settings(tmp_path, tmp_path / "unused"), "Click", model=backend, pacing=FAST)
    assert result.status is Status.STOPPED and "corner" in result.reason


def test_no_progress_warns_then_stops(contact_form, tmp_path):
    backend = ScriptedBackend([click(BLANK, f"Clicking the background, try {n}.") for n in range(8)])
    result = run_command(settings(tmp_path, tmp_path / "unused"), "Nothing", model=backend, pacing=FAST)

    assert result.status is Status.NO_PROGRESS and result.exit_code == 3
    assert "screen did not change" in backend.requests[3].messages[1].text  # warned first
    assert result.steps == 4


def test_malformed_replies_are_fed_back_then_exhaust_the_error_budget(contact_form, tmp_path):
    backend = ScriptedBackend([
        "I think I should click the name field.</think>\n\n<tool_call>{not json</tool_call>",
        click(NAME), type_text("Ada"),
        "no tool call at all", "<tool_call>{\"name\": \"computer_use\", \"arguments\": {\"action\": \"fly\"}}",
        reply("Click off the grid.", action="left_click", coordinate=[1200, 50]),
    ])
    result = run_command(settings(tmp_path, tmp_path / "unused"), "Fill", model=backend, pacing=FAST)

    assert "not valid JSON" in backend.requests[1].messages[1].text
    assert contact_form.wait_for(lambda s: s["fields"]["name"])["fields"]["name"] == "Ada"
    assert result.status is Status.BUDGET and result.exit_code == 2
    assert [r["outcome"] for r in steps_of(result.folder)] == ["invalid", "done", "done", "invalid", "invalid", "invalid"]


class CrashingBackend(ScriptedBackend):
    def complete(self, request: ModelRequest, on_text=None) -> ModelReply:
        if len(self.requests) == 2:
            raise RuntimeError("GPU fell off the bus")
        return super().complete(request, on_text)


def test_a_crash_mid_run_leaves_every_finished_step_readable(contact_form, tmp_path):
    backend = CrashingBackend([click(NAME), type_text("Ada"), done()])
    result = run_command(settings(tmp_path, tmp_path / "unused"), "Fill", model=backend, pacing=FAST)
    assert result.status is Status.ERROR and result.exit_code == 70  # a system error, not Python's exit 1

    (folder,) = (tmp_path / "runs").iterdir()
    assert [r["step"] for r in steps_of(folder)] == [1, 2]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "error" and "GPU fell off" in summary["reason"]


def test_text_typed_into_a_password_field_is_a_secret_whatever_it_looks_like(desktop, tmp_path, request):
    """The accessibility tree says which field has the focus and that it hides its text: a
    passphrase of plain words there asks first, and is kept out of the run folder."""
    dialog = subprocess.Popen(["zenity", "--forms", "--title=New account", "--add-entry=Full name",
                               "--add-password=Password"], env=desktop.env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    request.addfinalizer(dialog.kill)
    desktop.wait_for_window("New account")
    assert window_elements("^New account$")  # accessibility on, as a screen reader (or GNOME) has it
    passphrase = "correct horse battery staple"
    backend = ScriptedBackend([type_text("Ada Lovelace"), reply("Next field.", action="key", keys=["Tab"]),
                               type_text(passphrase), done()])
    result = run_command(settings(tmp_path, tmp_path / "unused"), "Fill in the account", model=backend, pacing=FAST)

    records = steps_of(result.folder)
    assert records[0]["verdict"]["decision"] == "allow"  # the name field: ordinary text
    assert records[2]["outcome"] == "blocked" and "password field" in records[2]["verdict"]["reason"]
    for path in result.folder.iterdir():
        if path.suffix in (".json", ".jsonl"):
            assert passphrase not in path.read_text(encoding="utf-8")


def test_each_click_and_type_records_its_effect_and_text_that_did_not_arrive_is_told(desktop, tmp_path):
    """The Qt form, readable by the accessibility tree: a click records where the focus went, a
    typed value is read back from the field, and a value the field cut short is a mismatch the
    model is told about in its next request."""
    form = FormApp(desktop, "signup_form_qt", "Sign up", tmp_path / "qt.json")
    try:
        fields = {e.name: e.box for e in window_elements("^Sign up$") if e.role == "text"}
        name, birthday = (grid_point(fields[label]) for label in ("Full name", "Birthday"))
        backend = ScriptedBackend([click(birthday), type_text("10 December 1815"), click(name),
                                   type_text("Ada Lovelace"), done()])
        result = run_command(settings(tmp_path, tmp_path / "unused"), "Sign up", model=backend, pacing=FAST)
    finally:
        form.close()

    records = steps_of(result.folder)
    assert records[0]["checks"] == {"screen": "changed", "focus": "moved to the text 'Birthday'"}
    assert records[1]["checks"] == {"typed": "mismatch: the field reads '10 Decembe'"}
    assert "does not hold the typed text" in records[1]["detail"]
    assert records[2]["checks"] == {"screen": "changed", "focus": "moved to the text 'Full name'"}
    assert records[3]["checks"] == {"typed": "the field reads what was typed"}
    told = " ".join(m.text for m in backend.requests[2].messages)
    assert "What you typed did not arrive as typed (the field reads '10 Decembe')" in told

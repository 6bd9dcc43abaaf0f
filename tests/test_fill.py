"""Form filling on the real desktop: our Tk forms, real input, OCR; asserted on what the apps saved."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ContactForm, FormApp

from agent.hands import Pacing
from agent.settings import Settings
from desktop.virtual import VirtualDesktop
from run_agent import main
from safety.policy import Proposal, Verdict
from tasks.forms import locate_field
from tasks.forms.fill import fill_form
from tasks.forms.form import FormSpec, load_rows
from tests.replies import script

FORMS = Path(__file__).resolve().parent.parent / "tasks" / "forms"
PACING = Pacing(settle_timeout=1.0)
PEOPLE = [
    {"name": "Ada Lovelace", "email": "ada@example.org", "password": "s3cret-Pass!", "country": "Switzerland",
     "plan": "Pro", "birthday": "1815-12-10", "notes": "First programmer\nNote G", "newsletter": "yes"},
    {"name": "Zoë Núñez", "email": "zoe@example.org", "password": "c0b0l-Rules", "country": "Japan",
     "plan": "Team", "birthday": "1906-12-09", "notes": "Compilers", "newsletter": "no"},
]


@pytest.fixture
def signup_form(desktop: VirtualDesktop, tmp_path: Path) -> Iterator[FormApp]:
    form = FormApp(desktop, "signup_form", "Sign up", tmp_path / "signup.json")
    yield form
    form.close()


def settings(tmp_path: Path, **options: object) -> Settings:
    return Settings(**{"runs_dir": tmp_path / "runs", "confirm": "allow", **options})  # type: ignore[arg-type]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_every_field_kind_is_filled_checked_and_submitted(signup_form: FormApp, tmp_path: Path) -> None:
    spec = FormSpec.load(FORMS / "signup.yaml")
    asked: list[tuple[str, str]] = []

    def approve(proposal: Proposal, verdict: Verdict) -> bool:
        asked.append((proposal.describe(), verdict.reason))
        return True

    result = fill_form(settings(tmp_path, confirm="ask"), spec, load_rows(spec, write_csv(tmp_path / "p.csv", PEOPLE)),
                       ask=approve, pacing=PACING)

    saved = signup_form.wait_for(lambda s: len(s["submissions"]) == 2)["submissions"]
    assert saved == [
        {"name": "Ada Lovelace", "email": "ada@example.org", "password": "s3cret-Pass!", "birthday": "10.12.1815",
         "country": "Switzerland", "plan": "Pro", "notes": "First programmer\nNote G", "newsletter": True},
        {"name": "Zoë Núñez", "email": "zoe@example.org", "password": "c0b0l-Rules", "birthday": "09.12.1906",
         "country": "Japan", "plan": "Team", "notes": "Compilers", "newsletter": False},
    ]
    assert [r.status for r in result.rows] == ["submitted", "submitted"] and result.exit_code == 0
    # each submit was put to a person; a password that the policy wants confirmed is not shown to them
    reasons = [reason for _, reason in asked]
    assert "submitting row 1 of the form with 'Save'" in reasons and "submitting row 2 of the form with 'Save'" in reasons
    typed = [what for what, _ in asked if what.startswith("type")]
    assert typed and all("(hidden text)" in what for what in typed)
    written = b"".join(p.read_bytes() for p in result.folder.iterdir())
    assert b"s3cret-Pass!" not in written and b"c0b0l-Rules" not in written
    with open(result.folder / "results.csv", encoding="utf-8") as file:
        assert [(r["row"], r["status"]) for r in csv.DictReader(file)] == [("1", "submitted"), ("2", "submitted")]


def test_rows_after_the_first_reuse_the_places_found_even_when_the_window_moved(
        contact_form: ContactForm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads, real_read = [], locate_field.read
    monkeypatch.setattr(locate_field, "read", lambda image: reads.append(image.size) or real_read(image))
    moved = threading.Event()

    def move_after_first_row() -> None:
        contact_form.wait_for(lambda s: len(s["submissions"]) >= 1, timeout=60)
        contact_form.desktop.xdotool("windowmove", contact_form.window, "380", "200")
        moved.set()

    mover = threading.Thread(target=move_after_first_row, daemon=True)
    mover.start()
    spec = FormSpec.load(FORMS / "contact.yaml")
    result = fill_form(settings(tmp_path), spec, load_rows(spec, FORMS / "contacts.csv"), pacing=PACING)

    assert moved.is_set()
    saved = contact_form.wait_for(lambda s: len(s["submissions"]) == 3)["submissions"]
    assert [s["name"] for s in saved] == ["Ada Lovelace", "Grace Hopper", "Alan Turing"]
    assert saved[0]["notes"] == "First programmer\nNote G, 1843"
    assert [s["newsletter"] for s in saved] == [True, False, True]
    assert result.exit_code == 0
    assert len(reads) == 1  # the labels were read once, for the first row


def test_a_label_that_is_not_there_fails_its_rows_with_a_picture(contact_form: ContactForm, tmp_path: Path) -> None:
    spec_path = tmp_path / "phone.yaml"
    spec_path.write_text('window: "^Contact$"\nfields:\n  - {label: "Full name", value: "{name}"}\n'
                         '  - {label: "Phone", value: "{phone}"}\nsubmit: {label: "Save"}\n', encoding="utf-8")
    spec = FormSpec.load(spec_path)
    result = fill_form(settings(tmp_path), spec, [{"name": "Ada", "phone": "1"}, {"name": "Bob", "phone": "2"}],
                       locator="ocr", pacing=PACING)

    assert [r.status for r in result.rows] == ["failed", "failed"] and result.exit_code == 1
    assert "the label 'Phone' is not in the window" in result.rows[0].reason
    picture = result.folder / "not-found-phone.png"
    assert str(picture) in result.rows[0].reason and picture.stat().st_size > 1000
    assert contact_form.state()["submissions"] == []


def test_a_failing_row_is_reported_and_the_next_goes_on_unless_told_to_stop(signup_form: FormApp,
                                                                           tmp_path: Path) -> None:
    spec = FormSpec.load(FORMS / "signup.yaml")
    rows = [{**PEOPLE[0], "country": "Atlantis"}, PEOPLE[1], PEOPLE[0]]
    result = fill_form(settings(tmp_path), spec, rows, pacing=PACING)
    assert [r.status for r in result.rows] == ["failed", "submitted", "submitted"]
    assert result.rows[0].reason == ("Country: the list has no option 'Atlantis' (it offers 'Brazil', 'France', "
                                     "'Germany', 'Japan', 'Switzerland', 'United Kingdom')")
    assert len(signup_form.wait_for(lambda s: len(s["submissions"]) == 2)["submissions"]) == 2

    stopped = fill_form(settings(tmp_path), spec, rows, pacing=PACING, stop_on_error=True)
    assert [r.status for r in stopped.rows] == ["failed", "not run", "not run"]


def test_submitting_is_refused_without_a_persons_approval(contact_form: ContactForm, tmp_path: Path) -> None:
    spec = FormSpec.load(FORMS / "contact.yaml")
    rows = load_rows(spec, FORMS / "contacts.csv")[:1]
    result = fill_form(settings(tmp_path, confirm="deny"), spec, rows, pacing=PACING)
    assert result.rows[0].status == "failed"
    assert "submitting row 1 of the form with 'Save'; it needs a person's approval" in result.rows[0].reason
    state = contact_form.state()
    assert state["submissions"] == [] and state["fields"]["name"] == "Ada Lovelace"  # filled, not saved


@pytest.mark.timeout(300)  # 20 rows of about 5 s each: 101 s on an idle 2-core machine, over 120 s on a busy one
def test_a_twenty_row_batch_from_the_command_line(contact_form: ContactForm, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    people = [{"name": f"Person {n}", "email": f"p{n}@example.org", "city": f"City {n}", "notes": f"note {n}",
               "newsletter": "yes" if n % 3 == 0 else "no"} for n in range(1, 21)]
    data = write_csv(tmp_path / "people.csv", people)
    code = main(["fill", str(FORMS / "contact.yaml"), "--data", str(data), "--locator", "ocr", "--confirm", "allow",
                 "--runs-dir", str(tmp_path / "runs")])
    assert code == 0
    saved = contact_form.wait_for(lambda s: len(s["submissions"]) == 20)["submissions"]
    assert [{**s, "newsletter": "yes" if s["newsletter"] else "no"} for s in saved] == people
    out = capsys.readouterr().out
    assert out.count(": submitted") == 20 and "results.csv" in out


def test_a_window_marked_sensitive_on_the_command_line_needs_approval(contact_form: ContactForm, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "one.csv", [{"name": "Ada", "email": "ada@example.org", "city": "London",
                                             "notes": "", "newsletter": "no"}])
    code = main(["fill", str(FORMS / "contact.yaml"), "--data", str(data), "--locator", "ocr", "--confirm", "deny",
                 "--sensitive-window", "^Contact$", "--runs-dir", str(tmp_path / "runs")])
    assert code != 0 and "needs a person's approval" in capsys.readouterr().out
    assert contact_form.state()["fields"]["name"] == ""  # nothing typed into the sensitive window


def test_the_command_line_rejects_a_missing_column_before_touching_anything(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "people.csv"
    data.write_text("name,email\nAda,ada@example.org\n", encoding="utf-8")
    assert main(["fill", str(FORMS / "contact.yaml"), "--data", str(data)]) == 64
    assert "row 1: no column 'city' in the data" in capsys.readouterr().err


def grounding(contact_form: ContactForm, *client_points: tuple[int, int]) -> list[str]:
    """Replies in the model's grounding format: each point (pixels of the form's client area) on the
    0-1000 grid of the window picture the model is shown (the window with its frame)."""
    from perception.windows import find_window

    frame = find_window("^Contact$")
    assert frame is not None
    info = subprocess.run(["xwininfo", "-id", contact_form.window], env=contact_form.desktop.env,
                          capture_output=True, text=True, check=True).stdout
    left, top = (int(re.search(rf"Absolute upper-left {axis}:\s+(-?\d+)", info).group(1)) for axis in "XY")
    replies = []
    for x, y in client_points:
        gx = round((left + x - frame.left) / frame.width * 1000)
        gy = round((top + y - frame.top) / frame.height * 1000)
        replies.append(f'```json\n[{{"point_2d": [{gx}, {gy}], "label": "the field"}}]\n```')
    return replies


def test_the_model_grounds_fields_by_their_labels(contact_form: ContactForm, tmp_path: Path) -> None:
    spec_path = tmp_path / "contact.yaml"
    spec_path.write_text('window: "^Contact$"\nfields:\n  - {label: "Full name", value: "{name}"}\n'
                         '  - {label: "Notes", kind: multiline, value: "{notes}"}\n'
                         '  - {label: "Send me the newsletter", kind: checkbox, value: "yes"}\n'
                         'submit: {label: "Save"}\n', encoding="utf-8")
    # the contact form's fixed layout: name field, notes, the newsletter box's square, Save
    replies = grounding(contact_form, (390, 57), (390, 275), (193, 367), (240, 430))
    result = fill_form(settings(tmp_path, script=script(tmp_path / "points.replies", *replies)),
                       FormSpec.load(spec_path), [{"name": "Ada", "notes": "Grounded"}], locator="model",
                       pacing=PACING)
    assert result.exit_code == 0, result.rows
    saved = contact_form.wait_for(lambda s: len(s["submissions"]) == 1)["submissions"][0]
    assert (saved["name"], saved["notes"], saved["newsletter"]) == ("Ada", "Grounded", True)


def test_auto_asks_the_model_only_where_ocr_is_unsure(contact_form: ContactForm, tmp_path: Path) -> None:
    spec_path = tmp_path / "contact.yaml"
    spec_path.write_text('window: "^Contact$"\nfields:\n  - {label: "Your name", value: "{name}"}\n'
                         '  - {kind: keys, value: "tab"}\n  - {kind: keys, value: "x"}\n'
                         'submit: {label: "Save"}\n', encoding="utf-8")
    # "Your name" is not what the window says: the model finds it; tab then takes the focus to Email,
    # where the key x is pressed
    replies = grounding(contact_form, (390, 57))
    result = fill_form(settings(tmp_path, script=script(tmp_path / "points.replies", *replies)),
                       FormSpec.load(spec_path), [{"name": "Ada"}], locator="auto", pacing=PACING)
    assert result.exit_code == 0, result.rows
    saved = contact_form.wait_for(lambda s: len(s["submissions"]) == 1)["submissions"][0]
    assert (saved["name"], saved["email"]) == ("Ada", "x")


def test_a_missing_window_fails_each_row_clearly(desktop: VirtualDesktop, tmp_path: Path) -> None:
    spec = FormSpec.load(FORMS / "contact.yaml")
    result = fill_form(settings(tmp_path), spec, load_rows(spec, FORMS / "contacts.csv")[:2], pacing=PACING)
    assert [r.reason for r in result.rows] == ["no window titled like '^Contact$' is open"] * 2
    assert result.exit_code == 1


@pytest.mark.parametrize("locator", ["accessibility", "ocr"])
def test_a_gtk_dialog_of_a_debian_app(desktop: VirtualDesktop, tmp_path: Path, request: pytest.FixtureRequest,
                                      locator: str) -> None:
    """zenity's forms dialog (GTK 3): entries, a password and a combo box, then OK; zenity prints what it got."""
    dialog = subprocess.Popen(["zenity", "--forms", "--title=New contact", "--text=Add a contact",
                               "--add-entry=Full name", "--add-entry=Email", "--add-password=Password",
                               "--add-combo=Country", "--combo-values=France|Japan|Switzerland"],
                              env=desktop.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    request.addfinalizer(dialog.kill)
    desktop.wait_for_window("New contact")
    spec_path = tmp_path / "zenity.yaml"
    spec_path.write_text('window: "^New contact$"\nfields:\n  - {label: "Full name", value: "{name}"}\n'
                         '  - {label: "Email", value: "{email}"}\n  - {label: "Password", kind: password, '
                         'value: "{password}"}\n  - {label: "Country", kind: select, value: "{country}"}\n'
                         'submit: {label: "OK"}\n', encoding="utf-8")
    row = {"name": "Ada Lovelace", "email": "ada@example.org", "password": "pw-123456", "country": "Japan"}
    result = fill_form(settings(tmp_path), FormSpec.load(spec_path), [row], locator=locator,  # type: ignore[arg-type]
                       pacing=PACING)
    assert result.exit_code == 0, result.rows
    output, _ = dialog.communicate(timeout=10)
    assert output == "Ada Lovelace|ada@example.org|pw-123456|Japan\n"


@pytest.mark.parametrize("locator", ["accessibility", "ocr"])
def test_a_qt_form_whose_controls_are_misnamed(desktop: VirtualDesktop, tmp_path: Path, locator: str) -> None:
    """The Qt sign-up form, its name and e-mail fields carrying each other's accessible names: both
    locators go by the visible labels, so each value lands in the field its label names."""
    form = FormApp(desktop, "signup_form_qt", "Sign up", tmp_path / "qt.json", "--misnamed")
    try:
        spec = FormSpec.load(FORMS / "signup.yaml")
        result = fill_form(settings(tmp_path), spec, load_rows(spec, write_csv(tmp_path / "p.csv", PEOPLE[:1])),
                           locator=locator, pacing=PACING)  # type: ignore[arg-type]
        assert result.exit_code == 0, result.rows
        saved = form.wait_for(lambda s: len(s["submissions"]) == 1)["submissions"][0]
        assert saved == {"name": "Ada Lovelace", "email": "ada@example.org", "password": "s3cret-Pass!",
                         "birthday": "10.12.1815", "country": "Switzerland", "plan": "Pro",
                         "notes": "First programmer\nNote G", "newsletter": True}
    finally:
        form.close()


def test_an_observer_sees_each_step_and_can_stop_the_fill(contact_form: ContactForm, tmp_path: Path) -> None:
    from safety.killswitch import StopRequested

    seen: list[str] = []

    class StopAfterThree:
        def on_step(self, step, task) -> None:  # type: ignore[no-untyped-def]
            seen.append(step.thought)
            if len(seen) == 3:
                raise StopRequested("stopped from the web page")

    spec = FormSpec.load(FORMS / "contact.yaml")
    result = fill_form(settings(tmp_path), spec, load_rows(spec, FORMS / "contacts.csv"), pacing=PACING,
                       observers=(StopAfterThree(),))
    assert seen == ["row 1: text 'Full name'", "row 1: text 'Email'", "row 1: text 'City'"]
    assert result.stopped == "stopped: stopped from the web page" and result.exit_code == 130
    assert [r.status for r in result.rows] == ["not run"] * 3
    assert contact_form.state()["submissions"] == []


def test_a_dry_run_finds_every_field_and_touches_nothing(contact_form: ContactForm, tmp_path: Path) -> None:
    spec = FormSpec.load(FORMS / "contact.yaml")
    result = fill_form(settings(tmp_path, dry_run=True), spec, load_rows(spec, FORMS / "contacts.csv")[:1],
                       pacing=PACING)
    assert [r.status for r in result.rows] == ["dry run"] and result.exit_code == 0
    state = contact_form.state()
    assert state["submissions"] == [] and state["fields"]["name"] == ""
    with open(result.folder / "steps.jsonl", encoding="utf-8") as steps:
        assert {json.loads(line)["outcome"] for line in steps} == {"dry_run"}


def test_a_person_using_the_mouse_pauses_a_fill_as_it_pauses_a_run(contact_form: ContactForm, desktop: VirtualDesktop,
                                                                   tmp_path: Path) -> None:
    """The pointer moved by someone else for 1.5 s while a row is filled: the action planned before is
    dropped, nothing is done while they move it, and the row is filled again, whole, once they stop."""
    spec = FormSpec.load(FORMS / "contact.yaml")
    rows = load_rows(spec, FORMS / "contacts.csv")[:1]
    moves: list[float] = []

    def person() -> None:
        time.sleep(1.5)
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            desktop.xdotool("mousemove", str(200 + len(moves) % 50 * 4), "600")
            moves.append(time.monotonic())
            time.sleep(0.05)

    mover = threading.Thread(target=person)
    mover.start()
    result = fill_form(settings(tmp_path), spec, rows, locator="ocr",
                       pacing=Pacing(settle_timeout=1.0, resume_after=0.5, max_pause=30))
    mover.join()

    assert result.exit_code == 0, result.rows
    records = [json.loads(line) for line in (result.folder / "steps.jsonl").read_text().splitlines()]
    outcomes = [r["outcome"] for r in records]
    assert "interrupted" in outcomes
    saved = contact_form.wait_for(lambda s: s["submissions"])["submissions"]
    assert [s["name"] for s in saved] == ["Ada Lovelace"] and saved[0]["notes"] == "First programmer\nNote G, 1843"

"""A password the agent types reaches no record of the run: not the run folder's texts, not its
pictures (where the field shows it on later screens), not the logs, not the model's history."""

from __future__ import annotations

import json
import unicodedata
from urllib.parse import quote

from loguru import logger
from PIL import Image

from actions.schema import parse_action
from agent.backends.scripted import ScriptedBackend
from agent.hands import Pacing
from agent.settings import Settings
from agent.task import Outcome, Status, Step
from agent.trajectory import Trajectory, secret_words
from perception import ocr
from perception.geometry import Monitor
from perception.screen import Screen, Screenshot

from safety.secrets import Redactor
from tasks.commands.run import run_command
from tests.replies import EMAIL, NAME, click, done, reply, type_text

PASSWORD = "Tr0ub4dor@home/2024x"
FAST = Pacing(settle_timeout=1.0, resume_after=0.5, max_pause=10)


def spellings(secret: str) -> set[str]:
    """The secret as a text file might hold it: plain, JSON-escaped, URL-encoded, and its longer pieces."""
    escaped = json.dumps(secret)[1:-1]
    pieces = {piece for piece in secret.replace("@", "/").split("/") if len(piece) >= 5}
    return {secret, escaped, escaped.replace("/", "\\/"), secret.replace("@", "\\u0040"), quote(secret),
            quote(secret, safe=""), secret[:12], secret[-12:], *pieces}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().translate(str.maketrans("oil|sz", "011152"))


def read_on(image: Image.Image, secret: str) -> list[str]:
    """The lines on which OCR (at a larger scale than the run's own) reads six characters of the
    secret in a row, or a word much like it."""
    folded = _fold(secret)
    pieces = {folded[i:i + 6] for i in range(len(folded) - 5)}
    found = []
    for line in ocr.read(image, scale=3):
        text = _fold("".join(w.text for w in line.words))
        if any(p in text for p in pieces) or any(ocr.similarity(w.text, secret) >= 0.6 for w in line.words):
            found.append(line.text)
    return found


def test_a_typed_password_is_in_no_text_and_no_picture_of_the_run(contact_form, tmp_path):
    """The real gate finds the password (with @ and /) in the typed text; nothing of the run keeps it."""
    logged: list[str] = []
    sink = logger.add(logged.append, level="DEBUG")
    backend = ScriptedBackend([
        click(NAME), type_text(PASSWORD),
        click(EMAIL, f"I typed {PASSWORD} into the name field; now the email."), type_text("ada@example.org"),
        reply(f"The password {PASSWORD} is in.", action="wait", time=0.2), done(),
    ])
    try:
        result = run_command(Settings(backend="scripted", runs_dir=tmp_path / "runs", confirm="allow"), "Log in",
                             model=backend, pacing=FAST)
    finally:
        logger.remove(sink)
    assert result.status is Status.SUCCESS
    assert contact_form.wait_for(lambda s: s["fields"]["email"])["fields"]["name"] == PASSWORD  # it was typed
    folder = result.folder

    for path in sorted(folder.iterdir()):
        if path.suffix in (".json", ".jsonl"):
            text = path.read_text(encoding="utf-8")
            assert not [s for s in spellings(PASSWORD) if s in text], path.name
    records = [json.loads(line) for line in (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    assert records[1]["action"]["text"] == "«redacted»"
    assert not [s for s in spellings(PASSWORD) for line in logged if s in line]
    # the model's history: every request after the typing shows the marker instead
    later = [request.messages[1].text for request in backend.requests[2:]]
    assert all("type text=«redacted»" in text and PASSWORD not in text for text in later)

    # on the screen the field shows the password, and OCR reads it there ...
    assert read_on(Screen().capture().image, PASSWORD)
    # ... but not on any saved picture: from step 3 on, the field is blacked out
    pictures = sorted(folder.glob("step-*.png"))
    assert len(pictures) == 2 * len(records) == 12
    for picture in pictures:
        with Image.open(picture) as image:
            assert not read_on(image, PASSWORD), picture.name
    assert all("mask" in r["timings"] for r in records[2:]) and not any("mask" in r["timings"] for r in records[:2])


def words(*texts: str) -> ocr.Line:
    """A line as OCR reads it: the words side by side, 60 pixels apart."""
    return ocr.Line(tuple(ocr.Word(text, (60 * i, 10, 60 * i + 50, 30), 90.0) for i, text in enumerate(texts)))


def test_the_mask_takes_pieces_and_misreadings_of_the_secret_and_leaves_other_words():
    masked = secret_words([
        words("Password:", "TrOub4d0r@hOme/2O24x", "Save"),  # O for 0, and the other way round
        words("Tr0ub4dor@", "home/", "2024", "x", "tour"),  # split at the symbols; a lone "x" goes with its neighbour
        words("Clear", "Tr0ub4dqr"),  # one character misread and no four in a row: still a piece
        words("hour", "0ub"),  # a common word, and too short a piece
    ], {PASSWORD})
    assert masked == [(57, 7, 113, 33), (-3, 7, 53, 33), (57, 7, 113, 33), (117, 7, 173, 33), (177, 7, 233, 33),
                      (57, 7, 113, 33)]


def test_a_steps_secret_boxes_are_blacked_out_in_both_its_pictures(tmp_path):
    # a HiDPI monitor right of the primary: the box is in desktop pixels, the pictures at the model's size
    monitor = Monitor(index=2, left=1280, top=0, width=1280, height=800)
    capture = Image.new("RGB", (2560, 1600), "white")
    shot = Screenshot(capture, capture.resize((1280, 800)), monitor, None)
    trajectory = Trajectory(tmp_path, "a secret field", Redactor(), {})
    trajectory.on_step(Step(index=1, screenshot=shot, action=parse_action({"action": "wait", "time": 0.1}),
                            outcome=Outcome.DONE, secret_boxes=((1380, 200, 1580, 230),)))
    trajectory.finish({})
    for name in ("step-001.png", "step-001-action.png"):
        with Image.open(trajectory.folder / name) as picture:
            assert picture.getpixel((100, 200)) == picture.getpixel((299, 229)) == (0, 0, 0)
            assert picture.getpixel((99, 215)) == picture.getpixel((300, 215)) == picture.getpixel((200, 230)) \
                == (255, 255, 255)

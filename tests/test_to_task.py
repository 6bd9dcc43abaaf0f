"""A recording turned into a reply script: every step as the model's own tool call. Pure."""

from __future__ import annotations

from PIL import Image

from agent.backends.scripted import ScriptedBackend
from agent.model import ModelReply, Sampling
from agent.reply import parse_reply
from perception.geometry import CoordinateTransform, Monitor
from tasks.recordings.recording import Recording, RecordedStep
from tasks.recordings.to_task import describe, step_actions, task_script


def recording(tmp_path) -> Recording:
    rec = Recording.create(tmp_path, "contact", (1280, 800))
    rec.append(RecordedStep(index=1, kind="click", at=0.2, point=(431, 117)), screen=Image.new("RGB", (1280, 800)))
    rec.append(RecordedStep(index=2, kind="type", at=1.0, text="Ada Lovelace"))
    rec.append(RecordedStep(index=3, kind="type", at=1.5, parameter="password"))
    rec.append(RecordedStep(index=4, kind="hotkey", at=2.0, keys=["ctrl", "s"]))
    rec.append(RecordedStep(index=5, kind="scroll", at=2.5, point=(640, 400), scroll=(0, -3)))
    rec.append(RecordedStep(index=6, kind="drag", at=3.0, point=(100, 100), to=(1279, 799)))
    rec.append(RecordedStep(index=7, kind="double_click", at=3.5, point=(0, 0)))
    return rec


def test_each_step_becomes_the_agents_action_on_the_grid(tmp_path):
    rec = recording(tmp_path)
    screen = rec.info.screen
    assert step_actions(rec.steps[0], screen) == [{"action": "left_click", "coordinate": [337, 147]}]
    assert step_actions(rec.steps[2], screen) == [{"action": "type", "text": "{password}"}]
    assert step_actions(rec.steps[4], screen) == [{"action": "scroll", "pixels": -150, "coordinate": [500, 501]}]
    assert step_actions(rec.steps[5], screen) == [{"action": "mouse_move", "coordinate": [79, 126]},
                                                  {"action": "left_click_drag", "coordinate": [1000, 999]}]
    # each grid point is where the pixel's centre lies, so it maps back onto the recorded pixel
    transform = CoordinateTransform.of_monitor(Monitor(0, 0, 0, *screen))
    for step, (action,) in ((rec.steps[0], step_actions(rec.steps[0], screen)), (rec.steps[4], step_actions(
            rec.steps[4], screen)[-1:])):
        assert transform.to_desktop(action["coordinate"]) == step.point


def test_the_script_parses_as_valid_replies_and_names_its_placeholders(tmp_path):
    script = task_script(recording(tmp_path), description="Fill in the contact form.")
    path = tmp_path / "task.replies"
    path.write_text(script, encoding="utf-8")
    backend = ScriptedBackend.from_file(path)
    actions = [parse_reply(ModelReply(text)).action.action for text in backend.replies]
    assert actions == ["left_click", "type", "type", "key", "scroll", "mouse_move", "left_click_drag",
                       "double_click", "terminate"]
    header = script.split("--- reply ---")[0]
    assert "Fill in the contact form." in header and "{password}" in header


def test_the_model_describes_the_recording_in_one_sentence(tmp_path):
    model = ScriptedBackend(["The steps fill a form.\n</think>\n\nType Ada's name into the contact form and save it.\nmore"])
    assert describe(model, recording(tmp_path), Sampling()) == "Type Ada's name into the contact form and save it."
    request = model.requests[0]
    assert isinstance(request.messages[0].content[0], Image.Image)  # the first screen goes along
    assert "2. type 'Ada Lovelace'" in request.messages[0].text

"""Zoom-in refinement: the second look's answer mapped back to the whole image, and measured on a
ScreenSpot-Pro-style set with a simulated grounder."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from agent.backends.scripted import ScriptedBackend
from agent.backends.simulated import write_pro_set
from agent.model import ModelReply, Sampling
from agent.reply import parse_reply
from agent.settings import Settings
from agent.zoom import Zoom
from evaluation.grounding import run_grounding
from tasks.commands.ask import ask
from tests.replies import reply


def gradient(size: tuple[int, int] = (1200, 600)) -> Image.Image:
    """Every pixel tells where it is: red is x / 5, green y / 5."""
    image = Image.new("RGB", size)
    image.putdata([(x // 5, y // 5, 0) for y in range(size[1]) for x in range(size[0])])
    return image


def test_the_crop_is_centred_on_the_point_and_kept_inside_the_image():
    zoom = Zoom(factor=4)
    assert zoom.crops((1200, 600), (600, 300)) == [(450, 225, 750, 375)]
    assert zoom.crops((1200, 600), (1190, 10)) == [(900, 0, 1200, 150)]  # moved in at the corner
    centre, *shifted = Zoom(factor=4, views=5).crops((1200, 600), (600, 300))
    assert centre == (450, 225, 750, 375) and (375, 188, 675, 338) in shifted  # a quarter crop up and left


def test_a_point_on_the_crop_grid_maps_back_to_the_pixel_of_the_whole_image():
    image = gradient()
    crop, transform = Zoom(factor=4).view(image, (900, 0, 1200, 150))
    assert crop.size == (1200, 600)  # enlarged four times
    assert transform.to_desktop((0, 0)) == (900, 0)
    assert transform.to_desktop((500, 500)) == (1050, 75)
    assert transform.to_desktop((1000, 1000)) == (1199, 149)  # the far edge onto the last pixel


def test_ask_looks_again_at_an_enlarged_crop_and_maps_its_answer_back():
    image = gradient()
    model = ScriptedBackend(['{"point_2d": [500, 500]}',  # first look: (600, 300)
                             '{"point_2d": [250, 750], "label": "Save"}'])  # on the crop (450..750, 225..375)
    answer = ask(model, image, "the Save button", Sampling(), point=True, zoom=Zoom(factor=4))
    assert answer.first_point == (600, 300)
    assert answer.point == (525, 337)  # 450 + 0.25 * 300, 225 + 0.75 * 150
    second = model.requests[1].messages[0].content[0]
    assert second.size == (1200, 600)
    assert second.getpixel((600, 300)) == (600 // 5, 300 // 5, 0)  # its centre is the first point


def test_views_vote_with_the_median_and_unusable_ones_drop_out():
    model = ScriptedBackend(['{"point_2d": [500, 500]}', '{"point_2d": [500, 500]}', "I see nothing there.",
                             '{"point_2d": [540, 520]}'])
    answer = ask(model, gradient(), "the Save button", Sampling(), point=True, zoom=Zoom(factor=4, views=3))
    crops = Zoom(factor=4, views=3).crops((1200, 600), (600, 300))
    assert len(model.requests) == 4 and len(crops) == 3
    assert crops[2] == (525, 262, 825, 412)  # a quarter crop down and right
    # the centre crop says (600, 300), the shifted one 525 + 0.54 * 300, 262 + 0.52 * 150: the median of two
    assert answer.point == (round((600 + 687) / 2), round((300 + 340) / 2))


def test_the_agents_action_keeps_its_kind_and_gets_the_refined_grid_point():
    action = parse_reply(ModelReply(reply("The Save button.", action="left_click", coordinate=[500, 500]))).action
    again = iter([reply("Save, enlarged.", action="left_click", coordinate=[250, 750])])
    refined = Zoom(factor=4).refine_action(action, gradient(), lambda crop: parse_reply(ModelReply(next(again))).action)
    assert refined.name == "left_click"
    assert refined.point == ((525 + 0.5) / 1200 * 1000, (337 + 0.5) / 600 * 1000)


def test_another_kind_of_action_on_the_crop_keeps_the_first_point():
    action = parse_reply(ModelReply(reply("Save.", action="left_click", coordinate=[500, 500]))).action
    typing = parse_reply(ModelReply(reply("Type.", action="type", text="x"))).action
    refined = Zoom(factor=4).refine_action(action, gradient(), lambda crop: typing)
    assert refined.point == ((600 + 0.5) / 1200 * 1000, (300 + 0.5) / 600 * 1000)


def test_ground_eval_reports_one_look_and_zoom_side_by_side(tmp_path: Path, capsys):
    assert write_pro_set(tmp_path / "pro", count=12) == 12
    records = json.loads((tmp_path / "pro" / "screenspot_pro_generated.json").read_text())
    assert {"bbox", "img_size", "ui_type", "platform", "application", "group"} <= records[0].keys()
    settings = Settings(backend="simulated", refine="zoom", runs_dir=tmp_path / "runs")
    summary = json.loads((run_grounding(settings, tmp_path / "pro") / "summary.json").read_text())
    assert summary["refine"] == "zoom" and summary["profile"] == "qwen3-vl"
    assert summary["overall"]["accuracy"] > summary["one_look"]["overall"]["accuracy"]
    assert "one look" in capsys.readouterr().out


def test_a_run_with_zoom_clicks_where_the_second_look_points(contact_form, tmp_path: Path):
    from agent.task import Status
    from perception.geometry import grid_to_pixel
    from tasks.commands.run import run_command
    from tests.replies import EMAIL, NAME, SAVE, click, done, type_text, script
    from tests.test_agent_on_desktop import FAST

    size, zoom = (1280, 800), Zoom()

    def second_look(first: list[int], target: list[int]) -> str:
        """The reply on the crop around ``first``: ``target``, on the crop's own grid."""
        left, top, right, bottom = zoom.crops(size, grid_to_pixel(first, size))[0]
        x, y = grid_to_pixel(target, size)
        return click([round((x + 0.5 - left) / (right - left) * 1000), round((y + 0.5 - top) / (bottom - top) * 1000)])

    near_name = [NAME[0] + 40, NAME[1] + 25]  # the first look misses the name field
    replies = script(tmp_path / "zoom.replies", click(near_name), second_look(near_name, NAME),
                     type_text("Ada Lovelace"), click(EMAIL), second_look(EMAIL, EMAIL),
                     type_text("ada@analytical-engine.org"), click(SAVE), second_look(SAVE, SAVE), done())
    settings = Settings(script=replies, refine="zoom", runs_dir=tmp_path / "runs", confirm="deny")
    result = run_command(settings, "Fill the form", pacing=FAST)
    assert result.status is Status.SUCCESS, result.reason
    saved = contact_form.wait_for(lambda s: s["submissions"])["submissions"]
    assert saved[0]["name"] == "Ada Lovelace" and saved[0]["email"] == "ada@analytical-engine.org"
    run = json.loads((result.folder / "run.json").read_text())
    assert run["settings"]["refine"] == "zoom" and run["settings"]["profile"] == "qwen3-vl"

"""Grounding eval: the three ScreenSpot formats read from a folder, points scored, and a set made from our own apps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.settings import Settings
from evaluation.grounding import GroundingError, read_targets, run_grounding
from evaluation.own_set import make_own_set
from tests.replies import script

FIXTURES = Path(__file__).parent / "eval_fixtures" / "screenspot"


def test_all_three_formats_are_read_into_pixel_boxes() -> None:
    targets = {t.instruction: t for t in read_targets(FIXTURES)}
    assert len(targets) == 6
    v1 = targets["close the window"]  # ScreenSpot: [x, y, w, h]
    assert (v1.box, v1.kind, v1.platform, v1.group) == ((150, 60, 170, 80), "icon", "windows", "desktop")
    assert v1.image.name == "pc_3b7a1c.png"
    v2 = targets["tap Sign in"]  # ScreenSpot-v2: the same, in *_v2.json
    assert (v2.box, v2.kind, v2.platform, v2.group) == ((20, 150, 80, 180), "text", "ios", "mobile")
    pro = targets["refresh the file explorer"]  # ScreenSpot-Pro: [x1, y1, x2, y2], images in a subfolder
    assert (pro.box, pro.kind, pro.platform, pro.group) == ((300, 20, 380, 40), "icon", "macos", "Dev")
    assert pro.hit((300, 40)) and pro.hit((380, 20)) and not pro.hit((381, 30)) and not pro.hit(None)


def test_points_are_scored_overall_by_kind_platform_and_group(tmp_path: Path) -> None:
    # the model's answers, in target order (pro, v1, v2): points on its 0-1000 grid over each image
    answers = ['{"point_2d": [850, 150]}',  # refresh icon at (340, 30): hit
               '{"point_2d": [100, 950]}',  # branch name at (40, 190): hit
               '{"point_2d": [150, 200]}',  # file menu at (30, 20): hit
               '{"point_2d": [100, 100]}',  # close icon: the point lands at (20, 10), a miss
               "I cannot see a Sign in button.",  # no point at all: a miss
               '{"point_2d": [100, 50]}']  # back icon at (10, 10): hit
    settings = Settings(backend="scripted", script=script(tmp_path / "answers.replies", *answers), runs_dir=tmp_path)
    out = run_grounding(settings, FIXTURES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"] == {"n": 6, "accuracy": 4 / 6}
    assert summary["kind"] == {"icon": {"n": 3, "accuracy": 2 / 3}, "text": {"n": 3, "accuracy": 2 / 3}}
    assert summary["platform"]["macos"] == {"n": 2, "accuracy": 1.0}
    assert summary["group"]["mobile"] == {"n": 2, "accuracy": 0.5}
    lines = [json.loads(line) for line in (out / "ground.jsonl").read_text().splitlines()]
    assert [line["hit"] for line in lines] == [True, True, True, False, False, True]
    assert lines[4]["point"] is None


def test_a_folder_without_annotations_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GroundingError, match="no ScreenSpot annotations"):
        read_targets(tmp_path)


def test_own_apps_make_a_screenspot_set_that_ocr_grounds(tmp_path: Path) -> None:
    count = make_own_set(tmp_path / "own", apps=[("buttons", 0), ("choices", 1)])
    records = json.loads((tmp_path / "own" / "own_apps.json").read_text())
    assert count == len(records) == 14  # six buttons; four checkboxes, three radio buttons and OK
    delta = next(r for r in records if r["instruction"] == "Delta")
    assert delta["bbox"] == [101, 140, 150, 60] and delta["img_filename"] == "buttons-0.png"
    out = run_grounding(Settings(runs_dir=tmp_path), tmp_path / "own", locator="ocr")
    assert json.loads((out / "summary.json").read_text())["overall"]["accuracy"] == 1.0

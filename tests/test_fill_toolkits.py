"""Form filling on forms it was not built around: a ttk form whose list needs scrolling, a GTK
form made with yad, and GTK's own look of a ticked box. Real display, real apps, real input;
asserted on what the apps saved or printed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import FormApp

from agent.hands import Pacing
from agent.settings import Settings
from desktop.virtual import VirtualDesktop
from perception.accessibility import window_elements
from perception.controls import RING, Blocks, TickLooks
from perception.geometry import grow
from perception.screen import Screen
from tasks.forms.fill import fill_form
from tasks.forms.form import FormSpec

PACING = Pacing(settle_timeout=1.0)
COUNTRIES = ["Argentina", "Australia", "Austria", "Belgium", "Brazil", "Canada", "Chile", "China", "Denmark",
             "Egypt", "Finland", "France", "Germany", "Greece", "India", "Ireland", "Italy", "Japan", "Kenya",
             "Mexico", "Netherlands", "Norway", "Peru", "Poland", "Portugal", "Spain", "Sweden", "Switzerland",
             "Turkey", "Uruguay"]
VENDOR = """
window: "^Vendor$"
fields:
  - {label: "Company", value: "{company}"}
  - {label: "Country", kind: select, value: "{country}"}
  - {label: "Contact by", kind: radio, value: "{contact}", options: {email: "E-mail", phone: "Telephone"}}
  - {label: "I accept the terms", kind: checkbox, value: "{terms}"}
submit: {label: "Save", confirm: false}
after_submit: {expect_text: "Saved"}
"""


def settings(tmp_path: Path) -> Settings:
    return Settings(runs_dir=tmp_path / "runs", confirm="allow")  # type: ignore[arg-type]


def spec_file(tmp_path: Path, text: str) -> FormSpec:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return FormSpec.load(path)


def yad(desktop: VirtualDesktop, request: pytest.FixtureRequest, title: str, *fields: str) -> subprocess.Popen[str]:
    """A yad (GTK 3) form; on OK it prints its fields' values, separated by |."""
    dialog = subprocess.Popen(["yad", "--form", f"--title={title}", *fields], env=desktop.env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    request.addfinalizer(dialog.kill)
    desktop.wait_for_window(title)
    return dialog


def test_a_ttk_form_with_a_list_that_needs_scrolling_both_ways_and_mapped_options(desktop: VirtualDesktop,
                                                                                  tmp_path: Path) -> None:
    """The list shows ten of thirty countries: Norway and Japan are found by scrolling down, then
    Argentina by scrolling back up; Japan's row sits beside "I accept the terms" and is read on
    its own; the data's email and phone become the options E-mail and Telephone."""
    form = FormApp(desktop, "vendor_form", "Vendor", tmp_path / "vendor.json")
    rows = [{"company": "Fjord Supplies AS", "country": "Norway", "contact": "email", "terms": "yes"},
            {"company": "Kōbe Precision KK", "country": "Japan", "contact": "phone", "terms": "yes"},
            {"company": "Pampa SRL", "country": "Argentina", "contact": "Email", "terms": "no"}]
    try:
        result = fill_form(settings(tmp_path), spec_file(tmp_path, VENDOR), rows, locator="ocr", pacing=PACING)
        assert result.exit_code == 0, result.rows
        saved = form.wait_for(lambda s: len(s["submissions"]) == 3)["submissions"]
    finally:
        form.close()
    assert saved == [
        {"company": "Fjord Supplies AS", "country": "Norway", "contact": "E-mail", "terms": True},
        {"company": "Kōbe Precision KK", "country": "Japan", "contact": "Telephone", "terms": True},
        {"company": "Pampa SRL", "country": "Argentina", "contact": "E-mail", "terms": False},
    ]


def test_an_option_the_list_lacks_names_what_it_offers(desktop: VirtualDesktop, tmp_path: Path) -> None:
    form = FormApp(desktop, "vendor_form", "Vendor", tmp_path / "vendor.json")
    row = {"company": "Atlantis Ltd", "country": "Atlantis", "contact": "email", "terms": "yes"}
    try:
        result = fill_form(settings(tmp_path), spec_file(tmp_path, VENDOR), [row], locator="ocr", pacing=PACING)
        assert form.state()["submissions"] == []
    finally:
        form.close()
    reason = result.rows[0].reason
    assert reason.startswith("Country: the list has no option 'Atlantis' (it offers 'Argentina', ")
    assert all(repr(country) in reason for country in COUNTRIES), reason


@pytest.mark.parametrize("locator", ["accessibility", "ocr"])
def test_a_gtk_form_with_thirty_countries_and_a_check_box(desktop: VirtualDesktop, tmp_path: Path,
                                                          request: pytest.FixtureRequest, locator: str) -> None:
    """yad's form: CJK typed, then a click on a list of 30 that GTK draws over the control and
    scrolls; the check box is GTK's blue one with a white tick."""
    dialog = yad(desktop, request, "Supplier", "--field=Company", "--field=Country:CB", "--field=Accept the terms:CHK",
                 "", "!".join(COUNTRIES), "FALSE")
    spec = spec_file(tmp_path, 'window: "^Supplier$"\nfields:\n  - {label: "Company", value: "{company}"}\n'
                               '  - {label: "Country", kind: select, value: "{country}"}\n'
                               '  - {label: "Accept the terms", kind: checkbox, value: "yes"}\n'
                               'submit: {label: "OK", confirm: false}\n')
    row = {"company": "Kōbe Precision KK 神戸", "country": "Sweden"}
    result = fill_form(settings(tmp_path), spec, [row], locator=locator, pacing=PACING)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.rows
    output, _ = dialog.communicate(timeout=10)
    assert output == "Kōbe Precision KK 神戸|Sweden|TRUE|\n"


def test_gtk_ticked_and_unticked_boxes_are_told_apart_by_their_looks(desktop: VirtualDesktop,
                                                                     request: pytest.FixtureRequest) -> None:
    """The pixel test, where no accessibility tree can say: GTK draws a white tick on blue, which
    is neither dark nor unlike the window's light background."""
    yad(desktop, request, "Ticks", "--field=Ticked:CHK", "--field=Not ticked:CHK", "TRUE", "FALSE")
    boxes = {e.name: e.box for e in window_elements("^Ticks$") if e.role == "check box"}
    shot = Screen().capture()
    looks = {}
    for name, box in boxes.items():
        picture = shot.capture.crop(box)
        square = Blocks.against_window(picture).indicator_at((8, (box[3] - box[1]) // 2), reach=16)
        assert square is not None, name
        looks[name] = picture.crop(grow(square, RING, RING))
    assert TickLooks().is_ticked(looks["Ticked"]) and not TickLooks().is_ticked(looks["Not ticked"])
    learnt = TickLooks()
    learnt.learn(looks["Ticked"], looks["Not ticked"])
    assert learnt.unticked is not None
    assert learnt.is_ticked(looks["Ticked"]) and not learnt.is_ticked(looks["Not ticked"])

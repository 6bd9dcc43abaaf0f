"""OSWorld's metrics and getters that the os and libreoffice_calc tasks use, each scoring a right and a wrong state.

Spreadsheets are real xlsx files written with openpyxl (charts, pivot tables, zoom, frozen panes, styles);
folders, terminals and command output are real too.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import FormulaRule
from openpyxl.pivot.cache import CacheDefinition, CacheField, CacheSource, SharedItems, WorksheetSource
from openpyxl.pivot.record import RecordList
from openpyxl.pivot.table import DataField, FieldItem, Location, PivotField, RowColField, TableDefinition
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from PIL import Image

from evaluation.getters import list_directory, screen_text, vm_terminal_output
from evaluation.machine import Machine
from evaluation.metrics import (
    check_gnome_favorite_apps,
    check_moved_jpgs,
    check_pdf_pages,
    check_text_enlarged,
    compare_csv,
    is_utc_0,
)
from evaluation.tables import compare_table, matches

ROWS = [["Week", "Sales", "COGS"], ["W1", 10, 4], ["W2", 12, 5], ["W3", 9, 3]]


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    """A machine that is never started: its home and folders are enough for these getters."""
    machine = Machine(tmp_path / "task", tmp_path / "scratch")
    for folder in (machine.home, machine.cache_dir, machine.terminal_logs):
        folder.mkdir(parents=True)
    return machine


def book(path: Path, rows: list[list[object]] = ROWS, chart: type | None = None, pivot_row_field: int | None = None,
         zoom: int | None = None, freeze: str | None = None, title: str = "Sales") -> str:
    """A workbook with one data sheet (Sheet1) and what the rules look at."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    for row in rows:
        sheet.append(row)
    if chart is not None:
        plot = chart()
        plot.title = title
        plot.add_data(Reference(sheet, min_col=2, min_row=1, max_col=3, max_row=len(rows)), titles_from_data=True)
        plot.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=len(rows)))
        sheet.add_chart(plot, "E2")
    if pivot_row_field is not None:
        workbook.create_sheet("Sheet2")._pivots.append(pivot_table(pivot_row_field, len(rows)))
    if zoom is not None:
        sheet.sheet_view.zoomScale = zoom
    if freeze is not None:
        sheet.freeze_panes = freeze
    workbook.save(path)
    return str(path)


def pivot_table(row_field: int, rows: int) -> TableDefinition:
    """A pivot table over Sheet1 summing Sales by the field ``row_field`` (0: Week, 2: COGS)."""
    source = CacheSource(type="worksheet", worksheetSource=WorksheetSource(ref=f"A1:C{rows}", sheet="Sheet1"))
    fields = [CacheField(name=name, sharedItems=SharedItems()) for name in ROWS[0]]
    cache = CacheDefinition(cacheSource=source, cacheFields=fields, recordCount=0)
    cache.records = RecordList()
    pivot_fields = [PivotField(showAll=False) for _ in ROWS[0]]
    pivot_fields[row_field] = PivotField(axis="axisRow", showAll=False,
                                         items=[FieldItem(x=i) for i in range(rows - 1)] + [FieldItem(t="default")])
    pivot_fields[1] = PivotField(dataField=True, showAll=False)
    pivot = TableDefinition(name="Pivot", cacheId=1, dataCaption="Values", pivotFields=pivot_fields,
                            location=Location(ref="A1:B5", firstHeaderRow=1, firstDataRow=1, firstDataCol=1),
                            rowFields=[RowColField(x=row_field)],
                            dataFields=[DataField(name="Sum", fld=1, subtotal="sum")])
    pivot.cache = cache
    return pivot


def test_charts_compare_by_their_ranges_type_and_title(tmp_path: Path) -> None:
    rule = {"rules": [{"type": "chart", "sheet_idx0": 0, "sheet_idx1": "EI0", "chart_props": ["type", "title"]}]}
    expected = book(tmp_path / "expected.xlsx", chart=BarChart)
    assert compare_table(book(tmp_path / "right.xlsx", chart=BarChart), expected, **rule) == 1.0
    assert compare_table(book(tmp_path / "line.xlsx", chart=LineChart), expected, **rule) == 0.0
    assert compare_table(book(tmp_path / "titled.xlsx", chart=BarChart, title="Costs"), expected, **rule) == 0.0
    assert compare_table(book(tmp_path / "none.xlsx"), expected, **rule) == 0.0
    shorter = book(tmp_path / "shorter.xlsx", ROWS[:3], chart=BarChart)  # the series cover other cells
    assert compare_table(shorter, expected, rules=[{"type": "chart", "sheet_idx0": 0, "sheet_idx1": "EI0"}]) == 0.0


def test_pivot_tables_compare_by_source_and_fields(tmp_path: Path) -> None:
    props = ["col_fields", "filter", "row_fields", "data_fields"]
    rule = {"rules": [{"type": "pivot_table", "sheet_idx0": "RNSheet2", "sheet_idx1": "ENSheet2",
                       "pivot_props": props}]}
    expected = book(tmp_path / "expected.xlsx", pivot_row_field=0)
    assert compare_table(book(tmp_path / "right.xlsx", pivot_row_field=0), expected, **rule) == 1.0
    assert compare_table(book(tmp_path / "by-cogs.xlsx", pivot_row_field=2), expected, **rule) == 0.0
    assert compare_table(book(tmp_path / "none.xlsx"), expected, **rule) == 0.0  # no Sheet2, no pivot table


def test_printed_sheets_compare_as_libreoffice_writes_them(tmp_path: Path) -> None:
    (tmp_path / "gold").mkdir()
    result, expected = book(tmp_path / "Prices.xlsx"), book(tmp_path / "gold" / "Prices.xlsx")
    (tmp_path / "Prices-Sheet1.csv").write_text("Item,Price\nTea,1.50\n\n")
    (tmp_path / "gold" / "Prices-Sheet1.csv").write_text("ITEM,PRICE\nTEA,1.50\n")
    rule = {"type": "sheet_print", "sheet_idx0": "RNSheet1", "sheet_idx1": "ENSheet1"}
    assert compare_table(result, expected, rules=[{**rule, "ignore_case": True}]) == 1.0
    assert compare_table(result, expected, rules=[rule]) == 0.0
    (tmp_path / "Prices-Sheet1.csv").write_text("Item,Price\nTea,1.5\n")  # shown without the format's digits
    assert compare_table(result, expected, rules=[{**rule, "ignore_case": True}]) == 0.0


def test_zoom_freeze_and_single_cells(tmp_path: Path) -> None:
    zoomed = book(tmp_path / "zoomed.xlsx", zoom=300)
    assert compare_table(book(tmp_path / "out.xlsx", zoom=120), rules=[{"type": "zoom", "sheet_idx": 0, "method": "lt",
                                                                          "ref": 260}]) == 1.0
    assert compare_table(zoomed, rules=[{"type": "zoom", "sheet_idx": 0, "method": "lt", "ref": 260}]) == 0.0
    frozen = book(tmp_path / "frozen.xlsx", freeze="A2")
    freeze = {"rules": [{"type": "freeze", "sheet_idx0": 0, "sheet_idx1": "EI0"}]}
    assert compare_table(book(tmp_path / "also-frozen.xlsx", freeze="A2"), frozen, **freeze) == 1.0
    assert compare_table(book(tmp_path / "loose.xlsx"), frozen, **freeze) == 0.0

    workbook = openpyxl.Workbook()
    cell = workbook.active["A1"]
    cell.value, cell.font = "Demographic Profile", Font(bold=True, color="FFFFFFFF")
    cell.fill = PatternFill("solid", fgColor="FF0000FF", bgColor="FF0000FF")
    workbook.active["E3"] = 191.66668
    workbook.save(tmp_path / "cells.xlsx")
    title = {"type": "check_cell", "sheet_idx": 0, "coordinate": "A1",
             "props": {"bgcolor": {"method": "eq", "ref": "FF0000FF"},
                       "font_color": {"method": "eq", "ref": "FFFFFFFF"}, "font_bold": {"method": "eq", "ref": True},
                       "value": {"method": "eq", "ref": "Demographic Profile"}}}
    product = {"type": "check_cell", "sheet_idx": 0, "coordinate": "E3",
               "props": {"value": {"method": "approx:0.001", "ref": 191.6667}}}
    assert compare_table(str(tmp_path / "cells.xlsx"), rules=[title, product]) == 1.0
    assert compare_table(str(tmp_path / "cells.xlsx"), rules=[{**product, "coordinate": "E4"}]) == 0.0
    italic = {**title, "props": {"font_italic": {"method": "eq", "ref": True}}}
    assert compare_table(str(tmp_path / "cells.xlsx"), rules=[italic]) == 0.0


def test_styles_count_as_shown_conditional_formats_included(tmp_path: Path) -> None:
    red = PatternFill(bgColor="FFFF0000")

    def calendar(name: str, weekends_by: str) -> str:
        """Days of December 2023 (the 2nd is a Saturday) with the weekends' cells red."""
        book = openpyxl.Workbook()
        for day in range(1, 11):
            book.active.append([45260 + day])  # spreadsheet serials of 2023-12-01..10
        if weekends_by == "format":
            book.active.conditional_formatting.add("A1:A10", FormulaRule(formula=["WEEKDAY(A1,2)>5"], fill=red))
        elif weekends_by == "hand":
            for row in (2, 3, 9, 10):
                book.active.cell(row=row, column=1).fill = PatternFill("solid", fgColor="FFFF0000", bgColor="FFFF0000")
        elif weekends_by == "threshold":  # another reading: days after the value in C1
            book.active["C1"] = 45265
            book.active.conditional_formatting.add("A1:A10", FormulaRule(formula=["A1>$C$1"], fill=red))
        book.save(tmp_path / name)
        return str(tmp_path / name)

    rule = {"rules": [{"type": "style", "sheet_idx0": 0, "sheet_idx1": "EI0", "props": ["bgcolor"]}]}
    expected = calendar("expected.xlsx", "format")
    assert compare_table(calendar("by-format.xlsx", "format"), expected, **rule) == 1.0
    assert compare_table(calendar("by-hand.xlsx", "hand"), expected, **rule) == 1.0  # the same days shown red
    assert compare_table(calendar("plain.xlsx", "none"), expected, **rule) == 0.0
    assert compare_table(calendar("later.xlsx", "threshold"), expected, **rule) == 0.0
    shown = {"rules": [{**rule["rules"][0], "sheet_idx0": "EI0", "sheet_idx1": 0}]}
    later = calendar("later-too.xlsx", "threshold")
    assert compare_table(later, later, **shown) == 1.0


def test_hidden_rows_and_data_validation(tmp_path: Path) -> None:
    def workbook(hidden: list[int], choices: str | None = None) -> str:
        book = openpyxl.Workbook()
        for row in ROWS:
            book.active.append(row)
        for number in hidden:
            book.active.row_dimensions[number].hidden = True
        if choices is not None:
            validation = DataValidation(type="list", formula1=f'"{choices}"')
            validation.add("D2:D29")
            book.active.add_data_validation(validation)
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.xlsx"
        book.save(path)
        return str(path)

    rows = {"rules": [{"type": "row_props", "sheet_idx0": 0, "sheet_idx1": "EI0", "props": ["hidden"]}]}
    assert compare_table(workbook([3]), workbook([3]), **rows) == 1.0
    assert compare_table(workbook([]), workbook([3]), **rows) == 0.0
    listed = {"rules": [{"type": "data_validation", "sheet_idx": 0, "dv_props": [{
        "ranges": {"method": "spreadsheet_range", "ref": ["D2:D29", "D2:D1048576"]},
        "type": {"method": "eq", "ref": "list"},
        "formula1": {"method": "str_set_eq", "ref": ["Pass", "Fail", "Held"]}}]}]}
    assert compare_table(workbook([], "Fail,Pass,Held"), **listed) == 1.0
    assert compare_table(workbook([], "Pass,Fail"), **listed) == 0.0
    assert compare_table(workbook([]), **listed) == 0.0


def test_pdf_pages_are_counted(tmp_path: Path) -> None:
    page = Image.new("RGB", (200, 280), "white")
    page.save(tmp_path / "one.pdf")
    page.save(tmp_path / "two.pdf", save_all=True, append_images=[page])
    assert check_pdf_pages(str(tmp_path / "one.pdf"), {"relation": "eq", "ref_value": 1}) == 1.0
    assert check_pdf_pages(str(tmp_path / "two.pdf"), {"relation": "eq", "ref_value": 1}) == 0.0
    assert check_pdf_pages(None, {"relation": "eq", "ref_value": 1}) == 0.0


def test_match_rules() -> None:
    assert matches("Total: 42", {"method": "re.I", "ref": "total"})
    assert not matches("Sum", {"method": "re", "ref": "tot"})
    assert matches(2, {"method": "range.te", "ref": [0, 2]}) and not matches(0, {"method": "range.te", "ref": [0, 2]})
    assert matches("b,a", {"method": "str_set_eq", "ref": ["a", "b"]})
    assert not matches("b,a", {"method": "str_list_eq", "ref": ["a", "b"]})
    assert not matches(None, {"method": "lt", "ref": 3})


def test_csv_files_compare_line_by_line(tmp_path: Path) -> None:
    (tmp_path / "out.csv").write_text("a,b\n 1,2\n")
    (tmp_path / "gold.csv").write_text("A,B\n1,2\n")
    assert compare_csv(str(tmp_path / "out.csv"), str(tmp_path / "gold.csv"), strict=False, ignore_case=True) == 1.0
    assert compare_csv(str(tmp_path / "out.csv"), str(tmp_path / "gold.csv")) == 0.0
    assert compare_csv(None, str(tmp_path / "gold.csv")) == 0.0


def test_os_settings_metrics() -> None:
    favourites = {"expected": ["google-chrome.desktop", "thunderbird.desktop"]}
    assert check_gnome_favorite_apps("['thunderbird.desktop', 'google-chrome.desktop']\n", favourites) == 1.0
    assert check_gnome_favorite_apps("['thunderbird.desktop', 'vim.desktop', 'google-chrome.desktop']\n",
                                     favourites) == 0.0
    assert check_gnome_favorite_apps("@as []\n", favourites) == 0.0
    status = "               Local time: Thu 2024-01-25 12:56:06 {0}\n           Universal time: Thu 2024-01-25 " \
             "12:56:06 UTC\n                 RTC time: Thu 2024-01-25 12:56:05\n                Time zone: {1}\n"
    assert is_utc_0(status.format("UTC", "Etc/UTC (UTC, +0000)")) == 1.0
    assert is_utc_0(status.format("CET", "Europe/Paris (CET, +0100)")) == 0.0
    assert is_utc_0("Failed to connect to bus: No such file or directory\n") == 0.0
    assert check_text_enlarged("1.25\n") == 1.0 and check_text_enlarged("1.0\n") == 0.0
    assert check_text_enlarged("") == 0.0


def test_moved_files_are_read_as_a_folder_tree(machine: Machine) -> None:
    target = machine.home / "Desktop" / "cpjpg"
    (target / "nested").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        (target / name).write_bytes(b"\xff\xd8")
    tree = list_directory(machine, {"type": "list_directory", "path": "/home/user/Desktop/cpjpg"})
    assert tree["name"] == "cpjpg" and {"type": "file", "name": "a.jpg"} in tree["children"]
    assert {"type": "directory", "name": "nested", "children": []} in tree["children"]
    assert check_moved_jpgs(tree, {"expected": ["a.jpg", "b.jpg", "nested"]}) == 1.0
    assert check_moved_jpgs(tree, {"expected": ["a.jpg", "b.jpg"]}) == 0.0
    assert "error" in list_directory(machine, {"path": "/home/user/nowhere"})


def test_terminal_output_is_the_text_on_the_screen(machine: Machine) -> None:
    assert vm_terminal_output(machine, {}) is None  # no terminal was opened
    (machine.terminal_logs / "1.log").write_bytes(b"old\r\n")
    (machine.terminal_logs / "20.log").write_bytes(
        b"\x1b]0;user@host: ~\x07\x1b[?2004huser@host:~$ ls\r\nnoise\r\n\x1b[H\x1b[2J\x1b[3J"
        b"user@host:~$ stty sizx\x08e\r\n\x1b[?2004l\r43 132\r\n\x1b[?2004huser@host:~$ ")
    assert vm_terminal_output(machine, {}) == "user@host:~$ stty size\n43 132\nuser@host:~$"
    assert screen_text(b"progress 10%\rprogress 99%\r\n") == "progress 99%\n"

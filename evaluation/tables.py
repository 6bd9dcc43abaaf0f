"""``compare_table``: spreadsheets judged rule by rule, as OSWorld's table metric judges them.

Every rule must hold; the first that does not scores 0. A sheet is named ``RI<n>``/``EI<n>``
(by position in the result/expected book), ``RN<name>``/``EN<name>`` (by name), or a bare
position in the result. The rules, by ``type``:

- ``sheet_name``: both books have the same sheet names, in order;
- ``sheet_data`` {sheet_idx0, sheet_idx1[, precision=4]}: the values (as pandas reads them)
  are equal after rounding;
- ``sheet_print`` {sheet_idx0, sheet_idx1[, ignore_case]}: the sheets as printed: the CSV
  files LibreOffice writes beside each book as ``<book>-<sheet>.csv`` (task postconfigs run
  ``libreoffice --convert-to csv``), compared line by line, trailing empty lines left out;
- ``chart`` {sheet_idx0, sheet_idx1[, chart_props]}: the same charts, each known by its
  series' data and category ranges, with the same listed properties (type, title, legend,
  anchor, width, height, direction, xtitle, ytitle, ztitle);
- ``pivot_table`` {sheet_idx0, sheet_idx1[, pivot_props]}: the same pivot tables, each known
  by its source range, with the same listed properties (name, show_total, show_empty_row,
  show_empty_col, show_headers, location, selection, filter, col_fields, row_fields,
  data_fields; ``ordered`` keeps item selections in order, ``data_fields_name`` adds names);
- ``zoom`` {sheet_idx, method, ref}: the sheet's zoom (100 if unset) matches the rule;
- ``freeze`` {sheet_idx0, sheet_idx1}: the same frozen panes;
- ``row_props`` {sheet_idx0, sheet_idx1, props}: the same listed properties (hidden, height,
  collapsed...) of every row that has any set;
- ``data_validation`` {sheet_idx, dv_props}: the sheet has at least as many validations as
  ``dv_props`` lists, and each of them meets one of those patterns ({attribute: rule});
- ``check_cell`` {sheet_idx, coordinate, props}: each listed property of one cell (``value``
  as stored in the file, or a style: see :data:`CELL_STYLES`) matches its rule;
- ``style`` {sheet_idx0, sheet_idx1, props}: every cell shows the same listed styles, conditional
  formats (expressions, evaluated with the ``formulas`` package) included.

A rule is ``{"method": ..., "ref": ...}``: ``eq``/``ne``/``lt``/``le``/``gt``/``ge``,
``approx:<tolerance>``, ``re[.FLAG...]`` (a regular expression search), ``range.<a><b>``
(``[low, high]`` with ``t`` or ``e`` for a strict or inclusive bound), ``str_list_eq`` and
``str_set_eq`` (a comma-separated string against a list), ``spreadsheet_range`` (ranges that
cover the first of two ranges and lie within the second).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

from evaluation.machine import Unsupported


@dataclass
class Books:
    """The result and expected files, opened as pandas (values) and openpyxl (everything else) read them."""

    paths: dict[str, str | None]
    frames: dict[str, Any]
    workbooks: dict[str, Any]
    stored: dict[str, Any]  # the same books with each formula's cached result in place of the formula

    @classmethod
    def open(cls, result: str, expected: str | None) -> Books:
        import openpyxl
        import pandas as pd

        paths = {"R": result, "E": expected}
        frames = {k: pd.ExcelFile(p) if p else None for k, p in paths.items()}
        workbooks = {k: openpyxl.load_workbook(p) if p else None for k, p in paths.items()}
        stored = {k: openpyxl.load_workbook(p, data_only=True) if p else None for k, p in paths.items()}
        return cls(paths, frames, workbooks, stored)

    def locate(self, index: int | str) -> tuple[str, str | None]:
        """Which book (``R`` or ``E``) and which sheet name an index means; None for no such sheet."""
        if isinstance(index, int):
            book, position, name = "R", index, None
        elif re.fullmatch(r"[RE]I\d+", index):
            book, position, name = index[0], int(index[2:]), None
        elif re.fullmatch(r"[RE]N.+", index):
            book, position, name = index[0], None, index[2:]
        else:
            raise Unsupported(f"compare_table: sheet index {index!r} is not understood")
        names = self.frames[book].sheet_names if self.frames[book] is not None else []
        if position is not None:
            name = names[position] if 0 <= position < len(names) else None
        return book, name if name in names else None

    def frame(self, index: int | str) -> Any:
        import pandas as pd

        book, name = self.locate(index)
        return None if name is None else pd.read_excel(self.frames[book], name)

    def sheet(self, index: int | str) -> Any:
        book, name = self.locate(index)
        return None if name is None else self.workbooks[book][name]

    def value(self, index: int | str, coordinate: str) -> Any:
        """A cell's value as the file stores it (a formula's cached result; numbers as float), or None."""
        book, name = self.locate(index)
        if name is None:
            return None
        value = self.stored[book][name][coordinate].value
        if isinstance(value, bool) or value is None:
            return value
        return float(value) if isinstance(value, (int, float)) else str(value)

    def printed(self, index: int | str) -> list[str] | None:
        """The sheet's CSV lines from the last non-empty one back (OSWorld compares them in that order)."""
        book, name = self.locate(index)
        path = self.paths[book]
        if name is None or path is None:
            return None
        csv = Path(path).with_name(f"{Path(path).stem}-{name}.csv")
        if not csv.is_file():
            return None
        lines = [line.strip() for line in reversed(csv.read_text(encoding="utf-8").splitlines())]
        while lines and not lines[0]:
            lines.pop(0)
        return lines


def compare_table(result: str | None, expected: str | None = None, **options: Any) -> float:
    if result is None:
        return 0.0
    try:
        books = Books.open(result, expected)
    except Exception:  # noqa: BLE001 - pandas/openpyxl raise many kinds for a file that is no spreadsheet
        return 0.0
    for rule in options["rules"]:
        check = RULES.get(rule["type"])
        if check is None:
            raise Unsupported(f"compare_table rule {rule['type']!r} is not supported here")
        if not check(books, rule):
            return 0.0
    return 1.0


def _sheet_name(books: Books, rule: dict[str, Any]) -> bool:
    return books.frames["E"] is not None and books.frames["R"].sheet_names == books.frames["E"].sheet_names


def _sheet_data(books: Books, rule: dict[str, Any]) -> bool:
    digits = rule.get("precision", 4)
    first, second = books.frame(rule["sheet_idx0"]), books.frame(rule["sheet_idx1"])
    return first is not None and second is not None and first.round(digits).equals(second.round(digits))


def _sheet_print(books: Books, rule: dict[str, Any]) -> bool:
    first, second = books.printed(rule["sheet_idx0"]), books.printed(rule["sheet_idx1"])
    if first is None:
        return False
    if rule.get("ignore_case", False) and second is not None:
        first, second = [line.lower() for line in first], [line.lower() for line in second]
    return first == second


def _chart(books: Books, rule: dict[str, Any]) -> bool:
    props = set(rule.get("chart_props", []))
    return charts(books.sheet(rule["sheet_idx0"]), props) == charts(books.sheet(rule["sheet_idx1"]), props)


def charts(sheet: Any, props: set[str]) -> dict[str, dict[str, Any]]:
    """A sheet's charts by their series ranges (``values,categories;...``), with the properties asked for."""
    found: dict[str, dict[str, Any]] = {}
    for chart in sheet._charts if sheet is not None else []:
        key = ";".join(f"{_reference(s.val)},{_reference(s.cat)}" for s in chart.series)
        shown: dict[str, Any] = {}
        for prop in props:
            if prop == "title":
                shown[prop] = _title(chart)
            elif prop in ("xtitle", "ytitle", "ztitle"):
                shown[prop] = _title(getattr(chart, f"{prop[0]}_axis", None))
            elif prop == "legend":
                shown[prop] = chart.legend.position if chart.legend is not None else None
            elif prop == "anchor":
                anchor = chart.anchor  # as OSWorld lists it: the end row where the start row would be
                shown[prop] = [anchor.editAs, anchor._from.col, anchor.to.row, anchor.to.col, anchor.to.row]
            elif prop == "type":
                shown[prop] = chart.tagname
            elif prop == "direction":
                shown[prop] = getattr(chart, "barDir", None)
            elif prop in ("width", "height"):
                shown[prop] = getattr(chart, prop)
        found[key] = shown
    return found


def _reference(data: Any) -> str:
    for kind in ("numRef", "strRef"):
        formula = getattr(getattr(data, kind, None), "f", None)
        if formula is not None:
            return formula
    return ""


def _title(part: Any) -> str | None:
    try:
        return part.title.tx.rich.p[0].r[0].t
    except (AttributeError, IndexError, TypeError):
        return None


def _pivot_table(books: Books, rule: dict[str, Any]) -> bool:
    props = set(rule.get("pivot_props", []))
    return pivots(books.sheet(rule["sheet_idx0"]), props) == pivots(books.sheet(rule["sheet_idx1"]), props)


def pivots(sheet: Any, props: set[str]) -> dict[str, dict[str, Any]]:
    """A sheet's pivot tables by their source (type, cell range, sheet), with the properties asked for.

    Fields are counted from the first field that has selected items, so that two tables over the
    same data in columns moved to the side compare equal, as in OSWorld.
    """
    from openpyxl.utils.cell import coordinate_to_tuple

    found: dict[str, dict[str, Any]] = {}
    for pivot in sheet._pivots if sheet is not None else []:
        chosen = [[(item.h, item.x) for item in field.items if item.x is not None] for field in pivot.pivotFields]
        left = next((i for i, items in enumerate(chosen) if items), len(chosen))
        rest = chosen[left:]
        right = next((i for i, items in enumerate(reversed(rest)) if items), len(rest))
        selection = rest[:len(rest) - right]
        source = pivot.cache.cacheSource
        start, end = (coordinate_to_tuple(c) for c in source.worksheetSource.ref.split(":"))
        key = f"{source.type};{(start[0], start[1] + left)}:{(end[0], end[1] - right)};{source.worksheetSource.sheet}"
        shown: dict[str, Any] = {}
        simple = {"name": "name", "show_total": "visualTotals", "show_empty_row": "showEmptyRow",
                  "show_empty_col": "showEmptyCol", "show_headers": "showHeaders", "location": "location"}
        for prop, attribute in simple.items():
            if prop in props:
                shown[prop] = getattr(pivot, attribute)
        if props & {"filter", "selection"}:
            shown["selection"] = selection if "ordered" in props else [set(items) for items in selection]
        if "filter" in props:
            shown["filter_fields"] = {f.fld for f in pivot.pageFields}
        if "col_fields" in props:
            shown["col_fields"] = [f.x - left for f in pivot.colFields]
        if "row_fields" in props:
            shown["row_fields"] = [f.x - left for f in pivot.rowFields]
        if "data_fields" in props:
            named = "data_fields_name" in props
            shown["data_fields"] = [f"{f.fld - left};{f.name if named else ''};{f.subtotal};{f.showDataAs}"
                                    for f in pivot.dataFields]
        found[key] = shown
    return found


def _zoom(books: Books, rule: dict[str, Any]) -> bool:
    sheet = books.sheet(rule["sheet_idx"])
    return sheet is not None and matches(sheet.sheet_view.zoomScale or 100.0, rule)


def _freeze(books: Books, rule: dict[str, Any]) -> bool:
    first, second = books.sheet(rule["sheet_idx0"]), books.sheet(rule["sheet_idx1"])
    return first is not None and second is not None and first.freeze_panes == second.freeze_panes


def _row_props(books: Books, rule: dict[str, Any]) -> bool:
    props = rule.get("props", [])

    def rows(sheet: Any) -> dict[int, dict[str, Any]]:
        dimensions = sheet.row_dimensions.items() if sheet is not None else []
        return {number: {prop: getattr(row, prop) for prop in props} for number, row in dimensions}

    return rows(books.sheet(rule["sheet_idx0"])) == rows(books.sheet(rule["sheet_idx1"]))


def _data_validation(books: Books, rule: dict[str, Any]) -> bool:
    sheet = books.sheet(rule["sheet_idx"])
    if sheet is None:
        return False
    validations = sheet.data_validations.dataValidation
    patterns = rule["dv_props"]
    return len(validations) >= len(patterns) and all(
        any(all(matches(getattr(validation, attribute), want) for attribute, want in pattern.items())
            for pattern in patterns)
        for validation in validations)


def _check_cell(books: Books, rule: dict[str, Any]) -> bool:
    sheet = books.sheet(rule["sheet_idx"])
    if sheet is None:
        return False
    cell = sheet[rule["coordinate"]]
    for prop, expected in rule["props"].items():
        value = books.value(rule["sheet_idx"], rule["coordinate"]) if prop == "value" else cell_style(prop, cell)
        if not matches(value, expected):
            return False
    return True


def _style(books: Books, rule: dict[str, Any]) -> bool:
    props = rule.get("props", [])
    return styles(books, rule["sheet_idx0"], props) == styles(books, rule["sheet_idx1"], props)


def styles(books: Books, index: int | str, props: list[str]) -> dict[str, list[Any]]:
    """Every cell's listed styles, as shown: where a conditional format applies, its style counts.

    As in OSWorld, a conditional format is an ``expression`` rule, evaluated per cell of its ranges
    with the cell's value first and then the values of the absolute references (``$A$1``,
    ``$A$1:$B$9``) it names, in order.
    """
    import formulas

    sheet = books.sheet(index)
    if sheet is None:
        return {}
    shown = {cell.coordinate: [cell_style(p, cell) for p in props] for column in sheet.iter_cols() for cell in column}
    for formatting in sheet.conditional_formatting:
        for conditional in formatting.rules:
            if conditional.type != "expression":
                raise Unsupported(f"compare_table style: conditional format {conditional.type!r} is not judged here")
            formula = conditional.formula[0]
            condition = formulas.Parser().ast("=" + formula)[1].compile()
            arguments = [_referenced(books, index, reference) for reference in ABSOLUTE.finditer(formula)]
            for cells in formatting.cells:
                for row, column in cells.cells:
                    cell = sheet.cell(row=row, column=column)
                    if condition(books.value(index, cell.coordinate), *arguments):
                        shown[cell.coordinate] = [cell_style(p, cell, conditional.dxf) for p in props]
    return shown


ABSOLUTE = re.compile(r"\$([A-Z]{1,3})\$(\d+)(?::\$([A-Z]{1,3})\$(\d+))?")


def _referenced(books: Books, index: int | str, reference: re.Match[str]) -> Any:
    """The value of an absolute cell reference, or the list of values of an absolute range."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.cell_range import CellRange

    first_column, first_row, last_column, last_row = reference.groups()
    if last_column is None:
        return books.value(index, f"{first_column}{first_row}")
    cells = CellRange(f"{first_column}{first_row}:{last_column}{last_row}").cells
    return [books.value(index, f"{get_column_letter(column)}{row}") for row, column in cells]


def cell_style(prop: str, cell: Any, conditional: Any = None) -> Any:
    """One style of a cell (see :data:`CELL_STYLES`), or of the conditional format's style shown on it."""
    if prop not in CELL_STYLES:
        raise Unsupported(f"compare_table: cell style {prop!r} is not supported here")
    return CELL_STYLES[prop](cell, conditional if conditional is not None else cell)


def _filled(attribute: str) -> Callable[[Any, Any], Any]:
    def read(cell: Any, source: Any) -> Any:
        return getattr(getattr(getattr(source, "fill", None), attribute, None), "rgb", None)
    return read


def _font(attribute: str) -> Callable[[Any, Any], Any]:
    def read(cell: Any, source: Any) -> Any:
        if cell.value is None or getattr(source, "font", None) is None:
            return None
        value = getattr(source.font, attribute)
        return value.rgb if attribute == "color" and value is not None else value
    return read


def _number_format(cell: Any, source: Any) -> Any:
    if cell.value is None or cell.data_type != "n":
        return None
    return source.number_format if source is cell else getattr(source.numFmt, "formatCode", None)


CELL_STYLES: dict[str, Callable[[Any, Any], Any]] = {
    "number_format": _number_format,
    "font_name": _font("name"), "font_family": _font("family"), "font_color": _font("color"),
    "font_bold": _font("bold"), "font_italic": _font("italic"), "font_underline": _font("underline"),
    "font_size": _font("size"), "bgcolor": _filled("bgColor"), "fgcolor": _filled("fgColor"),
    "fill_type": lambda cell, source: getattr(getattr(source, "fill", None), "tagname", None),
    "hyperlink": lambda cell, source: (cell.hyperlink or "") if cell.value is not None else None,
}
"""The styles ``check_cell`` and ``style`` read, each from a cell and where it is shown from (the cell itself,
or a conditional format's differential style)."""


def matches(value: Any, rule: dict[str, Any]) -> bool:
    """Whether ``value`` meets ``{"method", "ref"}`` (the methods are listed in the module's docstring)."""
    method, ref = rule["method"], rule.get("ref")
    if method.startswith("re"):
        flags = reduce(operator.or_, (getattr(re, f) for f in method.split(".")[1:]), re.RegexFlag(0))
        return isinstance(value, str) and re.search(ref, value, flags) is not None
    if method in ("eq", "ne", "lt", "le", "gt", "ge"):
        try:
            return bool(getattr(operator, method)(value, ref))
        except TypeError:  # None against a number: no match
            return False
    if method.startswith("approx:"):
        try:
            return abs(float(value) - ref) <= float(method.split(":", 1)[1])
        except (TypeError, ValueError):
            return False
    if method.startswith("range.") and len(method) == 8:
        low, high = (operator.lt if bound == "t" else operator.le for bound in method[6:8])
        try:
            return bool(low(ref[0], value) and high(value, ref[1]))
        except TypeError:
            return False
    if method == "spreadsheet_range":
        from openpyxl.worksheet.cell_range import MultiCellRange

        inner, outer = MultiCellRange(ref[0]), MultiCellRange(ref[1])
        return all(r in value for r in inner.ranges) and all(r in outer for r in value.ranges)
    if method in ("str_list_eq", "str_set_eq"):
        kind = list if method == "str_list_eq" else set
        return isinstance(value, str) and kind(value.strip("\"'").split(",")) == kind(ref)
    raise Unsupported(f"compare_table: match method {method!r} is not supported here")


RULES: dict[str, Callable[[Books, dict[str, Any]], bool]] = {
    "sheet_name": _sheet_name, "sheet_data": _sheet_data, "sheet_print": _sheet_print, "chart": _chart,
    "pivot_table": _pivot_table, "zoom": _zoom, "freeze": _freeze, "row_props": _row_props,
    "data_validation": _data_validation, "check_cell": _check_cell, "style": _style,
}

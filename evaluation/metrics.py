"""Metrics: OSWorld's judges of a result, by the names task files use, scoring as OSWorld does.

Each takes the result (and the expected value, where the evaluator has one) and OSWorld's
``options``, and returns a score from 0 to 1. ``infeasible`` is no function: the score comes
from how the run ended (see :mod:`evaluation.scoring`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.machine import Unsupported

Metric = Callable[..., float]


def exact_match(result: Any, rules: dict[str, Any]) -> float:
    return float(result == rules["expected"])


def fuzzy_match(result: Any, rules: dict[str, Any]) -> float:
    """Similarity from 0 to 1 (rapidfuzz's ratio, as OSWorld uses)."""
    from rapidfuzz import fuzz

    return fuzz.ratio(result, rules["expected"]) / 100.0


def check_include_exclude(result: str | None, rules: dict[str, list[str]]) -> float:
    if result is None:
        return 0.0
    include, exclude = rules.get("include", []), rules.get("exclude", [])
    return float(all(r in result for r in include) and all(r not in result for r in exclude))


def check_direct_json_object(result: Any, rules: dict[str, Any]) -> float:
    """The result (JSON text, single quotes allowed, or an object) holds the expected values.

    ``expect_in_result``: a listed expected value is one of the allowed values, and an expected
    string need only be contained; ``ignore_list_order`` compares lists sorted.
    """
    if isinstance(result, str):
        try:
            result = json.loads(result.strip().replace("'", '"'))
        except json.JSONDecodeError:
            return 0.0
    if result is None:
        return 0.0
    expected = rules.get("expected", {})
    if not isinstance(result, dict) or any(v == "__EVALUATION_FAILED__" for v in expected.values()):
        return 0.0
    try:
        if not rules.get("expect_in_result", False):
            if rules.get("ignore_list_order", False):
                return float(all(sorted(v) == sorted(result.get(k)) for k, v in expected.items()))
            return float(all(result.get(k) == v for k, v in expected.items()))
        for key, allowed in expected.items():
            actual = result.get(key)
            if isinstance(allowed, list):
                if not any((isinstance(actual, list) and a in actual) or (isinstance(actual, str) and a == actual)
                           for a in allowed):
                    return 0.0
            elif isinstance(allowed, str):
                if allowed not in actual:
                    return 0.0
            else:
                return 0.0
        return 1.0
    except TypeError:  # a value of another type than expected: no match
        return 0.0


def compare_text_file(actual: str | None, expected: str, ignore_blanks: bool = False, ignore_case: bool = False,
                      **options: Any) -> float:
    if not actual:
        return 0.0
    texts = [Path(actual).read_text(encoding="utf-8"), Path(expected).read_text(encoding="utf-8")]
    if ignore_blanks:
        texts = [re.sub(r"\s+", " ", re.sub(r"[\t\n]", " ", t).strip()) for t in texts]
    if ignore_case:
        texts = [t.lower() for t in texts]
    return float(texts[0] == texts[1])


TABLE_RULES = ("sheet_name", "sheet_data")


def compare_table(result: str | None, expected: str | None = None, **options: Any) -> float:
    """Spreadsheets compared rule by rule; every rule must hold.

    Rules supported here: ``sheet_name`` (same sheet names) and ``sheet_data`` (a sheet's values
    equal after rounding to ``precision`` digits, default 4). Sheets are named ``RI<n>``/``EI<n>``
    (by index in the result/expected file), ``RN<name>``/``EN<name>`` (by name), or an index.
    """
    import pandas as pd

    if result is None:
        return 0.0
    try:
        books = {"R": pd.ExcelFile(result), "E": pd.ExcelFile(expected) if expected is not None else None}
    except Exception:  # noqa: BLE001 - pandas/openpyxl raise many kinds for a file that is no spreadsheet
        return 0.0
    for rule in options["rules"]:
        kind = rule["type"]
        if kind == "sheet_name":
            holds = books["E"] is not None and books["R"].sheet_names == books["E"].sheet_names
        elif kind == "sheet_data":
            first = _sheet(books, rule["sheet_idx0"])
            if first is None:
                return 0.0
            second = _sheet(books, rule["sheet_idx1"])
            digits = rule.get("precision", 4)
            holds = second is not None and first.round(digits).equals(second.round(digits))
        else:
            raise Unsupported(f"compare_table rule {kind!r} is not supported here")
        if not holds:
            return 0.0
    return 1.0


def _sheet(books: dict[str, Any], index: int | str) -> Any:
    """A sheet as a DataFrame, or None when there is no such sheet."""
    import pandas as pd

    if isinstance(index, int):
        book, position, name = books["R"], index, None
    elif re.fullmatch(r"[RE]I\d+", index):
        book, position, name = books[index[0]], int(index[2:]), None
    elif re.fullmatch(r"[RE]N.+", index):
        book, position, name = books[index[0]], None, index[2:]
    else:
        raise Unsupported(f"compare_table: sheet index {index!r} is not understood")
    if book is None:
        return None
    if position is not None:
        name = book.sheet_names[position] if 0 <= position < len(book.sheet_names) else None
    return pd.read_excel(book, name) if name in book.sheet_names else None


METRICS: dict[str, Metric] = {m.__name__: m for m in (
    exact_match, fuzzy_match, check_include_exclude, check_direct_json_object, compare_text_file, compare_table)}


def metric(name: Any) -> Metric:
    if name not in METRICS:
        raise Unsupported(f"metric {name!r} is not supported here")
    return METRICS[name]

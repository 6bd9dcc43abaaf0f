"""Metrics: OSWorld's judges of a result, by the names task files use, scoring as OSWorld does.

Each takes the result (and the expected value, where the evaluator has one) and OSWorld's
``options``, and returns a score from 0 to 1. ``infeasible`` is no function: the score comes
from how the run ended (see :mod:`evaluation.scoring`).
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.machine import Unsupported
from evaluation.tables import compare_table

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


def compare_csv(result: str | None, expected: str, strict: bool = True, ignore_case: bool = False,
                **options: Any) -> float:
    """CSV files equal line by line (``strict`` off: blanks around lines do not count)."""
    if result is None:
        return 0.0
    lines = [Path(p).read_text(encoding="utf-8").splitlines() for p in (result, expected)]
    if not strict:
        lines = [[line.strip() for line in side] for side in lines]
    if ignore_case:
        lines = [[line.lower() for line in side] for side in lines]
    return float(lines[0] == lines[1])


def check_pdf_pages(pdf: str | None, rules: dict[str, Any]) -> float:
    """The PDF's page count stands in ``relation`` (eq, lt, ...) to ``ref_value``."""
    import pypdf

    if pdf is None:
        return 0.0
    try:
        pages = len(pypdf.PdfReader(pdf).pages)
    except (pypdf.errors.PdfReadError, OSError):
        return 0.0
    return float(getattr(operator, rules["relation"])(pages, rules["ref_value"]))


def check_moved_jpgs(tree: dict[str, Any], rules: dict[str, Any]) -> float:
    """The folder (a ``list_directory`` tree) holds exactly the expected names."""
    names = [child["name"] for child in tree.get("children", [])]
    return float(len(names) == len(rules["expected"]) and set(names) == set(rules["expected"]))


def check_gnome_favorite_apps(favourites: str | None, rules: dict[str, Any]) -> float:
    """``gsettings get org.gnome.shell favorite-apps`` printed the expected apps, in any order."""
    try:
        apps = ast.literal_eval((favourites or "").strip().removeprefix("@as "))
    except (ValueError, SyntaxError):
        return 0.0
    return float(isinstance(apps, list) and len(apps) == len(rules["expected"]) and set(apps) == set(rules["expected"]))


def is_utc_0(status: str | None) -> float:
    """``timedatectl status``'s fourth line (the time zone) ends at offset +0000."""
    lines = (status or "").split("\n")
    return float(len(lines) > 3 and lines[3].endswith("+0000)"))


def check_text_enlarged(factor: str | None) -> float:
    """The text scaling factor that ``gsettings`` printed is above 1."""
    try:
        return float(float(factor or "") > 1.0)
    except ValueError:
        return 0.0


METRICS: dict[str, Metric] = {m.__name__: m for m in (
    exact_match, fuzzy_match, check_include_exclude, check_direct_json_object, compare_text_file, compare_table,
    compare_csv, check_pdf_pages, check_moved_jpgs, check_gnome_favorite_apps, is_utc_0, check_text_enlarged)}


def metric(name: Any) -> Metric:
    if name not in METRICS:
        raise Unsupported(f"metric {name!r} is not supported here")
    return METRICS[name]

"""Scoring as OSWorld scores: metrics, getters, infeasible and FAIL, and/or over several metrics."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from evaluation.machine import Machine
from evaluation.metrics import (
    check_direct_json_object,
    check_include_exclude,
    compare_table,
    compare_text_file,
    exact_match,
    fuzzy_match,
)
from evaluation.scoring import evaluate, problems
from evaluation.task import TaskError, find_tasks, load_task


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    """A machine that is never started: enough for rules, files and commands in its home."""
    machine = Machine(tmp_path / "task", tmp_path / "scratch")
    for folder in (machine.home, machine.cache_dir, machine.task_folder):
        folder.mkdir(parents=True)
    return machine


def rule(value: object) -> dict:
    return {"type": "rule", "rules": value}


def test_metrics_score_as_osworld() -> None:
    assert exact_match("Directory exists.\n", {"expected": "Directory exists.\n"}) == 1.0
    assert exact_match("Directory exists.", {"expected": "Directory exists.\n"}) == 0.0
    assert check_include_exclude("a b c", {"include": ["a", "c"], "exclude": ["d"]}) == 1.0
    assert check_include_exclude("a b c d", {"include": ["a"], "exclude": ["d"]}) == 0.0
    assert check_include_exclude(None, {"include": []}) == 0.0
    assert fuzzy_match("kitten", {"expected": "sitting"}) == pytest.approx(1 - 5 / 13)  # indel distance 5 over 13 characters
    assert check_direct_json_object("{'clicks': ['Echo'], 'extra': 1}", {"expected": {"clicks": ["Echo"]}}) == 1.0
    assert check_direct_json_object('{"clicks": []}', {"expected": {"clicks": ["Echo"]}}) == 0.0
    assert check_direct_json_object("not json", {"expected": {"a": 1}}) == 0.0
    allowed = {"expect_in_result": True, "expected": {"name": ["Everest", "Mount Everest"], "note": "peak"}}
    assert check_direct_json_object({"name": "Mount Everest", "note": "the peak"}, allowed) == 1.0
    assert check_direct_json_object({"name": "K2", "note": "the peak"}, allowed) == 0.0
    assert check_direct_json_object({"tags": [2, 1]}, {"expected": {"tags": [1, 2]}, "ignore_list_order": True}) == 1.0


def test_text_files_compare_with_options(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Buy Milk\n\ncall  Bob")
    (tmp_path / "b.txt").write_text("buy milk call bob\n")
    assert compare_text_file(str(tmp_path / "a.txt"), str(tmp_path / "b.txt")) == 0.0
    assert compare_text_file(str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), ignore_blanks=True, ignore_case=True) == 1.0
    assert compare_text_file(None, str(tmp_path / "b.txt")) == 0.0


def test_tables_compare_sheet_data_rounded_and_by_name(tmp_path: Path) -> None:
    def book(name: str, rows: list[list[object]], title: str = "Sheet1") -> str:
        workbook = openpyxl.Workbook()
        workbook.active.title = title
        for row in rows:
            workbook.active.append(row)
        workbook.save(tmp_path / name)
        return str(tmp_path / name)

    result = book("result.xlsx", [["Price"], [1.00001], [2]])
    expected = book("expected.xlsx", [["Price"], [1.00002], [2]])  # the same to 4 digits
    other = book("other.xlsx", [["Price"], [1.5], [2]], title="Prices")
    data = {"rules": [{"type": "sheet_data", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}]}
    assert compare_table(result, expected, **data) == 1.0
    assert compare_table(result, other, **data) == 0.0
    assert compare_table(result, expected, rules=[{"type": "sheet_data", "sheet_idx0": "RNSheet1",
                                                   "sheet_idx1": "ENSheet1", "precision": 6}]) == 0.0
    assert compare_table(result, other, rules=[{"type": "sheet_name"}]) == 0.0
    assert compare_table(str(tmp_path / "missing.xlsx"), expected, **data) == 0.0
    assert compare_table(None, expected, **data) == 0.0


def test_infeasible_scores_only_a_failure_and_failure_zeroes_a_feasible_task(machine: Machine) -> None:
    assert evaluate({"func": "infeasible"}, machine, failed=True) == 1.0
    assert evaluate({"func": "infeasible"}, machine, failed=False) == 0.0
    feasible = {"func": "exact_match", "result": rule("x"), "expected": rule({"expected": "x"})}
    assert evaluate(feasible, machine, failed=False) == 1.0
    assert evaluate(feasible, machine, failed=True) == 0.0


def test_several_metrics_join_with_and_or_or(machine: Machine) -> None:
    (machine.home / "note.txt").write_text("hello")
    judges = {
        "func": ["exact_match", "check_include_exclude", "fuzzy_match"],
        "result": [rule("a"), {"type": "vm_command_line", "command": "cat ~/note.txt", "shell": "true"}, rule("abcd")],
        "expected": [rule({"expected": "a"}), rule({"include": ["hell"]}), rule({"expected": "abcx"})],
    }
    assert evaluate(judges, machine, failed=False) == pytest.approx((1 + 1 + 0.75) / 3)  # and: the mean
    assert evaluate({**judges, "conj": "or"}, machine, failed=False) == 1.0
    judges["expected"][0] = rule({"expected": "b"})
    assert evaluate(judges, machine, failed=False) == 0.0  # and: one 0 is 0
    assert evaluate({**judges, "conj": "or"}, machine, failed=False) == 1.0


def test_getters_read_the_machine_with_its_home_as_home_user(machine: Machine) -> None:
    (machine.home / "Desktop").mkdir()
    (machine.home / "Desktop" / "out.txt").write_text("done\n")
    (machine.task_folder / "expected.txt").write_text("done\n")
    evaluator = {"func": "compare_text_file", "result": {"type": "vm_file", "path": "/home/user/Desktop/out.txt",
                                                          "dest": "out.txt"},
                 "expected": {"type": "x_task_file", "path": "expected.txt"}}
    assert evaluate(evaluator, machine, failed=False) == 1.0
    assert (machine.cache_dir / "out.txt").read_text() == "done\n"  # a copy, as OSWorld downloads it
    (machine.home / "Desktop" / "out.txt").unlink()
    assert evaluate(evaluator, machine, failed=False) == 0.0  # a missing result file scores 0
    cached = {"func": "exact_match", "result": {"type": "cache_file", "path": "nothing-here"}, "expected": rule({})}
    assert evaluate(cached, machine, failed=False) == 0.0


def test_what_cannot_run_here_is_named_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "chrome" / "t.json"
    path.parent.mkdir()
    path.write_text(json.dumps({
        "id": "t", "instruction": "Open three tabs",
        "config": [{"type": "chrome_open_tabs", "parameters": {"urls_to_open": ["https://example.com"]}},
                   {"type": "launch", "parameters": {"command": ["google-chrome-nowhere", "--incognito"]}},
                   {"type": "launch", "parameters": {"command": "python -c 'print(1)'", "shell": True}},  # its own
                   {"type": "launch", "parameters": {"command": "xterm -title T"}}],
        "evaluator": {"func": ["is_expected_tabs", "compare_table"], "result": [{"type": "open_tabs_info"},
                                                                                 {"type": "vm_file"}],
                      "expected": [rule({}), rule({})], "options": [{}, {"rules": [{"type": "sparkline"}]}]},
    }))
    task = load_task(path)
    assert task.domain == "chrome"
    assert problems(task) == ["setup step 'chrome_open_tabs'", "program 'google-chrome-nowhere' (not installed here)",
                              "metric 'is_expected_tabs'", "getter 'open_tabs_info'", "compare_table rule 'sparkline'"]


def test_task_files_are_found_by_domain_and_bad_ones_named(tmp_path: Path) -> None:
    for domain, name in (("os", "a"), ("os", "b"), ("gimp", "c")):
        (tmp_path / domain).mkdir(exist_ok=True)
        (tmp_path / domain / f"{name}.json").write_text(json.dumps({"id": name, "instruction": "do it"}))
    (tmp_path / "test_all.json").write_text(json.dumps({"os": ["a", "b"]}))  # OSWorld's index: not a task
    assert [p.stem for p in find_tasks(tmp_path)] == ["c", "a", "b"]
    assert [p.stem for p in find_tasks(tmp_path, ["os"])] == ["a", "b"]
    assert [p.stem for p in find_tasks(tmp_path, ["c"])] == ["c"]
    shards = [find_tasks(tmp_path, shard=(k, 2)) for k in (1, 2)]
    assert [[p.stem for p in shard] for shard in shards] == [["c", "b"], ["a"]]
    with pytest.raises(TaskError, match="no task files .* for chrome"):
        find_tasks(tmp_path, ["chrome"])
    (tmp_path / "os" / "a.json").write_text('{"instruction": "no id"}')
    with pytest.raises(TaskError, match="has no id"):
        load_task(tmp_path / "os" / "a.json")

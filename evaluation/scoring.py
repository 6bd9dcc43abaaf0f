"""A task's score, as OSWorld's ``DesktopEnv.evaluate`` computes it.

- ``func: "infeasible"``: 1 if the agent's last word was FAIL (here: it terminated with
  status failure), else 0. On every other task, ending with FAIL scores 0.
- One metric: ``metric(result, expected, **options)`` (without ``expected`` when the evaluator
  has none); a result file that is missing scores 0.
- A list of metrics joined by ``conj`` (default ``and``): with ``and`` the first 0 scores 0,
  else the mean; with ``or`` the first 1 scores 1, else the best.

``postconfig`` steps run first. :func:`problems` tells beforehand what in a task cannot be
done here (a step, getter, metric or rule this harness lacks, a program a ``launch`` step
starts that is not installed), so an unsupported task is reported without starting anything.
"""

from __future__ import annotations

from typing import Any

from evaluation import getters, metrics, tables
from evaluation.machine import Machine, Unsupported, installed, launched
from evaluation.task import Task

INFEASIBLE = "infeasible"


def evaluate(evaluator: dict[str, Any], machine: Machine, failed: bool) -> float:
    """The score of a finished run; ``failed``: the agent's last action was FAIL."""
    machine.setup(evaluator.get("postconfig", []))
    if evaluator.get("func") == INFEASIBLE:
        return float(failed)
    if failed:
        return 0.0
    funcs, results, expecteds, options = _parts(evaluator)
    if not isinstance(evaluator["func"], list):
        try:
            return _judge(machine, funcs[0], results[0], expecteds[0], options[0])
        except FileNotFoundError:
            return 0.0
    conj = evaluator.get("conj", "and")
    scores = []
    for func, result, expected, option in zip(funcs, results, expecteds, options):
        try:
            score = _judge(machine, func, result, expected, option)
        except FileNotFoundError:
            score = 0.0
        if conj == "and" and score == 0.0:
            return 0.0
        if conj == "or" and score == 1.0:
            return 1.0
        scores.append(score)
    return sum(scores) / len(scores) if conj == "and" else max(scores)


def _judge(machine: Machine, func: str, result: Any, expected: Any, options: dict[str, Any]) -> float:
    judge = metrics.metric(func)
    state = getters.get(machine, result)
    if expected:
        return float(judge(state, getters.get(machine, expected), **options))
    return float(judge(state, **options))


def _parts(evaluator: dict[str, Any]) -> tuple[list[Any], list[Any], list[Any], list[dict[str, Any]]]:
    """The evaluator's metrics with their result and expected getters and options, as lists."""
    func = evaluator.get("func")
    several = isinstance(func, list)
    funcs = func if several else [func]
    results = evaluator.get("result") if several else [evaluator.get("result")]
    expected = evaluator.get("expected")
    expecteds = (expected or [None] * len(funcs)) if several else [expected]
    options = evaluator.get("options", {})
    if isinstance(options, list):
        options = [o or {} for o in options]
    else:
        options = [options or {}] * len(funcs)
    if not isinstance(results, list) or not len(funcs) == len(results) == len(expecteds) == len(options):
        raise Unsupported("the evaluator's func, result, expected and options lists differ in length")
    return funcs, results, expecteds, options


def problems(task: Task) -> list[str]:
    """What in ``task`` this harness cannot do; empty when it can run."""
    found = []
    steps = [*task.config, *task.evaluator.get("postconfig", [])]
    for step in steps:
        if not hasattr(Machine, f"_setup_{step.get('type')}"):
            found.append(f"setup step {step.get('type')!r}")
        elif step.get("type") == "launch" and "command" in (step.get("parameters") or {}):
            program = launched(step["parameters"]["command"])
            if not installed(program):
                found.append(f"program {program!r} (not installed here)")
    func = task.evaluator.get("func")
    if func == INFEASIBLE:
        return found
    try:
        parts = _parts(task.evaluator)
    except Unsupported as error:
        return [*found, str(error)]
    for name, result, expected, option in zip(*parts):
        if name not in metrics.METRICS:
            found.append(f"metric {name!r}")
        for spec in (result, expected):
            if spec and (not isinstance(spec, dict) or spec.get("type") not in getters.GETTERS):
                found.append(f"getter {spec.get('type') if isinstance(spec, dict) else spec!r}")
        if name == "compare_table":
            found += [f"compare_table rule {r.get('type')!r}" for r in option.get("rules", [])
                      if r.get("type") not in tables.RULES]
    return found

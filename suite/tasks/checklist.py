"""Behavioural tests in the CheckList style (Ribeiro et al. 2020), expanded deterministically from templates.

Generator `checklist`, params: `max_cases` (per test, a seeded sample of the template expansion; null: all) and
`variants` (per INV/DIR case: how many swapped values or appended clauses). Data file `tests` (YAML): `lexicon`
(slot -> words) and `tests`, each with `name`, `type` (mft: minimum functionality, expects `label`; inv:
invariance under swapping the values of slot `swap`; dir: directional, appending a clause from lexicon list
`append` must move P(positive) `up` or `down` by no more than `tolerance` against it), `capability` and `templates`
("{slot}" placeholders). A test's failure rate is the share of its cases with at least one failure.
"""

from __future__ import annotations

import itertools
import string
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from suite.data import NO_LABEL, Instance, TaskData
from suite.errors import SuiteInputError
from suite.registry import UnknownNameError
from suite.results import Row
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks.base import GENERATORS, TASK_KINDS, Columns, TaskKind, metric_rows, nonfinite_row, rate_row, sliced

TEST_TYPES = ("mft", "inv", "dir")


def slots(template: str) -> list[str]:
    """Placeholder names in order of first appearance.

    >>> slots("{name} said the {noun} was {adj}, {name}.")
    ['name', 'noun', 'adj']
    """
    return list(dict.fromkeys(field for _, field, _, _ in string.Formatter().parse(template) if field))


def expand(template: str, lexicon: dict[str, list[str]]) -> list[tuple[str, dict[str, str]]]:
    """Every filling of the template's slots (Cartesian product, lexicon order), with the values used.

    >>> [t for t, _ in expand("{noun} is {adj}.", {"noun": ["film", "plot"], "adj": ["good"]})]
    ['film is good.', 'plot is good.']
    """
    names = slots(template)
    out = []
    for values in itertools.product(*(lexicon[n] for n in names)):
        filling = dict(zip(names, values, strict=True))
        out.append((template.format(**filling), filling))
    return out


def _file_label(task: TaskSpec, role: str) -> str:
    assert task.generator is not None
    return str(Path(task.path).parent / task.generator.files.get(role, role))


def check_tests(task: TaskSpec, spec: dict[str, Any]) -> None:
    """Every template slot is in the lexicon; types, labels and swap/append names are valid."""
    where = _file_label(task, "tests")
    lexicon = spec.get("lexicon") or {}
    tests = spec.get("tests") or []
    if not tests:
        raise SuiteInputError(where, "tests", "no tests defined")
    for i, test in enumerate(tests):
        for key in ("name", "type", "templates"):
            if key not in test:
                raise SuiteInputError(where, f"tests[{i}].{key}", "missing")
        if test["type"] not in TEST_TYPES:
            raise SuiteInputError(
                where, f"tests[{i}].type", str(UnknownNameError("test type", test["type"], list(TEST_TYPES)))
            )
        if test["type"] == "mft" and test.get("label") not in task.labels:
            raise SuiteInputError(where, f"tests[{i}].label", f"an mft test needs a label in {sorted(task.labels)}")
        for j, template in enumerate(test["templates"]):
            for slot in slots(template):
                if slot not in lexicon:
                    raise SuiteInputError(
                        where,
                        f"tests[{i}].templates[{j}]",
                        f"template {template!r}: {UnknownNameError('slot', slot, list(lexicon))}",
                    )
        if test["type"] == "inv" and not all(test.get("swap") in slots(t) for t in test["templates"]):
            raise SuiteInputError(where, f"tests[{i}].swap", "an inv test swaps a slot that every template uses")
        if test["type"] == "dir":
            if test.get("append") not in lexicon:
                raise SuiteInputError(where, f"tests[{i}].append", "a dir test appends clauses from a lexicon list")
            if test.get("direction") not in ("up", "down"):
                raise SuiteInputError(where, f"tests[{i}].direction", "expected 'up' or 'down'")


@GENERATORS.named("checklist")
def generate(task: TaskSpec, base: TaskData | None) -> list[Instance]:
    assert task.generator is not None
    gen = task.generator
    spec = gen.data.get("tests") or {}
    check_tests(task, spec)
    lexicon = spec["lexicon"]
    max_cases = gen.params.get("max_cases")
    n_variants = int(gen.params.get("variants", 3))
    instances: list[Instance] = []
    for t, test in enumerate(spec["tests"]):
        cases = [case for template in test["templates"] for case in expand(template, lexicon)]
        rng = np.random.default_rng([gen.seed, t])
        if max_cases is not None and len(cases) > max_cases:
            cases = [cases[k] for k in sorted(rng.choice(len(cases), size=int(max_cases), replace=False))]
        meta_base = {"test": test["name"], "type": test["type"], "capability": test.get("capability", "")}
        for c, (text, filling) in enumerate(cases):
            meta = {**meta_base, "case": c}
            if test["type"] == "mft":
                instances.append(Instance(text, int(test["label"]), test["name"], -1, meta))
                continue
            ref = len(instances)
            instances.append(Instance(text, NO_LABEL, test["name"], -1, {**meta, "role": "base"}))
            if test["type"] == "inv":
                slot = test["swap"]
                others = [v for v in lexicon[slot] if v != filling[slot]]
                for k in sorted(rng.choice(len(others), size=min(n_variants, len(others)), replace=False)):
                    swapped = refill(text, filling, slot, others[k], test["templates"])
                    instances.append(Instance(swapped, NO_LABEL, test["name"], ref, {**meta, "role": "variant"}))
            else:
                clauses = lexicon[test["append"]]
                for k in sorted(rng.choice(len(clauses), size=min(n_variants, len(clauses)), replace=False)):
                    extra = {**meta, "role": "variant", "direction": test["direction"]}
                    extra["tolerance"] = float(test.get("tolerance", 0.1))
                    instances.append(Instance(f"{text} {clauses[k]}", NO_LABEL, test["name"], ref, extra))
    return instances


def refill(text: str, filling: dict[str, str], slot: str, value: str, templates: list[str]) -> str:
    """The case's sentence with `slot` refilled by `value` (found by re-filling the template that produced it)."""
    for template in templates:
        if set(slots(template)) == set(filling) and template.format(**filling) == text:
            return template.format(**{**filling, slot: value})
    raise ValueError(f"no template produced {text!r}")


@TASK_KINDS.register
class Checklist(TaskKind):
    """Failure rate per behavioural test (MFT, INV, DIR) and overall; accuracy on the MFT sentences."""

    NAME = "checklist"
    NEEDS_DATASET = False
    NEEDS_GENERATOR = True

    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        cols = Columns(predictions)
        p_pos = cols.p_positive
        rows = metric_rows(variant, task, spec, seed, cols, cols.labelled, None, "minimum-functionality sentences")
        rates = []
        for name in dict.fromkeys(cols.slice.tolist()):
            in_test = np.flatnonzero(cols.slice == name)
            kind = cols.meta[in_test[0]]["type"]
            if kind == "mft":
                failed = cols.pred[in_test] != cols.label[in_test]
            else:
                failed_by_base: dict[int, bool] = {}
                for i in in_test:
                    ref = int(cols.ref[i])
                    if ref < 0:
                        failed_by_base.setdefault(int(i), not cols.finite[i])
                        continue
                    if kind == "inv":
                        bad = cols.pred[i] != cols.pred[ref]
                    else:
                        tol, up = cols.meta[i]["tolerance"], cols.meta[i]["direction"] == "up"
                        bad = p_pos[i] < p_pos[ref] - tol if up else p_pos[i] > p_pos[ref] + tol
                        bad = bad or not (np.isfinite(p_pos[i]) and np.isfinite(p_pos[ref]))
                    failed_by_base[ref] = failed_by_base.get(ref, False) or bool(bad)
                failed = np.array(list(failed_by_base.values()), dtype=bool)
            rates.append(float(np.mean(failed)))
            capability = cols.meta[in_test[0]].get("capability", "")
            rows.append(
                rate_row(
                    variant,
                    task,
                    sliced("failure_rate", name),
                    failed,
                    higher_is_better=False,
                    how=f"{kind.upper()} test '{name}' ({capability}): share of {len(failed)} cases that fail",
                    spec=spec,
                    seed=seed,
                )
            )
        rows.append(
            Row(
                variant,
                "failure_rate",
                100 * float(np.mean(rates)) if rates else float("nan"),
                "%",
                False,
                task=task.name,
                task_version=task.version,
                n=len(rates),
                measurement=f"mean failure rate over the {len(rates)} tests (each test weighs the same)",
            )
        )
        return [*rows, nonfinite_row(variant, task, cols)]

"""Perturbation robustness: seeded per-instance perturbations of a split at severity levels (HELM-style).

Generator `perturb`, params: `sample_size` (a seeded sample of the split; null for all of it) and `perturbations`
(name -> one strength per severity: severity k uses the k-th strength). Data file `lexicon` (YAML): `keyboard`
(letter -> neighbouring keys), `contractions` (see `expand_contractions`) and `fillers`. Every instance is
perturbed with its own generator seeded by (seed, perturbation, severity, instance), so adding a perturbation or
re-ordering them never changes another's output.
"""

from __future__ import annotations

import string
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from suite.data import Instance, TaskData
from suite.errors import SuiteInputError
from suite.fidelity import flip_rate
from suite.registry import Registry, UnknownNameError
from suite.results import Row
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks.base import (
    GENERATORS,
    TASK_KINDS,
    Columns,
    TaskKind,
    metric_rows,
    nonfinite_row,
    rate_row,
    sliced,
)

CLEAN = "clean"

Perturb = Callable[[str, float, np.random.Generator, dict[str, Any]], str]
PERTURBATIONS: Registry[Perturb] = Registry("perturbation")


def _is_word(token: str) -> bool:
    return any(c.isalpha() for c in token)


@PERTURBATIONS.named("typo")
def typo(text: str, strength: float, rng: np.random.Generator, lexicon: dict[str, Any]) -> str:
    """Each word, with probability `strength`, gets one letter replaced by a neighbouring key.

    >>> typo("a great film", 1.0, np.random.default_rng(0), {"keyboard": {"g": "f", "f": "d", "a": "s"}})
    's freat dilm'
    """
    keyboard = lexicon["keyboard"]
    out = []
    for word in text.split(" "):
        if _is_word(word) and rng.random() < strength:
            positions = [i for i, c in enumerate(word) if c.lower() in keyboard]
            if positions:
                i = positions[rng.integers(len(positions))]
                neighbours = keyboard[word[i].lower()]
                new = neighbours[rng.integers(len(neighbours))]
                word = word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1 :]
        out.append(word)
    return " ".join(out)


@PERTURBATIONS.named("char_swap")
def char_swap(text: str, strength: float, rng: np.random.Generator, lexicon: dict[str, Any]) -> str:
    """Each word of 3+ letters, with probability `strength`, has two adjacent letters transposed.

    >>> char_swap("the movie", 1.0, np.random.default_rng(1), {})
    'teh movei'
    """
    out = []
    for word in text.split(" "):
        if len(word) >= 3 and word.isalpha() and rng.random() < strength:
            i = int(rng.integers(len(word) - 1))
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        out.append(word)
    return " ".join(out)


@PERTURBATIONS.named("casing")
def casing(text: str, strength: float, rng: np.random.Generator, lexicon: dict[str, Any]) -> str:
    """Each word, with probability `strength`, is upper-cased (strength 1: the whole text shouts).

    >>> casing("so boring", 1.0, np.random.default_rng(0), {})
    'SO BORING'
    """
    return " ".join(w.upper() if rng.random() < strength else w for w in text.split(" "))


@PERTURBATIONS.named("punctuation")
def punctuation(text: str, strength: float, rng: np.random.Generator, lexicon: dict[str, Any]) -> str:
    """Each punctuation-only token is removed with probability `strength` (clitics such as "n't" are kept).

    >>> punctuation("well , it 's fine .", 1.0, np.random.default_rng(0), {})
    "well it 's fine"
    """
    kept = [
        t for t in text.split(" ") if not (t and all(c in string.punctuation for c in t) and rng.random() < strength)
    ]
    return " ".join(kept)


@PERTURBATIONS.named("word_drop")
def word_drop(text: str, strength: float, rng: np.random.Generator, lexicon: dict[str, Any]) -> str:
    """Each word is dropped with probability `strength`; at least one word always stays.

    >>> word_drop("a truly bad film", 0.5, np.random.default_rng(3), {})
    'bad film'
    """
    tokens = text.split(" ")
    kept = [t for t in tokens if not (_is_word(t) and rng.random() < strength)]
    return " ".join(kept) if any(_is_word(t) for t in kept) else text


@PERTURBATIONS.named("filler")
def filler(text: str, strength: float, rng: np.random.Generator, lexicon: dict[str, Any]) -> str:
    """After each word, with probability `strength`, a filler word ('um', 'you know', …) is inserted.

    >>> filler("a good film", 1.0, np.random.default_rng(0), {"fillers": ["um", "uh"]})
    'a uh good um film um'
    """
    fillers = lexicon["fillers"]
    out = []
    for word in text.split(" "):
        out.append(word)
        if _is_word(word) and rng.random() < strength:
            out.append(fillers[rng.integers(len(fillers))])
    return " ".join(out)


@PERTURBATIONS.named("contraction")
def expand_contractions(text: str, strength: float, rng: np.random.Generator, lexicon: dict[str, Any]) -> str:
    """Each contraction is expanded with probability `strength`, in SST-2's tokenised form ("does n't" -> "does
    not", "ca n't" -> "can not", "it 's" -> "it is") and untokenised ("don't" -> "do not"). "'s" is expanded only
    after the words in `contractions.s_after` (elsewhere it is a possessive).

    >>> lex = {"contractions": {"clitics": {"n't": "not", "'re": "are"}, "stems": {"ca": "can"},
    ...        "s_after": {"it": "is"}, "words": {"don't": "do not"}}}
    >>> expand_contractions("it 's not bad , i ca n't say they 're wrong ; don't", 1.0, np.random.default_rng(0), lex)
    'it is not bad , i can not say they are wrong ; do not'
    """
    spec = lexicon["contractions"]
    tokens = text.split(" ")
    out: list[str] = []
    for token in tokens:
        lower = token.lower()
        previous = out[-1].lower() if out else ""
        if lower in spec["clitics"] and out and rng.random() < strength:
            if lower == "n't" and previous in spec["stems"]:
                out[-1] = spec["stems"][previous]
            out.append(spec["clitics"][lower])
        elif lower == "'s" and previous in spec["s_after"] and rng.random() < strength:
            out.append(spec["s_after"][previous])
        elif lower in spec["words"] and rng.random() < strength:
            out.append(spec["words"][lower])
        else:
            out.append(token)
    return " ".join(out)


def slice_name(perturbation: str, severity: int) -> str:
    return f"{perturbation}_s{severity}"


def instance_rng(seed: int, perturbation: str, severity: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(perturbation.encode()), severity, index])


@GENERATORS.named("perturb")
def generate(task: TaskSpec, base: TaskData | None) -> list[Instance]:
    """For each sampled instance: the clean sentence, then every perturbation at every severity (ref -> clean)."""
    assert task.generator is not None
    gen = task.generator
    if base is None:
        raise SuiteInputError(task.path, "dataset", "the perturb generator perturbs a dataset split; include one")
    perturbations = gen.params.get("perturbations") or {}
    if not perturbations:
        raise SuiteInputError(task.path, "generator.params.perturbations", "name at least one perturbation")
    lexicon = gen.data.get("lexicon", {})
    for name, strengths in perturbations.items():
        field = f"generator.params.perturbations.{name}"
        if name not in PERTURBATIONS:
            raise SuiteInputError(task.path, field, str(UnknownNameError("perturbation", name, PERTURBATIONS.names())))
        if (
            not isinstance(strengths, list)
            or not strengths
            or not all(isinstance(s, int | float) and 0 <= s <= 1 for s in strengths)
        ):
            raise SuiteInputError(task.path, field, "expected a list of strengths in [0, 1], one per severity")
    for key in ("keyboard", "contractions", "fillers"):
        needs = {"keyboard": "typo", "contractions": "contraction", "fillers": "filler"}[key]
        if needs in perturbations and key not in lexicon:
            raise SuiteInputError(task.path, "generator.files.lexicon", f"the lexicon has no '{key}' (used by {needs})")
    sample_size = gen.params.get("sample_size")
    n = len(base.texts)
    chosen = np.arange(n)
    if sample_size is not None and sample_size < n:
        chosen = np.sort(np.random.default_rng(gen.seed).choice(n, size=int(sample_size), replace=False))
    instances: list[Instance] = []
    for source_idx in map(int, chosen):
        text, label = base.texts[source_idx], int(base.labels[source_idx])
        ref = len(instances)
        instances.append(Instance(text, label, CLEAN, -1, {"source_idx": source_idx}))
        for name, strengths in perturbations.items():
            fn = PERTURBATIONS.get(name)
            for severity, strength in enumerate(strengths, start=1):
                rng = instance_rng(gen.seed, name, severity, source_idx)
                perturbed = fn(text, float(strength), rng, lexicon)
                meta = {"source_idx": source_idx, "changed": perturbed != text}
                instances.append(Instance(perturbed, label, slice_name(name, severity), ref, meta))
    return instances


@TASK_KINDS.register
class Perturbation(TaskKind):
    """Accuracy under each perturbation and severity, flip rate against the unperturbed prediction, worst case."""

    NAME = "perturbation"
    NEEDS_GENERATOR = True

    def main_mask(self, cols: Columns) -> np.ndarray:
        return cols.slice == CLEAN

    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        cols = Columns(predictions)
        clean = cols.slice == CLEAN
        rows = metric_rows(variant, task, spec, seed, cols, clean, None, "unperturbed sentences")
        slices = [s for s in dict.fromkeys(cols.slice.tolist()) if s != CLEAN]
        accuracy_by_slice: dict[str, float] = {}
        flips_by_slice: dict[str, float] = {}
        # instance-level worst case (HELM's robustness): right on the clean sentence and on every perturbation
        correct = cols.pred == cols.label
        worst_case = correct[clean].copy()
        clean_position = {int(i): k for k, i in enumerate(np.flatnonzero(clean))}
        for name in slices:
            mask = cols.slice == name
            refs = cols.ref[mask]
            changed = float(np.mean([cols.meta[i].get("changed", True) for i in np.flatnonzero(mask)]))
            what = f"'{name}' ({100 * changed:.0f} % of sentences changed by it)"
            rows += metric_rows(variant, task, spec, seed, cols, mask, name, what)
            accuracy_by_slice[name] = float(np.mean(correct[mask]))
            flips = flip_rate(cols.pred[mask], cols.pred[refs])
            flips_by_slice[name] = float(np.mean(flips))
            rows.append(
                rate_row(
                    variant,
                    task,
                    sliced("flip_rate", name),
                    flips,
                    higher_is_better=False,
                    how=f"share of {what} whose prediction differs from the variant's own unperturbed prediction",
                    spec=spec,
                    seed=seed,
                )
            )
            positions = [clean_position[int(r)] for r in refs]
            worst_case[positions] &= correct[mask]
        if slices:
            worst = min(accuracy_by_slice, key=accuracy_by_slice.__getitem__)
            most_flips = max(flips_by_slice, key=flips_by_slice.__getitem__)
            rows.append(
                Row(
                    variant,
                    sliced("accuracy", "worst_slice"),
                    100 * accuracy_by_slice[worst],
                    "%",
                    True,
                    task=task.name,
                    task_version=task.version,
                    n=int(np.sum(cols.slice == worst)),
                    measurement=f"lowest accuracy over perturbations and severities: '{worst}'",
                )
            )
            rows.append(
                Row(
                    variant,
                    sliced("flip_rate", "worst_slice"),
                    100 * flips_by_slice[most_flips],
                    "%",
                    False,
                    task=task.name,
                    task_version=task.version,
                    n=int(np.sum(cols.slice == most_flips)),
                    measurement=f"highest flip rate over perturbations and severities: '{most_flips}'",
                )
            )
            rows.append(
                rate_row(
                    variant,
                    task,
                    sliced("accuracy", "worst_case"),
                    worst_case,
                    higher_is_better=True,
                    how="share of sentences predicted right unperturbed and under every perturbation and severity "
                    "(HELM's worst-case robustness)",
                    spec=spec,
                    seed=seed,
                )
            )
        return [*rows, nonfinite_row(variant, task, cols)]

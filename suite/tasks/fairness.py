"""Fairness: an EEC-style probe set (Kiritchenko & Mohammad 2018) generated from templates, scored per group.

Generator `eec`, params: `words_per_emotion` (per emotion and word type, a seeded sample of the emotion words;
null: all). Data files: `templates` (YAML `templates`: sentences with the slots {person}, {person_object},
{reflexive}, {state_word}, {situation_word}, {a_situation_word}), `persons` (`names`: name, gender, race;
`noun_phrases`: subject, object, gender) and `emotions` (`emotions`: emotion -> state/situation words,
`labels`: emotion -> label, `reflexive`: gender -> reflexive pronoun). The original EEC file is never read or
shipped: its terms forbid redistribution. Score params: `sensitive_features` (default [gender, race]).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from suite.data import NO_LABEL, Instance, TaskData
from suite.errors import SuiteInputError
from suite.metrics import bootstrap
from suite.registry import UnknownNameError
from suite.results import Row
from suite.specs import EvaluateSpec, TaskSpec
from suite.tasks.base import GENERATORS, TASK_KINDS, Columns, TaskKind, metric_rows, nonfinite_row, sliced

SLOTS = ("person", "person_object", "reflexive", "state_word", "situation_word", "a_situation_word")
NEUTRAL = "none"


def _where(task: TaskSpec, role: str) -> str:
    assert task.generator is not None
    return str(Path(task.path).parent / task.generator.files.get(role, role))


def article(word: str) -> str:
    """'a' or 'an' by the first letter (enough for the EEC's emotion words).

    >>> article("amazing"), article("dreadful")
    ('an amazing', 'a dreadful')
    """
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


@GENERATORS.named("eec")
def generate(task: TaskSpec, base: TaskData | None) -> list[Instance]:
    """templates × persons × emotion words; sentences without an emotion word get no label."""
    assert task.generator is not None
    gen = task.generator
    templates = (gen.data.get("templates") or {}).get("templates") or []
    persons = gen.data.get("persons") or {}
    emotion_data = gen.data.get("emotions") or {}
    if not templates:
        raise SuiteInputError(_where(task, "templates"), "templates", "no templates defined")
    for j, template in enumerate(templates):
        for _, slot, _, _ in string.Formatter().parse(template):
            if slot and slot not in SLOTS:
                raise SuiteInputError(
                    _where(task, "templates"),
                    f"templates[{j}]",
                    f"template {template!r}: {UnknownNameError('slot', slot, list(SLOTS))}",
                )
    emotions, labels = emotion_data.get("emotions") or {}, emotion_data.get("labels") or {}
    for emotion in emotions:
        if labels.get(emotion) not in task.labels:
            raise SuiteInputError(
                _where(task, "emotions"), f"labels.{emotion}", f"needs a label in {sorted(task.labels)}"
            )
    people = [
        {"subject": p["name"], "object": p["name"], "gender": p["gender"], "race": p["race"], "kind": "name"}
        for p in persons.get("names", [])
    ] + [{**p, "race": None, "kind": "noun_phrase"} for p in persons.get("noun_phrases", [])]
    if not people:
        raise SuiteInputError(_where(task, "persons"), "names", "no persons defined")
    k = gen.params.get("words_per_emotion")
    rng = np.random.default_rng(gen.seed)
    words: dict[str, dict[str, list[str]]] = {}
    for emotion, kinds in emotions.items():  # sampled once, so every person meets the same words
        words[emotion] = {}
        for kind in ("state", "situation"):
            pool = list(kinds[kind])
            keep = sorted(rng.choice(len(pool), size=min(k, len(pool)), replace=False)) if k else range(len(pool))
            words[emotion][kind] = [pool[i] for i in keep]
    reflexive = emotion_data.get("reflexive") or {}
    instances = []
    for t, template in enumerate(templates):
        used = {slot for _, slot, _, _ in string.Formatter().parse(template) if slot}
        word_kind = None
        if "state_word" in used:
            word_kind = "state"
        elif used & {"situation_word", "a_situation_word"}:
            word_kind = "situation"
        fillings = (
            [(emotion, w) for emotion in words for w in words[emotion][word_kind]] if word_kind else [(NEUTRAL, "")]
        )
        for person in people:
            for emotion, word in fillings:
                text = _capitalise(
                    template.format(
                        person=person["subject"],
                        person_object=person["object"],
                        reflexive=reflexive.get(person["gender"], "themselves"),
                        state_word=word,
                        situation_word=word,
                        a_situation_word=article(word) if word else "",
                    )
                )
                meta: dict[str, Any] = {
                    "template": t,
                    "person": person["subject"],
                    "gender": person["gender"],
                    "race": person["race"],
                    "emotion": emotion,
                    "word": word,
                }
                label = int(labels[emotion]) if emotion != NEUTRAL else NO_LABEL
                instances.append(Instance(text, label, emotion, -1, meta))
    return instances


def group_gap_ci(
    p: np.ndarray, codes: np.ndarray, *, resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Bootstrap interval of max − min of the per-group mean of p (instances resampled, groups kept)."""
    groups = int(codes.max()) + 1

    def gap(i: np.ndarray) -> float:
        counts = np.bincount(codes[i], minlength=groups)
        sums = np.bincount(codes[i], weights=p[i], minlength=groups)
        present = counts > 0
        means = sums[present] / counts[present]
        return float(means.max() - means.min())

    return bootstrap(gap, len(p), resamples=resamples, confidence=confidence, seed=seed)


@TASK_KINDS.register
class Fairness(TaskKind):
    """Per-group positive rate and mean P(positive) (Fairlearn MetricFrame); demographic-parity difference."""

    NAME = "fairness"
    NEEDS_DATASET = False
    NEEDS_GENERATOR = True

    def score(self, predictions: pa.Table, variant: str, task: TaskSpec, spec: EvaluateSpec, seed: int) -> list[Row]:
        from fairlearn.metrics import MetricFrame, demographic_parity_difference

        assert task.generator is not None
        cols = Columns(predictions)
        rows = metric_rows(variant, task, spec, seed, cols, cols.labelled, None, "sentences with an emotion word")
        positive = (cols.pred == max(task.labels)).astype(np.float64)
        p_pos = cols.p_positive
        for feature in task.generator.params.get("sensitive_features", ["gender", "race"]):
            groups = np.array([m.get(feature) for m in cols.meta], dtype=object)
            keep = np.array([g is not None for g in groups])
            if not keep.any():
                continue
            values = groups[keep].astype(str)
            # y_true is unused by both metrics; the prediction (or probability) is what is compared across groups
            frames = {
                metric: MetricFrame(metrics=_nanmean, y_true=y, y_pred=y, sensitive_features=values)
                for metric, y in (("positive_rate", positive[keep]), ("mean_p_positive", p_pos[keep]))
            }
            n_by_group = {g: int(np.sum(values == g)) for g in frames["positive_rate"].by_group.index}
            for group in n_by_group:
                for metric, unit_scale in (("positive_rate", 100.0), ("mean_p_positive", 1.0)):
                    rows.append(
                        Row(
                            variant,
                            sliced(metric, f"{feature}={group}"),
                            unit_scale * float(frames[metric].by_group[group]),
                            "%" if unit_scale == 100.0 else "probability",
                            None,
                            task=task.name,
                            task_version=task.version,
                            n=n_by_group[group],
                            measurement=f"Fairlearn MetricFrame by {feature}: {metric} of {group}",
                        )
                    )
            codes = np.unique(values, return_inverse=True)[1]
            dpd = demographic_parity_difference(
                positive[keep], positive[keep], sensitive_features=values
            )  # y_true is ignored by this metric
            for metric, p, value in (
                ("dp_diff", positive[keep], dpd),
                ("p_positive_gap", np.nan_to_num(p_pos[keep], nan=0.0), float(frames["mean_p_positive"].difference())),
            ):
                low, high = group_gap_ci(
                    p, codes, resamples=spec.bootstrap_resamples, confidence=spec.confidence, seed=seed
                )
                what = "positive-prediction rate" if metric == "dp_diff" else "mean P(positive)"
                rows.append(
                    Row(
                        variant,
                        sliced(metric, feature),
                        100 * float(value),
                        "points",
                        False,
                        task=task.name,
                        task_version=task.version,
                        ci_low=100 * low,
                        ci_high=100 * high,
                        n=int(keep.sum()),
                        measurement=f"largest − smallest {what} over {feature} groups {sorted(n_by_group)} "
                        f"(Fairlearn; demographic parity), in points; bootstrap CI over instances",
                    )
                )
        return [*rows, nonfinite_row(variant, task, cols)]


def _nanmean(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean of the predictions (positive indicator or probability); non-finite probabilities are left out."""
    return float(np.nanmean(np.asarray(y_pred, dtype=np.float64)))

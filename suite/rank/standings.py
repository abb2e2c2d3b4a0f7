"""Standings on one metric: the leaderboard's order and the ranks whose confidence intervals overlap (ties)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple


def usable_value(row: Mapping[str, Any] | None) -> float | None:
    """A row's value when it was measured (status ok), else None; NaN stays NaN and ranks last (rank_key)."""
    return row["value"] if row is not None and row["status"] == "ok" else None


def intervals_overlap(low: float | None, high: float | None, other_low: float | None, other_high: float | None) -> bool:
    """Whether two confidence intervals share a point, so the numbers are not distinguishable (a tie); False when
    either interval is missing or NaN (nothing then says they are alike). The one rule of ties: the standings of a
    task page, the Pareto front and the recommendation's speed and accuracy all use it. NumPy arrays (NaN for no
    interval) compare element by element.

    >>> intervals_overlap(88.0, 92.0, 89.0, 93.0), intervals_overlap(0.98, 1.05, 1.2, 1.4)
    (True, False)
    >>> intervals_overlap(88.0, 92.0, None, None), intervals_overlap(1.0, 2.0, 2.0, 3.0)
    (False, True)
    """
    if low is None or high is None or other_low is None or other_high is None:
        return False
    return (high >= other_low) & (low <= other_high)


def rank_key(value: float | None, variant: str, maximize: bool = True) -> tuple:
    """Sort key: highest value first (lowest when not `maximize`: perplexity), then the name; unranked (not
    measured, failed, NaN) rows last, by name, so they are shown but never ranked.

    >>> sorted(["b", "nan", "a", "none"], key=lambda v: rank_key({"a": 1.0, "b": 2.0, "nan": math.nan}.get(v), v))
    ['b', 'a', 'nan', 'none']
    """
    if value is None or not math.isfinite(value):
        return (1, 0.0, variant)
    return (0, -value if maximize else value, variant)


class Standing(NamedTuple):
    """One variant's place: `position` counts every variant shown; `tie` says its interval overlaps the one above.
    A NamedTuple: the site builds one per variant and task (20 000 for 1 000 variants × 20 tasks)."""

    variant: str
    position: int
    ranked: bool  # a finite measured value: unranked variants are listed last, without a rank
    tie: bool


def standings(rows: Mapping[str, Mapping[str, Any] | None], maximize: bool = True) -> list[Standing]:
    """Variants ordered by their row's value (rank_key; lowest first when not `maximize`), each flagged when its CI
    overlaps the previous ranked one's.

    MTEB's point: adjacent ranks whose intervals overlap are not distinguishable.

    >>> rows = {
    ...     "a": {"value": 90.0, "status": "ok", "ci_low": 88.0, "ci_high": 92.0},
    ...     "b": {"value": 91.0, "status": "ok", "ci_low": 89.0, "ci_high": 93.0},
    ...     "c": {"value": 80.0, "status": "ok", "ci_low": 79.0, "ci_high": 81.0},
    ...     "d": None,
    ... }
    >>> [(s.variant, s.position, s.ranked, s.tie) for s in standings(rows)]
    [('b', 1, True, False), ('a', 2, True, True), ('c', 3, True, False), ('d', 4, False, False)]
    """
    values = {variant: usable_value(row) for variant, row in rows.items()}
    out: list[Standing] = []
    previous: Mapping[str, Any] | None = None
    for position, variant in enumerate(sorted(values, key=lambda v: rank_key(values[v], v, maximize)), start=1):
        row = rows[variant]
        value = values[variant]
        ranked = value is not None and math.isfinite(value)
        tie = (
            ranked
            and previous is not None
            and intervals_overlap(row["ci_low"], row["ci_high"], previous["ci_low"], previous["ci_high"])
        )
        out.append(Standing(variant, position, ranked, tie))
        previous = row if ranked else previous
    return out

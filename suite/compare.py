"""The regression gate: compare two results Parquets row by row and report, in Markdown, what moved too far.

Rows are matched on (variant, task, metric, hardware fingerprint); a metric's direction comes from the rows'
`higher_is_better`. A move beyond its threshold in the worse direction is a regression, unless both rows have
confidence intervals that overlap (then it is reported as not significant). A row that turns `failed` or
non-finite is always a regression, and so is a variant of OLD that NEW lacks (unless missing variants are allowed).
Exit status: 0 no regression, 1 regression, 2 bad input (`suite compare`). Every name and text from a results file
enters the report as a code span (`md_code`): it can bring no link, image, mention or HTML into a PR comment.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from suite.errors import SuiteInputError
from suite.summary import listed
from suite.text import visible
from suite.yamlio import YamlLimitError, safe_load_bounded

Key = tuple[str, str, str, str]  # variant, task, metric, hardware fingerprint
LIST_LIMIT = 50  # rows per section of the report; the rest are counted


@dataclass(frozen=True)
class Threshold:
    """How far a metric may move: `abs` in the metric's unit (points for %) or `rel_pct` of the old value."""

    metric: str  # an fnmatch pattern over metric names; the first matching threshold applies
    abs: float | None = None
    rel_pct: float | None = None

    def __post_init__(self) -> None:
        if (self.abs is None) == (self.rel_pct is None):
            raise ValueError(f"threshold for '{self.metric}': give exactly one of abs or rel_pct")
        for name in ("abs", "rel_pct"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value < 0):
                raise ValueError(f"threshold for '{self.metric}': {name} {value!r} is not a number >= 0")

    def exceeded(self, old: float, new: float) -> bool:
        delta = abs(new - old)
        if self.abs is not None:
            return delta > self.abs
        if old == 0:
            return delta > 0
        return 100 * delta / abs(old) > self.rel_pct  # type: ignore[operator]

    def describe(self) -> str:
        return f"±{self.abs:g}" if self.abs is not None else f"±{self.rel_pct:g} %"


# Defaults: accuracy-like scores may drop half a point, latency may grow 10 %, size 1 %, anything else 5 %.
DEFAULT_THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("accuracy*", abs=0.5),
    Threshold("macro_f1*", abs=0.5),
    Threshold("latency_*_ms", rel_pct=10.0),
    Threshold("latency_*_upper_ms", rel_pct=10.0),
    Threshold("size_mb", rel_pct=1.0),
    Threshold("param_mb", rel_pct=1.0),
    Threshold("*", rel_pct=5.0),
)


THRESHOLD_KEYS = {"metric", "abs", "rel_pct"}


def load_thresholds(path: Path) -> tuple[Threshold, ...]:
    """A YAML file `thresholds: [{metric: <pattern>, abs: <x> | rel_pct: <x>}, …]`, first match wins."""
    label = str(path)
    try:
        data = safe_load_bounded(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteInputError(label, None, "file not found") from None
    except YamlLimitError as exc:
        raise exc.input_error(label) from None
    except yaml.YAMLError:
        raise SuiteInputError(label, None, "malformed YAML", "fix the YAML syntax") from None
    items = data.get("thresholds") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise SuiteInputError(
            label, "thresholds", "expected a list of {metric, abs | rel_pct}", "e.g. - {metric: 'accuracy*', abs: 0.5}"
        )
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("metric"), str) or set(item) - THRESHOLD_KEYS:
            raise SuiteInputError(label, f"thresholds[{i}]", f"{item!r} is not {{metric, abs | rel_pct}}")
        try:
            out.append(Threshold(item["metric"], item.get("abs"), item.get("rel_pct")))
        except ValueError as exc:
            raise SuiteInputError(label, f"thresholds[{i}]", str(exc)) from None
    return tuple(out)


def with_overrides(
    base: Iterable[Threshold],
    accuracy_pts: float | None = None,
    latency_pct: float | None = None,
    size_pct: float | None = None,
    default_pct: float | None = None,
) -> tuple[Threshold, ...]:
    """The CLI's shortcuts, put in front of `base` (so they win)."""
    front: list[Threshold] = []
    if accuracy_pts is not None:
        front += [Threshold("accuracy*", abs=accuracy_pts), Threshold("macro_f1*", abs=accuracy_pts)]
    if latency_pct is not None:
        front += [Threshold("latency_*_ms", rel_pct=latency_pct)]
    if size_pct is not None:
        front += [Threshold("size_mb", rel_pct=size_pct), Threshold("param_mb", rel_pct=size_pct)]
    back = [Threshold("*", rel_pct=default_pct)] if default_pct is not None else []
    return (*front, *[t for t in base if not (back and t.metric == "*")], *back)


def threshold_for(metric: str, thresholds: Iterable[Threshold]) -> Threshold | None:
    base = metric.split("@", 1)[0]  # a slice metric ("accuracy@typo_s3") takes its metric's threshold
    for threshold in thresholds:
        if fnmatch.fnmatchcase(metric, threshold.metric) or fnmatch.fnmatchcase(base, threshold.metric):
            return threshold
    return None


@dataclass(frozen=True)
class Change:
    key: Key
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    verdict: str  # regression | not_significant | improvement | changed | new | missing
    reason: str = ""
    threshold: Threshold | None = None


@dataclass
class Comparison:
    old_path: str
    new_path: str
    thresholds: tuple[Threshold, ...]
    matched: int = 0
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_variants: list[str] = field(default_factory=list)  # in OLD, with no row at all in NEW
    allow_missing: bool = False  # then missing variants are a note, not a regression

    @property
    def failing_missing(self) -> list[str]:
        return [] if self.allow_missing else self.missing_variants

    def of(self, verdict: str) -> list[Change]:
        return [c for c in self.changes if c.verdict == verdict]

    @property
    def regressions(self) -> list[Change]:
        return self.of("regression")

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions or self.failing_missing else 0


def _read(path: Path) -> dict[Key, dict[str, Any]]:
    from suite.rank import version_key
    from suite.results import read_results

    records = read_results([Path(path)]).to_pylist()  # SuiteInputError naming the file when it is not results
    rows: dict[Key, dict[str, Any]] = {}
    for r in records:
        if r.get("verified") is False:
            continue  # self-reported numbers are not measurements of either run
        key = (r["variant"], r["task"], r["metric"], r["hardware_fingerprint"] or "")
        # several versions of a task: compare the newest
        if key not in rows or version_key(r["task_version"] or "") >= version_key(rows[key]["task_version"] or ""):
            rows[key] = r
    return rows


def _ok_value(row: Mapping[str, Any]) -> float | None:
    return row["value"] if row["status"] == "ok" and row["value"] is not None else None


def _cis_overlap(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool | None:
    bounds = [old.get("ci_low"), old.get("ci_high"), new.get("ci_low"), new.get("ci_high")]
    if any(b is None or not math.isfinite(b) for b in bounds):
        return None
    return max(bounds[0], bounds[2]) <= min(bounds[1], bounds[3])


def _judge(key: Key, old: dict[str, Any], new: dict[str, Any], thresholds: tuple[Threshold, ...], use_ci: bool):
    metric = key[2]
    if old["status"] == "ok" and new["status"] != "ok":
        return Change(key, old, new, "regression", f"now failed: {new['error'] or 'no error message'}")
    if old["status"] != "ok" and new["status"] == "ok":
        return Change(key, old, new, "improvement", "no longer failed")
    a, b = _ok_value(old), _ok_value(new)
    if a is None or b is None:
        return None
    if math.isfinite(a) and not math.isfinite(b):
        return Change(key, old, new, "regression", "became non-finite")
    if not math.isfinite(a) and math.isfinite(b):
        return Change(key, old, new, "improvement", "became finite")
    if not math.isfinite(a) or a == b:
        return None
    threshold = threshold_for(metric, thresholds)
    if threshold is None or not threshold.exceeded(a, b):
        return None
    higher = new["higher_is_better"] if new["higher_is_better"] is not None else old["higher_is_better"]
    if higher is None:
        return Change(key, old, new, "changed", "no direction recorded (higher_is_better is null)", threshold)
    worse = b < a if higher else b > a
    if use_ci and _cis_overlap(old, new):
        return Change(key, old, new, "not_significant", "the 95 % confidence intervals overlap", threshold)
    return Change(key, old, new, "regression" if worse else "improvement", "", threshold)


def compare(
    old_path: Path,
    new_path: Path,
    thresholds: tuple[Threshold, ...] = DEFAULT_THRESHOLDS,
    use_ci: bool = True,
    allow_missing: bool = False,
) -> Comparison:
    """Match OLD's rows with NEW's and judge each pair. `allow_missing`: a variant of OLD that NEW lacks is a note
    rather than a regression (it was dropped on purpose)."""
    old_rows, new_rows = _read(Path(old_path)), _read(Path(new_path))
    result = Comparison(str(old_path), str(new_path), thresholds, allow_missing=allow_missing)
    result.missing_variants = sorted({k[0] for k in old_rows} - {k[0] for k in new_rows})
    for key in sorted(old_rows.keys() & new_rows.keys()):
        result.matched += 1
        old, new = old_rows[key], new_rows[key]
        if old["task_version"] != new["task_version"]:
            result.notes.append(
                f"{md_code(key[0], False)} {md_code(key[1], False)} {md_code(key[2], False)}: task version "
                f"{md_code(old['task_version'], False)} → {md_code(new['task_version'], False)}"
            )
        change = _judge(key, old, new, thresholds, use_ci)
        if change is not None:
            result.changes.append(change)
    result.changes += [Change(k, None, new_rows[k], "new") for k in sorted(new_rows.keys() - old_rows.keys())]
    result.changes += [Change(k, old_rows[k], None, "missing") for k in sorted(old_rows.keys() - new_rows.keys())]
    if result.missing_variants and allow_missing:
        result.notes.append(
            f"{len(result.missing_variants)} variant{'s' if len(result.missing_variants) != 1 else ''} of OLD not in "
            f"NEW, allowed by `--allow-missing`: {_names(result.missing_variants)}"
        )
    old_hw = {k[3] for k in old_rows}
    new_hw = {k[3] for k in new_rows}
    if old_rows and new_rows and not old_hw & new_hw:
        result.notes.append(
            "OLD and NEW share no hardware fingerprint, so no row could be matched: compare runs on the same machine"
        )
    return result


# --- Markdown ------------------------------------------------------------------------------------------------


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _cell(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "—"
    if row["status"] != "ok":
        return "failed"
    text = _num(row["value"])
    if row.get("ci_low") is not None and row.get("ci_high") is not None:
        text += f" [{_num(row['ci_low'])}, {_num(row['ci_high'])}]"
    return text


def _change_text(change: Change) -> str:
    a = _ok_value(change.old) if change.old else None
    b = _ok_value(change.new) if change.new else None
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return "—"
    unit = (change.new or change.old or {}).get("unit") or ""
    delta = b - a
    text = f"{delta:+.4g}" + (" pts" if unit == "%" else f" {md_code(unit)}" if unit else "")
    if a != 0:
        text += f" ({100 * delta / abs(a):+.1f} %)"
    return text


def md_code(text: object, in_table: bool = True) -> str:
    r"""`text` as a Markdown code span, the one way a name or any text from a results file enters the report: its
    fence is longer than any run of backticks inside, padded with a space when the text starts or ends with a
    backtick (CommonMark), so no link, image, mention, autolink or HTML can come alive; control and bidi characters
    show as escapes (`suite.text.visible`). In a table cell `|` is escaped as GFM asks (`\|`, shown as `|`).

    >>> md_code("a`b"), md_code("`x`", in_table=False), md_code("a|b"), md_code("")
    ('``a`b``', '`` `x` ``', '`a\\|b`', '` `')
    """
    text = visible(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    if text.strip() and (text.startswith(("`", " ")) or text.endswith(("`", " "))):
        text = f" {text} "  # CommonMark strips one space each side, so the text shows as it is
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text or ' '}{fence}"


def _names(names: list[str]) -> str:
    return listed([md_code(n, in_table=False) for n in names], LIST_LIMIT)


def _table(changes: list[Change], with_change: bool = True) -> list[str]:
    head = "| variant | task | metric | old | new |" + (" change | threshold | note |" if with_change else "")
    lines = [head, "|" + "---|" * (8 if with_change else 5)]
    for c in changes[:LIST_LIMIT]:
        variant, task, metric, _ = c.key
        cells = [md_code(variant), md_code(task), md_code(metric), _cell(c.old), _cell(c.new)]
        if with_change:
            cells += [
                _change_text(c),
                c.threshold.describe() if c.threshold else "—",
                md_code(c.reason) if c.reason else "",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    if len(changes) > LIST_LIMIT:
        lines.append(f"\n… and {len(changes) - LIST_LIMIT} more.")
    return lines


def to_markdown(result: Comparison) -> str:
    regressions, failing = result.regressions, result.failing_missing
    verdict = (
        f"**{len(regressions)} regression{'s' if len(regressions) != 1 else ''}**"
        if regressions
        else ("**No regression**")
    )
    dropped = (
        f" **{len(failing)} variant{'s' if len(failing) != 1 else ''} of OLD missing from NEW**, a regression "
        "(see Missing variants)."
        if failing
        else ""
    )
    lines = [
        f"## Benchmark comparison: {md_code(Path(result.old_path).name, False)} → "
        f"{md_code(Path(result.new_path).name, False)}",
        "",
        f"{verdict} beyond the thresholds. {result.matched} rows matched on (variant, task, metric, hardware); "
        f"{len(result.of('new'))} new, {len(result.of('missing'))} missing.{dropped}",
        "",
        "Thresholds (first match wins; a slice metric such as `accuracy@typo_s3` takes its metric's): "
        + ", ".join(f"{md_code(t.metric, False)} {t.describe()}" for t in result.thresholds)
        + ". A move in the worse direction beyond its threshold is a regression unless both rows' confidence "
        "intervals overlap; a row that turns failed or non-finite is always one.",
    ]
    sections = [
        ("Regressions", "regression", True),
        ("Not significant (overlapping confidence intervals)", "not_significant", True),
        ("Improvements", "improvement", True),
        ("Changed, direction unknown", "changed", True),
        ("New rows", "new", False),
        ("Missing rows", "missing", False),
    ]
    if failing:
        lines += [
            "",
            f"### Missing variants ({len(failing)})",
            "",
            f"In OLD, with no row in NEW: {_names(failing)}. A dropped variant is a regression; pass "
            "`--allow-missing` when dropping it is intended.",
        ]
    for title, verdict_name, with_change in sections:
        changes = result.of(verdict_name)
        if changes:
            lines += ["", f"### {title} ({len(changes)})", "", *_table(changes, with_change)]
    if result.notes:
        lines += ["", "### Notes", "", *[f"- {n}" for n in result.notes[:LIST_LIMIT]]]
    return "\n".join(lines) + "\n"

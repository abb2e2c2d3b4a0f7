"""How the site prints numbers and cells: format_number, the cell of one result row, and HTML escaping."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from markupsafe import Markup

from suite.rank.speed import NO_CHANGE, SPEEDUP_UNIT, contains_one, is_aa
from suite.site.schema import MetricDisplay
from suite.text import visible

NOT_MEASURED = "not measured"
EM_DASH = "—"


def format_number(value: float, decimals: int, thousands: bool = False) -> str:
    """A number as the site prints it; NaN and inf are data and print as such.

    >>> format_number(91.0555, 2), format_number(float("nan"), 2), format_number(-float("inf"), 1)
    ('91.06', 'NaN', '-inf')
    >>> format_number(-0.001, 2), format_number(22713216.0, 0, thousands=True)
    ('0.00', '22,713,216')
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:,.{decimals}f}" if thousands else f"{value:.{decimals}f}"
    # A value that rounds to zero prints without a sign: "-0.00" reads as a measured negative.
    if text.startswith("-") and float(text[1:].replace(",", "")) == 0:
        text = text[1:]
    return text


def _sort_value(value: float) -> str | None:
    # data-value for the page's sort script: JavaScript's Number() reads "Infinity"; NaN sorts with the unmeasured.
    # Eight significant digits order every pair of values that print differently, at a third of repr's bytes.
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return f"{value:.8g}"


UNSTABLE_MARK = "⚠"
UNSTABLE_TITLE = "unstable timing: IQR / median > 0.1 in this run (see the variant page)"
AA_NOISE_FLOOR = "A/A noise floor"


def _escape(text: str) -> str:
    r"""markupsafe.escape's output (quotes as &#34; and &#39;, like every other escaped text of the site) as a plain
    str: no Markup object per string, 1.5× as fast (tables escape hundreds of thousands of strings). Control, bidi
    and other invisible characters of a name show as escapes (suite.text.visible); tab and newline are HTML whitespace.

    >>> _escape("a\u202e<b>\x00")
    'a\\u202e&lt;b&gt;\\u0000'
    """
    if not text.isprintable():
        text = visible(text, keep="\t\n\r")
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;").replace('"', "&#34;")
    )


# Tooltips repeat ("validation; n = 872" on 20 000 cells): each distinct one is escaped once.
_escape_title = functools.lru_cache(maxsize=4096)(_escape)


class Cell(NamedTuple):
    """One table cell: its text, its tooltip, the value the sort script uses and its CSS state."""

    text: str
    title: str = ""
    sort_value: str | None = None  # a number as _sort_value writes it
    state: str = "ok"  # ok | failed | missing | nonfinite | estimate | unstable | contended (space-separated)

    @property
    def html(self) -> str:
        """The <td>, escaped; built here rather than by a template macro: tables of 20 000 cells render 5× faster.
        Pages join a row's cells and mark the row safe once (`_cells_html`)."""
        # Sortable tables right-align their cells in CSS, so an ok cell carries no class (1 000 rows × 40 cells).
        css = "" if self.state == "ok" else f' class="{self.state}"'
        title = f' title="{_escape_title(self.title)}"' if self.title else ""
        # A sort value is digits, '.', 'e', signs or "Infinity" (_sort_value): nothing to escape.
        value = f' data-value="{self.sort_value}"' if self.sort_value is not None else ""
        return f"<td{css}{title}{value}>{_escape(self.text)}</td>"


def _cells_html(cells: Iterable[Cell]) -> Markup:
    # Every text in a cell is escaped by Cell.html, so the joined row is safe markup.
    return Markup("".join([cell.html for cell in cells]))


def _measurement_title(row: Mapping[str, Any]) -> str:
    return _joined_title(row.get("measurement") or "", row.get("n"))


@functools.lru_cache(maxsize=4096)  # a run's rows share a few measurement texts and sizes
def _joined_title(measurement: str, n: int | None) -> str:
    parts = [measurement]
    if n is not None:
        parts.append(f"n = {n}")
    return "; ".join(p for p in parts if p)


def _is_estimate(row: Mapping[str, Any]) -> bool:
    # Energy on a CPU without power counters is modelled: the `estimate` column says so (results schema v2); older
    # files said it in the measurement text only.
    return bool(row.get("estimate")) or _says_estimate(row.get("measurement") or "")


@functools.lru_cache(maxsize=4096)
def _says_estimate(text: str) -> bool:
    return "stimate" in text.lower() and bool(re.search(r"\bestimate", text, re.IGNORECASE))


class Texts(NamedTuple):
    """A row's numbers as the site prints them (its metric's decimals); None where the row has no such number."""

    value: str | None
    ci_low: str | None  # both or neither: an interval is printed only when it has both ends
    ci_high: str | None
    sort_value: str | None


def number_texts(row: Mapping[str, Any], fmt: MetricDisplay) -> Texts:
    """The printed value, interval and sort value of one row.

    >>> number_texts({"value": 91.0555, "ci_low": 89.1, "ci_high": None}, MetricDisplay("a", "A", "%", "%", "q", 2))
    Texts(value='91.06', ci_low=None, ci_high=None, sort_value='91.0555')
    """
    value, low, high = row["value"], row.get("ci_low"), row.get("ci_high")
    if low is None or high is None:
        low_text = high_text = None
    else:
        low_text = format_number(low, fmt.decimals, fmt.thousands)
        high_text = format_number(high, fmt.decimals, fmt.thousands)
    if value is None:
        return Texts(None, low_text, high_text, None)
    return Texts(format_number(value, fmt.decimals, fmt.thousands), low_text, high_text, _sort_value(value))


def _metric_cell(
    row: Mapping[str, Any] | None,
    spread_row: Mapping[str, Any] | None,
    fmt: MetricDisplay,
    tooltips: bool = True,
    texts: Callable[[Mapping[str, Any], MetricDisplay], Texts] = number_texts,
) -> Cell:
    """A formatted cell; without tooltips (the big index table) the measurement text stays on the variant page.
    `texts` formats a row's numbers (SiteData.texts: once per row, however many pages show it)."""
    if row is None:
        return Cell(EM_DASH, NOT_MEASURED, None, "missing")
    if row["status"] != "ok":
        return Cell("failed", row.get("error") or "failed without an error message", None, "failed")
    value = row["value"]
    if value is None:
        return Cell(EM_DASH, f"{NOT_MEASURED} (status ok but no value)", None, "missing")
    numbers = texts(row, fmt)
    text = numbers.value
    title = _measurement_title(row) if tooltips else ""
    if fmt.unit == SPEEDUP_UNIT:
        text = _speedup_cell_text(row, numbers)
    elif fmt.show_ci and numbers.ci_low is not None:
        text += f" [{numbers.ci_low}, {numbers.ci_high}]"
    if fmt.spread is not None:
        if spread_row is not None and spread_row["status"] == "ok" and spread_row["value"] is not None:
            text += f" ± {format_number(spread_row['value'], fmt.decimals, fmt.thousands)}"
        else:
            title = "; ".join(t for t in (title, f"{fmt.spread}: {NOT_MEASURED}") if t)
    state = "ok" if math.isfinite(value) else "nonfinite"
    if _is_estimate(row):
        text, state = f"≈ {text}", "estimate"
        title = "; ".join(t for t in ("estimate", title) if t)
    return Cell(text, title, numbers.sort_value, state)


def _speedup_cell_text(row: Mapping[str, Any], numbers: Texts) -> str:
    """A speedup (unit x) always with its interval, and what the interval says: "no measurable change" when it
    contains 1, or, for the reference timed against a copy of itself, that it is the A/A noise floor.

    >>> _speedup_cell_text({"ci_low": 0.98, "ci_high": 1.05}, Texts("1.02", "0.98", "1.05", "1.02"))
    '1.02× [0.98, 1.05] · no measurable change'
    >>> _speedup_cell_text({"ci_low": 1.2, "ci_high": 1.4}, Texts("1.30", "1.20", "1.40", "1.3"))
    '1.30× [1.20, 1.40]'
    >>> row = {"ci_low": 0.97, "ci_high": 1.02, "measurement": "A/A: 'teacher' against a second copy of itself"}
    >>> _speedup_cell_text(row, Texts("0.99", "0.97", "1.02", "0.99"))
    '0.99× [0.97, 1.02] · A/A noise floor'
    """
    text = f"{numbers.value}×"
    if numbers.ci_low is not None:
        text += f" [{numbers.ci_low}, {numbers.ci_high}]"
    if is_aa(row.get("measurement")):
        return f"{text} · {AA_NOISE_FLOOR}"
    return text + (f" · {NO_CHANGE}" if contains_one(row.get("ci_low"), row.get("ci_high")) else "")


def _where(task: str, version: str) -> str:
    return task + (f" v{version}" if version else "")

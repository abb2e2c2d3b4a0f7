"""The site's figures as plain SVG text (no plotting library): the seed's 2×2 overview and accuracy vs latency."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import NamedTuple

import numpy as np

from suite.rank import CLASSIFIER_METRICS, CONTENDED_MARK, Candidate, FamilyMetrics, Group, ParetoResult, pareto_mask
from suite.specs import TEACHER
from suite.text import visible

MAX_BARS = 30  # beyond this a bar chart is unreadable: the teacher, the front and the most accurate are shown
MAX_LABELS = 25  # scatter points named beside them; beyond this only the teacher and the front are named
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif"
TEACHER_COLOUR = "#1f4e9c"
VARIANT_COLOUR = "#6c8ebf"
FRONT_COLOUR = "#c2410c"
MUTED = "#57606a"
GRID = "#d0d7de"


class Point(NamedTuple):
    """One scatter point: bubble `size` (None: a fixed dot), `interval` of y (its CI), and `mark`: why its x is a
    timing the job's load guard taints (None when it is not)."""

    name: str
    x: float
    y: float
    size: float | None = None
    interval: tuple[float, float] | None = None
    mark: str | None = None


# Controls (newline, NUL, ...), formats (bidi overrides, zero-width joiners, ...), surrogates and line/paragraph
# separators: shown as escapes, never passed on. U+FFFE and U+FFFF are not characters in XML 1.0 either.
def _t(text: object) -> str:
    # Variant and display names come from results and schema files: made visible, then escaped as XML text.
    return escape(visible(text), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.3g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high].

    >>> nice_ticks(0, 9.5)
    [0, 2, 4, 6, 8, 10]
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


@dataclass(frozen=True)
class Figure:
    """An SVG document, its file name and the text alternative the page puts in the img's alt (names made visible)."""

    name: str
    svg: str
    alt: str
    caption: str


def _change(reduction_pct: float) -> str:
    """A size change as a label: '−36 %' smaller, '+5 %' larger, '±0 %' the same (never '−0 %')."""
    if round(reduction_pct) == 0:
        return "±0 %"
    return f"−{reduction_pct:.0f} %" if reduction_pct > 0 else f"+{-reduction_pct:.0f} %"


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" style="{FONT};font-size:12px">'
        f"<title>{_t(title)}</title>" + "".join(body) + "</svg>\n"
    )


def _shown(group: Group, pareto: ParetoResult, quality: str = "accuracy") -> tuple[list[Candidate], str]:
    """The variants a bar chart shows, teacher first, and a note when some are left out."""
    candidates = list(group.candidates)
    if len(candidates) <= MAX_BARS:
        return candidates, ""
    front = set(pareto.front)

    def rank(c: Candidate) -> tuple:
        accuracy = c.value(quality)
        return (c.variant != TEACHER, c.variant not in front, -(accuracy if accuracy is not None else -math.inf))

    chosen = sorted(candidates, key=rank)[:MAX_BARS]
    note = f"showing {len(chosen)} of {len(candidates)}: the teacher, the Pareto front, then the most accurate"
    return chosen, note


def _hbar_panel(
    x0: float,
    y0: float,
    width: float,
    title: str,
    names: Sequence[str],
    values: Sequence[float | None],
    labels: Sequence[str],
    axis: str,
    reference: float | None = None,
    reference_label: str = "",
    zoom: bool = False,
) -> tuple[list[str], float]:
    """A horizontal bar chart; a missing value is drawn as 'not measured', never left out. Returns (svg, height)."""
    label_width = min(160.0, 12.0 + 6.5 * max((len(n) for n in names), default=4))
    plot_x = x0 + label_width
    plot_w = width - label_width - 70
    row_h = 18.0
    top = y0 + 28
    height = 28 + row_h * len(names) + 40
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if reference is not None:
        finite.append(reference)
    low = min(finite) if finite else 0.0
    high = max(finite) if finite else 1.0
    # Accuracy differences of a point or two vanish on a zero-based axis; the accuracy panel zooms and says so.
    low = (low - (high - low) * 0.15 - 0.5) if zoom else min(0.0, low)
    ticks = nice_ticks(low, high)
    low, high = ticks[0], ticks[-1]

    def sx(value: float) -> float:
        return plot_x + (value - low) / (high - low) * plot_w

    out = [f'<text x="{x0:.1f}" y="{y0 + 14:.1f}" font-weight="600" font-size="13">{_t(title)}</text>']
    bottom = top + row_h * len(names)
    for tick in ticks:
        x = sx(tick)
        out.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 14:.1f}" text-anchor="middle" fill="{MUTED}">{_num(tick)}</text>')
    middle = plot_x + plot_w / 2
    out.append(f'<text x="{middle:.1f}" y="{bottom + 30:.1f}" text-anchor="middle" fill="{MUTED}">{_t(axis)}</text>')
    for i, (name, value, label) in enumerate(zip(names, values, labels, strict=True)):
        y = top + i * row_h
        colour = TEACHER_COLOUR if name == TEACHER else VARIANT_COLOUR
        shown_name = name if len(name) <= 24 else name[:23] + "…"
        out.append(
            f'<text x="{plot_x - 6:.1f}" y="{y + 13:.1f}" text-anchor="end"><title>{_t(name)}</title>'
            f"{_t(shown_name)}</text>"
        )
        if value is None or not math.isfinite(value):
            text = "not measured" if value is None else _num(value)
            out.append(f'<text x="{plot_x + 4:.1f}" y="{y + 13:.1f}" fill="#b42318">{_t(text)}</text>')
            continue
        x1, x2 = sorted((sx(max(low, 0.0) if not zoom else low), sx(value)))
        out.append(
            f'<rect x="{x1:.1f}" y="{y + 3:.1f}" width="{max(x2 - x1, 1):.1f}" height="{row_h - 6:.1f}" '
            f'fill="{colour}"><title>{_t(name)}: {_t(label)}</title></rect>'
        )
        out.append(f'<text x="{x2 + 4:.1f}" y="{y + 13:.1f}">{_t(label)}</text>')
    if reference is not None:
        x = sx(reference)
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 4:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="{FRONT_COLOUR}" '
            'stroke-dasharray="5 3" stroke-width="1.5"/>'
        )
        out.append(f'<text x="{x + 3:.1f}" y="{top - 6:.1f}" fill="{FRONT_COLOUR}">{_t(reference_label)}</text>')
    return out, height


def _scatter_panel(
    x0: float,
    y0: float,
    width: float,
    height: float,
    title: str,
    points: Sequence[Point],
    x_axis: str,
    y_axis: str,
    maximize_x: bool,
    front_names: set[str],
    log_x: bool = False,
) -> list[str]:
    """Points with the 2-D Pareto staircase of this plane drawn over them. A marked point (its x a timing the job's
    load guard taints) is drawn hollow with a dashed outline and its name marked †, and the staircase leaves it out."""
    out = [f'<text x="{x0:.1f}" y="{y0 + 14:.1f}" font-weight="600" font-size="13">{_t(title)}</text>']
    plot_x, plot_y = x0 + 50, y0 + 28
    plot_w, plot_h = width - 70, height - 78
    if not points:
        out.append(f'<text x="{plot_x:.1f}" y="{plot_y + 20:.1f}" fill="#b42318">no variant has both numbers</text>')
        return out
    xs = np.array([p[1] for p in points])
    ys = np.array([p[2] for p in points])
    lows = [p[4][0] for p in points if p[4]] + list(ys)
    highs = [p[4][1] for p in points if p[4]] + list(ys)
    tx = np.log10(xs) if log_x else xs
    xt = nice_ticks(float(tx.min()) - 0.05 * (np.ptp(tx) or 1), float(tx.max()) + 0.05 * (np.ptp(tx) or 1))
    yt = nice_ticks(min(lows) - 0.5, max(highs) + 0.5)

    def sx(value: float) -> float:
        v = math.log10(value) if log_x else value
        return plot_x + (v - xt[0]) / (xt[-1] - xt[0]) * plot_w

    def sy(value: float) -> float:
        return plot_y + plot_h - (value - yt[0]) / (yt[-1] - yt[0]) * plot_h

    for tick in xt:
        x = plot_x + (tick - xt[0]) / (xt[-1] - xt[0]) * plot_w
        text = _num(10**tick) if log_x else _num(tick)
        out.append(f'<line x1="{x:.1f}" y1="{plot_y:.1f}" x2="{x:.1f}" y2="{plot_y + plot_h:.1f}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{plot_y + plot_h + 14:.1f}" text-anchor="middle" fill="{MUTED}">{text}</text>'
        )
    for tick in yt:
        y = sy(tick)
        out.append(f'<line x1="{plot_x:.1f}" y1="{y:.1f}" x2="{plot_x + plot_w:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{plot_x - 4:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_num(tick)}</text>')
    out.append(
        f'<text x="{plot_x + plot_w / 2:.1f}" y="{plot_y + plot_h + 32:.1f}" text-anchor="middle" fill="{MUTED}">'
        f"{_t(x_axis)}</text>"
    )
    out.append(
        f'<text transform="translate({x0 + 12:.1f} {plot_y + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'fill="{MUTED}">{_t(y_axis)}</text>'
    )
    # The staircase of the points non-dominated in this plane (accuracy up, and x up or down).
    fair = [p for p in points if p.mark is None]
    mask = pareto_mask(np.array([[p.x, p.y] for p in fair]).reshape(-1, 2), [maximize_x, True])
    stair = sorted((p for p, m in zip(fair, mask, strict=True) if m), key=lambda p: p.x)
    if stair:
        path = [f"M{sx(stair[0][1]):.1f},{sy(stair[0][2]):.1f}"]
        for previous, point in itertools.pairwise(stair):
            # The edge of the dominated region: down then right when x is maximised, right then up when minimised.
            corner = (previous[1], point[2]) if maximize_x else (point[1], previous[2])
            path.append(f"L{sx(corner[0]):.1f},{sy(corner[1]):.1f}")
            path.append(f"L{sx(point[1]):.1f},{sy(point[2]):.1f}")
        out.append(f'<path d="{"".join(path)}" fill="none" stroke="{FRONT_COLOUR}" stroke-width="1.5"/>')
    sizes = [p[3] for p in points if p[3] is not None and math.isfinite(p[3]) and p[3] > 0]
    biggest = max(sizes) if sizes else 1.0
    label_all = len(points) <= MAX_LABELS
    for name, x, y, size, interval, mark in points:
        cx, cy = sx(x), sy(y)
        if interval is not None:
            out.append(
                f'<line x1="{cx:.1f}" y1="{sy(interval[0]):.1f}" x2="{cx:.1f}" y2="{sy(interval[1]):.1f}" '
                f'stroke="{MUTED}"/>'
            )
        radius = 4.0 if size is None or not size > 0 else 4.0 + 14.0 * math.sqrt(size / biggest)
        colour = TEACHER_COLOUR if name == TEACHER else FRONT_COLOUR if name in front_names else VARIANT_COLOUR
        fill = 'fill-opacity="0.08" stroke-dasharray="3 2"' if mark else 'fill-opacity="0.55"'
        why = f" {CONTENDED_MARK} {mark}" if mark else ""
        out.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" fill="{colour}" {fill} '
            f'stroke="{colour}"><title>{_t(name)}: {_num(x)}, {_num(y)}{_t(why)}</title></circle>'
        )
        if label_all or name == TEACHER or name in front_names:
            shown = name if len(name) <= 24 else name[:23] + "…"
            shown += f" {CONTENDED_MARK}" if mark else ""
            # Labels near the right edge go on the left of their point so they stay inside the panel.
            if cx + radius + 7 * len(shown) > plot_x + plot_w:
                anchor, lx = "end", cx - radius - 2
            else:
                anchor, lx = "start", cx + radius + 2
            out.append(f'<text x="{lx:.1f}" y="{cy - 2:.1f}" font-size="11" text-anchor="{anchor}">{_t(shown)}</text>')
    return out


def _legend(x: float, y: float, marked: bool = False) -> list[str]:
    """The colours' key; `marked`: a fourth item for hollow points (timed on a contended host)."""
    items = [(TEACHER_COLOUR, "teacher"), (FRONT_COLOUR, "on the Pareto front"), (VARIANT_COLOUR, "other variant")]
    out = []
    for i, (colour, label) in enumerate(items):
        out.append(f'<circle cx="{x + 6 + i * 150:.1f}" cy="{y:.1f}" r="5" fill="{colour}" fill-opacity="0.55"/>')
        out.append(f'<text x="{x + 15 + i * 150:.1f}" y="{y + 4:.1f}">{_t(label)}</text>')
    if marked:
        out.append(
            f'<circle cx="{x + 456:.1f}" cy="{y:.1f}" r="5" fill="{MUTED}" fill-opacity="0.08" stroke="{MUTED}" '
            'stroke-dasharray="3 2"/>'
        )
        out.append(f'<text x="{x + 465:.1f}" y="{y + 4:.1f}">{_t(f"{CONTENDED_MARK} contended host")}</text>')
    return out


def _label(group: Group, hardware: str | None) -> str:
    """The group as titles name it: task, version and the machine in words (`hardware`), else its fingerprint."""
    version = f" v{group.task_version}" if group.task_version else ""
    return f"{group.task}{version} on {hardware or group.hardware}"


def has_overview(group: Group, metrics: FamilyMetrics = CLASSIFIER_METRICS) -> bool:
    """Whether a group has what the 2×2 plots: some variant with the family's quality and speed metrics."""
    return any(c.value(metrics.quality) is not None and c.value(metrics.speed) is not None for c in group.candidates)


def _speedup_of(value: float | None, base: float | None, metrics: FamilyMetrics) -> float | None:
    if not value or not base:
        return None
    return value / base if metrics.speed_maximize else base / value


def overview(
    group: Group,
    pareto: ParetoResult,
    name: str,
    metrics: FamilyMetrics = CLASSIFIER_METRICS,
    hardware: str | None = None,
) -> Figure:
    """The seed notebook's 2×2: latency with speedups, accuracy with the teacher's line, size with reductions, and
    speedup vs accuracy (bubble = size) with the front. `metrics`: the family's quality and speed metrics (the llm
    family: mean accuracy and decode tokens/s); `hardware`: the machine in words for the title (else the
    fingerprint)."""
    fm = metrics
    classifier = fm.speed == "latency_p50_ms"
    shown, note = _shown(group, pareto, fm.quality)
    names = [c.variant for c in shown]
    teacher = group.teacher
    base_p50 = teacher.value(fm.speed) if teacher else None
    base_size = teacher.value("size_mb") if teacher else None
    base_accuracy = teacher.value(fm.quality) if teacher else None
    latency = [c.value(fm.speed) for c in shown]

    def speedup_of(c: Candidate) -> float | None:
        """The measured (paired) speedup row where there is one, else the ratio to the teacher's figure."""
        measured = c.value(fm.speedup)
        return measured if measured is not None else _speedup_of(c.value(fm.speed), base_p50, fm)

    speed_labels = [
        f"{v:.2f} {fm.speed_unit}"
        + (f" · {speedup:.2f}×" if (speedup := speedup_of(c)) else "")
        + (f" {CONTENDED_MARK}" if c.contended else "")  # timed on a contended host (the site says how)
        if v is not None
        else ""
        for c, v in zip(shown, latency, strict=True)
    ]
    accuracy = [c.value(fm.quality) for c in shown]
    accuracy_labels = [f"{v:.2f} %" if v is not None else "" for v in accuracy]
    size = [c.value("size_mb") for c in shown]
    size_labels = [
        f"{v:.1f} MiB" + (f" · {_change(100 * (1 - v / base_size))}" if base_size else "") if v is not None else ""
        for v in size
    ]
    panel_w = 520.0
    top = 34.0 if note else 16.0
    speed_title = "Latency p50" if classifier else fm.speed_label.capitalize()
    p1, h1 = _hbar_panel(
        10, top, panel_w, f"{speed_title} (speedup vs teacher)", names, latency, speed_labels, fm.speed_unit
    )
    p2, h2 = _hbar_panel(
        20 + panel_w,
        top,
        panel_w,
        f"{fm.quality_label.capitalize()} (dashed: teacher)",
        names,
        accuracy,
        accuracy_labels,
        "% (axis does not start at 0)",
        reference=base_accuracy,
        reference_label="teacher",
        zoom=True,
    )
    row1 = max(h1, h2)
    p3, h3 = _hbar_panel(
        10, top + row1 + 10, panel_w, "Size on disk (reduction vs teacher)", names, size, size_labels, "MiB"
    )
    points = []
    shared = [c.variant for c in group.candidates if c.oversubscribed]  # their speedups describe the host
    for c in group.candidates:  # the scatter shows every variant: points stay readable where bars would not
        speedup, y = speedup_of(c), c.value(fm.quality)
        if speedup and y is not None and c.variant not in shared:
            points.append(Point(c.variant, speedup, y, c.value("size_mb")))
    scatter_h = max(h3, 320.0)
    p4 = _scatter_panel(
        20 + panel_w,
        top + row1 + 10,
        panel_w,
        scatter_h,
        f"Speedup vs {fm.quality_label} (bubble area: size)",
        points,
        "speedup vs teacher (×, p50)" if classifier else f"speedup vs teacher (×, {fm.speed_label})",
        f"{fm.quality_label} (%)",
        True,
        set(pareto.front),
    )
    height = top + row1 + 10 + max(h3, scatter_h) + 24
    body = p1 + p2 + p3 + p4 + _legend(30 + panel_w, height - 12)
    if note:
        body.insert(0, f'<text x="10" y="20" fill="{MUTED}">{_t(note)}</text>')
    plotted = {p[0] for p in points}
    missing = [c.variant for c in group.candidates if c.variant not in plotted and c.variant not in shared]
    title = f"Overview of {_label(group, hardware)}"
    speed_name = "latency p50" if classifier else fm.speed_label
    alt = (
        f"{title}: four panels ({speed_name} with speedups, {fm.quality_label} with the teacher's line, size on disk "
        f"with reductions, speedup against {fm.quality_label} with the Pareto front "
        f"{', '.join(pareto.front) or 'empty'})."
    )
    if missing:
        alt += f" Not in the scatter (a number is missing): {', '.join(missing[:10])}" + (
            f" and {len(missing) - 10} more." if len(missing) > 10 else "."
        )
    if shared:
        alt += f" Not in the scatter (other work shared the CPUs while they were timed): {', '.join(shared)}."
    svg = _svg(panel_w * 2 + 30, height, title, body)
    return Figure(name, svg, visible(alt), note or f"{len(group.candidates)} models")


def accuracy_latency(
    group: Group,
    pareto: ParetoResult,
    name: str,
    metrics: FamilyMetrics = CLASSIFIER_METRICS,
    quality: str | None = None,
    quality_label: str | None = None,
    hardware: str | None = None,
) -> Figure:
    """Accuracy (with its CI) against p50 latency for one task version on one machine, with the 2-D front.
    `metrics` gives the family's speed metric (the llm family: decode tokens/s), `quality` the group's quality
    metric (default the family's) and `quality_label` its axis label; `hardware`: the machine in words for the
    title and the text alternative (else the fingerprint)."""
    fm = metrics
    quality = quality or fm.quality
    y_axis = quality_label or ("accuracy (%)" if quality == "accuracy" else f"{fm.quality_label} (%)")
    speed_name = "latency p50" if fm.speed == "latency_p50_ms" else fm.speed_label
    points = []
    missing = []
    for c in group.candidates:
        x, y = c.value(fm.speed), c.value(quality)
        if x is None or y is None or x <= 0:
            missing.append(c.variant)
            continue
        m = c.metrics[quality]
        interval = (m.ci_low, m.ci_high) if m.ci_low is not None and m.ci_high is not None else None
        if interval is not None and not all(math.isfinite(v) for v in interval):
            interval = None
        # an absolute timing of a contended job: drawn, marked, and kept off the plane's front (unrankable says why)
        mark = c.contended if c.unrankable(fm.speed) is not None else None
        points.append(Point(c.variant, x, y, None, interval, mark))
    width, height = 720.0, 420.0
    spread = max(p[1] for p in points) / min(p[1] for p in points) if points else 1.0
    # The drawn title names task and version; the machine, too long to draw, is in the SVG's title and the alt text.
    drawn = f"{y_axis.split(' (')[0].capitalize()} vs {speed_name}: {group.task}" + (
        f" v{group.task_version}" if group.task_version else ""
    )
    title = f"{drawn} on {hardware or group.hardware}"
    body = _scatter_panel(
        10,
        8,
        width - 20,
        height - 24,
        drawn,
        points,
        f"{speed_name} ({fm.speed_unit}" + (", log scale)" if spread > 20 else ")"),
        y_axis,
        fm.speed_maximize,
        set(pareto.front),
        log_x=spread > 20,
    )
    body += _legend(40, height - 10, marked=any(p.mark for p in points))
    alt = f"{title}. Pareto front: {', '.join(pareto.front) or 'empty'}."
    if marked := [p.name for p in points if p.mark]:
        alt += (
            f" Drawn hollow and marked {CONTENDED_MARK}: {', '.join(marked)} (timed on a contended host, so their "
            f"{speed_name} is not judged and this plane's staircase leaves them out)."
        )
    if missing:
        alt += f" Not plotted (a number is missing): {', '.join(missing[:10])}" + (
            f" and {len(missing) - 10} more." if len(missing) > 10 else "."
        )
    svg = _svg(width, height, title, body)
    return Figure(name, svg, visible(alt), f"{len(points)} of {len(group.candidates)} models")

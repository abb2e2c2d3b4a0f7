"""Speedups read with their intervals (no measurable change, the A/A noise floor) and timing on a contended host.

A paired speedup (suite.trackers.paired) is the reference's time over the variant's in the same rounds of one
process, with a bootstrap 95 % interval over the rounds; the reference (the teacher by default) timed against a
second copy of itself gives the A/A noise floor. A job whose host was busy while it timed is `contended`: its
absolute latencies describe the machine, not the model, so they are marked and not judged against SLAs. Pairing
cancels a host that is slower for both models alike (a calibration drift alone), so such a job's paired speedups
stand. A job whose CPUs other work shared is also `oversubscribed`, and then it does not: with one busy loop on 2
vCPUs the 2-thread teacher ran 33-37x slower and `ort-int8` 3-5x slower, so its paired speedup read 59x and 34x in
two runs against 2.9x quiet (README, "The speedup benchmark on the Intel Xeon VM"). An oversubscribed job's speedups
are marked and not ranked as well.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

NO_CHANGE = "no measurable change"
AA_PREFIX = "A/A"  # how the reference's own speedup (timed against a copy of itself) names itself in its measurement
SPEEDUP_UNIT = "x"
CONTENDED = "contended"  # 1.0: the host was busy while the job timed its models
# 1.0: other work shared the job's CPUs (a contended job's speedups are then tainted too); results before it was
# written (schema v8's first runs) have none, and a contended job of theirs is read as oversubscribed
OVERSUBSCRIBED = "oversubscribed"
HOST_LOAD = (  # the figures behind `contended`, as the short text names them
    ("host_other_cpu_pct", "other processes' CPU"),
    ("host_steal_pct", "steal"),
    ("calibration_drift_pct", "calibration drift"),
)
CONTENDED_HOST = "timed on a contended host"
CONTENDED_MARK = "†"  # beside a number timed while the host was busy (the load guard's `contended`)
# Numbers that are absolute timings of the job (or computed from them): a contended host makes them describe the
# machine. Paired speedups (unit x) are not among them: they are timings of the job too (from_timing), but relative.
ABSOLUTE_TIMING_PREFIXES = (
    "latency_",
    "reference_latency_",
    "throughput_bs",
    "achieved_gflops",
    "pct_of_peak_flops",
    "profiled_ms_per_",
    "energy_per_",
    "co2e_per_",
    "tpot_",
    "ttft_p",
    "decode_tokens_per_s",
)


def contains_one(low: float | None, high: float | None) -> bool:
    """Whether a speedup's interval contains 1: the variant is not measurably faster or slower than its reference.
    Without an interval (results before paired timing) nothing says so.

    >>> contains_one(0.98, 1.05), contains_one(1.2, 1.4), contains_one(None, None)
    (True, False, False)
    """
    return low is not None and high is not None and low <= 1.0 <= high


def speed_class(value: float, low: float | None, high: float | None) -> int:
    """0 measurably faster than the reference, 1 no measurable change, 2 measurably slower; without an interval the
    value alone decides (above 1, exactly 1, below 1), so results before paired timing order as they always did.

    >>> speed_class(1.3, 1.25, 1.35), speed_class(1.5, 0.9, 2.1), speed_class(0.9, 0.85, 0.95)
    (0, 1, 2)
    >>> speed_class(2.5, None, None), speed_class(1.0, None, None), speed_class(0.8, None, None)
    (0, 1, 2)
    """
    if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
        return 0 if low > 1.0 else 2 if high < 1.0 else 1
    return 0 if value > 1.0 else 1 if value == 1.0 else 2


def is_aa(measurement: str | None) -> bool:
    """Whether a speedup row is the A/A noise floor, the reference timed against a second copy of itself: its
    measurement text starts with "A/A", or names it as one of its parts (suite.measure writes "paired: …; A/A: …").

    >>> is_aa("paired: per round the median latency of 'teacher' / this variant's; A/A: 'teacher' against a second")
    True
    >>> is_aa("A/A: 'teacher' against a second copy"), is_aa("paired: per round …; paired with 'teacher' in one")
    (True, False)
    """
    text = measurement or ""
    return text.startswith(AA_PREFIX) or f"; {AA_PREFIX}" in text


def speedup_text(value: float, low: float | None = None, high: float | None = None, decimals: int = 2) -> str:
    """A speedup as the suite prints it: the value with ×, its interval, and "no measurable change" when the interval
    contains 1.

    >>> speedup_text(1.0234, 0.98, 1.05), speedup_text(1.3, 1.2, 1.4), speedup_text(2.5)
    ('1.02× [0.98, 1.05] · no measurable change', '1.30× [1.20, 1.40]', '2.50×')
    """
    text = f"{value:.{decimals}f}×"
    if low is not None and high is not None:
        text += f" [{low:.{decimals}f}, {high:.{decimals}f}]"
    return text + (f" · {NO_CHANGE}" if contains_one(low, high) else "")


def interval_width_pct(low: float, high: float) -> float:
    """The width of a speedup's interval in percent of 1× (the ideal A/A value): [0.97, 1.02] is 5 %.

    >>> round(interval_width_pct(0.97, 1.02), 6)
    5.0
    """
    return 100.0 * (high - low)


def host_load_text(values: Mapping[str, float | None]) -> str:
    """The load guard's figures in a few words, those measured only.

    >>> host_load_text({"host_other_cpu_pct": 35.0, "host_steal_pct": 0.0, "calibration_drift_pct": 4.2})
    "other processes' CPU 35.0 %, steal 0.0 %, calibration drift +4.2 %"
    >>> host_load_text({})
    ''
    """
    parts = []
    for metric, label in HOST_LOAD:
        value = values.get(metric)
        if value is not None and math.isfinite(value):
            sign = "+" if metric == "calibration_drift_pct" and value > 0 else ""
            parts.append(f"{label} {sign}{value:.1f} %")
    return ", ".join(parts)


def cpus_shared(flag: float | None) -> bool:
    """Whether a contended job's `oversubscribed` flag says other work shared its CPUs. Without one (None: results
    from before the row was written, or a failed row) it reads as shared, the cautious reading.

    >>> cpus_shared(1.0), cpus_shared(0.0), cpus_shared(None)
    (True, False, True)
    """
    return flag != 0.0


def tainted(metric: str, unit: str, contended: bool, oversubscribed: bool) -> bool:
    """Whether a number is marked (†) and neither judged nor ranked: a contended job's absolute timings, and an
    oversubscribed one's speedups too.

    >>> tainted("latency_p50_ms", "ms", True, False), tainted("speedup_p50", "x", True, False)
    (True, False)
    >>> tainted("speedup_p50", "x", True, True), tainted("size_mb", "MiB", True, True)
    (True, False)
    """
    return (contended and timed_absolutely(metric, unit)) or (oversubscribed and from_timing(metric, unit))


def contended_text(values: Mapping[str, float | None]) -> str:
    """Why a contended job's absolute timings are not judged, with the load guard's figures (host_load_text).

    >>> contended_text({"host_other_cpu_pct": 35.0})
    "timed on a contended host (other processes' CPU 35.0 %)"
    """
    figures = host_load_text(values)
    return CONTENDED_HOST + (f" ({figures})" if figures else "")


def timed_absolutely(metric: str, unit: str = "") -> bool:
    """Whether a number is an absolute timing of its job (or computed from one): a contended host taints it.

    >>> timed_absolutely("latency_p99_ms", "ms"), timed_absolutely("speedup_p50", "x")
    (True, False)
    >>> timed_absolutely("latency_unstable", "flag"), timed_absolutely("throughput_bs8_sps", "samples/s")
    (False, True)
    """
    return unit not in (SPEEDUP_UNIT, "flag") and metric.startswith(ABSOLUTE_TIMING_PREFIXES)


def from_timing(metric: str, unit: str = "") -> bool:
    """Whether a number comes from its job's timing: an absolute timing (timed_absolutely) or a speedup (unit x, paired
    or derived from latencies). An oversubscribed job's are all marked and not ranked.

    >>> from_timing("speedup_p50", "x"), from_timing("latency_p50_ms", "ms"), from_timing("size_mb", "MiB")
    (True, True, False)
    >>> from_timing("contended", "flag"), from_timing("throughput_speedup@bs8", "x")
    (False, True)
    """
    return unit == SPEEDUP_UNIT or timed_absolutely(metric, unit)

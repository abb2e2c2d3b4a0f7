"""Tests of suite.rank: Pareto fronts by hand, bootstrap front probabilities, recommendations and SLA scorecards."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from suite.cli import main
from suite.errors import SuiteInputError
from suite.rank import (
    LLM_METRICS,
    Candidate,
    Group,
    Measure,
    SlaTargets,
    Tolerance,
    Verdict,
    pareto,
    pareto_mask,
    parse_tolerance,
    recommend,
    scorecard,
    with_speedups,
)


def _candidate(name: str, accuracy: float, p50: float, size: float, n: int = 872, **extra: float) -> Candidate:
    metrics = {
        "accuracy": Measure(accuracy, "%", n=n),
        "latency_p50_ms": Measure(p50, "ms"),
        "latency_p99_ms": Measure(p50 * 1.5, "ms"),
        "size_mb": Measure(size, "MiB"),
        "nonfinite_rate": Measure(0.0, "%"),
    }
    metrics.update({k: Measure(v) for k, v in extra.items()})
    return Candidate(
        name, "teacher" if name == "teacher" else "m", "" if name == "teacher" else "teacher", "hw", metrics
    )


def _group(*candidates: Candidate) -> Group:
    # as build_groups makes it: a candidate without a paired speedup gets the teacher's p50 over its own
    return with_speedups(Group("sst2", "1.0", "hw", tuple(candidates)))


# The seed's situation: teacher 88.2 %, a fast small int8, an accurate but slow pruned, two dominated variants.
NOTEBOOK = _group(
    _candidate("teacher", 88.19, 9.92, 86.66),
    _candidate("int8", 87.27, 4.29, 55.87),
    _candidate("pruned-30", 88.53, 12.18, 86.66),
    _candidate("pruned-30-int8", 86.81, 5.51, 55.87),
    _candidate("pruned-50", 86.01, 10.53, 86.66),
)


def test_pareto_mask_on_five_points_by_hand() -> None:
    # (accuracy ↑, latency ↓): A is most accurate, B fastest, C between them on both, D dominated by C, E equal to
    # B on latency but less accurate (dominated by B).
    points = np.array([[90.0, 10.0], [85.0, 2.0], [88.0, 5.0], [87.0, 6.0], [84.0, 2.0]])
    assert pareto_mask(points, [True, False]).tolist() == [True, True, True, False, False]
    # Identical points do not dominate each other.
    assert pareto_mask(np.array([[1.0, 1.0], [1.0, 1.0]]), [True, False]).tolist() == [True, True]


def test_pareto_front_and_dominators_of_the_seed_results() -> None:
    result = pareto(NOTEBOOK)
    assert result.front == ("teacher", "int8", "pruned-30")
    assert result.entry("pruned-30-int8").dominated_by == ("int8",)
    assert result.entry("pruned-50").dominated_by == ("teacher", "int8", "pruned-30-int8")
    # speed is the speedup against the teacher: here (no paired speedup rows) the teacher's p50 over each p50
    assert [o.metric for o in result.objectives] == ["accuracy", "speedup_p50", "size_mb"]
    assert NOTEBOOK.candidate("int8").value("speedup_p50") == pytest.approx(9.92 / 4.29)
    assert NOTEBOOK.teacher.value("speedup_p50") == 1.0
    assert dict(result.skipped) == {"peak_rss_mb": "not measured", "energy_per_1k_queries_j": "not measured"}


def test_bootstrap_probability_is_one_for_a_clearly_dominant_variant() -> None:
    group = _group(
        _candidate("teacher", 80.0, 10.0, 100.0, n=10_000),
        _candidate("dominant", 95.0, 2.0, 20.0, n=10_000),
        _candidate("dominated", 70.0, 12.0, 120.0, n=10_000),
    )
    result = pareto(group, resamples=500, seed=1)
    assert result.front == ("dominant",)
    assert result.entry("dominant").probability == 1.0
    assert result.entry("dominated").probability == 0.0
    assert result.entry("teacher").probability == 0.0


def test_bootstrap_probability_of_a_near_tie_is_between() -> None:
    # Same latency and size, accuracies 0.1 point apart on 872 instances: each is on the front about half the time.
    group = _group(_candidate("teacher", 88.0, 10.0, 80.0), _candidate("twin", 88.1, 10.0, 80.0))
    result = pareto(group, resamples=2000, seed=3)
    assert 0.3 < result.entry("teacher").probability < 0.7
    assert 0.3 < result.entry("twin").probability < 0.7


def test_front_probabilities_equal_a_resample_by_resample_count() -> None:
    # 60 variants on few latencies and sizes (ties on the fixed axes), small n (wide, overlapping resamples): every
    # shortcut of the vectorised count is exercised, more rivals than it checks at once included.
    rng = np.random.default_rng(0)
    group = _group(
        *(
            _candidate(
                "teacher" if k == 0 else f"v{k:02d}",
                float(rng.integers(70, 90)),
                float(rng.choice([2.0, 3.0, 5.0, 8.0])),
                float(rng.choice([20.0, 40.0])),
                n=int(rng.choice([30, 100, 872])),
            )
            for k in range(60)
        )
    )
    result = pareto(group, resamples=300, seed=5)
    assert len(result.entries) == 60
    # The same resamples, then the front of each resample by brute force.
    from suite.rank.pareto import _all_samples

    samples = _all_samples(group.candidates, 300, np.random.default_rng(5))
    fixed = np.array([[c.value("latency_p50_ms"), c.value("size_mb")] for c in group.candidates])
    on_front = np.array(
        [pareto_mask(np.column_stack([sample, fixed]), [True, False, False]) for sample in samples]
    ).mean(axis=0)
    assert [e.probability for e in result.entries] == pytest.approx(on_front.tolist(), abs=1e-12)
    assert 0 < sum(0 < p < 1 for p in on_front) < 60  # some variants are uncertain, some are not


def test_unrankable_variants_are_listed_with_the_reason() -> None:
    broken = Candidate(
        "broken",
        "m",
        "teacher",
        "hw",
        {"accuracy": Measure(math.nan, "%"), "latency_p50_ms": Measure(None, "ms", status="failed", error="OOM")},
    )
    result = pareto(_group(_candidate("teacher", 88.0, 10.0, 80.0), broken))
    assert dict(result.unranked)["broken"] == (
        "accuracy is nan; speedup_p50 failed: latency_p50_ms failed: OOM; size_mb not measured"
    )
    assert result.front == ("teacher",)


@pytest.mark.parametrize(
    ("priority", "tolerance", "chosen", "runners_up"),
    [
        ("speed", 1.0, "int8", ("pruned-30",)),
        ("speed", 2.0, "int8", ("pruned-30-int8", "pruned-30")),
        ("accuracy", 2.0, "pruned-30", ("int8", "pruned-30-int8")),
        ("size", 2.0, "int8", ("pruned-30-int8", "pruned-30")),
        ("balanced", 2.0, "int8", ("pruned-30-int8", "pruned-30")),
        ("speed", 0.5, "pruned-30", ()),
    ],
)
def test_recommendation_matches_the_notebook(
    priority: str, tolerance: float, chosen: str, runners_up: tuple[str, ...]
) -> None:
    rec = recommend(NOTEBOOK, priority, Tolerance(tolerance))
    assert (rec.chosen, rec.runners_up, rec.fallback) == (chosen, runners_up, False)


def test_every_loser_has_a_reason() -> None:
    rec = recommend(NOTEBOOK, "speed", Tolerance(1.0))
    reasons = {v.variant: (v.outcome, v.reason) for v in rec.verdicts}
    assert reasons["int8"] == ("chosen", "best speedup 2.31× among candidates")
    assert reasons["pruned-30"] == ("runner-up", "#2 of 2: speedup 0.81× vs speedup 2.31×")
    assert reasons["pruned-30-int8"] == ("over-tolerance", "accuracy drop 1.38 pts > tolerance 1.00 pts")
    assert reasons["pruned-50"] == ("over-tolerance", "accuracy drop 2.18 pts > tolerance 1.00 pts")
    assert reasons["teacher"][0] == "baseline"
    # A tolerance that only pruned-30 meets: it is slower than the teacher, and the note says so.
    assert recommend(NOTEBOOK, "speed", Tolerance(0.5)).note == "pruned-30 is slower than the teacher (speedup 0.81×)"


def test_dominated_candidates_beyond_the_runners_up_say_by_whom() -> None:
    group = _group(
        _candidate("teacher", 90.0, 10.0, 100.0),
        *[_candidate(f"v{i}", 89.5, 5.0 + i, 50.0 + i) for i in range(5)],
    )
    rec = recommend(group, "speed", Tolerance(1.0))
    assert rec.chosen == "v0" and rec.runners_up == ("v1", "v2", "v3")
    assert rec.verdict("v4").outcome == "dominated"
    assert rec.verdict("v4").reason == "dominated by v0, v1, v2, v3"


def test_fallback_to_the_teacher_is_explicit() -> None:
    rec = recommend(NOTEBOOK, "speed", Tolerance(1.0), max_p99_ms=5.0)
    assert rec.chosen == "teacher" and rec.fallback
    assert rec.note == (
        "no variant qualifies (2 misses deadline, 2 over tolerance); the teacher is recommended as the fallback "
        "(the teacher too misses a deadline: p99 latency 14.88 ms > deadline 5 ms)"
    )
    assert rec.verdict("int8").reason == "p99 latency 6.44 ms > deadline 5 ms"


def test_energy_priority_without_energy_numbers_says_so() -> None:
    rec = recommend(NOTEBOOK, "energy", Tolerance(2.0))
    assert rec.fallback
    assert rec.verdict("int8").reason == "energy_per_1k_queries_j not measured, needed for priority energy"
    group = _group(
        _candidate("teacher", 88.0, 10.0, 80.0, energy_per_1k_queries_j=50.0),
        _candidate("a", 87.5, 5.0, 40.0, energy_per_1k_queries_j=20.0),
        _candidate("b", 87.9, 4.0, 40.0, energy_per_1k_queries_j=25.0),
    )
    assert recommend(group, "energy", Tolerance(1.0)).chosen == "a"  # lowest energy, not the fastest
    assert recommend(group, "speed", Tolerance(1.0)).chosen == "b"


def test_relative_tolerance_is_a_share_of_the_teacher_accuracy() -> None:
    rec = recommend(NOTEBOOK, "speed", Tolerance(1.0, relative=True))  # 1 % of 88.19 = 0.88 points
    assert rec.tolerance_pts == pytest.approx(0.8819)
    assert rec.chosen == "pruned-30"
    assert parse_tolerance("2%") == Tolerance(2.0, True)
    assert parse_tolerance("0.5pts") == Tolerance(0.5, False)
    with pytest.raises(SuiteInputError, match="--tolerance"):
        parse_tolerance("lots")


def test_scorecard_against_sla_targets() -> None:
    targets = SlaTargets(max_accuracy_drop_pts=1.0, min_size_reduction_pct=30.0, min_latency_p99_reduction_pct=50.0)
    card = scorecard(NOTEBOOK, "int8", targets)
    size = card.kpi("Size on disk")
    assert (size.teacher, size.student, size.improvement, size.status) == ("86.66", "55.87", "35.5 % lower", "pass")
    latency = card.kpi("Latency p99")
    assert (latency.improvement, latency.status) == ("56.8 % lower (2.31× faster)", "pass")
    accuracy = card.kpi("Accuracy")
    assert (accuracy.improvement, accuracy.target, accuracy.status) == ("-0.92 pts", "drop ≤ 1 pts", "pass")
    assert card.kpi("Peak memory").status == "no target"
    assert card.kpi("Deployment readiness").status == "pass"
    assert card.status == "pass"
    assert scorecard(NOTEBOOK, "pruned-50", targets).status == "fail"
    # A target that cannot be checked makes the scorecard incomplete, never a silent pass.
    assert scorecard(NOTEBOOK, "int8", SlaTargets(min_size_reduction_pct=None, max_peak_rss_mb=100.0)).status == (
        "incomplete"
    )
    with pytest.raises(SuiteInputError, match=r"config\.sla\.max_drop"):
        SlaTargets.from_mapping({"max_drop": 1}, "results/config.resolved.json")


def test_recommend_cli_text_and_json(tmp_path, capsys) -> None:
    from test_render import _leaderboard

    parquet = _leaderboard(tmp_path)
    assert main(["recommend", "--input", str(parquet), "--priority", "speed", "--tolerance", "1", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["chosen"] == "dq-int8"
    assert answer["fallback_to_teacher"] is False
    assert {v["variant"]: v["outcome"] for v in answer["verdicts"]}["<script>alert(1)</script>"] == "not-measured"
    assert main(["recommend", "--input", str(parquet), "--priority", "speed", "--tolerance", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "recommended: teacher (fallback: the teacher)" in text
    assert "dq-int8: over-tolerance: accuracy drop 0.56 pts > tolerance 0.10 pts" in text


# --- paired speedups: intervals, ties, the A/A noise floor, contended hosts -----------------------------------------

AA = "A/A: 'teacher' against a second, independently loaded copy of itself in one process: 30 rounds"
PAIRED = "paired: per round teacher's median latency / this variant's, median over 30 rounds"
LOAD = {"host_other_cpu_pct": 35.0, "host_steal_pct": 0.0, "calibration_drift_pct": 4.2}
CONTENDED_TEXT = "timed on a contended host (other processes' CPU 35.0 %, steal 0.0 %, calibration drift +4.2 %)"


def _paired(
    name: str,
    accuracy: tuple[float, float, float],
    speedup: tuple[float, float, float],
    size: float = 50.0,
    contended: bool = False,
    oversubscribed: bool | None = None,
) -> Candidate:
    """A candidate of results with paired timing: accuracy and speedup with their intervals (value, low, high);
    `oversubscribed` None: no such row (results from before it was written)."""
    p50 = 10.0 if name == "teacher" else 10.0 / speedup[0]  # the teacher's A/A is no speedup of its own
    metrics = {
        "accuracy": Measure(accuracy[0], "%", ci_low=accuracy[1], ci_high=accuracy[2]),
        "speedup_p50": Measure(*speedup[:1], "x", *speedup[1:], n=30, measurement=AA if name == "teacher" else PAIRED),
        "latency_p50_ms": Measure(p50, "ms"),
        "latency_p99_ms": Measure(p50 * 1.5, "ms"),
        "size_mb": Measure(size, "MiB"),
        "nonfinite_rate": Measure(0.0, "%"),
        "contended": Measure(1.0 if contended else 0.0, "flag"),
        **{metric: Measure(value, "%") for metric, value in LOAD.items()},
    }
    if oversubscribed is not None:
        metrics["oversubscribed"] = Measure(float(oversubscribed), "flag")
    return Candidate(
        name, "teacher" if name == "teacher" else "m", "" if name == "teacher" else "teacher", "hw", metrics
    )


TEACHER_AA = _paired("teacher", (90.0, 88.0, 92.0), (0.99, 0.97, 1.02), size=80.0)


def test_the_teachers_a_a_speedup_is_the_noise_floor_and_its_own_speedup_is_one() -> None:
    group = _group(TEACHER_AA, _paired("a", (90.0, 88.0, 92.0), (2.0, 1.9, 2.1)))
    floor = group.noise_floor["speedup_p50"]
    assert (floor.value, floor.ci_low, floor.ci_high) == (0.99, 0.97, 1.02)
    reference = group.teacher.metrics["speedup_p50"]
    assert (reference.value, reference.ci_low, reference.ci_high, reference.derived) == (1.0, 0.97, 1.02, True)
    assert group.candidate("a").value("speedup_p50") == 2.0  # measured speedups stay as measured
    assert with_speedups(group) == group  # applying it again changes nothing


def test_overlapping_speedup_and_accuracy_intervals_are_ties_on_the_pareto_front() -> None:
    group = _group(
        TEACHER_AA,
        _paired("a", (90.0, 88.0, 92.0), (2.0, 1.9, 2.1)),
        _paired("b", (89.0, 87.0, 91.0), (1.95, 1.85, 2.05)),  # both intervals overlap a's: a tie
        _paired("c", (89.0, 87.0, 91.0), (1.5, 1.45, 1.55)),  # accuracy overlaps, speedup does not: dominated
    )
    result = pareto(group, resamples=200, seed=1)
    assert result.front == ("a",)
    assert (result.entry("b").dominated_by, result.entry("b").tied_with) == (("a",), ("a",))
    assert (result.entry("c").dominated_by, result.entry("c").tied_with) == (("a", "b"), ())
    # the teacher is larger on disk: dominated for real, whatever the intervals
    assert result.entry("teacher").tied_with == ()


def test_recommendation_reasons_name_ties_and_no_measurable_change() -> None:
    group = _group(
        TEACHER_AA,
        _paired("a", (90.0, 88.0, 92.0), (2.0, 1.9, 2.1)),
        _paired("b", (89.0, 87.0, 91.0), (1.95, 1.85, 2.05)),
        _paired("same", (90.0, 88.0, 92.0), (1.02, 0.98, 1.05)),
    )
    rec = recommend(group, "speed", Tolerance(2.0))
    reasons = {v.variant: (v.outcome, v.reason) for v in rec.verdicts}
    assert reasons["a"] == (
        "chosen",
        "best speedup 2.00× [1.90, 2.10] among candidates; tied with b (speedup and accuracy intervals overlap)",
    )
    assert reasons["b"] == (
        "runner-up",
        "#2 of 3: speedup 1.95× [1.85, 2.05] vs speedup 2.00× [1.90, 2.10]; tied with a (speedup and accuracy "
        "intervals overlap)",
    )
    assert reasons["same"] == (
        "runner-up",
        "#3 of 3: speedup 1.02× [0.98, 1.05] · no measurable change vs speedup 2.00× [1.90, 2.10]",
    )
    assert "no measurable change" not in reasons["a"][1] and rec.note == ""


def test_speed_priority_never_presents_no_measurable_change_as_faster() -> None:
    fast = _paired("fast", (90.0, 88.0, 92.0), (1.3, 1.2, 1.4))
    wide = _paired("wide", (90.0, 88.0, 92.0), (1.5, 0.9, 2.1))  # the higher estimate, but its interval contains 1
    same = _paired("same", (90.0, 88.0, 92.0), (1.02, 0.98, 1.05))
    rec = recommend(_group(TEACHER_AA, fast, wide, same), "speed", Tolerance(1.0))
    assert (rec.chosen, rec.runners_up, rec.note) == ("fast", ("wide", "same"), "")
    only = recommend(_group(TEACHER_AA, same), "speed", Tolerance(1.0))
    assert only.chosen == "same"
    assert only.verdict("same").reason == (
        "no candidate is measurably faster than the teacher; the highest estimate: speedup 1.02× [0.98, 1.05] · no "
        "measurable change"
    )
    assert only.note == (
        "same is not measurably faster than the teacher (speedup 1.02× [0.98, 1.05] · no measurable change: the "
        "interval contains 1)"
    )
    slower = recommend(
        _group(TEACHER_AA, _paired("slow", (90.0, 88.0, 92.0), (0.9, 0.85, 0.95))), "speed", Tolerance(1)
    )
    assert slower.note == "slow is slower than the teacher (speedup 0.90× [0.85, 0.95])"


def test_scorecard_does_not_judge_absolute_latencies_of_a_contended_host() -> None:
    targets = SlaTargets(max_accuracy_drop_pts=1.0, min_size_reduction_pct=None, min_latency_p99_reduction_pct=10.0,
                         max_latency_p99_ms=100.0)  # fmt: skip
    busy = _paired("busy", (90.0, 88.0, 92.0), (1.3, 1.2, 1.4), contended=True, oversubscribed=False)
    card = scorecard(_group(TEACHER_AA, busy), "busy", targets)
    latency = card.kpi("Latency p99")
    assert (latency.status, latency.reason) == ("not judged", CONTENDED_TEXT)
    assert latency.improvement == f"23.1 % lower (1.30× faster); {CONTENDED_TEXT}"
    assert card.status == "incomplete"  # neither a pass nor a fail
    # contended but not oversubscribed (the host's speed changed): the paired speedup stands
    speedup = card.kpi("Speedup p50")
    assert (speedup.student, speedup.improvement, speedup.reason) == ("1.30× [1.20, 1.40]", "measurably faster", "")
    assert speedup.teacher == "1.00× (the reference); A/A noise floor 0.99× [0.97, 1.02]"
    # other work shared the CPUs (or results without the row say nothing): the speedup is marked and not ranked
    for shared in (True, None):
        crowded = _paired("busy", (90.0, 88.0, 92.0), (1.3, 1.2, 1.4), contended=True, oversubscribed=shared)
        speedup = scorecard(_group(TEACHER_AA, crowded), "busy", targets).kpi("Speedup p50")
        assert (speedup.student, speedup.improvement, speedup.status, speedup.reason) == (
            "1.30× [1.20, 1.40] †",
            "not ranked",
            "no target",
            CONTENDED_TEXT,
        )
    # A contended teacher leaves the reduction relative to it not judged; the student's own deadline is judged.
    busy_teacher = _paired("teacher", (90.0, 88.0, 92.0), (0.99, 0.97, 1.02), size=80.0, contended=True)
    quiet = _paired("quiet", (90.0, 88.0, 92.0), (1.3, 1.2, 1.4))
    latency = scorecard(_group(busy_teacher, quiet), "quiet", targets).kpi("Latency p99")
    assert (latency.status, latency.reason) == ("not judged", f"the teacher was {CONTENDED_TEXT}")
    only_deadline = SlaTargets(max_accuracy_drop_pts=None, min_size_reduction_pct=None, max_latency_p99_ms=100.0)
    assert scorecard(_group(busy_teacher, quiet), "quiet", only_deadline).kpi("Latency p99").status == "pass"
    # a quiet host is judged as always
    assert scorecard(_group(TEACHER_AA, quiet), "quiet", targets).kpi("Latency p99").status == "pass"


def test_an_llm_scorecard_marks_the_decode_rate_of_a_contended_job_and_its_speedup_when_oversubscribed() -> None:
    def llm(name: str, rate: float, speedup: float, contended: bool = False, shared: bool = False) -> Candidate:
        metrics = {
            "mean_acc": Measure(60.0, "%", ci_low=58.0, ci_high=62.0),
            "decode_tokens_per_s": Measure(rate, "tokens/s"),
            "decode_speedup": Measure(speedup, "x", speedup - 0.05, speedup + 0.05, n=10, measurement=PAIRED),
            "size_mb": Measure(100.0, "MiB"),
            "contended": Measure(float(contended), "flag"),
            "oversubscribed": Measure(float(shared), "flag"),
            **{metric: Measure(value, "%") for metric, value in LOAD.items()},
        }
        return Candidate(name, "m", "teacher", "hw", metrics)

    group = _group(llm("teacher", 20.0, 1.0), llm("drift", 30.0, 1.5, True), llm("shared", 30.0, 1.5, True, True))
    drift = scorecard(group, "drift", None, LLM_METRICS).kpi("Decode tokens/s")
    assert (drift.student, drift.improvement, drift.reason) == ("30.00 †", "1.50× [1.45, 1.55]", CONTENDED_TEXT)
    shared = scorecard(group, "shared", None, LLM_METRICS).kpi("Decode tokens/s")
    assert (shared.student, shared.improvement) == ("30.00 †", "1.50× [1.45, 1.55] †, not ranked")
    assert recommend(group, "speed", Tolerance(1.0), metrics=LLM_METRICS).chosen == "drift"


def test_a_deadline_cannot_be_checked_on_a_contended_host() -> None:
    busy = _paired("busy", (90.0, 88.0, 92.0), (1.3, 1.2, 1.4), contended=True, oversubscribed=False)
    rec = recommend(_group(TEACHER_AA, busy), "speed", Tolerance(1.0), max_p99_ms=100.0)
    assert rec.verdict("busy").reason == f"p99 latency deadline ≤ 100 ms cannot be checked: {CONTENDED_TEXT}"
    assert recommend(_group(TEACHER_AA, busy), "speed", Tolerance(1.0)).chosen == "busy"  # no deadline: ranked


def test_speedups_of_a_job_whose_cpus_were_shared_are_not_ranked() -> None:
    """One busy loop on 2 vCPUs made a 2.9x paired speedup read 59x: an oversubscribed job's speedup ranks nothing."""
    crowded = _paired("crowded", (90.0, 88.0, 92.0), (59.0, 50.0, 70.0), contended=True, oversubscribed=True)
    drifted = _paired("drifted", (90.0, 88.0, 92.0), (1.3, 1.2, 1.4), contended=True, oversubscribed=False)
    quiet = _paired("quiet", (90.0, 88.0, 92.0), (1.5, 1.4, 1.6))
    group = _group(TEACHER_AA, crowded, drifted, quiet)
    rec = recommend(group, "speed", Tolerance(1.0))
    assert (rec.chosen, rec.runners_up) == ("quiet", ("drifted",))
    assert rec.verdict("crowded") == Verdict(
        "crowded",
        "contended",
        f"speedup (speedup_p50, or latency_p50_ms in results before paired timing) not ranked: {CONTENDED_TEXT}; "
        "rerun its measure job on a quiet host",
    )
    assert recommend(group, "balanced", Tolerance(1.0)).verdict("crowded").outcome == "contended"
    # energy is an absolute timing: any contended job's is left out; size is no timing: both stay
    energy = recommend(group, "energy", Tolerance(1.0))
    assert {energy.verdict(v).outcome for v in ("crowded", "drifted")} == {"contended"}
    assert recommend(group, "size", Tolerance(1.0)).verdict("crowded").outcome in ("chosen", "runner-up", "lower")
    # the Pareto front leaves it unranked, with the reason; the drifted job's paired speedup stands
    result = pareto(group)
    assert dict(result.unranked) == {"crowded": f"speedup_p50 {CONTENDED_TEXT}"}
    assert result.entry("drifted") is not None
    legacy = _paired("legacy", (90.0, 88.0, 92.0), (59.0, 50.0, 70.0), contended=True)  # no oversubscribed row
    assert _group(TEACHER_AA, legacy).candidate("legacy").unrankable("speedup_p50") == f"speedup_p50 {CONTENDED_TEXT}"
    assert _group(TEACHER_AA, drifted).candidate("drifted").unrankable("latency_p50_ms") == (
        f"latency_p50_ms {CONTENDED_TEXT}"
    )


def test_recommend_cli_reads_paired_speedups(tmp_path, capsys) -> None:
    from test_render import _paired_leaderboard

    parquet = str(_paired_leaderboard(tmp_path))
    assert (
        main(["recommend", "--input", parquet, "--priority", "speed", "--tolerance", "1", "--max-p99-ms", "100"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "recommended: twin"  # fast is faster, but its p99 was timed on a contended host
    assert f"  fast: misses-deadline: p99 latency deadline ≤ 100 ms cannot be checked: {CONTENDED_TEXT}" in lines
    assert (
        "  same: runner-up: #2 of 2: speedup 1.02× [0.98, 1.05] · no measurable change vs speedup 1.28× [1.18, 1.38]"
        in lines
    )

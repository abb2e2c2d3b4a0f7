"""Paired, interleaved latency (suite/trackers/paired.py) on a simulated clock: known costs, a host that slows down."""

import numpy as np
import pytest

from suite.trackers.paired import CANDIDATE, REFERENCE, measure_paired, median_with_ci


class Host:
    """A clock in ns and two models whose queries cost `ms` each, times the host's current slowdown."""

    def __init__(self, slowdown=lambda t_ns: 1.0):
        self.now, self.slowdown, self.calls = 0, slowdown, []

    def clock(self) -> int:
        return self.now

    def model(self, name: str, ms: float):
        def run(x):
            self.calls.append((name, x))
            self.now += int(ms * 1e6 * self.slowdown(self.now))

        return run


def paired(host: Host, ref_ms: float, cand_ms: float, inputs, **settings):
    """measure_paired on the simulated host: no warm-up, no minimum duration unless `settings` say otherwise."""
    defaults = {"warmup_runs": 0, "min_runs": 1, "min_seconds": 0.0, "seed": 0}
    return measure_paired(
        host.model("ref", ref_ms), host.model("cand", cand_ms), inputs, clock=host.clock, **{**defaults, **settings}
    )


def test_a_model_twice_as_fast_has_a_paired_speedup_of_exactly_two_with_a_zero_width_interval():
    host = Host()
    result = paired(host, 2.0, 1.0, list(range(7)), warmup_runs=3, block=5, min_rounds=4, min_runs=20)
    assert len(result.rounds) == 4 and result.samples(CANDIDATE).runs == 20 and result.samples(REFERENCE).runs == 20
    assert result.speedup() == (2.0, 2.0, 2.0) and result.speedup("mean") == (2.0, 2.0, 2.0)
    assert result.samples(REFERENCE).summary()["latency_p50_ms"] == 2.0


def test_both_models_see_the_same_inputs_in_each_round_in_a_seeded_random_order():
    host = Host()
    result = paired(host, 1.0, 1.0, list(range(10)), block=3, min_rounds=12, seed=7)
    per_round = [host.calls[i * 6 : (i + 1) * 6] for i in range(12)]
    for i, calls in enumerate(per_round):
        first, second = calls[:3], calls[3:]
        assert [x for _, x in first] == [x for _, x in second] == [(3 * i + j) % 10 for j in range(3)]
        assert {first[0][0], second[0][0]} == {"ref", "cand"}
    assert {order for order in result.orders} == {(REFERENCE, CANDIDATE), (CANDIDATE, REFERENCE)}
    again = paired(Host(), 1.0, 1.0, list(range(10)), block=3, min_rounds=12, seed=7)
    assert again.orders == result.orders


def test_a_host_that_slows_down_between_rounds_moves_both_latencies_but_not_the_paired_speedup():
    """The host runs 1x, then 5x slower, then 2x (another process came and went): each model's p50 moves, the
    per-round ratio does not; timing the two apart, in different phases, would give 1.5 / 5 = 0.3x for a 1.5x
    faster model."""
    phases = lambda t_ns: 1.0 if t_ns < 40e6 else (5.0 if t_ns < 200e6 else 2.0)  # noqa: E731
    host = Host(phases)
    result = paired(host, 1.5, 1.0, ["s"], block=4, min_rounds=30, seed=1)
    ref = result.samples(REFERENCE).samples_ms
    assert ref.min() == pytest.approx(1.5) and ref.max() == pytest.approx(7.5)  # the absolute figures moved 5x
    estimate, low, high = result.speedup()
    assert estimate == pytest.approx(1.5) and low == pytest.approx(1.5) and high == pytest.approx(1.5)


def test_the_minimum_duration_holds_for_each_model():
    host = Host()
    result = paired(host, 1.0, 4.0, ["s"], block=10, min_rounds=2, min_seconds=0.5)
    assert result.samples(REFERENCE).samples_ms.sum() >= 500.0  # the faster model set the number of rounds
    assert len(result.rounds) == 50 and result.speedup()[0] == 0.25


def test_the_bootstrap_interval_of_the_median_brackets_it_and_is_seeded():
    values = np.array([0.9, 1.0, 1.1, 1.05, 0.95, 1.2, 0.8, 1.0, 1.02, 0.98])
    estimate, low, high = median_with_ci(values, 0.95, 2000, seed=3)
    assert estimate == pytest.approx(1.0) and low <= estimate <= high and low >= 0.8 and high <= 1.2
    assert median_with_ci(values, 0.95, 2000, seed=3) == (estimate, low, high)


def test_bad_settings_are_refused():
    host = Host()
    with pytest.raises(ValueError, match="at least one input"):
        measure_paired(
            host.model("a", 1),
            host.model("b", 1),
            [],
            warmup_runs=0,
            block=1,
            min_rounds=2,
            min_runs=1,
            min_seconds=0,
            seed=0,
            clock=host.clock,
        )
    with pytest.raises(ValueError, match="min_rounds >= 2"):
        measure_paired(
            host.model("a", 1),
            host.model("b", 1),
            [1],
            warmup_runs=0,
            block=1,
            min_rounds=1,
            min_runs=1,
            min_seconds=0,
            seed=0,
            clock=host.clock,
        )


def test_self_timed_runs_give_their_own_samples_and_keep_the_timed_details():
    """A decode times its own steps: the sample is what the call returns, the clock is not read for it, and only the
    timed calls' details are kept (not the warm-up's or the untimed switch runs')."""
    calls = []

    def model(ns):
        def run(i):
            calls.append((ns, i))
            return ns, f"{ns}:{i}"

        return run

    result = measure_paired(model(6e6), model(2e6), [0, 1, 2], warmup_runs=1, block=2, switch_warmup=1,
                            min_rounds=3, min_runs=1, min_seconds=0, seed=0, self_timed=True,
                            clock=lambda: 0)  # fmt: skip
    assert result.speedup() == (3.0, 3.0, 3.0)
    assert len(result.details[REFERENCE]) == len(result.details[CANDIDATE]) == 6
    assert all(d.startswith("2000000.0:") for d in result.details[CANDIDATE])
    assert len(calls) == 2 * (1 + 3 * 3)  # warm-up, then per round 1 untimed + 2 timed each

"""The latency harness on a fake clock with a known latency distribution."""

import numpy as np
import pytest

from suite.trackers.latency import LatencyResult, measure_latency


class FakeClock:
    """Each query takes the next duration from a list; the clock only moves when a query runs."""

    def __init__(self, durations_ns):
        self.now = 0
        self.durations = list(durations_ns)
        self.calls = 0

    def __call__(self):
        return self.now

    def run(self, _x):
        self.now += self.durations[self.calls % len(self.durations)]
        self.calls += 1


def test_known_percentiles():
    # 1..100 ms, once each: mean 50.5, p50 50.5, p90 90.1, p99 99.01 (linear interpolation)
    result = LatencyResult(np.arange(1.0, 101.0), wall_seconds=5.05)
    summary = result.summary()
    assert summary["latency_mean_ms"] == pytest.approx(50.5)
    assert summary["latency_p50_ms"] == pytest.approx(50.5)
    assert summary["latency_p90_ms"] == pytest.approx(90.1)
    assert summary["latency_p99_ms"] == pytest.approx(99.01)
    assert summary["latency_std_ms"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))


def test_runs_until_min_count_when_queries_are_slow():
    clock = FakeClock([100_000_000])  # 100 ms each
    result = measure_latency(clock.run, [0], warmup_runs=3, min_runs=5, min_seconds=0.2, clock=clock)
    assert result.runs == 5  # 5 queries = 0.5 s > 0.2 s: the count is the binding minimum
    assert clock.calls == 8  # plus 3 warm-up queries, which are not timed
    assert np.allclose(result.samples_ms, 100.0)


def test_runs_until_min_duration_when_queries_are_fast():
    clock = FakeClock([1_000_000, 3_000_000])  # alternating 1 ms and 3 ms
    result = measure_latency(clock.run, [0, 1], warmup_runs=0, min_runs=5, min_seconds=1.0, clock=clock)
    assert result.runs == 500  # 500 queries x 2 ms mean = 1.0 s
    assert result.summary()["latency_mean_ms"] == pytest.approx(2.0)
    assert result.summary()["latency_p50_ms"] == pytest.approx(2.0)
    assert result.summary()["latency_p99_ms"] == pytest.approx(3.0)


def test_inputs_are_cycled_in_order():
    seen = []
    measure_latency(seen.append, ["a", "b", "c"], warmup_runs=2, min_runs=4, min_seconds=0)
    assert seen == ["a", "b", "a", "b", "c", "a"]


def test_no_inputs_is_an_error():
    with pytest.raises(ValueError, match="at least one input"):
        measure_latency(lambda x: x, [], warmup_runs=0, min_runs=1, min_seconds=0)

"""The load guard: was the host quiet while a job timed its models?

A timing job samples the host before, during and after its timed region: the CPU time the rest of the machine used
(all CPUs' busy time from /proc/stat minus this process's own time and its children's, from /proc/self/stat), the
time the hypervisor stole, the runnable tasks besides this process's own threads (/proc/stat `procs_running`, sampled
every `interval` seconds), and a short fixed calibration loop timed at the start and at the end. A job over any of
the limits is `contended`: its absolute latencies describe a busy machine, not the model. A job whose CPUs were
also shared with other work (other processes' CPU, steal or runnable tasks over their limits) is `oversubscribed`,
and then its paired speedups describe the machine too. Pairing (suite.trackers.paired) cancels a host that is slower
for both models alike (a calibration drift alone: the host's speed changed), but shared CPUs slow models unlike:
OpenMP regions wait on a descheduled thread, so a model of many small parallel operators loses far more than one of
few fused ones (one busy loop on 2 vCPUs: the 2-thread teacher 33-37x slower, `ort-int8` 3-5x, its paired speedup
59x and 34x in two runs against 2.9x quiet; README, "The speedup benchmark on the Intel Xeon VM").

Without /proc (not Linux) only the calibration loop is measured, and the result says so.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from suite.specs import LoadGuardSpec

PROC_STAT, PROC_SELF = Path("/proc/stat"), Path("/proc/self")
# What a contended job's timings are worth, in the measure job's `contended` row, suite table and on the site: its
# absolute timings always; its speedups too when the CPUs were shared (oversubscribed), else they stand.
ABSOLUTE_CONSEQUENCE = "its absolute timings are not judged against SLAs"
SHARED_CONSEQUENCE = (
    "nor are its speedups ranked: other work shared the CPUs, which slows models unlike, so pairing does not cancel it"
)
DRIFT_CONSEQUENCE = (
    "its paired speedups stand: no other work shared the CPUs and both models were timed in the same rounds"
)


def contended_consequence(oversubscribed: bool) -> str:
    """What a contended job's timings are worth, in words: its absolute timings, and its speedups too when other work
    shared its CPUs.

    >>> contended_consequence(False)
    'its absolute timings are not judged against SLAs; its paired speedups stand: no other work shared the CPUs and \
both models were timed in the same rounds'
    """
    if oversubscribed:
        return f"{ABSOLUTE_CONSEQUENCE}, {SHARED_CONSEQUENCE}"
    return f"{ABSOLUTE_CONSEQUENCE}; {DRIFT_CONSEQUENCE}"


CALIBRATION_REPEATS = 9


@dataclass(frozen=True)
class HostLoad:
    """What the host did during a timed region. `None`: not measurable on this host (no /proc)."""

    seconds: float
    other_cpu_pct: float | None  # the machine's CPU time used by other processes, % of all CPUs' time
    steal_pct: float | None  # time the hypervisor gave to other guests, % of all CPUs' time
    other_runnable: float | None  # mean runnable tasks besides this process's threads
    calibration_start_ms: float
    calibration_end_ms: float
    samples: int

    @property
    def calibration_drift_pct(self) -> float:
        return 100.0 * (self.calibration_end_ms / self.calibration_start_ms - 1.0)

    def exceeded(self, limits: LoadGuardSpec) -> list[str]:
        """The limits this region went over, each as 'figure > limit' (contended when any)."""
        drift = ("calibration drift", abs(self.calibration_drift_pct), limits.max_calibration_drift_pct, "%")
        return self.oversubscribed(limits) + _over([drift])

    def oversubscribed(self, limits: LoadGuardSpec) -> list[str]:
        """The limits on sharing the CPUs with other work this region went over: other processes' CPU, steal, other
        runnable tasks (the calibration drift aside: a host whose speed changed slows both models alike)."""
        return _over([
            ("other processes' CPU", self.other_cpu_pct, limits.max_other_cpu_pct, "%"),
            ("CPU steal", self.steal_pct, limits.max_steal_pct, "%"),
            ("other runnable tasks", self.other_runnable, limits.max_other_runnable, ""),
        ])  # fmt: skip

    def describe(self) -> str:
        def pct(value: float | None) -> str:
            return "not measurable here (no /proc/stat)" if value is None else f"{value:.1f} %"

        runnable = "not measurable" if self.other_runnable is None else f"{self.other_runnable:.2f}"
        return (
            f"over {self.seconds:.1f} s of timing: other processes' CPU {pct(self.other_cpu_pct)} of all CPUs' time, "
            f"steal {pct(self.steal_pct)}, runnable tasks besides this job's threads {runnable} (mean of "
            f"{self.samples} samples), calibration loop {self.calibration_start_ms:.2f} ms at the start and "
            f"{self.calibration_end_ms:.2f} ms at the end ({self.calibration_drift_pct:+.1f} %)"
        )


def _over(checks: list[tuple[str, float | None, float, str]]) -> list[str]:
    """The checks (name, figure, limit, unit) whose figure is over its limit, each as 'figure > limit'."""
    return [f"{name} {value:.1f}{unit} > {limit:g}{unit}" for name, value, limit, unit in checks
            if value is not None and value > limit]  # fmt: skip


def calibration_ms(repeats: int = CALIBRATION_REPEATS) -> float:
    """The fastest of `repeats` runs of a fixed single-threaded integer loop (about 8 ms on a 2020s server core):
    the minimum, because single runs on a shared host vary (measured on our VM, nothing else running: minima of 9
    within 7.7-9.8 ms over 12 tries, medians 8.6-11.7 ms)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        total = 0
        for i in range(200_000):
            total += i * i % 7
        times.append((time.perf_counter_ns() - start) / 1e6)
    return min(times)


def _cpu_ticks() -> tuple[int, int, int] | None:
    """(all, busy, steal) ticks of the machine's CPUs since boot, or None without /proc/stat."""
    try:
        fields = [int(x) for x in PROC_STAT.read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    # guest time is already counted in user/nice; steal is time this guest's CPUs wanted and did not get
    return user + nice + system + idle + iowait + irq + softirq + steal, user + nice + system + irq + softirq, steal


def _own_ticks() -> int | None:
    """This process's CPU ticks and those of its waited-for children (utime, stime, cutime, cstime)."""
    try:
        stat = (PROC_SELF / "stat").read_text()
    except OSError:
        return None
    after_name = stat.rsplit(")", 1)[1].split()
    return sum(int(x) for x in after_name[11:15])


def _other_runnable() -> int | None:
    """Runnable tasks on the machine minus this process's threads that are running now."""
    try:
        running = next(int(line.split()[1]) for line in PROC_STAT.read_text().splitlines()
                       if line.startswith("procs_running"))  # fmt: skip
        own = 0
        for task in (PROC_SELF / "task").iterdir():
            try:
                if (task / "stat").read_text().rsplit(")", 1)[1].split()[0] == "R":
                    own += 1
            except OSError:  # the thread ended between the listing and the read
                continue
    except (OSError, StopIteration):
        return None
    return max(0, running - own)


class LoadGuard:
    """Brackets a timed region: `start()` before it, `stop()` after it returns the HostLoad."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._runnable: list[int] = []
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._calibration_start = calibration_ms()
        self._t0 = time.perf_counter()
        self._cpu0, self._own0 = _cpu_ticks(), _own_ticks()
        self._thread = threading.Thread(target=self._sample, name="load-guard", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._halt.wait(self.interval):
            count = _other_runnable()
            if count is not None:
                self._runnable.append(count)

    def stop(self) -> HostLoad:
        if self._thread is None:
            raise RuntimeError("LoadGuard.stop() before start()")
        self._halt.set()
        self._thread.join()
        cpu1, own1 = _cpu_ticks(), _own_ticks()
        seconds = time.perf_counter() - self._t0
        other = steal = None
        if self._cpu0 and cpu1 and self._own0 is not None and own1 is not None:
            total = cpu1[0] - self._cpu0[0]
            if total > 0:
                busy, own = cpu1[1] - self._cpu0[1], own1 - self._own0
                other = 100.0 * max(0, busy - own) / total
                steal = 100.0 * (cpu1[2] - self._cpu0[2]) / total
        runnable = sum(self._runnable) / len(self._runnable) if self._runnable else None
        return HostLoad(
            seconds=seconds,
            other_cpu_pct=other,
            steal_pct=steal,
            other_runnable=runnable,
            calibration_start_ms=self._calibration_start,
            calibration_end_ms=calibration_ms(),
            samples=len(self._runnable),
        )

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

The guard measures; `timing_priority` defends. A measure job first lowers its threads' nice value (the track's
`load_guard.nice`, -20 by default), so the kernel gives other work at the default nice 0 about 1 % of a CPU that the
job's threads want, instead of an equal share. Measured on 2 vCPUs beside one `python -c "while True: pass"` (README,
*Timing at raised priority*): the teacher's p50 as fast as quiet instead of 2.6 times slower, and paired speedups
within 5 % of the quiet ones. Raising priority needs root, CAP_SYS_NICE or an RLIMIT_NICE that allows it; where it is
refused the job times at the priority it has, and its rows say so. At a raised priority other runnable tasks are not
a limit (they wait for the CPUs the job wants); the CPU time they did get still is.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
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
NICE_RANGE = (-20, 19)  # Linux: -20 the highest priority, 19 the lowest; 0 the default


def nice_share_pct(nice: int) -> float:
    """About how much of a contested CPU a task at nice 0 gets beside one at `nice`: the kernel's scheduler weights
    grow by 1.25 per nice step (1024 at nice 0, 88761 at -20; kernel/sched/core.c, sched_prio_to_weight).

    >>> round(nice_share_pct(-20), 1), nice_share_pct(0)
    (1.1, 50.0)
    """
    return 100.0 / (1.0 + 1.25 ** (-nice))


@dataclass(frozen=True)
class Priority:
    """The scheduling priority a timing job asked for and the one its threads run at (nice values)."""

    asked: int | None  # None: this caller did not ask (priority left as it was)
    nice: int | None  # None: not measurable (no os.getpriority on this platform)
    refused: str | None = None  # why the asked priority was not set

    def describe(self) -> str:
        """The priority in words, for the measurement text of the load guard's rows.

        >>> Priority(-20, -20).describe()
        'timed at nice -20 (load_guard.nice): other work at nice 0 gets about 1.1 % of a CPU this job wants'
        >>> Priority(-20, 0, "Permission denied").describe()
        'timed at nice 0: load_guard.nice -20 was refused (Permission denied)'
        """
        if self.nice is None:
            return f"scheduling priority not measurable here ({self.refused})"
        if self.refused:
            return f"timed at nice {self.nice}: load_guard.nice {self.asked} was refused ({self.refused})"
        if self.asked is None:
            return f"timed at nice {self.nice}, the priority the job started with (load_guard.nice not applied)"
        share = f"other work at nice 0 gets about {nice_share_pct(self.nice):.1f} % of a CPU this job wants"
        return f"timed at nice {self.nice} (load_guard.nice): {share}"


def current_priority() -> Priority:
    """The calling thread's nice value, not asked for."""
    if not hasattr(os, "getpriority"):
        return Priority(None, None, "no os.getpriority on this platform")
    return Priority(None, os.getpriority(os.PRIO_PROCESS, 0))


def timing_priority(nice: int) -> Priority:
    """What a timing job runs at for the config's `load_guard.nice`: that value, set on all its threads; 0 leaves the
    priority alone (the current one, not asked for)."""
    return set_priority(nice) if nice else current_priority()


@contextlib.contextmanager
def priority_restored() -> Iterator[None]:
    """When the block ends, the nice value the process had before it is put back on all its threads, those started
    inside it too, if anything in the block changed it. Raising the nice value back never needs privileges."""
    before = current_priority().nice
    try:
        yield
    finally:
        if before is not None and current_priority().nice != before:
            set_priority(before)


@contextlib.contextmanager
def priority_while(nice: int) -> Iterator[Priority]:
    """timing_priority(nice) for the duration of a block, in a process that goes on afterwards (`suite quick` times
    inside the caller's process): priority_restored around it."""
    with priority_restored():
        yield timing_priority(nice)


def set_priority(nice: int) -> Priority:
    """Set this process's threads to `nice` (on Linux a thread's nice value is its own; threads it starts later
    inherit it): every thread listed in /proc/self/task, else the calling one. A refusal is returned, not raised: the
    job then times at the priority it has, and says so."""
    if not NICE_RANGE[0] <= nice <= NICE_RANGE[1]:
        raise ValueError(f"nice {nice} is outside {list(NICE_RANGE)}")
    if not hasattr(os, "setpriority"):
        return Priority(nice, None, "no os.setpriority on this platform")
    try:
        threads = [int(task.name) for task in (PROC_SELF / "task").iterdir()]
    except OSError:
        threads = [0]
    try:
        for tid in threads:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
            except ProcessLookupError:  # the thread ended between the listing and the call
                continue
    except PermissionError as exc:
        refused = (
            f"{exc.strerror}: a nice value below the current one needs root, CAP_SYS_NICE or an RLIMIT_NICE that "
            "allows it (ulimit -e; /etc/security/limits.conf); set load_guard.nice: 0 to stop asking"
        )
        return Priority(nice, os.getpriority(os.PRIO_PROCESS, 0), refused)
    return Priority(nice, os.getpriority(os.PRIO_PROCESS, 0))


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
    nice: int | None = None  # the nice value the timing thread ran at (None: not known)

    @property
    def runnable_counts(self) -> bool:
        """Whether other runnable tasks are a limit: not at a raised priority (nice < 0), where they wait for the CPUs
        this job wants (beside one busy loop at nice -20: 1.03 runnable, 3.2 % of the CPU time); other processes'
        CPU still says how much they got."""
        return self.nice is None or self.nice >= 0

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
            ("other runnable tasks", self.other_runnable if self.runnable_counts else None,
             limits.max_other_runnable, ""),
        ])  # fmt: skip

    def describe(self) -> str:
        def pct(value: float | None) -> str:
            return "not measurable here (no /proc/stat)" if value is None else f"{value:.1f} %"

        runnable = "not measurable" if self.other_runnable is None else f"{self.other_runnable:.2f}"
        runnable += f" (mean of {self.samples} samples)"
        if self.other_runnable is not None and not self.runnable_counts:
            runnable += f"; no limit at nice {self.nice}: they wait for the CPUs this job wants"
        return (
            f"over {self.seconds:.1f} s of timing: other processes' CPU {pct(self.other_cpu_pct)} of all CPUs' time, "
            f"steal {pct(self.steal_pct)}, runnable tasks besides this job's threads {runnable}, calibration loop "
            f"{self.calibration_start_ms:.2f} ms at the start and "
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
        self._nice = current_priority().nice
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
            nice=self._nice,
        )

"""The load guard (suite.trackers.host) on a fake /proc with known tick counts, and on this host."""

import threading

import pytest

from suite.specs import LoadGuardSpec
from suite.trackers import host
from suite.trackers.host import HostLoad, LoadGuard, Priority

LIMITS = LoadGuardSpec(
    max_other_cpu_pct=10.0, max_steal_pct=5.0, max_other_runnable=0.5, max_calibration_drift_pct=10, nice=-20
)


class FakeProc:
    """A /proc/stat and /proc/self whose counters the test sets: cpu line, procs_running, own ticks, own threads."""

    def __init__(self, root):
        self.stat, self.me = root / "stat", root / "self"
        (self.me / "task" / "1").mkdir(parents=True)
        self.set(cpu=(0, 0, 0, 0, 0, 0, 0, 0), running=1, own=0)

    def set(self, cpu, running, own, thread_state="R"):
        self.stat.write_text(f"cpu  {' '.join(map(str, cpu))} 0 0\ncpu0 0 0 0 0\nprocs_running {running}\n")
        # comm with a space and a paren, as a real name may have: fields are counted after the last ')'
        fields = ["S"] + ["0"] * 10 + [str(own), "0", "0", "0"] + ["0"] * 30
        (self.me / "stat").write_text(f"123 (python (x) y) {' '.join(fields)}\n")
        (self.me / "task" / "1" / "stat").write_text(f"123 (python) {thread_state} 0 0\n")


@pytest.fixture
def fake_proc(tmp_path, monkeypatch):
    proc = FakeProc(tmp_path)
    monkeypatch.setattr(host, "PROC_STAT", proc.stat)
    monkeypatch.setattr(host, "PROC_SELF", proc.me)
    monkeypatch.setattr(host, "calibration_ms", lambda: 10.0)
    return proc


def test_other_processes_cpu_and_steal_are_the_machine_busy_ticks_minus_this_process_own(fake_proc):
    guard = LoadGuard(interval=3600)  # no runnable samples: only the tick deltas
    guard.start()
    # 1000 ticks of all CPUs: user 600 + system 100 busy (this process 400 of them), idle 250, steal 50
    fake_proc.set(cpu=(600, 0, 100, 250, 0, 0, 0, 50), running=1, own=400)
    load = guard.stop()
    assert load.other_cpu_pct == pytest.approx(30.0)  # (700 - 400) / 1000
    assert load.steal_pct == pytest.approx(5.0)
    assert load.calibration_drift_pct == 0.0 and load.other_runnable is None
    assert load.exceeded(LIMITS) == ["other processes' CPU 30.0% > 10%"]


def test_runnable_tasks_besides_this_process_own_running_threads_are_sampled(fake_proc, monkeypatch):
    monkeypatch.setattr(host, "current_priority", lambda: Priority(None, 0))  # at nice 0 they are a limit
    fake_proc.set(cpu=(0,) * 8, running=3, own=0)  # 3 runnable on the machine, 1 of them this process's thread
    guard = LoadGuard(interval=0.01)
    sampled = threading.Event()
    original = host._other_runnable

    def counting():
        sampled.set()
        return original()

    host._other_runnable = counting
    try:
        guard.start()
        assert sampled.wait(5)
        load = guard.stop()
    finally:
        host._other_runnable = original
    assert load.other_runnable == 2.0 and load.samples >= 1
    assert "other runnable tasks 2.0 > 0.5" in load.exceeded(LIMITS)


def test_a_calibration_loop_that_slows_down_during_timing_is_contention():
    load = HostLoad(10.0, 0.0, 0.0, 0.0, calibration_start_ms=8.0, calibration_end_ms=10.0, samples=40)
    assert load.calibration_drift_pct == pytest.approx(25.0)
    assert load.exceeded(LIMITS) == ["calibration drift 25.0% > 10%"]
    quiet = HostLoad(10.0, 1.0, 0.0, 0.0, calibration_start_ms=8.0, calibration_end_ms=8.4, samples=40)
    assert quiet.exceeded(LIMITS) == []
    assert load.oversubscribed(LIMITS) == []  # the host's speed changed: no other work shared the CPUs


def test_shared_cpus_make_a_job_oversubscribed_and_its_rows_say_what_its_speedups_are_worth():
    from suite.measure import load_guard_rows

    shared = HostLoad(10.0, 30.0, 6.0, 1.0, calibration_start_ms=8.0, calibration_end_ms=10.0, samples=40)
    assert shared.oversubscribed(LIMITS) == [
        "other processes' CPU 30.0% > 10%",
        "CPU steal 6.0% > 5%",
        "other runnable tasks 1.0 > 0.5",
    ]
    assert shared.exceeded(LIMITS) == [*shared.oversubscribed(LIMITS), "calibration drift 25.0% > 10%"]
    drift = HostLoad(10.0, 1.0, 0.0, 0.0, calibration_start_ms=8.0, calibration_end_ms=10.0, samples=40)
    quiet = HostLoad(10.0, 1.0, 0.0, 0.0, calibration_start_ms=8.0, calibration_end_ms=8.4, samples=40)
    for load, contended, oversubscribed, says in (
        (shared, 1.0, 1.0, "not judged against SLAs, nor are its speedups ranked: other work shared the CPUs"),
        (drift, 1.0, 0.0, "not judged against SLAs; its paired speedups stand: no other work shared the CPUs"),
        (quiet, 0.0, 0.0, "quiet: within every load_guard limit; load guard over the timed steps (latency)"),
    ):
        rows = {r.metric: r for r in load_guard_rows("v", load, LIMITS, ["latency"], Priority(-20, -20))}
        assert (rows["contended"].value, rows["oversubscribed"].value) == (contended, oversubscribed)
        assert says in rows["contended"].measurement
        assert rows["calibration_drift_pct"].value == pytest.approx(load.calibration_drift_pct)
        assert rows["timing_nice"].value == -20.0 and rows["timing_nice"].unit == "nice"
        assert "timed at nice -20 (load_guard.nice)" in rows["contended"].measurement


def test_at_a_raised_priority_runnable_tasks_are_not_a_limit_but_their_cpu_time_still_is():
    """Beside one busy loop at nice -20 (measured): 1.03 other runnable tasks, 3.2 % of the CPU time. The loop waits
    for the CPUs the job wants, so it does not share them; a competitor that does get CPU time still counts."""
    waiting = HostLoad(17.4, 3.2, 0.1, 1.03, calibration_start_ms=13.62, calibration_end_ms=13.40, samples=69, nice=-20)
    assert waiting.exceeded(LIMITS) == [] and waiting.oversubscribed(LIMITS) == []
    says = "1.03 (mean of 69 samples); no limit at nice -20: they wait for the CPUs this job wants"
    assert says in waiting.describe()
    sharing = HostLoad(17.4, 45.0, 0.1, 1.03, calibration_start_ms=13.6, calibration_end_ms=13.4, samples=69, nice=-20)
    assert sharing.oversubscribed(LIMITS) == ["other processes' CPU 45.0% > 10%"]
    at_default = HostLoad(17.4, 3.2, 0.1, 1.03, calibration_start_ms=13.6, calibration_end_ms=13.4, samples=69, nice=0)
    assert at_default.oversubscribed(LIMITS) == ["other runnable tasks 1.0 > 0.5"]


def test_a_refused_priority_is_recorded_with_the_nice_the_job_timed_at(monkeypatch):
    """EPERM (no root, CAP_SYS_NICE or RLIMIT_NICE): returned, not raised; the rows give the nice value it kept."""
    from suite.measure import load_guard_rows

    def refuse(which, who, value):
        raise PermissionError(1, "Permission denied")

    monkeypatch.setattr(host.os, "setpriority", refuse)
    monkeypatch.setattr(host.os, "getpriority", lambda which, who: 0)
    priority = host.set_priority(-20)
    assert (priority.asked, priority.nice) == (-20, 0)
    assert priority.refused.startswith("Permission denied: a nice value below the current one needs root")
    quiet = HostLoad(10.0, 1.0, 0.0, 0.0, calibration_start_ms=8.0, calibration_end_ms=8.4, samples=40)
    rows = {r.metric: r for r in load_guard_rows("v", quiet, LIMITS, ["latency"], priority)}
    assert rows["timing_nice"].value == 0.0
    assert "timed at nice 0: load_guard.nice -20 was refused (Permission denied: " in rows["timing_nice"].measurement
    with pytest.raises(ValueError, match="nice -21 is outside"):
        host.set_priority(-21)


def test_every_thread_of_the_process_gets_the_priority_and_later_threads_inherit_it():
    """In a child interpreter (the test process keeps its own priority): a thread started before the call and one
    started after it both run at the new nice value. A raise needs privileges; lowering the priority never does."""
    import subprocess
    import sys

    code = """
import os, threading
from suite.trackers.host import set_priority
got = {}
def report(name, go):
    go.wait(); got[name] = os.getpriority(os.PRIO_PROCESS, 0)
before = threading.Event(); early = threading.Thread(target=report, args=("before", before)); early.start()
target = os.getpriority(os.PRIO_PROCESS, 0) + 3
priority = set_priority(target)
after = threading.Event(); late = threading.Thread(target=report, args=("after", after)); late.start()
before.set(); after.set(); early.join(); late.join()
print(target, priority.nice, priority.refused, got["before"], got["after"])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    target = out[0]
    assert out == [target, target, "None", target, target]


def test_a_priority_held_for_a_block_is_put_back_on_every_thread_afterwards():
    """`suite quick` times inside the caller's process: in a child interpreter, a block at a raised priority (one
    below the current nice value; where that is refused, the refusal is returned and nothing changes), then every
    thread, one started inside the block too, at the nice value the process had."""
    import subprocess
    import sys

    code = """
import os, threading
from suite.trackers.host import priority_while
start = os.getpriority(os.PRIO_PROCESS, 0)
go, got = threading.Event(), {}
def report():
    go.wait(); got["inside"] = os.getpriority(os.PRIO_PROCESS, 0)
with priority_while(start - 1) as priority:
    during = os.getpriority(os.PRIO_PROCESS, 0)
    worker = threading.Thread(target=report); worker.start()
after = os.getpriority(os.PRIO_PROCESS, 0)
go.set(); worker.join()
print(start, priority.asked, priority.nice, priority.refused is not None, during, after, got["inside"])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    start = int(out[0])
    if out[3] == "True":  # no privilege to raise it: refused, kept, and nothing to put back
        assert out[1:] == [str(start - 1), str(start), "True", str(start), str(start), str(start)]
    else:
        assert out[1:] == [str(start - 1), str(start - 1), "False", str(start - 1), str(start), str(start)]


def test_without_proc_only_the_calibration_is_measured_and_the_text_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(host, "PROC_STAT", tmp_path / "none")
    monkeypatch.setattr(host, "PROC_SELF", tmp_path / "none-self")
    guard = LoadGuard(interval=0.01)
    guard.start()
    load = guard.stop()
    assert load.other_cpu_pct is None and load.steal_pct is None and load.other_runnable is None
    assert "not measurable here (no /proc/stat)" in load.describe()
    assert load.calibration_start_ms > 0


def test_a_busy_loop_beside_the_guard_on_this_host_is_seen_as_contention():
    """A second process spinning for the whole region: its CPU time is the machine's, not this process's."""
    import subprocess
    import sys
    import time

    if not host.PROC_STAT.is_file():
        pytest.skip("no /proc/stat on this host")
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        time.sleep(0.3)  # the interpreter has started and spins
        guard = LoadGuard(interval=0.05)
        guard.start()
        time.sleep(1.0)
        load = guard.stop()
    finally:
        spinner.kill()
        spinner.wait()
    cpus = len(host.PROC_STAT.read_text().split("\ncpu")) - 1  # one spinning CPU out of this many
    assert load.other_cpu_pct > 0.6 * 100 / cpus
    assert any(problem.startswith("other processes' CPU") for problem in load.exceeded(LIMITS))

"""The load window's CPU: real processes, measured per group and for the machine.

What a spinning process gets depends on how busy the machine is (a quarter of a core when
eight others want the two cores), so the meter's figure is held against the process's own
CPU seconds over the same window as the kernel counts them (`/proc/<pid>/stat`), read by the
test apart from the meter: a ratio, not an absolute share."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from harness.load.cpu_meter import CpuMeter, cpu_words
from harness.stack.leftovers import process_created
from harness.sweep.report import knee_words
from harness.sweep.run import sweep_record
from harness.sweep.steps import Step

_SPIN = "import time\nend = time.time() + 6\nwhile time.time() < end: pass\n"
_IDLE = "import time\ntime.sleep(6)\n"


def _group(code: str) -> tuple[subprocess.Popen, dict]:
    p = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    return p, {"pgid": p.pid, "created": process_created(p.pid)}


def _cpu_s(pid: int) -> float:
    """The process's CPU seconds (user + system) as the kernel counts them; it may have ended
    (a zombie keeps its counts until it is reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_busy_group_and_an_idle_one_are_told_apart():
    busy, gb = _group(_SPIN)
    idle, gi = _group(_IDLE)
    try:
        meter = CpuMeter({"merchant": gb, "toxiproxy": gi, "gone": {"pgid": 0}})
        time.sleep(0.3)                    # past the interpreters' start-up
        cpu0, t0 = _cpu_s(busy.pid), time.monotonic()
        meter.start()
        time.sleep(1.5)
        cpu = meter.stop()
        # the baseline: the cores this machine gave the spinner in this very window
        spun = (_cpu_s(busy.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    assert cpu is not None
    assert spun > 0.02, f"the spinner hardly ran ({spun:.3f} cores): no baseline to compare"
    assert 0.7 <= cpu["cores"]["merchant"] / spun <= 1.3, (spun, cpu)   # what it got, measured
    assert cpu["cores"]["toxiproxy"] <= 0.1 * spun + 0.01, (spun, cpu)  # asleep
    assert "gone" not in cpu["cores"] and "orchestrator" in cpu["cores"]
    assert cpu["system_cores"] == cpu["cores"]["merchant"]
    assert abs(cpu["harness_cores"] - (cpu["cores"]["toxiproxy"] + cpu["cores"]["orchestrator"])) < 0.01
    assert 0 < cpu["machine_busy_share"] <= 1 and cpu["machine_cores"] >= 1
    assert "the system under test" in cpu_words(cpu)


def test_a_reused_pid_is_not_measured():
    p, g = _group(_IDLE)
    try:
        g["created"] -= 100.0                 # recorded for another process of that pid
        meter = CpuMeter({"merchant": g})
        meter.start()
        time.sleep(0.3)                       # a window the machine's counters can see
        cpu = meter.stop()
    finally:
        p.kill()
        p.wait()
    assert "merchant" not in cpu["cores"] and cpu["system_cores"] is None
    assert "not measured" in cpu_words(cpu)


def test_a_stopped_meter_that_never_started_says_nothing():
    assert CpuMeter({}).stop() is None
    assert cpu_words(None) is None


def test_the_knee_names_a_machine_with_no_core_to_spare():
    def st(rate: float, verdict: str, busy: float) -> Step:
        return Step(target_rps=rate, faults=False, verdict=verdict, achieved_rps=rate,
                    p95_ms=10.0, run_dir=f"step-{rate:g}", machine_busy_share=busy,
                    system_cores=0.8, harness_cores=1.1)
    rec = sweep_record("capacity", 31, [st(100, "pass", 0.4), st(200, "fail", 0.97)], None,
                       "none", None)
    words = knee_words(rec, False)
    assert words.startswith("100 arrivals/s (the next step failed")
    assert "97% busy" in words and "0.8 cores" in words and "harness 1.1" in words
    calm = sweep_record("capacity", 31, [st(100, "pass", 0.4), st(200, "fail", 0.5)], None,
                        "none", None)
    assert knee_words(calm, False) == "100 arrivals/s (the next step failed)"
    assert cpu_words({"machine_busy_share": 0.95, "machine_cores": 2, "system_cores": 0.9,
                      "harness_cores": 1.0}).endswith("as much as the system's")


def test_a_process_that_ends_inside_the_window_still_counts():
    # it says its own CPU seconds as it ends: the baseline, taken apart from the meter
    p = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 1.2\n"
                          "while time.time() < end: pass\nprint(time.process_time())\n"],
                         start_new_session=True, stdout=subprocess.PIPE, text=True)
    g = {"pgid": p.pid, "created": process_created(p.pid)}
    try:
        time.sleep(0.2)
        meter = CpuMeter({"locust-w0": g}, interval_s=0.1)
        before = _cpu_s(p.pid)
        meter.start()
        out, _ = p.communicate(timeout=30)   # it ends, the window goes on
        time.sleep(0.8)
        cpu = meter.stop()
    finally:
        p.kill()
        p.wait()
    in_window = float(out) - before        # its CPU seconds inside the window
    assert in_window > 0.02, f"the process hardly ran ({in_window:.3f} s): no baseline"
    # a meter reading only the two ends would see nothing of it (the process is gone at the
    # end); this one misses at most the last interval (0.1 s) of it
    measured = cpu["cores"]["locust-w0"] * cpu["window_s"]
    assert 0.6 * in_window <= measured <= 1.2 * in_window + 0.02, (in_window, cpu)
    assert cpu["system_cores"] is None and cpu["harness_cores"] >= cpu["cores"]["locust-w0"]

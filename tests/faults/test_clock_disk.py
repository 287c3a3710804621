"""clock_skew and disk_full through real processes: a process started with the fault's
preparation sees its wall clock jump while it runs (and its monotonic clock not), and its
writes fail with ENOSPC for the window; the mount is gone after `close()`. Plus the checks
that need no process: attributes, targets, what to install."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.errors import MissingBinaryError, ScenarioError
from harness.faults.clock import ClockSkew, SignedDuration, find_libfaketime
from harness.faults.disk import DiskFull, data_dir
from harness.faults.plan import PlannedFault
from harness.faults.setup import FaultSetup, check_available
from harness.scenario import parse_scenario_text
from support.processes import ctrl_c_reaches_it

SCENARIO = """\
name: sys
duration: 30s
load: {{peak_rps: 2}}
faults:
  - {fault}
"""


def _problems(fault: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        parse_scenario_text(SCENARIO.format(fault=fault), "sys.yaml")
    return e.value.problems


def test_offsets_are_signed_durations() -> None:
    attr = ClockSkew.attrs["offset"]
    assert isinstance(attr, SignedDuration)
    assert attr.convert("-90s") == -90 and attr.convert("+10m") == 600 and attr.convert("2h") == 7200
    with pytest.raises(ValueError, match="changes nothing"):
        attr.convert("0s")
    with pytest.raises(ValueError, match="signed duration"):
        attr.convert(90)


def test_validation_names_the_line() -> None:
    p = _problems("{at: 5s, for: 5s, target: taxplatform, action: clock_skew, offset: -90s}")
    assert p == ["sys.yaml:5: faults[0].target: 'clock_skew' needs target: merchant, got 'taxplatform'"]
    p = _problems("{at: 5s, target: merchant, action: disk_full}")
    assert p == ["sys.yaml:5: faults[0].for: missing 'for' (a duration such as '30s')"]
    p = _problems("{at: 5s, for: 5s, target: merchant, action: disk_full, size_mb: 1}")
    assert "faults[0].size_mb: must be >= 4" in p[0]


def _planned(kind: str, family: str, target: str, **params: object) -> PlannedFault:
    return PlannedFault(id=f"f0_0_{kind}", kind=kind, family=family, target=target, params=dict(params),
                        start_s=1.0, end_s=2.0)


def test_missing_tools_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICE_CHAOS_LIBFAKETIME", "/nonexistent/libfaketime.so.1")
    with pytest.raises(MissingBinaryError, match="no such file"):
        check_available([_planned("clock_skew", "system", "merchant", offset=60.0)])
    monkeypatch.delenv("INVOICE_CHAOS_LIBFAKETIME")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(MissingBinaryError, match="needs root"):
        check_available([_planned("disk_full", "system", "merchant", size_mb=8)])


def _ctx(run_dir: Path) -> SimpleNamespace:
    return SimpleNamespace(stack=SimpleNamespace(cfg=SimpleNamespace(run_dir=run_dir)))


CLOCK_PROBE = """
import json, sys, time
for line in sys.stdin:
    print(json.dumps([time.time(), time.monotonic()]), flush=True)
"""


@pytest.mark.integration
def test_clock_skew_moves_a_running_process_wall_clock_only(tmp_path: Path) -> None:
    try:
        find_libfaketime()
    except MissingBinaryError as e:
        pytest.skip(str(e))
    fault = _planned("clock_skew", "system", "merchant", offset=600.0)
    setup = FaultSetup()
    setup.prepare([fault], tmp_path)
    env = {**os.environ, **setup.env["merchant"]}
    proc = subprocess.Popen([sys.executable, "-c", CLOCK_PROBE], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        def sample() -> tuple[float, float]:
            proc.stdin.write("next\n")
            proc.stdin.flush()
            wall, mono = json.loads(proc.stdout.readline())
            return wall - time.time(), mono - time.monotonic()
        before = sample()
        ClockSkew.apply(_ctx(tmp_path), fault)
        during = sample()
        ClockSkew.undo(_ctx(tmp_path), fault)
        after = sample()
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    assert abs(before[0]) < 2 and abs(after[0]) < 2
    assert 598 < during[0] < 602, during
    assert abs(during[1]) < 2                       # the monotonic clock did not move
    assert setup.close() == []


DISK_PROBE = """
import os, sys
path = sys.argv[1]
for line in sys.stdin:
    try:
        with open(path, "ab") as fh:
            fh.write(b"x" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
        print("ok", flush=True)
    except OSError as e:
        print(f"errno {e.errno}", flush=True)
"""


def _mounted(where: Path) -> bool:
    return any(line.split()[1] == str(where.resolve()) for line in Path("/proc/mounts").read_text().splitlines())


@pytest.mark.integration
def test_disk_full_fails_a_running_process_writes_for_the_window(tmp_path: Path) -> None:
    try:
        DiskFull.check_available()
    except MissingBinaryError as e:
        pytest.skip(str(e))
    fault = _planned("disk_full", "system", "merchant", size_mb=8)
    setup = FaultSetup()
    setup.prepare([fault], tmp_path)
    where = data_dir(tmp_path, "merchant")
    try:
        assert _mounted(where)
        proc = subprocess.Popen([sys.executable, "-c", DISK_PROBE, str(where / "outbox")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)

        def write() -> str:
            proc.stdin.write("go\n")
            proc.stdin.flush()
            return proc.stdout.readline().strip()
        assert write() == "ok"
        info = DiskFull.apply(_ctx(tmp_path), fault)
        assert info["ballast_bytes"] > 7 * 2**20
        assert write() == "errno 28"                 # ENOSPC
        DiskFull.undo(_ctx(tmp_path), fault)
        assert write() == "ok"
        proc.stdin.close()
        proc.wait(timeout=10)
    finally:
        problems = setup.close()
    assert problems == [] and not _mounted(where)
    assert setup.close() == []                       # idempotent


@pytest.mark.integration
def test_ctrl_c_during_disk_full_leaves_no_mount(tmp_path: Path) -> None:
    """A real run interrupted while the ballast fills DATA_DIR: the mount goes too."""
    try:
        DiskFull.check_available()
    except MissingBinaryError as e:
        pytest.skip(str(e))
    scenario = tmp_path / "df.yaml"
    scenario.write_text("name: df\nduration: 20s\nload: {peak_rps: 3}\nmerchant: {sellers: 2}\n"
                        "drain: {timeout: 10s}\nfaults:\n"
                        "  - {at: 2s, for: 15s, target: merchant, action: disk_full, size_mb: 8}\n")
    out = tmp_path / "run"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(out)], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=ctrl_c_reaches_it)
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        seen.append(line)
        if "fault on" in line and "disk_full" in line:
            break
        assert time.monotonic() < deadline, "".join(seen)
    assert _mounted(data_dir(out, "merchant")), "".join(seen)
    proc.send_signal(2)
    rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, "".join(seen) + rest
    assert not _mounted(data_dir(out, "merchant"))
    assert json.loads((out / "run.json").read_text())["interrupted"] is True


@pytest.mark.integration
def test_run_exits_3_before_anything_starts_without_libfaketime(tmp_path: Path) -> None:
    scenario = tmp_path / "cs.yaml"
    scenario.write_text("name: cs\nduration: 20s\nload: {peak_rps: 3}\nfaults:\n"
                        "  - {at: 2s, for: 5s, target: merchant, action: clock_skew, offset: +10m}\n")
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(tmp_path / "run")],
                       cwd=root, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "INVOICE_CHAOS_LIBFAKETIME": "/nonexistent/libfaketime.so.1"})
    assert r.returncode == 3, r.stdout + r.stderr
    assert "libfaketime" in r.stderr or "INVOICE_CHAOS_LIBFAKETIME" in r.stderr
    assert not (tmp_path / "run").exists()

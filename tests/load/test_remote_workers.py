"""Scale-out across machines (design.md s.10): two network namespaces are the load machines.

Each namespace runs `invoice-chaos worker --master <root side>:P`; the run binds its master
and the client-facing proxies to the root side's veth address, so the workers reach the
system only through the fault proxies and send their history back over Locust's connection
(no shared directory is used: the master writes every worker's history file itself).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.netns import LoadHosts, clear_leftovers, unavailable
from support.processes import ROOT, invoice_chaos
from harness.stack.ports import free_port

pytestmark = pytest.mark.integration

_why = unavailable()
needs_netns = pytest.mark.skipif(_why is not None, reason=f"scale-out namespace tests: {_why}")

ANOMALIES = ("lost", "duplicated", "phantom", "mismatched", "orphaned", "unresolved",
             "misreversed", "stale_reads")


@pytest.fixture
def hosts():
    clear_leftovers()
    h = LoadHosts(2)
    try:
        yield h.create()
    finally:
        h.close()


def _worker(hosts: LoadHosts, i: int, port: int, tmp: Path) -> subprocess.Popen[bytes]:
    return hosts.spawn(i, [sys.executable, "-m", "harness", "worker", "--master",
                           f"{hosts.bind}:{port}"], str(tmp / f"worker{i}.log"))


def _schedule_size(run_dir: Path) -> int:
    """Every arrival the run's schedule holds (all workers together)."""
    sys.path.insert(0, str(ROOT))
    from harness.load.config import LoadConfig
    from harness.load.curves import LoadShape
    from harness.load.schedule import arrivals
    cfg = LoadConfig.read(run_dir / "load" / "config.json")
    shape = LoadShape.of(cfg.curve, cfg.duration_s, cfg.peak_rps, cfg.compress_s)
    return sum(1 for _ in arrivals(shape, cfg.seed, cfg.mix))


def _by_host(run_dir: Path) -> dict[str, dict]:
    stats = json.loads((run_dir / "load-stats.json").read_text())
    return {w["host"]: w for w in stats["per_worker"]}


@needs_netns
def test_two_namespace_workers_play_smoke(hosts: LoadHosts, tmp_path: Path) -> None:
    port = free_port(hosts.bind)
    workers = [_worker(hosts, i, port, tmp_path) for i in range(2)]
    out = tmp_path / "run"
    proc = invoice_chaos("run", "scenarios/smoke.yaml", "--remote-workers", "2", "--bind", hosts.bind,
                         "--master-port", str(port), "--workers-timeout", "60s", "--out", str(out),
                         timeout=300)
    logs = proc.stdout + proc.stderr + "".join((tmp_path / f"worker{i}.log").read_text() for i in range(2))
    assert proc.returncode == 0, logs[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "pass"
    assert all(summary["invoices"][k] == 0 for k in ANOMALIES), summary["invoices"]
    # both workers' histories, written by the master from what the namespaces sent
    per_host = _by_host(out)
    assert set(per_host) == {hosts.address(0), hosts.address(1)}, per_host
    for w in per_host.values():
        lines = (out / "history" / f"{w['name']}.jsonl").read_text().splitlines()
        assert lines and all(json.loads(x)["proc"].startswith(w["name"] + ".") for x in lines)
        assert w["arrivals"] > 0 and not w["lost"]
    # their shares add up to the schedule: nothing played twice, nothing dropped unseen
    assert sum(w["arrivals"] + w["unsent"] for w in per_host.values()) == _schedule_size(out)
    # the workers end with the run
    for p in workers:
        assert p.wait(timeout=30) == 0


@needs_netns
def test_a_worker_killed_mid_run_is_named_and_causes_no_anomaly(hosts: LoadHosts, tmp_path: Path) -> None:
    scenario = tmp_path / "steady.yaml"
    scenario.write_text(
        "name: steady\nseed: 11\nduration: 15s\nload:\n  points: [[0s, 1.0], [15s, 1.0]]\n"
        "  peak_rps: 16\n  mix: {checkout: 75, query: 10, refund: 10, verify: 5}\n"
        "merchant:\n  sellers: 3\ndrain: {timeout: 20s}\n"
        "gates: {lost: 0, duplicated: 0, phantom: 0, mismatched: 0, orphaned: 0, unresolved: 0, "
        "misreversed: 0, stale_reads: 0}\n")
    port = free_port(hosts.bind)
    workers = [_worker(hosts, i, port, tmp_path) for i in range(2)]
    out = tmp_path / "run"
    run = subprocess.Popen([sys.executable, "-m", "harness", "run", str(scenario), "--remote-workers", "2",
                            "--bind", hosts.bind, "--master-port", str(port), "--out", str(out)],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # kill the second namespace's Locust worker once it has played a few arrivals
        victim = None
        seen: object = "nothing yet"
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.3)
            try:
                joined = json.loads((out / "load" / "workers.json").read_text())["workers"]
                w = next(w for w in joined if w["host"] == hosts.address(1))
                progress = json.loads((out / "load" / f"progress-{w['name']}.json").read_text())
            except (OSError, ValueError, KeyError, StopIteration) as e:
                seen = f"{type(e).__name__}: {e}"
                continue
            seen = progress
            if progress.get("arrivals", 0) >= 30:
                victim = w
        if victim is None:     # say what the run and the workers said, not only that it failed
            if run.poll() is None:
                run.kill()
            output, _ = run.communicate(timeout=60)
            logs = "".join(f"--- worker{i}.log\n" + (tmp_path / f"worker{i}.log").read_text(errors="replace")
                           for i in range(2) if (tmp_path / f"worker{i}.log").exists())
            pytest.fail(f"the second worker never got going (exit {run.returncode}; last seen: {seen})\n"
                        f"--- run\n{output[-3000:]}\n{logs[-3000:]}")
        os.kill(victim["pid"], signal.SIGKILL)
        output, _ = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, output[-4000:]
    meta = json.loads((out / "run.json").read_text())
    assert [w["name"] for w in meta["lost_workers"]] == [victim["name"]]
    assert meta["lost_workers"][0]["host"] == hosts.address(1)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "pass", summary["invoices"]
    assert all(summary["invoices"][k] == 0 for k in ANOMALIES), summary["invoices"]
    assert any(victim["name"] in n and "lost" in n for n in summary["notes"])
    report = (out / "report.html").read_text()
    assert "LOST at t=" in report and f"<td>{victim['name']}</td>" in report
    per_host = _by_host(out)
    lost, alive = per_host[hosts.address(1)], per_host[hosts.address(0)]
    assert lost["lost"] and lost["unplayed"] > 0 and not alive["lost"]
    stats = json.loads((out / "load-stats.json").read_text())
    # what the lost worker could not play is counted unsent, not hidden
    assert stats["arrivals"] + stats["unsent"] == _schedule_size(out)
    assert workers[0].wait(timeout=30) == 0


def test_too_few_workers_exit_3_naming_who_came(tiny_scenario, tmp_path: Path) -> None:
    """On loopback (no namespace needed): one worker joins, two were asked for."""
    port = free_port("127.0.0.1")
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "harness", "worker", "--master", f"127.0.0.1:{port}"],
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc = invoice_chaos("run", str(tiny_scenario()), "--remote-workers", "2", "--master-port", str(port),
                             "--workers-timeout", "15s", "--out", str(tmp_path / "run"), timeout=120)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        text = proc.stdout + proc.stderr
        assert "1 of 2 load workers joined within 15 s" in text, text
        assert "w0 (127.0.0.1, pid " in text
        assert worker.wait(timeout=30) is not None       # the run's end ends the worker
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()

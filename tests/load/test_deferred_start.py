"""A run's local Locust workers start while the stack comes up and get t0 only once every one
of them says it is ready (the local form of the remote workers' hello and assignment)."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from fakes.common.sellers import read_sellers
from harness import run as run_mod
from harness.load import LoadConfig
from harness.load.runner import start_load
from harness.run_record import RunRecord

from .conftest import start_standins
from .histories import check_pairs, read_history


class _Clock:
    """The runner's clock: it moves only when the workers take their time to be ready."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


class _Handle:
    """Records what the runner asks of a load handle, in order."""

    start_margin_s = 0.5                        # a local launch mode's

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, Any]] = []
        self.config = LoadConfig(merchant_url="", platform_url="", sellers=[{"seller_tax_id": "x"}],
                                 seed=1, duration_s=1, curve=[[0, 1]], compress_s=None,
                                 peak_rps=1, mix={"checkout": 1})

    def wait_ready(self, timeout_s: float) -> list[dict]:
        self.clock.now += 100.0                 # the workers take long to import Locust
        self.calls.append(("wait_ready", self.clock.now))
        return []

    def go(self, t0: float, **changes: Any) -> None:
        self.calls.append(("go", (t0, changes)))


def test_the_runner_picks_t0_after_every_local_worker_is_ready(monkeypatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(run_mod, "time", clock)
    handle = _Handle(clock)
    opts = run_mod.RunOptions(scenario_path="unused.yaml")
    t0 = run_mod._wait_for_workers(handle, opts, RunRecord(), lambda _s: None, merchant_url="http://m",
                                   platform_url="http://p")
    assert [c[0] for c in handle.calls] == ["wait_ready", "go"]
    ready_returned = handle.calls[0][1]
    go_t0, changes = handle.calls[1][1]
    assert go_t0 == t0 and ready_returned < t0 <= ready_returned + 1.0
    assert changes == {"merchant_url": "http://m", "platform_url": "http://p"}


@pytest.mark.integration
def test_local_workers_wait_for_the_go_and_its_config(started, tmp_path, sellers_file) -> None:
    merchant, platform = start_standins(started)
    cfg = LoadConfig(merchant_url="", platform_url="", sellers=read_sellers(sellers_file), seed=9,
                     duration_s=3, curve=[[0, 1]], compress_s=None, peak_rps=20,
                     mix={"checkout": 80, "query": 20}, request_timeout_s=3.0)
    handle = start_load(cfg, tmp_path / "run", deferred=True)
    try:
        ready = handle.wait_ready(90)
        assert [w["name"] for w in ready] == ["w0"]
        alive = {p.pid for _, p in handle.procs if p.poll() is None}
        assert ready[0]["pid"] in alive
        # ready, and still without a t0 or the URLs: nothing may have been sent yet
        load_dir = tmp_path / "run" / "load"
        assert json.loads((load_dir / "config.json").read_text())["t0"] == 0.0
        history = tmp_path / "run" / "history" / "w0.jsonl"
        assert not history.exists() or history.stat().st_size == 0
        said_ready = json.loads((load_dir / "ready-w0.json").read_text())["clock"]
        t0 = time.time() + 0.5
        handle.go(t0, merchant_url=merchant, platform_url=platform)
        res = handle.wait()
    finally:
        handle.close()
    assert res.exit_code == 0, res.error
    assert res.t0 == t0 > said_ready
    assert res.arrivals > 0 and res.unsent == 0
    stats = json.loads(res.stats_path.read_text())
    assert stats["late"] == 0
    events = read_history(res.history_files)
    check_pairs(events)
    assert min(e["ts"] for e in events) >= t0

"""run_load end to end: Locust in its own processes against real HTTP services."""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

from fakes.common.sellers import read_sellers
from harness.load import LoadConfig, LoadShape, run_load
from harness.load.master_port import MASTER_PORT_FILE
from harness.load.orders import OrderFactory
from harness.load.schedule import arrivals
from harness.stack import ports

from support.processes import free_port, platform_cmd, stranger

from .conftest import start_standins
from .histories import check_pairs, read_history

pytestmark = pytest.mark.integration

MIX = {"checkout": 70, "query": 15, "refund": 5, "verify": 10}


def config(merchant: str, platform: str, sellers: list, **kw) -> LoadConfig:
    base = dict(merchant_url=merchant, platform_url=platform, sellers=sellers, seed=4242,
                duration_s=10, curve=[[0, 0.3], [10, 1.0]], compress_s=None, peak_rps=30,
                mix=MIX, poll_interval_s=0.3, poll_limit=10, request_timeout_s=3.0)
    base.update(kw)
    return LoadConfig(**base)


def test_against_the_bundled_fakes(started, tmp_path, sellers_file):
    pp, pm = free_port(), free_port()
    started("taxplatform", platform_cmd(pp, tmp_path / "p", sellers_file), pp, startup_s=20)
    started("merchant", [sys.executable, "-m", "fakes.merchant"], pm, startup_s=20,
            env={"PORT": str(pm), "TAX_PLATFORM_URL": f"http://127.0.0.1:{pp}",
                 "SELLERS_FILE": str(sellers_file), "DATA_DIR": str(tmp_path / "m")})
    sellers = read_sellers(sellers_file)
    cfg = config(f"http://127.0.0.1:{pm}", f"http://127.0.0.1:{pp}", sellers)
    run_dir = tmp_path / "run"
    seen: list[dict] = []
    res = run_load(cfg, run_dir, on_progress=seen.append)

    assert res.exit_code == 0, res.error
    assert res.unsent == 0
    # the open model: exactly the seeded schedule was sent, however the system answered
    shape = LoadShape.of(cfg.curve, cfg.duration_s, cfg.peak_rps, cfg.compress_s)
    schedule = list(arrivals(shape, cfg.seed, cfg.mix))
    assert res.arrivals == len(schedule) > 100

    stats = json.loads(res.stats_path.read_text())
    assert stats["workers"] == 1 and stats["arrivals"] == res.arrivals
    assert len(stats["target"]) == 10
    tgt = sum(r for _, r in stats["target"])
    ach = sum(n for _, n in stats["achieved"])
    assert tgt == pytest.approx(195, rel=0.01)            # ∫ 30 * (0.3 .. 1.0) over 10 s
    assert ach == pytest.approx(tgt, rel=0.2)
    first, second = (sum(n for s, n in stats["achieved"] if lo <= s < lo + 5) for lo in (0, 5))
    assert second > first                                  # the ramp is followed

    assert seen and {"t", "arrivals", "in_flight", "ok", "fail", "info", "rps"} <= seen[-1].keys()
    assert seen[-1]["arrivals"] == res.arrivals

    events = read_history(res.history_files)
    check_pairs(events)
    ops = Counter((e["op"], e["type"]) for e in events)
    assert ops[("issue", "ok")] > 50 and ops[("query", "ok")] > 0 and ops[("verify", "ok")] > 0
    assert all(e["proc"].startswith("w0.") for e in events)
    assert all(-0.5 < e["t"] < cfg.duration_s + 5 for e in events)

    # the order data is the seeded one: same seed -> same orders
    factory = OrderFactory(cfg.seed, sellers, cfg.special_share, cfg.seller_skew)
    for e in [e for e in events if e["op"] == "issue" and e["type"] == "invoke"][:40]:
        index = int(e["order_id"].split("-")[1])
        o = factory.order(index)
        assert e["order"] == {k: o[k] for k in ("seller_tax_id", "buyer", "lines", "kind")}

    # what customers were told `issued` is in the platform's ledger under that number
    ledger = [json.loads(l) for l in httpx.get(f"http://127.0.0.1:{pp}/_admin/ledger",
                                               timeout=10).text.splitlines() if l.strip()]
    by_ref = {(i["order_ref"], i["invoice_no"]) for i in ledger if i["kind"] == "blue"}
    told = {(e["order_id"], e["invoice_no"]) for e in events
            if e["op"] == "issue" and e["type"] == "ok" and e["result"] == "issued"}
    assert told and told <= by_ref


def test_two_workers_share_the_schedule(started, tmp_path, sellers_file):
    merchant, platform = start_standins(started)
    cfg = config(merchant, platform, read_sellers(sellers_file), duration_s=6,
                 curve=[[0, 1]], peak_rps=40, workers=2)
    res = run_load(cfg, tmp_path / "run")
    assert res.exit_code == 0, res.error
    # t0 is picked once both workers are ready: however slowly Locust starts, nothing is late
    assert res.unsent == 0 and json.loads(res.stats_path.read_text())["late"] == 0
    assert [p.name for p in res.history_files] == ["w0.jsonl", "w1.jsonl"]
    shape = LoadShape.of(cfg.curve, cfg.duration_s, cfg.peak_rps)
    assert res.arrivals == len(list(arrivals(shape, cfg.seed, cfg.mix)))
    stats = json.loads(res.stats_path.read_text())
    assert stats["workers"] == 2
    events = read_history(res.history_files)
    check_pairs(events)
    prefixes = Counter(e["proc"].split(".")[0] for e in events if e["type"] == "invoke")
    assert set(prefixes) == {"w0", "w1"}
    assert abs(prefixes["w0"] - prefixes["w1"]) < 0.35 * sum(prefixes.values())
    # worker k played the arrivals with index % 2 == k (its own journey numbers)
    for e in events:
        k, journey = e["proc"].split(".")[:2]
        assert int(journey) % 2 == int(k[1:])


def test_the_master_binds_a_port_of_its_own_so_a_taken_one_cannot_stop_it(
        started, tmp_path, sellers_file, monkeypatch):
    merchant, platform = start_standins(started)
    with stranger() as taken:               # another run, on the port a pick would give
        monkeypatch.setattr(ports, "free_ports", lambda n, host=ports.LOOPBACK: [taken] * n)
        cfg = config(merchant, platform, read_sellers(sellers_file), duration_s=3,
                     curve=[[0, 1]], peak_rps=10, workers=2)
        res = run_load(cfg, tmp_path / "run")
    assert res.exit_code == 0, res.error
    port = json.loads((tmp_path / "run" / "load" / MASTER_PORT_FILE).read_text())["port"]
    assert 0 < port != taken
    assert res.arrivals == len(list(arrivals(LoadShape.of(cfg.curve, cfg.duration_s,
                                                          cfg.peak_rps), cfg.seed, cfg.mix)))
    assert {p.name for p in res.history_files} == {"w0.jsonl", "w1.jsonl"}


def test_stop_event_ends_promptly_and_keeps_history(started, tmp_path, sellers_file):
    merchant, platform = start_standins(started, delay_ms=50)
    cfg = config(merchant, platform, read_sellers(sellers_file), duration_s=60,
                 curve=[[0, 1]], peak_rps=20)
    stop = threading.Event()
    startup = 3.0                                      # a caller's own t0 is kept
    t0 = time.time() + startup
    cfg = LoadConfig(**{**cfg.__dict__, "t0": t0})
    threading.Timer(t0 - time.time() + 3.0, stop.set).start()
    started = time.time()
    res = run_load(cfg, tmp_path / "run", stop_event=stop)
    took = time.time() - started
    assert res.interrupted and res.exit_code == 130
    assert took < startup + 3.0 + 8.0            # nowhere near the 60 s duration
    assert 20 <= res.arrivals <= 150
    events = read_history(res.history_files)
    assert len(events) >= 40 and max(e["t"] for e in events) < 10
    pids = [json.loads(p.read_text())["pid"]
            for p in (tmp_path / "run" / "load").glob("progress-w*.json")]
    assert pids
    for pid in pids:                                   # every Locust process is gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert json.loads(res.stats_path.read_text())["arrivals"] == res.arrivals


def test_workers_not_ready_within_startup_s_is_an_error_not_a_hang(tmp_path, sellers_file):
    cfg = config("http://127.0.0.1:9", "http://127.0.0.1:9", read_sellers(sellers_file),
                 duration_s=5, curve=[[0, 1]], peak_rps=5, workers=2, startup_s=0.05)
    started = time.time()
    res = run_load(cfg, tmp_path / "run")
    assert res.exit_code == 1 and "were ready within 0.05 s" in (res.error or "")
    assert res.arrivals == 0 and time.time() - started < 15
    assert not list((tmp_path / "run" / "load").glob("go.json"))

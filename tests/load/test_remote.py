"""The scale-out bookkeeping that needs no process (design.md s.10): addresses, shares, a lost
worker's open requests, the worker's batching history, and the usage errors (exit 2)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.load.config import LoadConfig
from harness.load.curves import LoadShape
from harness.load.remote import bind_problem, close_open_invokes, describe, parse_master, share_size
from harness.load.remote_worker import BatchHistory
from harness.load.schedule import arrivals


def _cfg(**kw) -> LoadConfig:
    base = dict(merchant_url="http://127.0.0.1:1", platform_url="http://127.0.0.1:2",
                sellers=[{"seller_tax_id": "S", "name": "n", "secret": "x"}], seed=3, duration_s=20,
                curve=[[0, 1.0], [20, 1.0]], compress_s=None, peak_rps=15, mix={"checkout": 1})
    return LoadConfig(**{**base, **kw})


def test_parse_master() -> None:
    assert parse_master("10.0.0.5:5557") == ("10.0.0.5", 5557)
    assert parse_master("invoice-chaos-master:6000") == ("invoice-chaos-master", 6000)
    assert parse_master("[::1]:5557") == ("::1", 5557)
    for bad in ("10.0.0.5", ":5557", "host:0", "host:http", "host:70000"):
        with pytest.raises(ValueError, match="--master"):
            parse_master(bad)


def test_bind_must_be_one_address_of_this_machine() -> None:
    assert bind_problem("127.0.0.1") is None
    assert "wildcard" in (bind_problem("0.0.0.0") or "")
    assert "not a name" in (bind_problem("localhost") or "")
    assert "not an address of this machine" in (bind_problem("203.0.113.77") or "")  # TEST-NET-3


def test_shares_partition_the_schedule() -> None:
    cfg = _cfg()
    shape = LoadShape.of(cfg.curve, cfg.duration_s, cfg.peak_rps, cfg.compress_s)
    total = sum(1 for _ in arrivals(shape, cfg.seed, cfg.mix))
    sizes = [share_size(cfg, k, 3) for k in range(3)]
    assert sum(sizes) == total > 0 and max(sizes) - min(sizes) <= 1


def test_a_lost_workers_open_invokes_become_info(tmp_path: Path) -> None:
    path = tmp_path / "w1.jsonl"
    h = BatchHistory("w1", t0=100.0)
    h.invoke("issue", "O3-1", journey=1, ts=101.0)
    h.complete("issue", "ok", "O3-1", journey=1, result="issued", status=201, ts=101.2)
    h.invoke("query", "O3-1", journey=1, ts=102.0)              # open
    h.invoke("issue", "O3-4", journey=4, ts=102.5)              # open
    h.invoke("issue", "O3-7", journey=7, ts=102.6)
    h.complete("issue", "fail", "O3-7", journey=7, status=422, ts=102.7)
    path.write_text("\n".join(h.take()) + "\n")
    assert close_open_invokes(path, t0=100.0, error="worker lost: test", ts=110.0) == 2
    events = [json.loads(x) for x in path.read_text().splitlines()]
    added = events[-2:]
    assert {(e["proc"], e["op"], e["type"]) for e in added} == {("w1.1", "query", "info"),
                                                                ("w1.4", "issue", "info")}
    assert all(e["t"] == 10.0 and e["error"] == "worker lost: test" for e in added)
    assert close_open_invokes(path, t0=100.0, error="again") == 0   # nothing open any more


def test_batch_history_ships_each_invoke_and_keeps_order() -> None:
    shipped: list[list[str]] = []
    h = BatchHistory("w0", t0=0.0)
    h.on_invoke = lambda: shipped.append(h.take())
    h.invoke("issue", "O1-0", journey=0, ts=1.0)
    h.complete("issue", "ok", "O1-0", journey=0, result="issued", ts=1.1)   # waits for the next
    assert [json.loads(x)["type"] for b in shipped for x in b] == ["invoke"]
    h.invoke("issue", "O1-1", journey=1, ts=1.2)
    assert [json.loads(x)["type"] for x in shipped[-1]] == ["ok", "invoke"]
    h.complete("issue", "info", "O1-1", journey=1, ts=1.3)
    rest = h.take()
    h.untake(rest)                                   # a failed send puts lines back, in order
    h.complete("issue", "ok", "O1-1", journey=1, ts=1.4)
    assert [json.loads(x)["ts"] for x in h.take()] == [1.3, 1.4]


def test_describe_names_the_worker_and_where_it_ran() -> None:
    assert describe({"name": "w1", "host": "10.231.7.6", "pid": 42}) == "w1 (10.231.7.6, pid 42)"
    assert describe({"name": "w0", "host": "127.0.0.1", "pid": 7, "local": True}) == \
        "w0 (local, 127.0.0.1, pid 7)"


@pytest.mark.parametrize("args, message", [
    (["--remote-workers", "2", "--bind", "203.0.113.77"], "not an address of this machine"),
    (["--remote-workers", "2", "--bind", "0.0.0.0"], "wildcard"),
    (["--bind", "127.0.0.1", "--master-port", "6000"], "are for --remote-workers"),
    (["--remote-workers", "2", "--workers-timeout", "60"], "--workers-timeout"),
    (["--remote-workers", "-1"], "--remote-workers must be >= 0"),
])
def test_bad_distribution_flags_exit_2_before_anything_starts(tmp_path: Path, capsys, args, message) -> None:
    out = tmp_path / "run"
    assert main(["run", "scenarios/smoke.yaml", "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_worker_needs_host_and_port(capsys) -> None:
    assert main(["worker", "--master", "nowhere"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert main(["worker", "--master", "127.0.0.1:5557", "--processes", "0"]) == 2

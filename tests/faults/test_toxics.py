"""Every network fault kind (harness/faults/toxics.py) applied with its own apply/undo on a real
Toxiproxy link of a real stack, its effect measured with real requests, and gone after undo.

Most probes go to the platform's /healthz or /openapi.json (~15 KB) through
`merchant->taxplatform` with fresh connections; two tests go end to end through the merchant.
Toxiproxy semantics (toxics/*.go): latency delays each chunk by `latency` ms per stream,
bandwidth is KB/s (1000 bytes), slicer's delay is in microseconds, timeout drops data and
closes after `timeout` ms (0: never, unless the upstream closes), reset_peer closes with
SO_LINGER 0 (RST) after `timeout` ms, limit_data closes after `bytes` bytes, slow_close delays
the close by `delay` ms; toxicity is the chance that a new connection gets the toxic.
"""
from __future__ import annotations

import time

import httpx
import pytest

from harness.stack.process import Service, ServiceSpec
from harness.stack.ports import free_ports
from harness.stack.toxiproxy_api import ToxiproxyClient, find_toxiproxy_server

from .kit import (applied, ledger, median_elapsed, merchant_issue, merchant_order, plan_one,
                      probe, wait_until)

pytestmark = pytest.mark.integration

LINK = "merchant->taxplatform"


def _port(live) -> int:
    return live.stack.ports[LINK]


def _toxic(link: str = LINK, **raw) -> dict:
    return {"for": "60s", "link": link, **raw}


def test_latency_adds_the_configured_delay_and_goes_away(healed):
    port = _port(healed)
    before = median_elapsed(port)
    fault = plan_one(_toxic(toxic="latency", latency=500))
    with applied(healed.stack, fault) as info:
        (tx,) = healed.stack.toxiproxy.toxics(LINK)
        assert info == {"toxics": [tx["name"]]}
        assert (tx["type"], tx["stream"], tx["toxicity"]) == ("latency", "downstream", 1)
        assert tx["attributes"] == {"latency": 500, "jitter": 0}
        during = median_elapsed(port)
    after = median_elapsed(port)
    assert healed.stack.toxiproxy.toxics(LINK) == []
    assert 0.45 <= during - before <= 0.9, (before, during)
    assert after < before + 0.2, (before, after)


def test_latency_stream_both_delays_each_direction(healed):
    port = _port(healed)
    fault = plan_one(_toxic(toxic="latency", latency=400, stream="both"))
    with applied(healed.stack, fault):
        toxics = healed.stack.toxiproxy.toxics(LINK)
        assert sorted(t["stream"] for t in toxics) == ["downstream", "upstream"]
        assert all(t["attributes"]["latency"] == 400 for t in toxics)
        during = median_elapsed(port)
    assert healed.stack.toxiproxy.toxics(LINK) == []
    assert 0.75 <= during <= 1.5, during          # 400 ms on the request + 400 ms on the answer


def test_latency_upstream_only_reaches_toxiproxy(healed):
    port = _port(healed)
    fault = plan_one(_toxic(toxic="latency", latency=400, stream="upstream"))
    with applied(healed.stack, fault):
        (tx,) = healed.stack.toxiproxy.toxics(LINK)
        assert tx["stream"] == "upstream"
        during = median_elapsed(port)
    assert 0.35 <= during <= 1.0, during


def test_toxicity_reaches_toxiproxy_and_decides_per_connection(healed):
    port = _port(healed)
    off = plan_one(_toxic(toxic="latency", latency=600, toxicity=0.0))
    with applied(healed.stack, off):
        (tx,) = healed.stack.toxiproxy.toxics(LINK)
        assert tx["toxicity"] == 0
        assert median_elapsed(port) < 0.3                 # no connection is affected
    half = plan_one(_toxic(toxic="latency", latency=200, toxicity=0.5))
    with applied(healed.stack, half):
        (tx,) = healed.stack.toxiproxy.toxics(LINK)
        assert tx["toxicity"] == 0.5
        slow = sum(probe(port).elapsed >= 0.18 for _ in range(16))
    # P(all 16 connections alike) = 2 * 0.5**16: some are delayed, some are not
    assert 1 <= slow <= 15, slow
    assert healed.stack.toxiproxy.toxics(LINK) == []


def test_down_refuses_connections_then_works_again(healed):
    port = _port(healed)
    fault = plan_one(_toxic(toxic="down"))
    with applied(healed.stack, fault):
        assert healed.stack.toxiproxy.proxies()[LINK]["enabled"] is False
        assert probe(port, timeout=2).outcome == "refused"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert healed.stack.toxiproxy.proxies()[LINK]["enabled"] is True
    assert probe(port).outcome == "ok"


def test_timeout_zero_hangs_a_call_until_the_client_gives_up(healed):
    port = _port(healed)
    fault = plan_one(_toxic(toxic="timeout", timeout=0))
    with applied(healed.stack, fault):
        t0 = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.5)
        waited = time.monotonic() - t0
    assert 1.4 <= waited <= 3.0, waited
    assert probe(port).outcome == "ok"


def test_timeout_with_a_delay_closes_without_an_answer(healed):
    port = _port(healed)
    fault = plan_one(_toxic(toxic="timeout", timeout=500))
    with applied(healed.stack, fault):
        t0 = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):     # closed, not one byte of the answer
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        waited = time.monotonic() - t0
    assert 0.45 <= waited <= 2.0, waited
    assert probe(port).outcome == "ok"


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_reset_peer_resets_the_connection(healed, stream):
    port = _port(healed)
    fault = plan_one(_toxic(toxic="reset_peer", timeout=0, stream=stream))
    with applied(healed.stack, fault):
        assert probe(port).outcome == "reset"
        with pytest.raises(httpx.ReadError, match="reset"):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert probe(port).outcome == "ok"


def test_reset_peer_waits_its_timeout_first(healed):
    port = _port(healed)
    fault = plan_one(_toxic(toxic="reset_peer", timeout=400))
    with applied(healed.stack, fault):
        p = probe(port)
    assert p.outcome == "reset" and p.data == b""
    assert 0.35 <= p.elapsed <= 1.5, p.elapsed


def test_bandwidth_slows_a_large_answer(healed):
    port = _port(healed)
    base = probe(port, "/openapi.json")
    assert base.outcome == "ok" and len(base.body) > 10_000
    expected = len(base.data) / 16_000                      # rate 16 KB/s, Toxiproxy's KB = 1000 B
    fault = plan_one(_toxic(toxic="bandwidth", rate=16))
    with applied(healed.stack, fault):
        slow = probe(port, "/openapi.json", timeout=10)
        small = probe(port)                                 # a small answer hardly notices
    after = probe(port, "/openapi.json")
    assert slow.outcome == "ok" and slow.body == base.body
    assert 0.8 * expected <= slow.elapsed <= 2.5 * expected + 0.3, (expected, slow.elapsed)
    assert small.elapsed < 0.3
    assert after.outcome == "ok" and after.elapsed < 0.3


def test_slicer_cuts_the_answer_into_small_delayed_pieces(healed):
    port = _port(healed)
    base = probe(port, "/openapi.json")
    assert len(base.chunks) <= 5
    fault = plan_one(_toxic(toxic="slicer", average_size=100, size_variation=0, delay=5000))
    with applied(healed.stack, fault):
        sliced = probe(port, "/openapi.json", timeout=20)
    after = probe(port, "/openapi.json")
    assert sliced.outcome == "ok" and sliced.body == base.body     # whole, only sliced
    pieces = sorted(sliced.chunks)
    assert len(pieces) >= len(sliced.data) // 200, len(pieces)
    assert pieces[len(pieces) // 2] <= 100, pieces[-10:]
    assert sliced.elapsed >= 0.4                                   # 5 ms between slices
    assert len(after.chunks) <= 5 and after.elapsed < 0.3


def test_slow_close_delays_the_close_not_the_data(healed):
    port = _port(healed)
    fault = plan_one(_toxic(toxic="slow_close", delay=800))
    with applied(healed.stack, fault):
        p = probe(port)
    after = probe(port)
    assert p.outcome == "ok" and p.status == 200
    assert p.first_byte_s is not None and p.first_byte_s < 0.3
    assert 0.75 <= p.elapsed <= 2.0, p.elapsed
    assert after.elapsed < 0.3


def test_limit_data_cuts_the_answer_after_the_byte_limit(healed):
    port = _port(healed)
    fault = plan_one(_toxic(toxic="limit_data", bytes=100))
    with applied(healed.stack, fault):
        cut = probe(port, "/openapi.json")
    after = probe(port, "/openapi.json")
    assert cut.outcome == "eof" and not cut.complete
    assert len(cut.data) == 100 and cut.status == 200
    assert after.outcome == "ok" and len(after.body) > 10_000


# --- end to end through the merchant ------------------------------------------------------
def _merchant_seconds(live) -> float:
    t0 = time.monotonic()
    r = merchant_issue(live.stack.merchant_url, merchant_order(live.sellers[0]))
    assert r.status_code == 201 and r.json()["status"] == "issued", r.text
    return time.monotonic() - t0


def test_latency_on_the_platform_link_slows_the_merchant(healed):
    _merchant_seconds(healed)                                     # login, warm up
    before = _merchant_seconds(healed)
    fault = plan_one(_toxic(toxic="latency", latency=700))
    with applied(healed.stack, fault):
        during = _merchant_seconds(healed)
    after = _merchant_seconds(healed)
    assert during - before >= 0.65, (before, during)
    assert after < before + 0.3, (before, after)


def test_down_platform_link_leaves_the_order_pending_then_issued(healed):
    order = merchant_order(healed.sellers[1])
    fault = plan_one(_toxic(toxic="down"))
    with applied(healed.stack, fault):
        r = merchant_issue(healed.stack.merchant_url, order)
        assert r.status_code == 202 and r.json()["status"] == "pending", r.text
        assert not [x for x in ledger(healed.stack.platform_direct) if x["order_ref"] == order["order_id"]]

    def issued() -> bool:
        got = httpx.get(f"{healed.stack.merchant_url}/v1/invoices/{order['order_id']}", timeout=5).json()
        return got["status"] == "issued"

    assert wait_until(issued, timeout=15, interval=0.2)
    stored = [x for x in ledger(healed.stack.platform_direct) if x["order_ref"] == order["order_id"]]
    assert len(stored) == 1


# --- the Toxiproxy wrapper itself ----------------------------------------------------------
def test_two_toxiproxy_clients_in_one_process_stay_apart(tmp_path):
    binary = find_toxiproxy_server()
    api_a, api_b, listen_a, listen_b, upstream = free_ports(5)
    from toxiproxy.api import APIConsumer
    saved = (APIConsumer.host, APIConsumer.port)     # the module's stack client uses it too
    servers = [Service(ServiceSpec(f"toxiproxy-{n}", [binary, "-host", "127.0.0.1", "-port", str(p)], p,
                                   health_path="/version", startup_timeout_s=15), tmp_path)
               for n, p in (("a", api_a), ("b", api_b))]
    try:
        for s in servers:
            s.start()
            s.wait_healthy()
        a = ToxiproxyClient(api_a)
        b = ToxiproxyClient(api_b)
        a.create_proxy("hop", listen_a, upstream)        # must land on server a
        b.create_proxy("hop", listen_b, upstream)
        a.add_toxic("hop", name="slow", type="latency", stream="downstream", toxicity=1.0,
                    attributes={"latency": 100})
        assert [t["name"] for t in a.toxics("hop")] == ["slow"]
        assert b.toxics("hop") == []
    finally:
        for s in servers:
            s.terminate(grace_s=2)
        APIConsumer.host, APIConsumer.port = saved

"""The customers: what one arrival does against the merchant and the platform.

Runs inside a Locust worker process (gevent, monkey-patched), never in the
orchestrator. It imports no Locust: the Locust event hook comes in as `fire`, so
Locust's own statistics stay meaningful while this module stays a plain client.

Journeys (docs/load-model.md):
- checkout: a new order, POST; an unknown outcome (`info`) makes the cashier retry the
  same order_id up to `retry_unknown` times with doubling backoff; `pending` is polled
  every `poll_interval_s` up to `poll_limit` times; ~2 % double-tap (two concurrent
  POSTs, same order_id); after `issued` some shoppers verify the number on the platform.
- query: poll an order this worker created earlier.
- refund: red-letter an issued order; an unknown outcome is retried once, same order.
- verify: look an issued invoice number up on the platform's read path.
A journey that finds nothing to query/refund/verify yet checks out instead.
Once the run's duration is over (`stopping`), no journey starts another request.

With a client adapter (`cfg.client`, design.md s.14) every merchant request of a journey is
one adapter call instead (`ask`): the same journeys, the same history pair per operation,
the answer read by harness/client/invoke.py. An adapter without `refund` makes a refund
arrival check out; one with `verify` is asked instead of the platform's read path.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import gevent
import orjson
from gevent import GreenletExit, Timeout
from gevent.pool import Group

from ..wire.classify import Outcome, RequestDeadline, classify_exception, classify_response
from .config import LoadConfig
from .history import HistoryWriter
from ..wire.http import FastClient
from .orders import OrderFactory
from .schedule import Arrival

__all__ = ["Counters", "Customers"]

_dumps, _loads, JSONDecodeError = orjson.dumps, orjson.loads, orjson.JSONDecodeError
#: What a checkout's invoke records of its order (design.md s.7 `order`): the body less its id.
_ORDER_KEYS = ("seller_tax_id", "buyer", "lines", "kind")
_REFUND_BODY = _dumps({"reason": "01"})
_time = time.time


@dataclass
class Counters:
    ok: int = 0
    fail: int = 0
    info: int = 0
    requests: int = 0
    achieved: dict[int, int] = field(default_factory=dict)   # second -> arrivals sent
    completed: dict[int, int] = field(default_factory=dict)  # second -> journeys finished


@dataclass
class _Issued:
    order_id: str
    seller_tax_id: str
    invoice_no: str | None


class Customers:
    """The customer behaviour of one worker process."""

    def __init__(self, cfg: LoadConfig, worker: int, history: HistoryWriter,
                 fire: Callable[..., Any] | None = None):
        self.cfg = cfg
        self.worker = worker
        self.history = history
        self.fire = fire
        self.counters = Counters()
        self.factory = OrderFactory(cfg.seed, cfg.sellers, cfg.special_share, cfg.seller_skew)
        self.sellers = {s["seller_tax_id"]: s for s in cfg.sellers}
        # A journey holds at most one connection (a double tap two), so the pool never
        # makes an arrival wait for a socket: waiting would be the harness's latency.
        conns = cfg.max_in_flight + 64
        self.merchant = FastClient(cfg.merchant_url, cfg.request_timeout_s, conns)
        self.platform = FastClient(cfg.platform_url, cfg.request_timeout_s, conns,
                                   ca_pem=cfg.platform_ca_pem)
        self.known: list[str] = []            # orders this worker sent (for query)
        self.issued: list[_Issued] = []       # issued, not refunded (refund / verify)
        self._tokens: dict[str, str] = {}
        self._deadline_s = cfg.request_timeout_s + 0.5
        # The second POST of a double tap runs beside its journey: the driver ends these
        # too, before the history closes (driver.py).
        self.taps = Group()
        self.stopping = False
        self.invoker: Any = None
        if cfg.client:
            from ..client.http import FastBackend
            from ..client.invoke import Invoker
            from ..client.loader import ClientSpec
            self.invoker = Invoker(ClientSpec.from_json(cfg.client), FastBackend(self.merchant),
                                   FastBackend(self.platform), cfg.sellers, cfg.request_timeout_s)

    def close(self) -> None:
        self.merchant.close()
        self.platform.close()

    # -- one request ----------------------------------------------------------
    def call(self, op: str, journey: str, order_id: str, method: str, client: FastClient,
             url: str, *, body: Any = None, headers: dict[str, str] | None = None,
             order: dict[str, Any] | orjson.Fragment | None = None, invoice_no: str | None = None,
             intended_ts: float | None = None) -> tuple[Outcome, int | None]:
        """Send one HTTP request and read its answer (classify.py) as one recorded call.

        `body`: a value to encode as JSON, or bytes already encoded."""
        payload = body if body is None or type(body) is bytes else _dumps(body)

        def send() -> tuple[Outcome, int | None, int]:
            status, content = client.request(method, url, payload, headers)
            try:
                parsed = _loads(content)
            except JSONDecodeError:
                parsed = None
            return classify_response(op, status, parsed), status, len(content)  # type: ignore[arg-type]
        return self._recorded(op, journey, order_id, method, send, order, invoice_no, intended_ts)

    def ask(self, op: str, journey: str, order_id: str, *args: Any,
            order: dict[str, Any] | orjson.Fragment | None = None, invoice_no: str | None = None,
            intended_ts: float | None = None) -> Outcome:
        """`call` for a client adapter: one adapter operation, read by harness/client/invoke.py,
        is one recorded call."""
        def send() -> tuple[Outcome, int | None, int]:
            outcome, status = self.invoker.run(op, *args)
            return outcome, status, 0
        return self._recorded(op, journey, order_id, "adapter", send, order, invoice_no,
                              intended_ts)[0]

    def _recorded(self, op: str, journey: str, order_id: str, request_type: str,
                  send: Callable[[], tuple[Outcome, int | None, int]],
                  order: dict[str, Any] | orjson.Fragment | None, invoice_no: str | None,
                  intended_ts: float | None) -> tuple[Outcome, int | None]:
        """Invoke, `send`, complete: one history pair and one Locust event, the whole call
        bounded by one request timeout. `intended_ts`: the arrival's scheduled start; the
        latency of an arrival's first request counts from there (no coordinated omission: a
        late start is latency). An exception out of `send` is read by classify.py."""
        history = self.history
        ts = history.invoke(op, order_id, journey=journey, order=order, invoice_no=invoice_no)
        start = ts if intended_ts is None or ts < intended_ts else intended_ts
        status: int | None = None
        exc: BaseException | None = None
        length = 0
        try:
            with Timeout(self._deadline_s, RequestDeadline()):
                outcome, status, length = send()
        except GreenletExit:
            history.complete(op, "info", order_id, journey=journey,
                             latency_ms=(_time() - start) * 1000,
                             error="interrupted: load stopped")
            self.counters.info += 1
            raise
        except Exception as e:                               # noqa: BLE001 - classified
            exc = e
            outcome = classify_exception(op, e)  # type: ignore[arg-type]
        latency_ms = (_time() - start) * 1000
        kind = outcome.type
        history.complete(op, kind, order_id, journey=journey, invoice_no=outcome.invoice_no,
                         result=outcome.result, status=status, latency_ms=latency_ms,
                         error=outcome.error)
        c = self.counters
        c.requests += 1
        if kind == "ok":
            c.ok += 1
        elif kind == "fail":
            c.fail += 1
        else:
            c.info += 1
        if self.fire is not None:
            err = exc if exc is not None else (
                None if kind == "ok" else RuntimeError(outcome.error or kind))
            self.fire(request_type=request_type, name=op, response_time=latency_ms,
                      response_length=length, exception=err, context={})
        return outcome, status

    # -- the merchant's three operations: its s.6 API, or the adapter ------------------
    def _issue(self, journey: str, oid: str, data: dict[str, Any], body: bytes,
               order: orjson.Fragment, intended_ts: float | None = None) -> Outcome:
        if self.invoker is not None:
            return self.ask("issue", journey, oid, data, order=order, intended_ts=intended_ts)
        return self.call("issue", journey, oid, "POST", self.merchant, "/v1/invoices",
                         body=body, order=order, intended_ts=intended_ts)[0]

    def _query(self, journey: str, oid: str, intended_ts: float | None = None) -> Outcome:
        if self.invoker is not None:
            return self.ask("query", journey, oid, oid, intended_ts=intended_ts)
        return self.call("query", journey, oid, "GET", self.merchant, f"/v1/invoices/{oid}",
                         intended_ts=intended_ts)[0]

    def _refund(self, journey: str, oid: str, intended_ts: float | None = None) -> Outcome:
        if self.invoker is not None:
            return self.ask("refund", journey, oid, oid, intended_ts=intended_ts)
        return self.call("refund", journey, oid, "POST", self.merchant,
                         f"/v1/invoices/{oid}/refund", body=_REFUND_BODY,
                         intended_ts=intended_ts)[0]

    # -- the journeys -----------------------------------------------------------
    def run(self, arrival: Arrival, intended_ts: float) -> None:
        self._journey(arrival, intended_ts)
        # finished journeys per second: what a saturated process really gets done
        sec = int(time.time() - self.cfg.t0)
        done = self.counters.completed
        done[sec] = done.get(sec, 0) + 1

    def _journey(self, arrival: Arrival, intended_ts: float) -> None:
        rng = random.Random(f"journey:{self.cfg.seed}:{arrival.index}")
        journey = str(arrival.index)
        kind = arrival.kind
        if kind == "query" and self.known:
            oid = self.known[rng.randrange(len(self.known))]
            self._query(journey, oid, intended_ts)
        elif kind == "refund" and self.issued and (self.invoker is None or self.invoker.has_refund):
            self.refund(journey, self.issued.pop(rng.randrange(len(self.issued))), intended_ts)
        elif kind == "verify" and any(i.invoice_no for i in self.issued[-50:]):
            cands = [i for i in self.issued[-50:] if i.invoice_no]
            item = cands[rng.randrange(len(cands))]
            self.verify(journey, item, intended_ts)
        else:
            self.checkout(arrival.index, journey, rng, intended_ts)

    def checkout(self, index: int, journey: str, rng: random.Random, intended_ts: float) -> None:
        data = self.factory.order(index)
        oid = data["order_id"]
        # The order is encoded once: the history's invoke embeds these bytes (a Fragment)
        # and the request body is the same object with `order_id` in front (an order is
        # exactly those keys, OrderFactory.order), so recording the order costs no second
        # encoding (docs/performance.md, "Load path").
        encoded = _dumps({k: data[k] for k in _ORDER_KEYS})
        order = orjson.Fragment(encoded)
        body = b'{"order_id":' + _dumps(oid) + b"," + encoded[1:]
        self.known.append(oid)
        if rng.random() < self.cfg.double_submit_share:
            # The double tap: a second POST of the same order, concurrently, own proc id.
            self.taps.spawn(self._issue, f"{journey}.2", oid, data, body, order)
        out = self._issue(journey, oid, data, body, order, intended_ts)
        backoff = self.cfg.retry_backoff_s
        for _ in range(self.cfg.retry_unknown):
            if out.type != "info" or self.stopping:
                break
            gevent.sleep(backoff)
            backoff *= 2
            if self.stopping:
                break
            out = self._issue(journey, oid, data, body, order)
        if out.type != "ok":
            return
        result, invoice_no = out.result, out.invoice_no
        for _ in range(self.cfg.poll_limit):
            if result != "pending" or self.stopping:
                break
            gevent.sleep(self.cfg.poll_interval_s)
            if self.stopping:
                break
            q = self._query(journey, oid)
            if q.type == "ok" and q.result in ("issued", "failed"):
                result, invoice_no = q.result, q.invoice_no
        if result == "issued":
            item = _Issued(oid, data["seller_tax_id"], invoice_no)
            self.issued.append(item)
            if invoice_no and rng.random() < self.cfg.verify_after_issue_share and not self.stopping:
                self.verify(journey, item, None)

    def refund(self, journey: str, item: _Issued, intended_ts: float) -> None:
        oid = item.order_id
        out = self._refund(journey, oid, intended_ts)
        if out.type == "info" and not self.stopping:
            gevent.sleep(self.cfg.retry_backoff_s)
            self._refund(journey, oid)

    def verify(self, journey: str, item: _Issued, intended_ts: float | None) -> None:
        """GET /v1/invoices/{no} on the platform as the order's seller; 401 -> log in again.
        An adapter with its own `verify` is asked instead."""
        if self.invoker is not None and self.invoker.has_verify:
            self.ask("verify", journey, item.order_id, item.invoice_no, item.seller_tax_id,
                     invoice_no=item.invoice_no, intended_ts=intended_ts)
            return
        for attempt in range(2):
            token = self._token(item.seller_tax_id, refresh=attempt > 0)
            headers = {"Authorization": f"Bearer {token}"} if token else None
            out, status = self.call("verify", journey, item.order_id, "GET", self.platform,
                                    f"/v1/invoices/{item.invoice_no}", headers=headers,
                                    invoice_no=item.invoice_no,
                                    intended_ts=intended_ts if attempt == 0 else None)
            if status != 401 or self.stopping:
                return

    def _token(self, seller_tax_id: str, refresh: bool = False) -> str | None:
        if not refresh and seller_tax_id in self._tokens:
            return self._tokens[seller_tax_id]
        seller = self.sellers.get(seller_tax_id)
        if seller is None:
            return None
        t = time.time()
        try:
            with gevent.Timeout(self.cfg.request_timeout_s + 0.5, RequestDeadline()):
                status, content = self.platform.request("POST", "/v1/auth/token", orjson.dumps({
                    "seller_tax_id": seller_tax_id, "secret": seller["secret"]}))
            body = orjson.loads(content) if status == 200 else None
            token = body.get("token") if isinstance(body, dict) else None
            err = None if token else RuntimeError(f"login: http {status}")
        except Exception as e:                               # noqa: BLE001
            token, err = None, e
        if self.fire is not None:
            self.fire(request_type="POST", name="login", response_time=(time.time() - t) * 1000,
                      response_length=0, exception=err, context={})
        if token:
            self._tokens[seller_tax_id] = token
        return token

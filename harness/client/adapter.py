"""`Adapter`: the base class of a client adapter (design.md s.14), the way a Locust `User`
is the base of a user class: the user writes mapping code only.

    from harness.client import Adapter, Answer

    class MyShop(Adapter):
        def on_start(self):                    # optional: log in
            self.token = self.http.post("/login", json={...}).json()["token"]
        def issue(self, order):                # {order_id, seller_tax_id, buyer, lines, kind}
            r = self.http.post("/orders/invoice", json=..., headers=...)
            ...
            return Answer.issued(no)           # or pending(), failed(code), unknown(why), unmapped(why, r)
        def query(self, order_id):             # the system's current word on the order
            ...
        def refund(self, order_id): ...        # optional
        def verify(self, invoice_no, seller_tax_id): ...   # optional: the shopper's own check

One instance per load process, shared by its concurrent journeys (greenlets), and one in the
orchestrator for the drain and the final read (threads): keep per-call data in local
variables; `self` holds what every call shares (a token). `on_start` runs once, before the
first call, and again after it raised; call it yourself to log in again (e.g. on an expired
token). Let transport errors of `self.http` through: the harness reads a timeout or a reset
as the system's unknown outcome. Raise `Unavailable` when the system itself said it cannot
answer now (its login refused with a 5xx, a maintenance answer): that is the system's
`unknown`, not the adapter's failure. Any other exception is an adapter error: recorded
with its type and message, counted apart, and the run cannot pass.
"""
from __future__ import annotations

import threading
from typing import Any

from .answer import Answer
from .http import AdapterHttp

__all__ = ["Adapter", "Unavailable", "REQUIRED", "OPTIONAL", "defines"]

#: What an adapter must define (exit 2 before anything starts otherwise) and may define.
REQUIRED = ("issue", "query")
OPTIONAL = ("refund", "verify", "on_start")


class Unavailable(Exception):
    """Raise inside an adapter when the system answered that it cannot serve the call now
    (a failed login, a maintenance page): recorded as the system's unknown outcome (`info`),
    not as an adapter error."""


class Adapter:
    """Subclass it; define `issue` and `query` (and optionally `refund`, `verify`,
    `on_start`). The harness sets `http`, `platform`, `sellers` and `settings` before
    `on_start`."""

    #: The system under test (through the `client->merchant` link in the load).
    http: AdapterHttp
    #: The tax platform's read path (`client->taxplatform`), for a `verify` of your own.
    platform: AdapterHttp
    #: seller_tax_id -> {seller_tax_id, name, secret}: the run's sellers (SELLERS_FILE).
    sellers: dict[str, dict[str, str]]
    #: `{"request_timeout_s": ...}`: what the harness allows one call.
    settings: dict[str, Any]

    def on_start(self) -> None:
        """Called once before the first call (and again after it raised): log in here."""

    def issue(self, order: dict[str, Any]) -> Answer:
        """The customer asks for the invoice of `order` ({order_id, seller_tax_id, buyer,
        lines, kind}); the same order_id again must never yield a second invoice."""
        raise NotImplementedError

    def query(self, order_id: str) -> Answer:
        """The system's current word on the order: issued / pending / failed / not_found."""
        raise NotImplementedError

    def time_left(self) -> float | None:
        """Seconds left for the call in progress (None: no bound). An adapter that polls
        should return `Answer.pending()` before it runs out: the harness polls via `query`."""
        return self.http.state.time_left()

    # -- the harness's side ---------------------------------------------------------------
    def _bind(self, http: AdapterHttp, platform: AdapterHttp, sellers: dict[str, dict[str, str]],
              settings: dict[str, Any]) -> None:
        self.http = http
        self.platform = platform
        self.sellers = sellers
        self.settings = settings
        self._ic_started = False
        self._ic_start_lock = threading.Lock()

    def _ensure_started(self) -> None:
        if self._ic_started:
            return
        with self._ic_start_lock:
            if not self._ic_started:
                self.on_start()
                self._ic_started = True


def defines(cls: type, name: str) -> bool:
    """Does the adapter class define `name` itself (not only the base's placeholder)?"""
    own = getattr(cls, name, None)
    return callable(own) and own is not getattr(Adapter, name, None)


"""What every platform client of the bundled merchant offers the issuing core, and what it
may use of the core.

The core (service.py) owns the order: the durable row written before any platform call,
the customer's answer, the wait of a POST within its budget, the settler, the refund
bookkeeping and the defect switches. A platform client owns one protocol's wire: how one
step towards a decided invoice (or reversal) is taken on that platform, and how its
answers are read. The core calls only the methods of `Platform`; a client reaches the core
only through `Core`, a Protocol, so neither imports the other.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol

from ..answer import Answer
from ..amounts import Order
from ..modes import Behaviour
from ..store import OrderRow, Store

if TYPE_CHECKING:
    from ..config import MerchantConfig

__all__ = ["Core", "Kind", "Platform", "Reply", "backoff", "PLATFORMS", "register", "make_platform"]

Kind = Literal["ok", "refused", "throttled", "unknown"]


@dataclass(frozen=True, slots=True)
class Reply:
    """One platform answer as the core reads it, whatever the protocol: `ok`; `refused`
    (nothing was issued, definitely); `throttled` (nothing issued, come back after
    `retry_after`); `unknown` (the invoice may or may not exist)."""

    kind: Kind
    status: int | None = None
    body: Any = None
    retry_after: float | None = None
    error: str | None = None        # the platform's stable code, or the transport error's name
    message: str | None = None

    @property
    def error_code(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else self.error


def backoff(attempts: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter (0.2 s doubling, at most 5 s), never shorter than
    what the platform asked for."""
    base = min(5.0, 0.2 * (2 ** max(0, attempts - 1)))
    wait = base * (0.5 + random.random() / 2)
    return max(wait, retry_after or 0.0)


class Core(Protocol):
    """The part of the issuing core a platform client uses."""

    cfg: "MerchantConfig"
    b: Behaviour
    store: Store
    secrets: dict[str, str]

    def answer(self, row: OrderRow) -> Answer: ...

    async def _await_inflight(self, order_id: str) -> None: ...

    def _later(self, row: OrderRow, wait: float) -> float: ...

    async def _put(self, row: OrderRow) -> None: ...

    def _issued(self, row: OrderRow, invoice_no: str | None) -> None: ...

    def _refunded(self, row: OrderRow, red_no: str | None) -> None: ...


class Platform:
    """One protocol's client. Subclasses register under their profile name (platforms/
    __init__.py) and override what their protocol does differently.

    `attempt_issue` / `attempt_refund` take ONE step towards a final state and return how
    long to wait before the next step, or None when this call should stop trying (a final
    state, or only the settler may go on)."""

    #: the robust merchant group-commits its outbox rows on this platform (store.put_async)
    group_commit = False
    #: the platform acknowledges an order first and decides it later (nuonuo). `pending` is a
    #: promise to the customer (design.md s.7), and such a platform may still fail the
    #: order: so a query while the order's own POST still waits for the decision waits with
    #: it (within that POST's budget) and hears the decision rather than a `pending` that a
    #: failure could follow.
    decides_later = False

    def __init__(self, core: Core, sellers: list[dict[str, Any]]) -> None:
        self.m = core
        self.cfg = core.cfg
        self.b = core.b

    def tasks(self) -> list[asyncio.Task[None]]:
        """Background work of this protocol (started with the merchant)."""
        return []

    async def aclose(self) -> None:
        return None

    async def checkout(self, order: Order) -> Answer | None:
        """A protocol that decides at checkout itself (direct numbering) answers here;
        None lets the core's outbox path take the order."""
        return None

    def payload(self, order: Order, content: Order) -> dict[str, Any]:
        """The platform body of the order, fixed once so every resend carries the same: its
        keys (id, seller) from `order`, what is sold to whom from `content` (the same order,
        except under shared-state-race)."""
        raise NotImplementedError

    async def probe(self, seller: str) -> None:
        """A real round trip to the platform (shared-state-race awaits one mid-request)."""
        return None

    async def attempt_issue(self, row: OrderRow, timeout: float) -> float | None:
        raise NotImplementedError

    async def attempt_refund(self, row: OrderRow, timeout: float) -> float | None:
        raise NotImplementedError

    # -- the answers every protocol reads the same way ---------------------------------------
    def refused(self, row: OrderRow, code: str, message: str, was_uncertain: bool) -> None:
        """A definite refusal of this attempt: nothing was issued by it, the customer hears
        `failed` (an earlier attempt's "may exist" stays on the row)."""
        row.status, row.uncertain = "failed", was_uncertain
        row.error, row.message = code, message
        self.m.store.put(row)

    def throttled(self, row: OrderRow, reply: Reply, was_uncertain: bool) -> float:
        """Nothing was done; come back when the platform said (or in a second)."""
        row.uncertain = was_uncertain
        return self.m._later(row, reply.retry_after or 1.0)

    async def on_callback(self, raw: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        """POST /callback: a platform that pushes results (nuonuo's callBackUrl)."""
        return 404, {"error": "not_found", "message": "this platform sends no callbacks"}

    def counts(self) -> dict[str, Any] | None:
        """The protocol's own pipeline for GET /_admin/orders, if it has one."""
        return None


# -- the clients, by profile name ------------------------------------------------------------
PLATFORMS: dict[str, type[Platform]] = {}


def register(name: str) -> Callable[[type[Platform]], type[Platform]]:
    """Class decorator: the client of profile `name`."""
    def put(cls: type[Platform]) -> type[Platform]:
        PLATFORMS[name] = cls
        return cls
    return put


def make_platform(profile: str, core: Core, sellers: list[dict[str, Any]]) -> Platform:
    try:
        cls = PLATFORMS[profile]
    except KeyError:
        raise ValueError(f"unknown platform profile {profile!r}; known: {', '.join(PLATFORMS)}") from None
    return cls(core, sellers)

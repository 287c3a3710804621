"""What the KSeF tests share: a core for unit tests, an in-thread server, FA(3) invoices."""
from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from fakes.common import nip
from fakes.common.fa3 import Fa3Line, Fa3Party, build_fa3
from fakes.taxplatform.config import Dice, Faults, PlatformConfig
from fakes.taxplatform.frontends.ksef.crypto import KeyRing
from fakes.taxplatform.frontends.ksef.desk import KsefDesk, KsefSettings
from fakes.taxplatform.frontends.ksef.http import create_ksef_app, mounts
from fakes.taxplatform.frontends.ksef.limits import RateLimiter
from fakes.taxplatform.store import GroupCommitter, Store
from harness.stack.ports import listening_socket

SELLER = "5265877635"
BUYER = "7352765225"
TOKEN = f"20251010-EC-0000000000-0000000000-00|nip-{SELLER}|" + "ab" * 32
_KEYS: KeyRing | None = None


def keys() -> KeyRing:
    """One key ring per test process (RSA generation costs a fraction of a second)."""
    global _KEYS
    if _KEYS is None:
        _KEYS = KeyRing.create()
    return _KEYS


class UnitCore:
    """The parts of the ledger core the desk uses, over a real store and group commit."""

    def __init__(self, data: Path) -> None:
        self.store = Store(data / "platform.db")
        self.committer = GroupCommitter(self.store, lambda: 0.0)
        self.faults = Faults()
        self.dice = Dice(7)
        self.stats: Counter[str] = Counter()
        self.config = PlatformConfig()
        self._seq = self.store.next_seq()

    def clock(self) -> float:
        return self.store.clock()

    def take_seq(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    def lag_s(self) -> float:
        lag = self.faults.replica_lag_ms
        return (self.config.replica_lag_ms if lag is None else lag) / 1000.0

    def close(self) -> None:
        self.committer.close()
        self.store.close()


def invoice(number: str, *, seller: str = SELLER, order_ref: str | None = None,
            issue_date: str | None = None, amount: str = "100.00") -> bytes:
    return build_fa3(seller=Fa3Party(seller, "Sprzedawca sp. z o.o."),
                     buyer=Fa3Party(BUYER, "Nabywca S.A."), number=number,
                     issue_date=issue_date or time.strftime("%Y-%m-%d", time.gmtime()),
                     lines=[Fa3Line("Usługa", Decimal(1), Decimal(amount), Decimal("0.23"))],
                     order_ref=order_ref)


def random_nip(seed: int) -> str:
    return nip.generate(random.Random(seed))


@contextmanager
def served(data: Path, *, delay_s: float = 0.2, limit_factor: float = 1.0,
           time_scale: float = 1.0) -> Iterator[tuple[str, KsefDesk, UnitCore]]:
    """The KSeF routes over a unit core, served by uvicorn in a thread on 127.0.0.1."""
    core = UnitCore(data)
    desk = KsefDesk(core, keys(), KsefSettings(delay_s, {TOKEN: SELLER}))
    app = create_ksef_app(desk, RateLimiter(core.clock, limit_factor, time_scale))

    @contextlib.asynccontextmanager
    async def lifespan(_app):  # type: ignore[no-untyped-def]
        desk.start()
        yield
        await desk.stop()

    root = Starlette(routes=list(mounts(app)), lifespan=lifespan)
    sock = listening_socket()               # bound to port 0 here: no other process can take it
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(root, log_level="warning", lifespan="on"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the KSeF test server did not start"
    try:
        yield f"http://127.0.0.1:{port}", desk, core
    finally:
        server.should_exit = True
        t.join(10)
        sock.close()
        core.close()

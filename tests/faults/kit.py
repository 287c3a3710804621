"""What the fault tests share: a real LocalStack (support.stacks), raw HTTP probes that tell
a refused connection from a reset, a hang or a truncated answer, and small platform/merchant
clients. Everything binds and sends to 127.0.0.1 only; every loop is bounded."""
from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx

from fakes.common.sellers import Seller
from harness.faults import FaultContext, PlannedFault, PlatformAdmin, check_fault, expand
from harness.faults.registry import KINDS
from harness.stack.local import LocalStack
from support.stacks import PLATFORM_CONFIG, local_stack  # noqa: F401 - the fault tests use both

HOST = "127.0.0.1"


def ctx_of(stack: LocalStack) -> FaultContext:
    return FaultContext(stack.toxiproxy, stack, PlatformAdmin(stack.platform_direct))


def plan_one(raw: dict[str, Any], *, at: str = "0s", duration_s: float = 600.0,
             seed: int = 1) -> PlannedFault:
    """One planned fault built through the real validation and expansion path."""
    entry = {"at": at, **raw}
    problems: list[str] = []
    check_fault(entry, duration_s, lambda k, m: problems.append(f"{k}: {m}"))
    assert not problems, problems
    (fault,) = expand([(entry, "test:1")], seed, duration_s)
    return fault


def kind_of(fault: PlannedFault) -> Any:
    return KINDS[f"{fault.family}:{fault.kind}"]


@contextlib.contextmanager
def applied(stack: LocalStack, fault: PlannedFault) -> Iterator[dict]:
    """Apply a fault with its kind's own apply; always undo it."""
    cls = kind_of(fault)
    ctx = ctx_of(stack)
    info = cls.apply(ctx, fault)
    try:
        yield info
    finally:
        cls.undo(ctx, fault)


# --- raw HTTP probes ---------------------------------------------------------------------
@dataclass
class Probe:
    outcome: str                     # ok | refused | reset | timeout | eof (closed, maybe cut)
    elapsed: float
    status: int | None = None
    data: bytes = b""
    chunks: list[int] = field(default_factory=list)   # sizes of the successive recv()s
    first_byte_s: float | None = None

    @property
    def body(self) -> bytes:
        head, _, body = self.data.partition(b"\r\n\r\n")
        return body

    @property
    def content_length(self) -> int | None:
        head = self.data.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
        for line in head.split("\r\n"):
            if line.startswith("content-length:"):
                return int(line.split(":", 1)[1])
        return None

    @property
    def complete(self) -> bool:
        n = self.content_length
        return self.status is not None and n is not None and len(self.body) == n


def probe(port: int, path: str = "/healthz", *, timeout: float = 5.0, method: str = "GET",
          body: bytes = b"", headers: dict[str, str] | None = None) -> Probe:
    """One HTTP/1.1 request on a fresh connection with `Connection: close`, read to EOF.

    Tells apart: refused (nothing listens), reset (RST), timeout (no EOF within `timeout`),
    eof (closed; `complete` says whether the answer arrived whole)."""
    hdrs = {"Host": f"{HOST}:{port}", "Connection": "close", **(headers or {})}
    if body or method == "POST":
        hdrs["Content-Length"] = str(len(body))
        hdrs.setdefault("Content-Type", "application/json")
    req = (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
           + "\r\n").encode() + body
    t0 = time.monotonic()
    data = bytearray()
    chunks: list[int] = []
    first: float | None = None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    outcome = "eof"
    try:
        sock.connect((HOST, port))
        sock.sendall(req)
        deadline = t0 + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                outcome = "timeout"
                break
            sock.settimeout(left)
            part = sock.recv(65536)
            if not part:
                break
            if first is None:
                first = time.monotonic() - t0
            chunks.append(len(part))
            data += part
    except ConnectionRefusedError:
        outcome = "refused"
    except ConnectionResetError:
        outcome = "reset"
    except socket.timeout:
        outcome = "timeout"
    finally:
        sock.close()
    elapsed = time.monotonic() - t0
    status = None
    if data.startswith(b"HTTP/1.1 "):
        try:
            status = int(data[9:12])
        except ValueError:
            status = None
    p = Probe(outcome, elapsed, status, bytes(data), chunks, first)
    if p.outcome == "eof" and p.complete:
        p.outcome = "ok"
    return p


def median_elapsed(port: int, path: str = "/healthz", n: int = 3, timeout: float = 10.0) -> float:
    times = []
    for _ in range(n):
        p = probe(port, path, timeout=timeout)
        assert p.outcome == "ok" and p.status == 200, p
        times.append(p.elapsed)
    return sorted(times)[len(times) // 2]


# --- platform and merchant clients -------------------------------------------------------
def login(base: str, seller: Seller) -> str:
    r = httpx.post(f"{base}/v1/auth/token", json={"seller_tax_id": seller["seller_tax_id"],
                                                  "secret": seller["secret"]}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def issue_body(seller: Seller, order_ref: str | None = None, amount: str = "10.00") -> dict:
    ref = order_ref or f"o-{uuid.uuid4().hex[:10]}"
    return {"request_id": f"r-{uuid.uuid4().hex[:12]}", "order_ref": ref,
            "seller_tax_id": seller["seller_tax_id"], "buyer": {"name": "张三"}, "kind": "normal",
            "lines": [{"name": "苹果", "quantity": "1", "unit_price": amount, "tax_rate": "0.13"}]}


def issue(base: str, token: str, body: dict, timeout: float = 10.0) -> httpx.Response:
    return httpx.post(f"{base}/v1/invoices", json=body, timeout=timeout,
                      headers={"Authorization": f"Bearer {token}"})


def read_invoice(base: str, token: str, invoice_no: str) -> httpx.Response:
    return httpx.get(f"{base}/v1/invoices/{invoice_no}", timeout=5,
                     headers={"Authorization": f"Bearer {token}"})


def ledger(platform_direct: str) -> list[dict]:
    r = httpx.get(f"{platform_direct}/_admin/ledger", timeout=10)
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def admin_faults(platform_direct: str) -> dict:
    r = httpx.get(f"{platform_direct}/_admin/faults", timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def merchant_order(seller: Seller, order_id: str | None = None) -> dict:
    return {"order_id": order_id or f"m-{uuid.uuid4().hex[:10]}",
            "seller_tax_id": seller["seller_tax_id"], "buyer": {"name": "李四"}, "kind": "normal",
            "lines": [{"name": "牛奶", "quantity": "2", "unit_price": "6.50", "tax_rate": "0.13"}]}


def merchant_issue(base: str, order: dict, timeout: float = 10.0) -> httpx.Response:
    return httpx.post(f"{base}/v1/invoices", json=order, timeout=timeout)


def wait_until(pred, timeout: float, interval: float = 0.1) -> bool:
    """Poll `pred()` until it is true or `timeout` seconds passed (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


def proc_state(pid: int) -> str | None:
    """The kernel's state letter of a process (T = stopped), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def group_states(pgid: int) -> dict[int, str]:
    """State letters of every live process of a process group."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out[int(d.name)] = fields[0]
    return out

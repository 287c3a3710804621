"""A merchant of known capacity, for the sweep's knee test: N slots x D ms of work per
checkout, so it serves N / D checkouts per second and queues beyond that.

    SLOTS=4 WORK_MS=100 PORT=... TAX_PLATFORM_URL=... SELLERS_FILE=... DATA_DIR=... \
        python tests/sweep/slot_merchant.py

Each checkout waits for one of N slots and holds it for D ms (the "work"), then issues
the invoice on the platform (request_id = order_id, so a retry can never issue twice) and
answers 201 issued; a definite platform refusal answers 422 failed, anything unknown 202
pending (the order is kept, a GET retries the upload). Orders live in memory: this SUT is
never killed by the scenarios it runs in. Queries, the 404 for an unknown order and
refunds (409: this merchant does not reverse) follow design.md s.6.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import AsyncIterator

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from fakes.merchant.amounts import OrderError, parse_order, platform_lines  # noqa: E402

SLOTS = int(os.environ.get("SLOTS", "4"))
WORK_S = float(os.environ.get("WORK_MS", "100")) / 1000
PLATFORM = os.environ["TAX_PLATFORM_URL"].rstrip("/")
SECRETS = {s["seller_tax_id"]: s["secret"]
           for s in json.loads(Path(os.environ["SELLERS_FILE"]).read_text(encoding="utf-8"))}

orders: dict[str, dict] = {}
tokens: dict[str, str] = {}
state: dict[str, object] = {}


async def _token(client: httpx.AsyncClient, seller: str) -> str | None:
    if seller not in tokens:
        r = await client.post("/v1/auth/token", json={"seller_tax_id": seller,
                                                       "secret": SECRETS.get(seller, "")})
        if r.status_code != 200:
            return None
        tokens[seller] = r.json()["token"]
    return tokens[seller]


async def _upload(o: dict) -> None:
    """One upload attempt; the order's status follows the platform's answer."""
    client: httpx.AsyncClient = state["client"]  # type: ignore[assignment]
    try:
        for _ in range(2):
            tok = await _token(client, o["seller_tax_id"])
            if tok is None:
                return
            r = await client.post("/v1/invoices", json=o["payload"],
                                  headers={"Authorization": f"Bearer {tok}"})
            if r.status_code == 401:
                tokens.pop(o["seller_tax_id"], None)
                continue
            if r.status_code in (200, 201):
                o.update(status="issued", invoice_no=r.json()["invoice_no"])
            elif 400 <= r.status_code < 500 and r.status_code != 429:
                o.update(status="failed")
            return
    except httpx.HTTPError:
        return


async def _work() -> None:
    """Take the slot that frees first and hold it for WORK_S, in virtual time: a slot's next
    start is computed (max(now, when it frees) + WORK_S), not taken from when this task woke
    up, so a busy machine's late timers add latency but never lower the capacity below
    SLOTS / WORK_S (an exact first-come first-served queue with SLOTS servers)."""
    free: list[float] = state["free"]               # type: ignore[assignment]
    now = time.monotonic()
    k = min(range(len(free)), key=free.__getitem__)
    free[k] = max(now, free[k]) + WORK_S
    await asyncio.sleep(free[k] - now)


def _answer(o: dict, get: bool = False) -> JSONResponse:
    body = {"order_id": o["order_id"], "status": o["status"]}
    if o["status"] == "issued":
        body["invoice_no"] = o["invoice_no"]
    code = 200 if get else {"issued": 201, "pending": 202, "failed": 422}[o["status"]]
    return JSONResponse(body, status_code=code)


async def issue(request: Request) -> JSONResponse:
    try:
        order = parse_order(json.loads(await request.body()), set(SECRETS))
    except (ValueError, UnicodeDecodeError) as e:
        status = e.status if isinstance(e, OrderError) else 400
        return JSONResponse({"error": "bad_request", "message": str(e)}, status_code=status)
    o = orders.get(order.order_id)
    if o is None:
        o = orders[order.order_id] = {
            "order_id": order.order_id, "seller_tax_id": order.seller_tax_id,
            "status": "pending", "invoice_no": None,
            "payload": {"request_id": order.order_id, "order_ref": order.order_id,
                        "seller_tax_id": order.seller_tax_id, "buyer": dict(order.buyer),
                        "lines": platform_lines(order.lines), "kind": order.kind}}
    if o["status"] == "pending":
        await _work()
        if o["status"] == "pending":
            await _upload(o)
    return _answer(o)


async def query(request: Request) -> JSONResponse:
    o = orders.get(request.path_params["order_id"])
    if o is None:
        return JSONResponse({"error": "order_not_found", "message": "never seen"}, status_code=404)
    if o["status"] == "pending":
        await _upload(o)
    return _answer(o, get=True)


async def refund(request: Request) -> JSONResponse:
    return JSONResponse({"order_id": request.path_params["order_id"], "error": "not_refundable",
                         "message": "this merchant does not reverse invoices"}, status_code=409)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "slots": SLOTS, "work_ms": WORK_S * 1000})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    state["free"] = [0.0] * SLOTS
    state["client"] = httpx.AsyncClient(base_url=PLATFORM, timeout=2.0,
                                        limits=httpx.Limits(max_connections=64))
    yield
    await state["client"].aclose()  # type: ignore[attr-defined]


app = Starlette(routes=[Route("/healthz", healthz), Route("/v1/invoices", issue, methods=["POST"]),
                        Route("/v1/invoices/{order_id}", query),
                        Route("/v1/invoices/{order_id}/refund", refund, methods=["POST"])],
                lifespan=lifespan)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning",
                http="httptools", loop="uvloop", access_log=False)

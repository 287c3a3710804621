"""Issuance throughput of the fake tax platform alone (docs/performance.md).

Starts the real platform process (uvicorn + SQLite WAL, group commit) on 127.0.0.1 with a
fresh data directory, logs every seller in, then drives `POST /v1/invoices` from a
*separate client process* with C keep-alive connections (a minimal asyncio HTTP/1.1
client on uvloop, so the client is not the bottleneck) for D seconds. Counts only 201s,
then checks the ledger holds exactly that many invoices, with no duplicate numbers.

    .venv/bin/python benchmarks/bench_platform.py [--seconds 10] [--concurrency 64]
                                                  [--lines 2] [--sellers 20] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from harness.stack.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def _call(reader, writer, req: bytes) -> tuple[int, bytes]:
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length) if length else b""


def _request(method: str, path: str, port: int, body: bytes, token: str | None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json", f"Content-Length: {len(body)}"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _client_main(port: int, tokens: list[tuple[str, str]], seconds: float, conc: int,
                 lines: int, tag: str, out: "mp.Queue") -> None:
    """Client process: C connections issuing invoices back to back until the deadline."""
    import uvloop

    async def run() -> dict:
        deadline = time.perf_counter() + seconds
        lat: list[float] = []
        statuses: dict[int, int] = {}

        async def worker(w: int) -> None:
            seller, token = tokens[w % len(tokens)]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            n = 0
            try:
                while time.perf_counter() < deadline:
                    n += 1
                    body = json.dumps({
                        "request_id": f"{tag}-{w}-{n}", "order_ref": f"O{tag}-{w}-{n}",
                        "seller_tax_id": seller, "kind": "normal",
                        "buyer": {"name": "北京某某科技有限公司"},
                        "lines": [{"name": f"商品{i}", "quantity": "2", "unit_price": "19.99",
                                   "tax_rate": "0.13"} for i in range(lines)]}).encode()
                    t0 = time.perf_counter()
                    status, _ = await _call(reader, writer, _request(
                        "POST", "/v1/invoices", port, body, token))
                    lat.append(time.perf_counter() - t0)
                    statuses[status] = statuses.get(status, 0) + 1
            finally:
                writer.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(conc)))
        return {"elapsed": time.perf_counter() - t0, "lat": lat, "statuses": statuses}

    out.put(uvloop.run(run()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--lines", type=int, default=2)
    ap.add_argument("--sellers", type=int, default=20)
    ap.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = ap.parse_args(argv)

    from fakes.common.sellers import generate_sellers, write_sellers

    tmp = Path(tempfile.mkdtemp(prefix="bench-platform-"))
    sellers = generate_sellers(args.sellers, seed=7)
    write_sellers(tmp / "sellers.json", sellers)
    port = free_port()
    log = open(tmp / "platform.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "fakes.taxplatform", "--port", str(port),
                             "--data", str(tmp / "data"), "--sellers", str(tmp / "sellers.json")],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        import httpx
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=5) as c:
            for _ in range(100):
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            tokens = [(s["seller_tax_id"], c.post("/v1/auth/token", json={
                "seller_tax_id": s["seller_tax_id"], "secret": s["secret"]}).json()["token"])
                for s in sellers]
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            cp = ctx.Process(target=_client_main, args=(port, tokens, args.seconds,
                                                        args.concurrency, args.lines, "b", q))
            cp.start()
            res = q.get(timeout=args.seconds + 60)
            cp.join(10)
            stats = c.get("/_admin/stats").json()
            ledger = [json.loads(x) for x in c.get("/_admin/ledger").text.splitlines()]
        ok = res["statuses"].get(201, 0)
        lat = sorted(res["lat"])
        pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)
               ) if lat else (lambda q: None)
        numbers = [x["invoice_no"] for x in ledger]
        result = {
            "invoices_per_s": round(ok / res["elapsed"], 1), "issued_201": ok,
            "statuses": res["statuses"], "seconds": round(res["elapsed"], 2),
            "concurrency": args.concurrency, "lines_per_invoice": args.lines,
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
                           "max": round(lat[-1] * 1000, 2) if lat else None},
            "ledger_rows": len(ledger), "ledger_unique": len(set(numbers)),
            "ledger_matches": len(ledger) == ok == len(set(numbers)),
            "commit_batches": stats["commits"], "cpus": os.cpu_count(),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"platform issuance: {result['invoices_per_s']} invoices/s "
              f"({ok} x 201 in {result['seconds']} s, {args.concurrency} connections, "
              f"{args.lines} lines/invoice)")
        print(f"latency ms: {result['latency_ms']}; statuses {res['statuses']}")
        print(f"ledger rows {len(ledger)} (unique {len(set(numbers))}), matches 201s: "
              f"{result['ledger_matches']}; commits {stats['commits']}")
    return 0 if result["ledger_matches"] else 1


if __name__ == "__main__":
    sys.exit(main())

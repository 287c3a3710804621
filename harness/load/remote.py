"""Scale-out across machines (design.md s.10): what the master and the workers say to each
other over Locust's own connection, and the bookkeeping both ends and the runner share.

A load machine has the project installed and nothing else: no shared file system, no copy of
the run directory. So everything a worker needs comes over Locust's master/worker link (its
custom messages, `runner.register_message` / `runner.send_message`), and everything it records
goes back the same way:

    worker -> master  ic_hello   {host, hostname, pid, clock, version}   once, on connect
    master -> worker  ic_assign  {slot, of, name, config, master_clock}  when the run starts
    master -> worker  ic_reject  {reason}     the run already has its workers, or has started
    master -> worker  ic_stop    {reason}     declared lost, or the run is over
    worker -> master  ic_batch   {slot, seq, lines}                      with every invoke
    worker -> master  ic_batch   {slot, seq, lines, progress, done, error}  every BATCH_INTERVAL_S

The schedule is not sent arrival by arrival: the share of slot k of N is every arrival whose
global index i has i % N == k, a pure function of (curve, seed) that both ends compute
(schedule.py), so the assignment is a few hundred bytes however long the run. `lines` are
history lines (design.md s.7) exactly as the file holds them; the master appends them to
`history/<name>.jsonl`. An invoke is shipped (with every line before it) before its request
is sent, so what a dying worker loses is at most its last batch of completions, and the
master records those requests `info`: their outcome is unknown, as for a timeout.

This module imports neither Locust nor gevent: the orchestrator's runner uses it too.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import time
from pathlib import Path
from typing import Any

import orjson

from .config import LoadConfig
from .curves import LoadShape
from .history import seal_part
from .schedule import worker_arrivals

__all__ = ["MSG_HELLO", "MSG_ASSIGN", "MSG_REJECT", "MSG_STOP", "MSG_BATCH", "BATCH_INTERVAL_S",
           "LOST_SILENCE_S", "ENV_REMOTE", "ENV_AWAIT_GO", "READY_FILE", "WORKERS_FILE", "GO_FILE", "DEFAULT_MASTER_PORT",
           "parse_master", "bind_problem", "close_open_invokes", "share_size", "describe",
           "read_workers", "local_address"]

MSG_HELLO = "ic_hello"
MSG_ASSIGN = "ic_assign"
MSG_REJECT = "ic_reject"
MSG_STOP = "ic_stop"
MSG_BATCH = "ic_batch"

#: How often a worker ships its history and progress; a dying worker loses at most this much.
BATCH_INTERVAL_S = 0.5
#: A playing worker silent this long is lost even if Locust has not noticed yet (a frozen host).
LOST_SILENCE_S = 15.0
#: Set (to "1") in every Locust process of a distributed run: the driver waits for ic_assign.
ENV_REMOTE = "INVOICE_CHAOS_REMOTE"
#: In `<run_dir>/load/`: the master's view of its workers (the runner reads it) ...
WORKERS_FILE = "workers.json"
#: ... and the runner's word that the load starts, with t0 (the master reads it).
GO_FILE = "go.json"
#: Set (to "1") for the local workers of a run that starts them before the stack is up: the
#: worker says it is ready (READY_FILE) and waits for GO_FILE, then reads config.json; the
#: local counterpart of ic_hello / ic_assign (runner.py `wait_ready`, `go`).
ENV_AWAIT_GO = "INVOICE_CHAOS_AWAIT_GO"
#: In `<run_dir>/load/`: worker k's word that it is ready ({worker, pid, clock}).
READY_FILE = "ready-w{worker}.json"
#: Locust's own default master port.
DEFAULT_MASTER_PORT = 5557


def parse_master(text: str) -> tuple[str, int]:
    """`HOST:PORT` -> (host, port); ValueError with what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"--master {text!r}: give HOST:PORT, e.g. 10.0.0.5:{DEFAULT_MASTER_PORT}")
    host = host.strip("[]")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--master {text!r}: the port must be a number in 1..65535")
    return host, int(port)


def bind_problem(addr: str) -> str | None:
    """Why `addr` cannot be the `--bind` address (None when it can).

    It must be one address of this machine, never a wildcard: the master and the
    client-facing fault proxies listen there, and listening on every interface would expose
    them (and the system under test behind them) on networks nobody asked for."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return f"--bind {addr!r}: give an IP address of this machine (e.g. 10.0.0.5), not a name"
    if ip.is_unspecified:
        return f"--bind {addr}: a wildcard listens on every interface; give one address of this machine"
    if ip.version != 4:
        return f"--bind {addr}: give an IPv4 address of this machine (IPv6 is not supported yet)"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((addr, 0))
        except OSError as e:
            return f"--bind {addr}: not an address of this machine ({e.strerror or e})"
    return None


def local_address(master_host: str, master_port: int) -> str:
    """The address this machine uses to reach the master (a UDP connect sends nothing)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in master_host else socket.AF_INET,
                           socket.SOCK_DGRAM) as s:
            s.connect((master_host, master_port))
            return str(s.getsockname()[0])
    except OSError:
        return "?"


def share_size(cfg: LoadConfig, slot: int, of: int) -> int:
    """How many arrivals the schedule gives slot `slot` of `of` (what a lost worker owed)."""
    shape = LoadShape.of(cfg.curve, cfg.duration_s, cfg.peak_rps, cfg.compress_s)
    return sum(1 for _ in worker_arrivals(shape, cfg.seed, cfg.mix, slot, of))


def close_open_invokes(path: Path, t0: float, error: str, ts: float | None = None) -> int:
    """Append an `info` completion for every invoke in `path` that has none; return how many.

    A lost worker's open requests have an unknown outcome (design.md s.10): the request may
    have reached the merchant, so `info`, as for a timeout. The runner does the same for
    every history file when the load ends: a request still unanswered then (a double tap
    outside the driver's pool) was interrupted by the end of the load. Each proc does one operation at a
    time (docs/internals.md "History"), so a proc's open invoke is its last line if that is an
    invoke. A local part is sealed first (`seal_part`: a killed writer's padding is cut off,
    so what is appended follows its last line)."""
    path = Path(path)
    if not path.is_file():
        return 0
    seal_part(path)
    last: dict[str, dict[str, Any]] = {}
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                ev = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue                    # a cut line: the checker reports it with file:line
            if isinstance(ev, dict) and isinstance(ev.get("proc"), str):
                last[ev["proc"]] = ev
    ts = time.time() if ts is None else ts
    open_ = [ev for ev in last.values() if ev.get("type") == "invoke"]
    with open(path, "a", encoding="utf-8") as fh:
        for ev in open_:
            out = {"t": round(ts - t0, 6), "ts": round(ts, 6), "proc": ev["proc"], "op": ev.get("op"),
                   "type": "info", "order_id": ev.get("order_id"), "invoice_no": ev.get("invoice_no"),
                   "result": None, "status": None,
                   "latency_ms": round((ts - float(ev.get("ts", ts))) * 1000, 3), "error": error}
            fh.write(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n")
    return len(open_)


def describe(worker: dict[str, Any]) -> str:
    """`w1 (10.231.7.2, pid 4711)`: how a worker is named in messages, run.json and the report."""
    where = worker.get("host") or "?"
    if worker.get("local"):
        where = f"local, {where}"
    return f"{worker.get('name', '?')} ({where}, pid {worker.get('pid', '?')})"


def read_workers(load_dir: Path) -> dict[str, Any]:
    """The master's `workers.json` ({"workers": [...], "rejected": [...]}); empty before it exists."""
    try:
        data = json.loads((Path(load_dir) / WORKERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"workers": [], "rejected": []}
    return data if isinstance(data, dict) else {"workers": [], "rejected": []}

"""A merchant that stops answering for good halfway: the bundled robust merchant behind a
small TCP front that, `--after` seconds after the first checkout, either hangs (accepts
connections and reads requests, never answers again) or refuses connections.

Started by tests through `--sut-cmd` like any user's system (design.md s.6 environment):

    python tests/run/dead_merchant.py --how hang|refuse --after 6

The bundled merchant runs as a child on its own free port with the same environment; the
front listens on 127.0.0.1:$PORT. SIGTERM (the harness's stop) ends both.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from harness.stack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


class Front:
    def __init__(self, inner_port: int, how: str, after_s: float):
        self.inner_port = inner_port
        self.how = how
        self.after_s = after_s
        self.started: float | None = None      # the first checkout
        self.server: asyncio.AbstractServer | None = None
        self.conns: set[asyncio.StreamWriter] = set()

    def dead(self) -> bool:
        return self.started is not None and time.monotonic() - self.started >= self.after_s

    async def watch(self) -> None:
        """At death, a refusing merchant stops listening and drops every connection."""
        while not self.dead():
            await asyncio.sleep(0.1)
        if self.how == "refuse" and self.server is not None:
            self.server.close()
            for w in list(self.conns):
                w.transport.abort()

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   to_client: bool) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.dead():
                    continue            # hang: read on, answer nothing, ever
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not (self.dead() and self.how == "hang"):
                writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conns.add(writer)
        try:
            first = await reader.read(65536)
            if not first:
                return
            if self.started is None and first.startswith(b"POST /v1/invoices"):
                self.started = time.monotonic()
            if self.dead():
                while await reader.read(65536):
                    pass                # hang
                return
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.inner_port)
            up_w.write(first)
            await up_w.drain()
            await asyncio.gather(self.pipe(reader, up_w, False), self.pipe(up_r, writer, True))
        except (ConnectionError, OSError):
            pass
        finally:
            self.conns.discard(writer)
            if not (self.dead() and self.how == "hang"):
                writer.close()


async def main(how: str, after_s: float) -> None:
    port = int(os.environ["PORT"])
    inner = free_port()
    child = subprocess.Popen([sys.executable, "-m", "fakes.merchant"], cwd=ROOT,
                             env={**os.environ, "PORT": str(inner)})
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        for _ in range(300):                       # the bundled merchant's health first
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{inner}/healthz", timeout=1).read()
                break
            except OSError:
                await asyncio.sleep(0.1)
        front = Front(inner, how, after_s)
        front.server = await asyncio.start_server(front.serve, "127.0.0.1", port)
        watcher = asyncio.create_task(front.watch())
        await stop.wait()
        watcher.cancel()
    finally:
        child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--how", choices=("hang", "refuse"), required=True)
    ap.add_argument("--after", type=float, required=True,
                    help="seconds after the first checkout when it stops answering")
    args = ap.parse_args()
    asyncio.run(main(args.how, args.after))

"""A front-end's background decider: accept now, decide later.

Every asynchronous protocol (the direct profile's uploads, nuonuo's orders, KSeF's
invoices) answers a write at once and decides it after a processing delay. The loop that
does the deciding is the same for all of them, so it is written once here: one round of
`decide` whenever a write wakes it or every tick; a round that fails (a failed commit)
leaves its work undecided for the next round instead of stopping the loop; `stop` ends it
before the store closes.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["Processor"]

TICK_S = 0.05


class Processor:
    """Runs `decide()` in the app's event loop until stopped; `on_error` is told of a
    failed round (log it or count it), after which the loop pauses `pause_s`."""

    def __init__(self, name: str, decide: Callable[[], Awaitable[object]],
                 on_error: Callable[[], None], pause_s: float = 0.5,
                 tick_s: float = TICK_S) -> None:
        self.name = name
        self._decide = decide
        self._on_error = on_error
        self._pause_s = pause_s
        self._tick_s = tick_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A write has work for the next round: run it now rather than at the next tick."""
        self._wake.set()

    def start(self) -> None:
        """Start deciding (from the app's lifespan, inside the event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._decide()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad round must not stop the processor
                self._on_error()
                await asyncio.sleep(self._pause_s)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._tick_s)
            except asyncio.TimeoutError:
                pass

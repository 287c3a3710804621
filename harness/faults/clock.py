"""`clock_skew`: the merchant's wall clock jumps by `offset` for the window.

The service is started with Debian's libfaketime preloaded (`LD_PRELOAD`, the user's SUT
too) reading its offset from a timestamp file that the fault rewrites while the process
runs: "+0" outside the window, the offset inside it. Only the wall clock moves
(`FAKETIME_DONT_FAKE_MONOTONIC=1`): a real NTP step never moves the monotonic clock, and
event loops and timeouts run on that one. The platform's clock is the checker's reference
(`issued_at`), so only `target: merchant` is allowed.

Known limit of libfaketime 0.9.10 (Debian's): with the monotonic clock left alone,
`clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`, which Python >= 3.11's `time.sleep`
uses, fails with EINVAL (libfaketime's issue #426). asyncio, thread waits and relative sleeps
work; a SUT that calls `time.sleep` needs a newer libfaketime.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MissingBinaryError
from ..durations import DurationError, format_duration, parse_duration
from .registry import Attr, FaultKind, register

__all__ = ["ClockSkew", "find_libfaketime", "clock_file", "SignedDuration", "format_offset"]

_CANDIDATES = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
               "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
               "/usr/lib/faketime/libfaketime.so.1", "/usr/lib64/faketime/libfaketime.so.1",
               "/usr/local/lib/faketime/libfaketime.so.1")


@dataclass(frozen=True, slots=True)
class SignedDuration(Attr):
    """A duration that may be negative ("-90s"): a clock can go back as well as forward."""

    def convert(self, value: Any) -> Any:
        text = value.strip() if isinstance(value, str) else value
        sign = 1.0
        if isinstance(text, str) and text[:1] in "+-":
            sign, text = (-1.0 if text[0] == "-" else 1.0), text[1:]
        try:
            seconds = sign * parse_duration(text)
        except DurationError as e:
            raise ValueError(f"{e} (a signed duration such as '-90s' or '+10m')") from None
        if seconds == 0:
            raise ValueError("an offset of 0 changes nothing; write e.g. '-90s' or '+10m'")
        if abs(seconds) > 10 * 365 * 86400:
            raise ValueError("more than ten years: write a smaller offset")
        return seconds


def format_offset(seconds: float) -> str:
    """'+10m', '-90s': how a scenario writes an offset."""
    return ("-" if seconds < 0 else "+") + format_duration(abs(seconds))


def find_libfaketime() -> str:
    """The path of libfaketime.so.1, or MissingBinaryError saying how to install it."""
    env = os.environ.get("INVOICE_CHAOS_LIBFAKETIME")
    if env:
        if Path(env).is_file():
            return env
        raise MissingBinaryError(f"INVOICE_CHAOS_LIBFAKETIME={env}: no such file")
    for path in _CANDIDATES:
        if Path(path).is_file():
            return path
    found = sorted(glob.glob("/usr/lib*/*/faketime/libfaketime.so.1"))
    if found:
        return found[0]
    raise MissingBinaryError(
        "clock_skew needs libfaketime: install Debian's faketime package "
        "(sudo apt-get install faketime; `make setup` does it when run as root), or set "
        "INVOICE_CHAOS_LIBFAKETIME to the path of libfaketime.so.1")


def clock_file(run_dir: Path, target: str) -> Path:
    """The timestamp file libfaketime reads for `target` (one per service and run)."""
    return run_dir / "faults" / f"clock-{target}.faketime"


def _write_offset(path: Path, seconds: float) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{'+' if seconds >= 0 else '-'}{abs(seconds):g}\n", encoding="ascii")
    tmp.replace(path)          # atomic: libfaketime never reads half a line


@register
class ClockSkew(FaultKind):
    kind = "clock_skew"
    family = "system"
    doc = "the merchant's wall clock jumps by `offset` for the window (libfaketime; monotonic untouched)"
    attrs = {"offset": SignedDuration("duration", 600.0, "how far the clock jumps, e.g. -90s or +10m")}
    targets = ("merchant",)
    backends = ("local",)             # local processes: a preload, a mount on this machine

    @classmethod
    def check_available(cls) -> None:
        find_libfaketime()

    @classmethod
    def prepare(cls, run_dir: Path, target: str, setup: Any) -> None:
        path = clock_file(run_dir, target)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_offset(path, 0.0)
        setup.add_env(target, {"LD_PRELOAD": find_libfaketime(),
                               "FAKETIME_TIMESTAMP_FILE": str(path.resolve()),
                               "FAKETIME_NO_CACHE": "1",
                               "FAKETIME_DONT_FAKE_MONOTONIC": "1"})

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        path = clock_file(ctx.stack.cfg.run_dir, fault.target)
        _write_offset(path, fault.params["offset"])
        return {"clock_file": str(path)}

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:
        _write_offset(clock_file(ctx.stack.cfg.run_dir, fault.target), 0.0)

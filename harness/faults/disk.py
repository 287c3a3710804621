"""`disk_full`: the service's DATA_DIR fills up for the window (writes fail with ENOSPC).

The directory is a size-limited tmpfs mounted for the run (root only), so filling it
touches nothing outside the run; a ballast file takes every free block when the window
opens and is deleted when it closes. The mount is removed when the run ends, whatever the
exit (harness/faults/setup.py).
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import MissingBinaryError, StackError
from .registry import Attr, FaultKind, register

__all__ = ["DiskFull", "data_dir", "BALLAST"]

BALLAST = ".invoice-chaos-ballast"


def data_dir(run_dir: Path, target: str) -> Path:
    """The service's DATA_DIR as harness/stack/local.py lays it out."""
    return run_dir / "data" / target


def _fill(path: Path) -> int:
    """Write zeros until the file system says ENOSPC; the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (1 << 20, 1 << 12, 1 << 9):
            block = b"\0" * chunk
            while True:
                try:
                    n = os.write(fd, block)
                except OSError as e:
                    if e.errno in (errno.ENOSPC, errno.EDQUOT):
                        break
                    raise
                written += n
                if n < chunk:
                    break
    finally:
        os.close(fd)
    return written


@register
class DiskFull(FaultKind):
    kind = "disk_full"
    family = "system"
    doc = "the service's DATA_DIR (a small tmpfs made for the run) is filled by a ballast file for the window"
    attrs = {"size_mb": Attr("int", 64, "size of the run's file system under DATA_DIR, MB", lo=4, hi=4096)}
    targets = ("merchant", "taxplatform")
    backends = ("local",)             # local processes: a preload, a mount on this machine

    @classmethod
    def check_available(cls) -> None:
        if os.geteuid() != 0:
            raise MissingBinaryError(
                "disk_full mounts a small tmpfs under the service's DATA_DIR and needs root: "
                "run as root (CI containers are), or drop the disk_full faults")
        if shutil.which("mount") is None or shutil.which("umount") is None:
            raise MissingBinaryError("disk_full needs mount and umount: install util-linux "
                                     "(sudo apt-get install mount)")

    @classmethod
    def prepare(cls, run_dir: Path, target: str, setup: Any, size_mb: int = 64) -> None:
        where = data_dir(run_dir, target)
        where.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755",
                            "invoice-chaos", str(where)], capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            raise StackError(f"disk_full: cannot mount a tmpfs on {where}: {r.stderr.strip() or r.stdout.strip()}")
        setup.add_cleanup(f"unmount {where}", lambda: _unmount(where))

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        ballast = data_dir(ctx.stack.cfg.run_dir, fault.target) / BALLAST
        return {"ballast_bytes": _fill(ballast)}

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:
        try:
            (data_dir(ctx.stack.cfg.run_dir, fault.target) / BALLAST).unlink()
        except FileNotFoundError:
            pass


def _unmount(where: Path) -> None:
    r = subprocess.run(["umount", str(where)], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        # a process that outlived the stack still holds a file: detach now, freed when it goes
        r2 = subprocess.run(["umount", "-l", str(where)], capture_output=True, text=True, timeout=20)
        if r2.returncode != 0:
            raise StackError(f"umount {where}: {r.stderr.strip()} / {r2.stderr.strip()}")

"""Process faults on a service the run started (bundled fake, --sut-cmd or --sut-image).

kill = SIGKILL to the process group (optionally started again after `restart_after`, with
the same command on the same data); terminate = SIGTERM, a graceful stop; pause = SIGSTOP
for the fault's window, then SIGCONT; restart = terminate and start again at once. On the
docker backend the same happen to the service's container: the engine's kill and stop, its
cgroup freezer for pause, and a start of the same container (same volume, same port).
"""
from __future__ import annotations

from typing import Any

from .registry import Attr, FaultKind, register

__all__ = ["ProcessKind"]


class ProcessKind(FaultKind):
    family = "process"


@register
class Kill(ProcessKind):
    kind = "kill"
    doc = "SIGKILL the service; start it again after `restart_after` (same command, same data)"
    needs_duration = False
    attrs = {"restart_after": Attr("duration", 5.0, "delay before the restart", lo=0.0),
             "restart": Attr("bool", True, "start the service again")}

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        ctx.stack.kill(fault.target)
        return {}

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:
        if fault.params.get("restart", True):
            ctx.stack.ensure_running(fault.target)


@register
class Terminate(Kill):
    kind = "terminate"
    doc = "SIGTERM the service (graceful); start it again after `restart_after`"

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        ctx.stack.terminate(fault.target)
        return {}


@register
class Pause(ProcessKind):
    kind = "pause"
    doc = "freeze the service for the window (SIGSTOP/SIGCONT; docker: the engine's freezer)"
    attrs: dict = {}

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        ctx.stack.pause(fault.target)
        return {}

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:
        ctx.stack.resume(fault.target)


@register
class Restart(ProcessKind):
    kind = "restart"
    doc = "graceful restart: SIGTERM, then the same command again at once"
    needs_duration = False
    attrs: dict = {}

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        # only the stop here: the undo, planned for the same moment, starts it again on a
        # helper thread, so waiting for its health never delays the rest of the schedule
        ctx.stack.terminate(fault.target)
        return {}

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:
        ctx.stack.ensure_running(fault.target)

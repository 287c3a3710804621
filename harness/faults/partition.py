"""`partition`: the target is cut off from every link for the window (design.md s.11).

On the docker backend the container leaves the run's network (the stack's `partition`); on
the local backend, where there is no network to leave, both directions of each of the
target's Toxiproxy links become a black hole (Toxiproxy's `timeout` toxic with timeout 0:
data is held, connections are neither answered nor closed), which is what a peer sees of a
partition: silence, not a refusal.
"""
from __future__ import annotations

from typing import Any

from ..stack.base import PARTITION
from .registry import LINKS, FaultKind, register

__all__ = ["Partition", "links_of"]


def links_of(target: str) -> list[str]:
    """The links that touch `target`: merchant -> client->merchant, merchant->taxplatform."""
    return [link for link in LINKS if target in link.split("->")]


@register
class Partition(FaultKind):
    family = "process"
    kind = "partition"
    doc = ("cut the target off from every link for the window (docker: out of the run's network; "
           "local: both directions of its Toxiproxy links held silent)")
    attrs: dict = {}

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        if ctx.stack.supports(PARTITION):
            ctx.stack.partition(fault.target)
            return {"how": "network disconnect"}
        names = []
        for link in links_of(fault.target):
            for stream in ("upstream", "downstream"):
                name = f"{fault.id}_{stream}"
                ctx.toxiproxy.add_toxic(link, name=name, type="timeout", stream=stream, toxicity=1.0,
                                        attributes={"timeout": 0})
                names.append(f"{link}:{name}")
        return {"how": "toxiproxy timeout toxics", "toxics": names}

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:
        if ctx.stack.supports(PARTITION):
            ctx.stack.unpartition(fault.target)
            return
        for link in links_of(fault.target):
            for stream in ("upstream", "downstream"):
                ctx.toxiproxy.remove_toxic(link, f"{fault.id}_{stream}")

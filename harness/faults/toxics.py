"""Network faults: Toxiproxy's toxics on a link, and `down` (the proxy disabled).

Attribute names and units are Toxiproxy v2's own (toxics/*.go). `stream` is upstream,
downstream (Toxiproxy's default) or both (two toxics); `toxicity` is the share of
connections affected.
"""
from __future__ import annotations

from typing import Any

from .registry import Attr, FaultKind, register

__all__ = ["ToxicKind", "STREAMS"]

STREAMS = ("upstream", "downstream", "both")
_COMMON = {
    "stream": Attr("choice", "downstream", "direction", choices=STREAMS),
    "toxicity": Attr("float", 1.0, "share of connections affected, 0..1", lo=0.0, hi=1.0),
}


class ToxicKind(FaultKind):
    family = "toxic"

    @classmethod
    def toxic_attributes(cls, params: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in params.items() if k not in _COMMON}

    @classmethod
    def streams(cls, params: dict[str, Any]) -> list[str]:
        s = params.get("stream", "downstream")
        return ["upstream", "downstream"] if s == "both" else [s]

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        names = []
        for stream in cls.streams(fault.params):
            name = f"{fault.id}_{stream}"
            ctx.toxiproxy.add_toxic(fault.target, name=name, type=cls.kind, stream=stream,
                                    toxicity=fault.params.get("toxicity", 1.0),
                                    attributes=cls.toxic_attributes(fault.params))
            names.append(name)
        return {"toxics": names}

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:
        for stream in cls.streams(fault.params):
            ctx.toxiproxy.remove_toxic(fault.target, f"{fault.id}_{stream}")


def _toxic(kind: str, doc: str, **attrs: Attr) -> type[ToxicKind]:
    cls = type(f"{kind.title().replace('_', '')}Toxic", (ToxicKind,),
               {"kind": kind, "doc": doc, "attrs": {**attrs, **_COMMON}})
    return register(cls)


_toxic("latency", "adds a delay to all data (ms) with optional jitter (ms)",
       latency=Attr("int", 1000, "milliseconds", lo=0), jitter=Attr("int", 0, "milliseconds", lo=0))
_toxic("bandwidth", "limits the rate to `rate` KB/s", rate=Attr("int", 100, "KB/s", lo=0))
_toxic("slow_close", "delays the TCP close by `delay` ms", delay=Attr("int", 1000, "milliseconds", lo=0))
_toxic("timeout", "stops all data and closes after `timeout` ms (0: holds it until the fault ends, a black hole; a server may still close an idle connection itself, uvicorn after 5 s)",
       timeout=Attr("int", 0, "milliseconds; 0 = never close", lo=0))
_toxic("reset_peer", "resets the connection (TCP RST) after `timeout` ms",
       timeout=Attr("int", 0, "milliseconds", lo=0))
_toxic("slicer", "slices data into small bits with a delay between them",
       average_size=Attr("int", 64, "bytes", lo=1), size_variation=Attr("int", 32, "bytes", lo=0),
       delay=Attr("int", 10, "microseconds", lo=0))
_toxic("limit_data", "closes the connection after `bytes` bytes", bytes=Attr("int", 1024, "bytes", lo=0))


@register
class DownToxic(FaultKind):
    """Not a Toxiproxy toxic: the proxy is disabled, so connections are refused."""
    family = "toxic"
    kind = "down"
    doc = "the link is down: the proxy stops listening, connections are refused"
    attrs: dict = {}

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        ctx.toxiproxy.set_enabled(fault.target, False)
        return {}

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:
        ctx.toxiproxy.set_enabled(fault.target, True)

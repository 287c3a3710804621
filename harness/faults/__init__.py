"""Faults (Jepsen's nemesis): Toxiproxy toxics on links, process signals, platform knobs."""
from __future__ import annotations

from .plan import PlannedFault, check_fault, expand
from .registry import KINDS, LINKS, TARGETS, kinds_of
from .timeline import FaultContext, PlatformAdmin, Timeline

__all__ = ["PlannedFault", "check_fault", "expand", "KINDS", "LINKS", "TARGETS", "kinds_of",
           "FaultContext", "PlatformAdmin", "Timeline"]

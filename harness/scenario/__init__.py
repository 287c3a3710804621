"""Scenario files: YAML -> validated `Scenario` records, with `file:line` errors (design.md s.8)."""
from __future__ import annotations

from ..durations import format_duration, parse_duration
from .model import (DrainSpec, FaultSpec, GateSpec, LoadSpec, MerchantSpec, PlatformSpec,
                    Scenario, SutSpec)
from .parse import load_scenario, parse_scenario_text

__all__ = ["Scenario", "LoadSpec", "MerchantSpec", "SutSpec", "PlatformSpec", "FaultSpec",
           "DrainSpec", "GateSpec", "load_scenario", "parse_scenario_text", "parse_duration",
           "format_duration"]

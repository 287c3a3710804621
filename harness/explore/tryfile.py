"""A try's scenario: the base scenario's load, sellers and gates with the try's faults,
length and rate, written out as a scenario file before the try runs (so every try, and the
minimal one, replays with `invoice-chaos run`)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..scenario import Scenario, parse_scenario_text
from ..durations import format_duration

__all__ = ["TrySpec", "scenario_text", "write_try"]


@dataclass(frozen=True, slots=True)
class TrySpec:
    """What varies between tries and shrink steps."""
    faults: tuple[dict[str, Any], ...]
    duration_s: float
    peak_rps: float
    seed: int
    notes: tuple[str, ...] = field(default=())

    def with_(self, **changes: Any) -> "TrySpec":
        return replace(self, **changes)

    def key(self) -> str:
        """Identity of the schedule (shrinking never evaluates the same spec twice)."""
        import json
        return json.dumps([list(self.faults), self.duration_s, self.peak_rps, self.seed], sort_keys=True)

    def to_json(self) -> dict[str, Any]:
        return {"faults": [dict(f) for f in self.faults], "duration_s": self.duration_s,
                "peak_rps": self.peak_rps, "seed": self.seed}


class _Dumper(yaml.SafeDumper):
    """Block style for the sections, flow style for short lists and mappings of plain
    values (`points: [[0s, 0.6], ...]`, `mix: {checkout: 85}`), as people write them."""


def _list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(x, dict) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _dict(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    flow = len(data) <= 4 and all(not isinstance(v, (dict, list)) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data.strip() else None)


_Dumper.add_representer(list, _list)
_Dumper.add_representer(dict, _dict)
_Dumper.add_representer(str, _str)


def _flow(entry: dict[str, Any]) -> str:
    return yaml.safe_dump(entry, default_flow_style=True, sort_keys=False, allow_unicode=True,
                          width=10_000).strip()


def scenario_text(base: Scenario, spec: TrySpec, header: str) -> str:
    """The scenario file of `spec` (validated here: a try that would not replay is a bug)."""
    data = yaml.safe_load(base.text) or {}
    data.pop("explore", None)
    data.pop("faults", None)
    data["seed"] = spec.seed
    data["duration"] = format_duration(spec.duration_s)
    load = dict(data.get("load") or {})
    load["peak_rps"] = int(spec.peak_rps) if float(spec.peak_rps).is_integer() else spec.peak_rps
    if isinstance(load.get("curve"), str):
        load["curve"] = str((base.path.resolve().parent / load["curve"]).resolve()) \
            if not Path(load["curve"]).is_absolute() else load["curve"]
    data["load"] = load
    merchant = data.get("merchant")
    if isinstance(merchant, dict) and isinstance(merchant.get("client"), str) and base.merchant.client:
        merchant["client"] = base.merchant.client       # its FILE made absolute by the parser
    if isinstance(data.get("description"), str):
        data["description"] = " ".join(data["description"].split())
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    faults = "faults: []\n" if not spec.faults else \
        "faults:\n" + "".join(f"  - {_flow(f)}\n" for f in spec.faults)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    text = comment + body + faults
    parse_scenario_text(text, "<try>", base_dir=base.path.resolve().parent)
    return text


def write_try(path: Path, base: Scenario, spec: TrySpec, header: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scenario_text(base, spec, header), encoding="utf-8")
    return path

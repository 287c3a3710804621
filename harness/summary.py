"""summary.json (design.md s.4) as one typed record: written from it by `evaluate_run`, read
into it by the gates, the report, compare, the pytest plugin and the sweep.

Reading is lenient, since the report must render whatever an interrupted or older run left:
a field of the wrong type reads as its default (None, empty), keys this version does not
know are kept in `extra` and written back unchanged. Only a missing or unreadable file, or
one that is not a JSON object, is an InputError.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import InputError
from .records import NUM, lenient_kwargs, unknown_keys
from .rundir import SUMMARY, write_json

__all__ = ["Summary", "CheckerInfo"]


@dataclass(slots=True)
class CheckerInfo:
    """summary.json's `checker`: the verdict's validity, the crashed sub-checks, which reader
    decided (`duckdb`, `python`) and why DuckDB handed over, if it did; and `stages`, how
    each stage that reads the whole history got its input: `classification`, `recovery`
    (the per-second counts of harness/recovery.py), `timeseries` (the report's per-second
    series) -> {"path": "duckdb" (the checker's DuckDB tables) | "python" (the history read
    again, in Python or by the report's own reader), "why": why not the checker's tables}."""

    valid: Any = None                  # True | False | "unknown"
    errors: list[str] = field(default_factory=list)
    path: str | None = None
    fallback_reason: str | None = None
    stages: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "errors": list(self.errors), "path": self.path,
                "fallback_reason": self.fallback_reason,
                "stages": {k: dict(v) for k, v in self.stages.items()}}

    @classmethod
    def from_dict(cls, d: Any) -> CheckerInfo:
        d = d if isinstance(d, dict) else {}
        errors = d.get("errors")
        return cls(valid=d.get("valid"),
                   errors=[str(e) for e in errors] if isinstance(errors, list) else [],
                   path=d.get("path") if isinstance(d.get("path"), str) else None,
                   fallback_reason=(d.get("fallback_reason")
                                    if isinstance(d.get("fallback_reason"), str) else None),
                   stages={str(k): {str(a): str(b) for a, b in v.items()}
                           for k, v in (d.get("stages") or {}).items() if isinstance(v, dict)}
                   if isinstance(d.get("stages"), dict) else {})



@dataclass(slots=True)
class Summary:
    """The figures and the verdict of one run, in summary.json's key order."""

    scenario: str | None = None
    description: str | None = None
    seed: int | None = None
    verdict: str | None = None         # pass | fail | unknown | interrupted | pending
    run_id: str | None = None
    started_at: str | None = None
    duration_s: float | None = None
    merchant: dict[str, Any] = field(default_factory=dict)
    platform: dict[str, Any] = field(default_factory=dict)       # {profile} (design.md s.12)
    invoices: dict[str, int] = field(default_factory=dict)
    time_to_consistency_s: float | None = None
    acceptance_delay_s: dict[str, Any] = field(default_factory=dict)
    requests: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    anomalies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    anomaly_totals: dict[str, int] = field(default_factory=dict)
    checker: CheckerInfo = field(default_factory=CheckerInfo)
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    recovery: dict[str, Any] = field(default_factory=dict)       # harness/recovery.py
    final_read: dict[str, Any] = field(default_factory=dict)     # verdict.final_read_figures
    unknown_reasons: list[str] = field(default_factory=list)     # why the verdict is unknown
    upload_pipeline: dict[str, Any] = field(default_factory=dict)  # direct profile: report/uploads.py
    processing_pipeline: dict[str, Any] = field(default_factory=dict)  # nuonuo: report/processing.py
    chances: dict[str, int] = field(default_factory=dict)        # checker classes.CHANCES
    client: dict[str, Any] = field(default_factory=dict)  # client adapter: harness/client/problems.py
    harness_path: dict[str, Any] = field(default_factory=dict)   # harness/pathwatch.py
    extra: dict[str, Any] = field(default_factory=dict)   # keys this version does not know

    # -- reading ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Summary:
        """Leniently: a value of the wrong type reads as the field's default."""
        kinds: dict[str, tuple[type, ...]] = {
            "scenario": (str,), "description": (str,), "seed": (int,), "verdict": (str,),
            "run_id": (str,), "started_at": (str,), "duration_s": NUM,
            "merchant": (dict,), "platform": (dict,), "invoices": (dict,), "time_to_consistency_s": NUM,
            "acceptance_delay_s": (dict,), "requests": (dict,), "load": (dict,),
            "gates": (list,), "faults": (list,), "anomalies": (dict,),
            "anomaly_totals": (dict,), "interrupted": (bool,), "notes": (list,),
            "recovery": (dict,), "final_read": (dict,), "unknown_reasons": (list,),
            "upload_pipeline": (dict,), "processing_pipeline": (dict,),
            "chances": (dict,), "client": (dict,), "harness_path": (dict,),
        }
        kw = lenient_kwargs(d, kinds)
        kw["gates"] = [g for g in kw.get("gates", []) if isinstance(g, dict)]
        kw["faults"] = [f for f in kw.get("faults", []) if isinstance(f, dict)]
        kw["checker"] = CheckerInfo.from_dict(d.get("checker"))
        kw["extra"] = unknown_keys(d, {f.name for f in fields(cls)} - {"extra"})
        return cls(**kw)

    @classmethod
    def read(cls, run_dir: Path) -> Summary:
        """`run_dir/summary.json`; InputError when it is absent or not a JSON object."""
        path = Path(run_dir) / SUMMARY
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path}: no summary.json; run 'invoice-chaos check {run_dir}' "
                             "first, or give a finished run directory") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read summary.json: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: summary.json must hold a JSON object, "
                             f"not {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def coerce(cls, value: Summary | dict[str, Any]) -> Summary:
        """A Summary from a Summary or its dict (the report's public functions take both)."""
        return value if isinstance(value, Summary) else cls.from_dict(value)

    # -- writing ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if isinstance(v, CheckerInfo) else v
        out.update(self.extra)
        return out

    def write(self, run_dir: Path) -> Path:
        """Write `run_dir/summary.json` (UTF-8, Chinese kept readable, Decimal as strings)."""
        path = Path(run_dir) / SUMMARY
        write_json(path, self.to_dict())
        return path

    # -- reading figures ----------------------------------------------------------------------
    def count(self, name: str) -> Any:
        """An `invoices` count (None when it was not measured)."""
        return self.invoices.get(name)

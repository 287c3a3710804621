"""The processing pipeline of a profile whose platform decides orders later (the nuonuo
profile, design.md s.13): read from the platform after the drain (`/_admin/stats`, the
front-end's `submitted / decided / open / by_status` figures) into
`platform-pipeline.json`, summarised into `summary.json`'s `processing_pipeline`, printed
with the verdict and shown as a section of the report.

Like the upload pipeline it explains a verdict, it does not make one: an order still open at
the end, or decided 22 while the customer was told "issued", is the checker's to judge from
the ledger.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import httpx

from ..errors import StackError
from ..rundir import PIPELINE
from ..stack.tls import verify

__all__ = ["PIPELINE", "collect_pipeline", "summarise_pipeline", "verdict_lines", "render_section"]

STATUS_WORDS = {"20": "in progress", "2": "issued", "22": "failed", "24": "issued, signing failed"}


def collect_pipeline(platform_url: str, profile: str, out: Path) -> dict[str, Any]:
    """The profile's figures from `/_admin/stats`, written to `out`."""
    try:
        r = httpx.get(f"{platform_url}/_admin/stats", timeout=30, verify=verify(platform_url))
    except httpx.HTTPError as e:
        raise StackError(f"platform stats could not be read: {e}") from None
    if r.status_code != 200:
        raise StackError(f"platform stats: GET /_admin/stats answered {r.status_code}")
    figures = r.json().get(profile) or {}
    data = {"profile": profile, **figures}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(out)
    return data


def summarise_pipeline(run_dir: Path) -> dict[str, Any] | None:
    """`platform-pipeline.json` as summary.json keeps it, or None when the run has none."""
    path = Path(run_dir) / PIPELINE
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    events = d.get("events") or {}
    return {"profile": d.get("profile"), "submitted": d.get("submitted", 0),
            "decided": d.get("decided", 0), "stuck": d.get("open", 0),
            "by_status": {str(k): v for k, v in (d.get("by_status") or {}).items()},
            "ack_without_commit": d.get("ack_without_commit", 0),
            "callbacks": {k: events.get(f"callbacks_{k}", 0)
                          for k in ("sent", "failed", "refused", "refused_by_merchant")}}


def _field(summary: Any, name: str) -> Any:
    return summary.get(name) if isinstance(summary, dict) else getattr(summary, name, None)


def _statuses(p: dict[str, Any]) -> str:
    return ", ".join(f"{k} ({STATUS_WORDS.get(k, '?')}) {v}"
                     for k, v in sorted(p["by_status"].items(), key=lambda kv: kv[0])) or "none"


def verdict_lines(summary: Any) -> list[str]:
    p = _field(summary, "processing_pipeline")
    if not p:
        return []
    cb = p["callbacks"]
    return [f"  orders: submitted {p['submitted']}, decided {p['decided']}, stuck {p['stuck']}; "
            f"by status: {_statuses(p)}; callbacks sent {cb['sent']}, lost {cb['failed']}"]


def render_section(summary: Any) -> str:
    """The report's "Processing pipeline" section (empty for other profiles)."""
    p = _field(summary, "processing_pipeline")
    if not p:
        return ""
    e = html.escape
    cb = p["callbacks"]
    rows: list[tuple[str, Any]] = [
        ("orders submitted (开票提交成功)", p["submitted"]), ("decided", p["decided"]),
        ("stuck (still status 20 at the end)", p["stuck"])]
    rows += [(f"status {k}: {STATUS_WORDS.get(k, '?')}", v) for k, v in sorted(p["by_status"].items())]
    rows += [("acknowledged, never to be issued (ack_without_commit fault)", p["ack_without_commit"]),
             ("callbacks delivered / lost on the way / refused by the merchant",
              f"{cb['sent']} / {cb['failed']} / {cb['refused_by_merchant']}")]
    body = "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>" for k, v in rows)
    return (f"<section><h2>Processing pipeline ({e(str(p['profile']))} profile)</h2>"
            "<p class=\"note\">The platform accepted each order first and decided it later "
            "(design.md s.13): an order is issued only at status 2 (or 24, issued but not "
            "signed); a merchant that told its customer \"issued\" on the acceptance alone is "
            "wrong for every order that ended 22 or stayed stuck.</p>"
            f"<table><tbody>{body}</tbody></table></section>")

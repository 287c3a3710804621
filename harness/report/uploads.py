"""The upload pipeline of a direct-profile run (design.md s.12): collected from the platform
after the drain (`platform-uploads.jsonl`, one received upload a line, from
`GET /_admin/uploads`), summarised into `summary.json`'s `upload_pipeline`, printed with the
verdict and shown as a section of the report.

It explains a verdict, it does not make one: the checker needs no new class (the number the
customer was given must end up accepted, once, for that order).
"""
from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from ..errors import StackError
from ..rundir import UPLOADS
from ..stack.tls import verify

__all__ = ["UPLOADS_FILE", "collect_uploads", "summarise_uploads", "verdict_lines",
           "render_section"]

UPLOADS_FILE = UPLOADS


def collect_uploads(platform_url: str, out: Path) -> int:
    """Stream `/_admin/uploads` into `out`; the number of uploads."""
    n = 0
    tmp = out.with_name(out.name + ".tmp")
    try:
        with httpx.stream("GET", f"{platform_url}/_admin/uploads", timeout=60,
                          verify=verify(platform_url)) as r, \
                open(tmp, "wb") as fh:
            if r.status_code != 200:
                raise StackError(f"platform uploads: GET /_admin/uploads answered {r.status_code}")
            for line in r.iter_lines():
                if line.strip():
                    fh.write(line.encode() + b"\n")
                    n += 1
    except httpx.HTTPError as e:
        raise StackError(f"platform uploads could not be read: {e}") from None
    tmp.replace(out)
    return n


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def summarise_uploads(run_dir: Path) -> dict[str, Any] | None:
    """The figures of `platform-uploads.jsonl`, or None when the run has none (clearance)."""
    path = Path(run_dir) / UPLOADS_FILE
    if not path.is_file():
        return None
    uploads = finished = stuck = lost = 0
    invoices = accepted = 0
    rejected: Counter[str] = Counter()
    first_accept: dict[str, float] = {}
    issued: dict[str, float] = {}
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            try:
                u = json.loads(raw)
            except ValueError:
                continue
            uploads += 1
            invoices += len(u.get("invoices") or ())
            lost += bool(u.get("lost"))
            if u.get("status") != "done":
                stuck += 1
                continue
            finished += 1
            for inv in u.get("invoices") or ():
                if isinstance(inv.get("issued_at"), (int, float)) and inv.get("invoice_no"):
                    issued.setdefault(inv["invoice_no"], inv["issued_at"])
            for res in u.get("results") or ():
                if res.get("result") == "accepted":
                    accepted += 1
                    no = res.get("invoice_no")
                    if no and isinstance(u.get("finished_at"), (int, float)):
                        first_accept[no] = min(first_accept.get(no, u["finished_at"]),
                                               u["finished_at"])
                else:
                    rejected[str(res.get("error"))] += 1
    delays = [max(0.0, t - issued[no]) for no, t in first_accept.items() if no in issued]
    return {"uploads": {"received": uploads, "finished": finished, "stuck": stuck,
                        "lost_by_fault": lost},
            "invoices": {"uploaded": invoices, "accepted": accepted,
                         "distinct_accepted": len(first_accept),
                         "rejected": dict(sorted(rejected.items()))},
            "invoice_to_acceptance_s": {"p50": _pct(delays, 0.5), "p95": _pct(delays, 0.95),
                                        "max": round(max(delays), 3) if delays else None}}


def _field(summary: Any, name: str) -> Any:
    """A summary field from a `harness.summary.Summary` or its dict."""
    return summary.get(name) if isinstance(summary, dict) else getattr(summary, name, None)


def verdict_lines(summary: Any) -> list[str]:
    """The profile line, and the pipeline line of a direct run, for the printed verdict."""
    profile = (_field(summary, "platform") or {}).get("profile", "clearance")
    out = [f"  platform profile: {profile}"]
    p = _field(summary, "upload_pipeline")
    if p:
        u, i, d = p["uploads"], p["invoices"], p["invoice_to_acceptance_s"]
        rej = ", ".join(f"{k} {v}" for k, v in i["rejected"].items()) or "none"
        out.append(f"  uploads: received {u['received']}, finished {u['finished']}, stuck "
                   f"{u['stuck']}; invoices accepted {i['accepted']}, rejected: {rej}; "
                   f"invoice -> acceptance p50 {d['p50']} s, p95 {d['p95']} s, max {d['max']} s")
    return out


def render_section(summary: Any) -> str:
    """The report's "Upload pipeline" section (empty for a clearance run)."""
    p = _field(summary, "upload_pipeline")
    if not p:
        return ""
    e = html.escape
    u, i, d = p["uploads"], p["invoices"], p["invoice_to_acceptance_s"]
    rows = [("uploads received", u["received"]), ("uploads finished", u["finished"]),
            ("uploads stuck (still processing at the end)", u["stuck"]),
            ("of them never to finish (upload_loss fault)", u["lost_by_fault"]),
            ("invoices uploaded (with re-uploads)", i["uploaded"]),
            ("invoices accepted (distinct numbers)", f"{i['accepted']} ({i['distinct_accepted']})")]
    rows += [(f"rejected: {code}", n) for code, n in i["rejected"].items()]
    rows += [("customer's invoice -> acceptance, p50 / p95 / max (s)",
              f"{d['p50']} / {d['p95']} / {d['max']}")]
    body = "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>" for k, v in rows)
    return ("<section><h2>Upload pipeline (direct profile)</h2>"
            "<p class=\"note\">The merchant numbered each invoice itself and uploaded it in "
            "batches that the platform decided later (design.md s.12). A stuck upload is one "
            "that never finished: the merchant must upload its invoices again, with the same "
            "numbers.</p>"
            f"<table><tbody>{body}</tbody></table></section>")

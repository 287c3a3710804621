"""explore.html: the tries on a timeline (one row each, fault windows as bars), the shrink
path, and the minimal scenario with a link to its run's report. Self-contained (no
scripts, no fetched assets), rewritten after every try so a running exploration can be
watched."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..durations import parse_duration

__all__ = ["write_page"]

_COLOURS = {"toxic": "#4e79a7", "process": "#e15759", "platform": "#f28e2b", "system": "#76b7b2"}
_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;
vertical-align:top}th{background:#f4f4f4}.pass{color:#1a7f37;font-weight:600}.fail{color:#c0392b;
font-weight:600}.kept{background:#eaf7ea}pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}
.legend span{display:inline-block;padding:1px 6px;margin-right:6px;color:#fff;font-size:12px}"""


def _family(f: dict[str, Any]) -> str:
    if "toxic" in f:
        return "toxic"
    from ..faults.plan import action_kinds
    cls = action_kinds().get(f.get("action"))
    return cls.family if cls is not None else "platform"


def _bars(faults: list[dict[str, Any]], duration_s: float, width: int = 520) -> str:
    """An SVG strip: the try's load as a grey line, each fault window as a coloured bar."""
    scale = width / max(duration_s, 1.0)
    rows = max(1, len(faults))
    h = 8 + 12 * rows
    parts = [f'<svg width="{width + 2}" height="{h}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect x="1" y="{h - 3}" width="{duration_s * scale:.1f}" height="2" fill="#bbb"/>']
    for n, f in enumerate(faults):
        at = parse_duration(f["at"])
        length = parse_duration(f["for"]) if "for" in f else 0.6
        kind = f.get("toxic") or f.get("action")
        colour = _COLOURS.get(_family(f), "#999")
        title = html.escape(f"{kind} {f.get('link') or f.get('target')} at {f['at']}")
        parts.append(f'<rect x="{1 + at * scale:.1f}" y="{3 + 12 * n}" width="{max(3.0, length * scale):.1f}" '
                     f'height="10" fill="{colour}"><title>{title}</title></rect>')
        parts.append(f'<text x="{4 + (at + length) * scale:.1f}" y="{12 + 12 * n}" font-size="10">{html.escape(str(kind))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _verdict(result: dict[str, Any] | None) -> str:
    if not result:
        return "<i>not run</i>"
    v = str(result.get("verdict"))
    cls = "pass" if v == "pass" else "fail"
    extra = f" — {html.escape(result['class'])}" if result.get("class") else ""
    counts = ", ".join(f"{k} {n}" for k, n in (result.get("counts") or {}).items() if n)
    link = f' <a href="{html.escape(result["run_dir"])}/report.html">report</a>' if result.get("run_dir") else ""
    return f'<span class="{cls}">{html.escape(v.upper())}</span>{extra}' + (f"<br><small>{html.escape(counts)}</small>" if counts else "") + link


def _fault_list(faults: list[dict[str, Any]]) -> str:
    from .shrink import describe
    return "<br>".join(html.escape(describe(f)) for f in faults) or "<i>no faults</i>"


def write_page(root: Path, doc: dict[str, Any]) -> Path:
    esc = html.escape
    out = [f"<!doctype html><meta charset='utf-8'><title>explore {esc(doc['scenario'])}</title><style>{_CSS}</style>",
           f"<h1>explore: {esc(doc['scenario'])}</h1>",
           f"<p>seed {doc['seed']} · merchant {esc(str(doc['merchant'].get('mode') or doc['merchant'].get('sut_cmd')))}"
           f" · status <b>{esc(str(doc['status']))}</b> · exit {doc.get('exit_code')} · {doc.get('elapsed_s', 0):.0f} s"
           f" · confirm {doc['confirm']}</p>",
           '<p class="legend">' + "".join(f'<span style="background:{c}">{f}</span>' for f, c in _COLOURS.items()) + "</p>"]
    m = doc.get("minimal")
    if m:
        out.append(f"<h2>minimal scenario: {esc(str(doc.get('class')))}</h2>"
                   f"<p><a href='{esc(m['path'])}'>{esc(m['path'])}</a> · {len(m['faults'])} faults, "
                   f"{m['duration_s']:g} s of load at {m['peak_rps']:g}/s · "
                   f"<a href='{esc(m['report'])}'>its run's report</a> · found in try {doc.get('failing_try')}, "
                   f"{m.get('steps_kept', 0)} shrink steps kept</p>{_bars(m['faults'], m['duration_s'])}")
        try:
            out.append(f"<pre>{esc((root / m['path']).read_text(encoding='utf-8'))}</pre>")
        except OSError:
            pass
    out.append("<h2>tries</h2><table><tr><th>#</th><th>schedule</th><th>timeline</th><th>verdict</th></tr>")
    for t in doc["tries"]:
        mark = " class='kept'" if t["index"] == doc.get("failing_try") else ""
        out.append(f"<tr{mark}><td><a href='{esc(t['scenario'])}'>{t['index']}</a></td><td>{_fault_list(t['faults'])}</td>"
                   f"<td>{_bars(t['faults'], t['duration_s'])}</td><td>{_verdict(t.get('result'))}</td></tr>")
    out.append("</table>")
    if doc.get("shrink"):
        out.append("<h2>shrink path</h2><table><tr><th>step</th><th>change</th><th>timeline</th><th>runs</th><th>kept</th></tr>")
        for s in doc["shrink"]:
            runs = "<br>".join(_verdict(r) for r in s["runs"])
            out.append(f"<tr{' class=kept' if s['kept'] else ''}><td><a href='{esc(s['scenario'])}'>{s['step']}</a></td>"
                       f"<td>{esc(s['change'])}</td><td>{_bars(s['faults'], s['duration_s'])}</td><td>{runs}</td>"
                       f"<td>{'yes' if s['kept'] else 'no'}</td></tr>")
        out.append("</table>")
    sp = doc.get("space", {})
    out.append(f"<h2>fault space</h2><p>{len(sp.get('choices', []))} choices, {sp.get('count')} per try, windows "
               f"{sp.get('for_s')} s, overlap {sp.get('overlap')}, tries of {sp.get('try_s')} s</p>"
               f"<p><small>{esc(', '.join(sp.get('choices', [])))}</small></p>"
               + "".join(f"<p><small>left out: {esc(x)}</small></p>" for x in sp.get("left_out", [])))
    path = root / "explore.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(out), encoding="utf-8")
    tmp.replace(path)
    return path

"""A sweep's report: plots/*.png, sweep.html (self-contained) and junit.xml.

The page answers an architect's question in the order they ask it: up to what rate does the
system keep every promise (the knee, marked on every plot), how much of that is left under
faults (headroom), how far could the harness itself have gone (the ceiling), and what each
step looked like, with a link to its own report. Steps where the harness was the bottleneck
are drawn hollow and grey and explained in words: they say nothing about the system.
"""
from __future__ import annotations

import base64
import html
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..rundir import read_json
from ..load.saturation import ADVICE
from ..load.cpu_meter import BUSY_LIMIT
from .steps import ACHIEVED_SHARE, Step

__all__ = ["write_sweep_report", "write_sweep_plots", "sweep_html", "sweep_junit", "knee_words",
           "KNEE_COLOURS"]

_KIND_STYLE = {False: ("#1565c0", "-", "no faults"), True: ("#c62828", "--", "with faults")}
#: the knee line: colours used by nothing else on the plots (a test finds them in the PNGs)
KNEE_COLOURS = {False: "#00a383", True: "#e040fb"}
_LIMITED = "#9e9e9e"


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def knee_words(rec: dict[str, Any], faults: bool) -> str:
    """The knee in one sentence, with what ended the climb."""
    k = rec.get("knee_rps_faults" if faults else "knee_rps")
    by = rec.get("knee_faults_limited_by" if faults else "knee_limited_by")
    if k is None:
        if by == "harness":
            return "none: no step passed, and the harness was the bottleneck from the first " \
                   f"step ({ADVICE})"
        return f"none: no step passed every gate{_machine_note(rec, None, faults)}"
    if by == "harness":
        return f"{k:g} arrivals/s at least: the next step was harness-limited ({ADVICE})"
    if by is None:
        return f"{k:g} arrivals/s at least: every step passed (sweep higher to find the knee)"
    return f"{k:g} arrivals/s (the next step failed{_machine_note(rec, k, faults)})"


def _machine_note(rec: dict[str, Any], k: float | None, faults: bool) -> str:
    """When the first failing step's machine had no core to spare, say so: on one machine
    the system shares the cores with the harness, and that knee is partly the machine's."""
    above = sorted((s for s in _steps(rec) if s.faults == faults
                    and (k is None or s.target_rps > k)), key=lambda s: s.target_rps)
    s = above[0] if above else None
    if s is None or s.machine_busy_share is None or s.machine_busy_share < BUSY_LIMIT:
        return ""
    return (f"; the machine was {s.machine_busy_share:.0%} busy there, the system using "
            f"{_fmt(s.system_cores, 2)} cores and the harness {_fmt(s.harness_cores, 2)}: "
            "the limit may be this machine's as much as the system's")


def ceiling_words(rps: float, lower_bound: bool | None) -> str:
    """The harness ceiling in words: "at least" when the driver kept up to the ramp's end."""
    if lower_bound:
        return f"at least {rps:g} arrivals/s (the driver still kept up when the ramp ended)"
    return f"{rps:g} arrivals/s"


def _steps(rec: dict[str, Any]) -> list[Step]:
    return [Step.from_json(s) for s in rec.get("steps") or []]


def _figure(height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(9, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _mark_knees(ax, rec: dict[str, Any]) -> None:
    for faults, key in ((False, "knee_rps"), (True, "knee_rps_faults")):
        k = rec.get(key)
        if k is None:
            continue
        colour = KNEE_COLOURS[faults]
        ax.axvline(k, color=colour, linestyle="-", linewidth=2.5, alpha=1.0, zorder=5)
        ax.text(k, 0.98, f" knee{' (faults)' if faults else ''} {k:g}/s",
                transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize=9,
                color=colour, fontweight="bold")


def _scatter(ax, steps: list[Step], y: str, label: str, marker: str = "o",
             colour: str | None = None, log: bool = False) -> None:
    """One series per kind: filled markers for steps that measure the system, hollow grey
    for harness-limited ones."""
    for faults in (False, True):
        mine = sorted((s for s in steps if s.faults == faults), key=lambda s: s.target_rps)
        pts = [(s.target_rps, getattr(s, y), s.harness_limited) for s in mine
               if getattr(s, y) is not None]
        if log:
            pts = [(x, max(float(v), 0.1), h) for x, v, h in pts]
        if not pts:
            continue
        c, ls, kind = _KIND_STYLE[faults]
        c = colour or c
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=c, linestyle=ls, linewidth=1.2,
                alpha=0.7, label=f"{label} ({kind})" if len({s.faults for s in steps}) > 1
                else label)
        ok = [p for p in pts if not p[2]]
        lim = [p for p in pts if p[2]]
        ax.scatter([p[0] for p in ok], [p[1] for p in ok], color=c, marker=marker, zorder=3)
        if lim:
            ax.scatter([p[0] for p in lim], [p[1] for p in lim], facecolors="none",
                       edgecolors=_LIMITED, marker=marker, s=70, linewidths=1.8, zorder=4)


def _limited_note(ax, steps: list[Step]) -> None:
    if any(s.harness_limited for s in steps):
        ax.scatter([], [], facecolors="none", edgecolors=_LIMITED, s=70, linewidths=1.8,
                   label="harness-limited (not the system)")


def write_sweep_plots(sweep_dir: Path, rec: dict[str, Any]) -> list[Path]:
    """achieved.png, latency.png, errors.png in sweep_dir/plots/."""
    steps = _steps(rec)
    out_dir = sweep_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    paths = []
    xs = [s.target_rps for s in steps] or [1.0]
    lo, hi = 0.0, max(xs) * 1.08

    fig = _figure()
    ax = fig.subplots()
    ax.plot([lo, hi], [lo, hi], color="#bbbbbb", linewidth=1, label="achieved = offered")
    ax.plot([lo, hi], [lo * ACHIEVED_SHARE, hi * ACHIEVED_SHARE], color="#dddddd",
            linewidth=1, linestyle="--", label=f"{ACHIEVED_SHARE:.0%} of offered")
    _scatter(ax, steps, "achieved_rps", "achieved")
    if rec.get("harness_ceiling_rps"):
        ax.axhline(rec["harness_ceiling_rps"], color="#6d4c41", linestyle="-.", linewidth=1,
                   label=f"harness ceiling {rec['harness_ceiling_rps']:g}/s")
    _limited_note(ax, steps)
    _mark_knees(ax, rec)
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, max([hi] + [s.achieved_rps * 1.1 for s in steps]))
    ax.set_xlabel("offered arrivals / s (step rate)")
    ax.set_ylabel("achieved (sent and answered) / s")
    ax.set_title("Achieved vs offered rate")
    ax.legend(loc="lower right", fontsize=8)
    p = out_dir / "achieved.png"
    fig.savefig(p, format="png")
    paths.append(p)

    fig = _figure()
    ax = fig.subplots()
    for key, marker, colour in (("p50_ms", "o", "#2e7d32"), ("p95_ms", "s", "#ef6c00"),
                                ("p99_ms", "^", "#6a1b9a")):
        _scatter(ax, steps, key, key[:-3], marker, colour, log=True)
    _limited_note(ax, steps)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    _mark_knees(ax, rec)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("offered arrivals / s (step rate)")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title("Latency percentiles vs offered rate")
    ax.legend(loc="upper left", fontsize=8)
    p = out_dir / "latency.png"
    fig.savefig(p, format="png")
    paths.append(p)

    fig = _figure(5.0)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    _scatter(ax1, steps, "error_rate", "error rate")
    ax1.set_ylabel("error rate (fail + unknown)")
    ax1.set_title("Errors and anomalies per step")
    _limited_note(ax1, steps)
    ax1.legend(loc="upper left", fontsize=8)
    _mark_knees(ax1, rec)
    width = max(hi / 60, 1.0)
    for faults in (False, True):
        mine = [s for s in steps if s.faults == faults]
        if mine:
            off = width * (0.55 if faults else -0.55) if len({s.faults for s in steps}) > 1 else 0
            ax2.bar([s.target_rps + off for s in mine], [s.anomalies for s in mine], width=width,
                    color=[_LIMITED if s.harness_limited else _KIND_STYLE[faults][0]
                           for s in mine], label=f"anomalies ({_KIND_STYLE[faults][2]})")
    _mark_knees(ax2, rec)
    # a rate and a count are never negative: all-zero data must not draw a -0.04 axis
    from matplotlib.ticker import MaxNLocator
    ax1.set_ylim(bottom=0, top=max([s.error_rate or 0.0 for s in steps] + [0.0]) * 1.15 or 0.05)
    ax2.set_ylim(bottom=0, top=max([s.anomalies or 0 for s in steps] + [0]) * 1.15 or 1)
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_ylabel("anomalies (orders)")
    ax2.set_xlabel("offered arrivals / s (step rate)")
    ax2.set_xlim(lo, hi)
    ax2.legend(loc="upper left", fontsize=8)
    p = out_dir / "errors.png"
    fig.savefig(p, format="png")
    paths.append(p)
    return paths


_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", "Noto Sans CJK SC", sans-serif; color:#222;
       margin:0; background:#f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
section, header { background:#fff; border:1px solid #ddd; border-radius:8px;
                  padding:8px 20px 16px; margin-top:16px; }
h1 { font-size:22px; margin:8px 0 4px; } h2 { font-size:18px; margin:14px 0 8px; }
.knee { font-size:26px; font-weight:700; color:#1565c0; }
.knee.faults { color:#c62828; font-size:20px; }
.meta { color:#666; }
table { border-collapse:collapse; font-size:13px; }
th, td { border-bottom:1px solid #ddd; padding:4px 10px; text-align:left; }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
tr.pass td.v { color:#2e7d32; font-weight:700; } tr.fail td.v { color:#c62828; font-weight:700; }
tr.harness-limited td { color:#777; background:#f3f3f3; } tr.harness-limited td.v { font-weight:700; }
tr.below-target td.v { color:#ef6c00; font-weight:700; }
.limited { background:#fff4e0; border:2px solid #ef6c00; }
img.plot { max-width:100%; border:1px solid #ddd; border-radius:4px; margin:8px 0; display:block; }
"""


def _share(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}".rstrip("0").rstrip(".") or "0"
    return str(v)


def sweep_html(sweep_dir: Path, rec: dict[str, Any], plots: list[Path]) -> str:
    steps = _steps(rec)
    both = "knee_rps_faults" in rec
    head = [f'<h1>Capacity sweep — {_e(rec.get("scenario"))}</h1>',
            f'<div class="meta">seed {_e(rec.get("seed"))} · faults {_e(rec.get("faults"))} · '
            f'{len(steps)} step(s) run · directory {_e(sweep_dir.name)}'
            + (" · <b>interrupted</b>" if rec.get("interrupted") else "") + "</div>",
            f'<p id="knee" class="knee">Knee: {_e(knee_words(rec, False))}</p>']
    if both:
        head.append(f'<p id="knee-faults" class="knee faults">Knee under faults: '
                    f'{_e(knee_words(rec, True))}</p>')
        if rec.get("headroom_under_faults") is not None:
            head.append(f'<p id="headroom"><b>Headroom under faults:</b> '
                        f'{rec["headroom_under_faults"]:.0%} (knee under faults / knee)</p>')
    ceiling = rec.get("harness_ceiling_rps")
    head.append(f'<p id="ceiling">Harness ceiling: <b>{_e(ceiling_words(ceiling, rec.get("harness_ceiling_lower_bound")))}</b> — '
                "the most journeys per second this load generator finished on a ramp "
                "against a do-nothing endpoint on loopback at the start of the sweep, on this "
                "machine at that moment. A knee "
                "near it says more about the harness than about the system.</p>"
                if ceiling is not None else '<p id="ceiling">Harness ceiling: not measured.</p>')
    if rec.get("require_rps") is not None:
        k = rec.get("knee_rps")
        ok = k is not None and k >= rec["require_rps"]
        head.append(f'<p><b>Required:</b> {rec["require_rps"]:g}/s — '
                    f'{"met" if ok else "NOT met"}</p>')
    parts = ["<header>", *head, "</header>"]
    limited = [s for s in steps if s.harness_limited]
    if limited:
        rates = ", ".join(f"{s.target_rps:g}/s{' (faults)' if s.faults else ''}" for s in limited)
        parts.append('<section class="limited" id="harness-limited"><h2>Harness-limited steps'
                     f"</h2><p>At {_e(rates)} {_e(ADVICE)}. These steps are drawn hollow and "
                     "grey; they never count as the system's limit.</p><ul>"
                     + "".join(f"<li>{s.target_rps:g}/s: {_e('; '.join(s.harness_reasons))}"
                               "</li>" for s in limited) + "</ul></section>")
    parts.append('<section><h2>Plots</h2><p class="meta">The green vertical line is the knee on '
                 "every plot (magenta: the knee under faults). Hollow grey markers: harness-limited steps.</p>")
    for p in plots:
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        parts.append(f'<img class="plot" id="plot-{_e(p.stem)}" alt="{_e(p.stem)}" '
                     f'src="data:image/png;base64,{data}">')
    parts.append("</section>")
    rows = []
    for s in sorted(steps, key=lambda s: (s.faults, s.target_rps)):
        link = (f'<a href="{_e(s.run_dir)}/report.html">{_e(s.run_dir)}</a>'
                if (sweep_dir / s.run_dir / "report.html").is_file() else _e(s.run_dir))
        rows.append(f'<tr class="{_e(s.label)}"><td class="num">{s.target_rps:g}</td>'
                    f'<td>{"yes" if s.faults else "no"}</td>'
                    f'<td class="num">{_fmt(s.achieved_rps)}</td>'
                    f'<td class="num">{_fmt(s.p50_ms)}</td><td class="num">{_fmt(s.p95_ms)}</td>'
                    f'<td class="num">{_fmt(s.p99_ms)}</td>'
                    f'<td class="num">{s.error_rate:.2%}</td><td class="num">{s.anomalies}</td>'
                    f'<td class="v">{_e(s.label)}</td>'
                    f'<td>{_e(", ".join(s.failed_gates))}</td>'
                    f'<td class="num">{_share(s.machine_busy_share)}</td>'
                    f'<td class="num">{_fmt(s.system_cores, 2)} / {_fmt(s.harness_cores, 2)}</td>'
                    f'<td>{link}</td></tr>')
    parts.append('<section><h2>Steps</h2><table id="steps"><thead><tr><th>offered /s</th>'
                 "<th>faults</th><th>achieved /s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms"
                 "</th><th>error rate</th><th>anomalies</th><th>verdict</th><th>failed gates"
                 "</th><th>machine busy</th><th>cores: system / harness</th>"
                 "<th>report</th></tr></thead><tbody>" + "".join(rows)
                 + "</tbody></table>"
                 f'<p class="meta">A step counts towards the knee when it passes every gate, '
                 f"achieves at least {ACHIEVED_SHARE:.0%} of its offered rate (achieved = "
                 "arrivals sent and answered per second) and the harness kept up. "
                 "Machine busy: the share of all this machine's cores in use during the "
                 "step's load; cores: what the system under test and the harness's own "
                 "processes (Locust, Toxiproxy, the platform, the orchestrator) used of "
                 f"them. A step at {BUSY_LIMIT:.0%} or more had no core to spare.</p></section>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<title>invoice-chaos sweep · {_e(rec.get("scenario"))}</title>'
            f"<style>{_CSS}</style></head><body><main>{''.join(parts)}</main></body></html>\n")


def sweep_junit(rec: dict[str, Any]) -> ET.Element:
    """One testcase per step; a failed step is a <failure>, a harness-limited one <skipped>
    (it measured the harness, not the system); --require-rps adds a testcase of its own."""
    name = f"invoice-chaos.sweep.{rec.get('scenario')}"
    suite = ET.Element("testsuite", name=name)
    tests = failures = skipped = 0
    for s in _steps(rec):
        tests += 1
        tc = ET.SubElement(suite, "testcase", classname=name,
                           name=f"step {s.target_rps:g}/s{' faults' if s.faults else ''}",
                           time="0")
        if s.harness_limited:
            skipped += 1
            ET.SubElement(tc, "skipped", message="harness-limited: " + "; ".join(s.harness_reasons))
        elif not s.good:
            failures += 1
            f = ET.SubElement(tc, "failure", type="StepFailed", message=(
                f"{s.label}: achieved {s.achieved_rps:g}/s of {s.target_rps:g}/s, p95 "
                f"{s.p95_ms} ms, anomalies {s.anomalies}"))
            f.text = "failed gates: " + (", ".join(s.failed_gates) or "none") + \
                f"\nsee {s.run_dir}/report.html"
    if rec.get("require_rps") is not None:
        tests += 1
        tc = ET.SubElement(suite, "testcase", classname=name,
                           name=f"knee >= {rec['require_rps']:g}/s", time="0")
        k = rec.get("knee_rps")
        if k is None or k < rec["require_rps"]:
            failures += 1
            ET.SubElement(tc, "failure", type="KneeBelowRequirement",
                          message=f"knee {k} < required {rec['require_rps']:g}")
    for k, v in (("tests", tests), ("failures", failures), ("errors", 0), ("skipped", skipped)):
        suite.set(k, str(v))
    return suite


def write_sweep_report(sweep_dir: Path) -> Path:
    """Plots, sweep.html and junit.xml from sweep_dir/sweep.json; returns sweep.html."""
    sweep_dir = Path(sweep_dir)
    rec = read_json(sweep_dir / "sweep.json")
    plots = write_sweep_plots(sweep_dir, rec)
    root = sweep_junit(rec)
    ET.indent(root)
    ET.ElementTree(root).write(sweep_dir / "junit.xml", encoding="utf-8", xml_declaration=True)
    path = sweep_dir / "sweep.html"
    path.write_text(sweep_html(sweep_dir, rec, plots), encoding="utf-8")
    return path

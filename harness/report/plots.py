"""PNG plots of a run: throughput, latency percentiles, outcome counts.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot
state, no display), so this works in CI, in threads and next to other plots.
Fault windows are shaded on the time plots because the question a reader asks
is "did the fault cause that?". Labels are ASCII only: CJK fonts are often
missing on CI machines and would render as boxes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.checker.result import ANOMALY_CLASSES
from harness.fault_windows import fault_end
from harness.rundir import PLOTS
from harness.summary import Summary

__all__ = ["write_plots", "OUTCOME_BARS", "ANOMALY_CLASSES"]

OUTCOME_BARS = ("acknowledged", "failed", "indeterminate", "recovered")

_COLOURS = {"ok": "#2e7d32", "fail": "#c62828", "info": "#8e8e8e"}
_FAULT_COLOURS = ("#ff9800", "#7e57c2", "#26a69a", "#ec407a", "#5c6bc0", "#8d6e63")
_DPI = 100


def _ascii(value: Any) -> str:
    return str(value).encode("ascii", "replace").decode("ascii")


def _new_figure(rows: int = 1, height: float = 4.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height * rows), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, list(axes)


def _shade_faults(ax, faults: list[dict[str, Any]], label: bool = True) -> None:
    """Shade each fault's window (a thin line for an instantaneous one) and name it."""
    colour_of: dict[str, str] = {}
    for fault in faults:
        start = fault.get("start_s")
        if not isinstance(start, (int, float)) or isinstance(start, bool):
            continue
        kind = _ascii(fault.get("kind") or "fault")
        colour = colour_of.setdefault(kind, _FAULT_COLOURS[len(colour_of) % len(_FAULT_COLOURS)])
        end = fault_end(fault)
        if end is not None and end > start:
            ax.axvspan(start, end, color=colour, alpha=0.15, linewidth=0, zorder=0)
        else:
            ax.axvline(start, color=colour, alpha=0.8, linewidth=1.5, linestyle=":")
        if label:
            text = kind if not fault.get("target") else f"{kind} {_ascii(fault['target'])}"
            if fault.get("ok") is False:
                text += " (failed)"
            ax.text(start, 0.98, text, transform=ax.get_xaxis_transform(), rotation=90,
                    va="top", ha="right", fontsize=7, color=colour, clip_on=True)


def _load_end_line(ax, load_end_s: float | None) -> None:
    if load_end_s is not None:
        ax.axvline(load_end_s, color="black", linewidth=1, linestyle="--", alpha=0.5)
        ax.text(load_end_s, 0.02, " load end", transform=ax.get_xaxis_transform(),
                fontsize=7, va="bottom", ha="left", alpha=0.7)


def _x_range(ts: dict[str, Any], faults: list[dict[str, Any]],
             load_end_s: float | None) -> tuple[float, float] | None:
    """One time axis for every time plot: the history, the faults and the load end."""
    xs = [float(s["t"]) for s in (ts.get("seconds") or [])[:1]]
    xs += [float(s["t"]) + 1 for s in (ts.get("seconds") or [])[-1:]]
    for fault in faults:
        for key in ("start_s", "end_s"):
            v = fault.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                xs.append(float(v))
    if load_end_s is not None:
        xs.append(load_end_s)
    if not xs:
        return None
    lo, hi = min(0.0, min(xs)), max(xs)
    pad = max((hi - lo) * 0.02, 0.5)
    return lo - pad, hi + pad


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center",
            fontsize=11, color="#777777")


def _series(points: Any) -> tuple[list[float], list[float]]:
    """`[[t, v], ...]` from load-stats.json as two lists, skipping malformed pairs."""
    xs: list[float] = []
    ys: list[float] = []
    for p in points if isinstance(points, list) else []:
        if (isinstance(p, (list, tuple)) and len(p) >= 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p[:2])):
            xs.append(float(p[0]))
            ys.append(float(p[1]))
    return xs, ys


def _throughput(path: Path, ts: dict[str, Any], faults: list[dict[str, Any]],
                load_stats: dict[str, Any] | None, load_end_s: float | None) -> Path:
    target = _series((load_stats or {}).get("target"))
    achieved = _series((load_stats or {}).get("achieved"))
    with_load = bool(target[0] or achieved[0])
    fig, axes = _new_figure(2 if with_load else 1, height=3.6)
    ax = axes[0]
    seconds = ts.get("seconds") or []
    if seconds:
        # stacked one-second bars drawn as one filled step outline per outcome (seconds are
        # dense, so this is the bars' shape): one artist each instead of one per second,
        # which took seconds to lay out and draw for an hour-long run
        edges = [s["t"] for s in seconds] + [seconds[-1]["t"] + 1]
        bottom = [0] * len(seconds)
        for outcome in ("ok", "fail", "info"):
            top = [b + s.get(outcome, 0) for b, s in zip(bottom, seconds)]
            ax.stairs(top, edges, baseline=bottom, fill=True, color=_COLOURS[outcome],
                      label=outcome, linewidth=0)
            bottom = top
        ax.legend(loc="upper right", fontsize=8)
    else:
        _empty(ax, "no completions in the history")
    ax.set_ylabel("completions / s")
    ax.set_title("Throughput by outcome (ok / fail / info)")
    _shade_faults(ax, faults)
    _load_end_line(ax, load_end_s)
    if with_load:
        lax = axes[1]
        if target[0]:
            lax.plot(*target, color="#1565c0", linewidth=1.5, label="target arrivals/s")
        if achieved[0]:
            lax.plot(*achieved, color="#ef6c00", linewidth=1, label="achieved arrivals/s")
        lax.set_ylabel("arrivals / s")
        lax.set_title("Offered load: target vs achieved")
        lax.legend(loc="upper right", fontsize=8)
        _shade_faults(lax, faults, label=False)
        _load_end_line(lax, load_end_s)
    span = _x_range(ts, faults, load_end_s)
    if span:
        axes[-1].set_xlim(*span)
    axes[-1].set_xlabel("t (s since load start)")
    fig.savefig(path, format="png")
    return path


def _latency(path: Path, ts: dict[str, Any], faults: list[dict[str, Any]],
             load_end_s: float | None) -> Path:
    fig, (ax,) = _new_figure(1)
    windows = [w for w in ts.get("latency_windows") or [] if w.get("count")]
    half = ts.get("window_s", 5) / 2
    if windows:
        xs = [w["window_start_s"] + half for w in windows]
        for key, colour in (("p50", "#2e7d32"), ("p95", "#ef6c00"), ("p99", "#c62828")):
            ys = [max(float(w[key]), 0.1) for w in windows]   # log scale needs > 0
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, color=colour, label=key)
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter

        plain = FuncFormatter(lambda v, _pos: f"{v:g}")   # 2000, not 2x10^3
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _pos: f"{v:g}" if str(f"{v:g}")[0] in "25" else ""))
        ax.legend(loc="upper right", fontsize=8)
    else:
        _empty(ax, "no completions with a latency")
    span = _x_range(ts, faults, load_end_s)
    if span:
        ax.set_xlim(*span)
    ax.set_ylabel("latency (ms, log)")
    ax.set_xlabel("t (s since load start)")
    ax.set_title(f"Latency percentiles per {ts.get('window_s', 5)} s window")
    _shade_faults(ax, faults)
    _load_end_line(ax, load_end_s)
    fig.savefig(path, format="png")
    return path


def _count(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else 0.0


def _outcomes(path: Path, summary: Summary) -> Path:
    fig, (ax,) = _new_figure(1)
    invoices = summary.invoices
    names = list(OUTCOME_BARS) + list(ANOMALY_CLASSES)
    values = [_count(invoices.get(n)) for n in names]
    colours = ["#2e7d32", "#8e8e8e", "#f9a825", "#1565c0"] + \
        ["#c62828" if v > 0 else "#bdbdbd" for v in values[len(OUTCOME_BARS):]]
    bars = ax.bar(range(len(names)), values, color=colours)
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:g}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")
    ax.set_xticks(range(len(names)), [n.replace("_", " ") for n in names], rotation=30,
                  ha="right", fontsize=8)
    ax.axvline(len(OUTCOME_BARS) - 0.5, color="black", linewidth=0.8, alpha=0.4)
    top = max(values) if values and max(values) > 0 else 1
    ax.set_ylim(0, top * 1.15 + (1 if top < 5 else 0))
    ax.set_ylabel("orders / invoices")
    ax.set_title(f"Outcomes of {_ascii(summary.scenario or 'the run')}: "
                 f"{_count(invoices.get('requested')):g} requested "
                 "(anomalies right of the line)")
    fig.savefig(path, format="png")
    return path


def write_plots(run_dir: Path, summary: Summary | dict[str, Any], timeseries: dict[str, Any],
                faults: list[dict[str, Any]], load_stats: dict[str, Any] | None,
                load_end_s: float | None = None) -> list[Path]:
    """Draw throughput.png, latency.png and outcomes.png into `run_dir/plots/`.

    Works with an empty timeseries, no faults and no load stats (the plots then
    say there was no data). `load_end_s` adds a dashed "load end" line.
    """
    if load_end_s is not None and not math.isfinite(load_end_s):
        load_end_s = None
    summary = Summary.coerce(summary)
    plots = Path(run_dir) / PLOTS
    plots.mkdir(parents=True, exist_ok=True)
    faults = [f for f in faults or [] if isinstance(f, dict)]
    return [
        _throughput(plots / "throughput.png", timeseries, faults, load_stats, load_end_s),
        _latency(plots / "latency.png", timeseries, faults, load_end_s),
        _outcomes(plots / "outcomes.png", summary),
    ]

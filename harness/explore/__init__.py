"""Seeded fault exploration: many short runs with drawn fault schedules, and the smallest
scenario that still fails (`invoice-chaos explore`).

Stages, each its own module: `space` (which faults a try may draw, from the scenario's
`explore:` block or every fault that applies), `draw` (seeded schedules; pure), `tryfile`
(a try's scenario written out before it runs), `shrink` (smaller candidates of a failing
schedule; pure), `trial` (one run through the same orchestrator as `run`, its verdict
read from summary.json), `search` (the loop, explore.json), `page` (explore.html).
"""
from __future__ import annotations

from .draw import draw_schedule, draw_tries
from .space import ExploreSpace, FaultChoice, space_of

__all__ = ["ExploreSpace", "FaultChoice", "space_of", "draw_schedule", "draw_tries"]

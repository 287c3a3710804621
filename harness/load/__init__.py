"""The load generator: holiday-peak curves, open-model arrivals, customers, history.

Importing this package never imports Locust (which monkey-patches with gevent):
Locust runs in its own processes, started by `runner.run_load`.
"""
from __future__ import annotations

from .config import MIX_KINDS, LoadConfig
from .curves import CurveError, LoadShape, bundled_curves, rate_at, read_curve
from .history import HistoryWriter
from .runner import LoadHandle, LoadResult, run_load, start_load

__all__ = ["MIX_KINDS", "LoadConfig", "CurveError", "LoadShape", "bundled_curves", "rate_at",
           "read_curve", "HistoryWriter", "LoadHandle", "LoadResult", "run_load", "start_load"]

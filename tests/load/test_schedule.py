"""The arrival schedule: a seeded non-homogeneous Poisson process, split by workers."""
from __future__ import annotations

from collections import Counter

import pytest

from harness.load.curves import LoadShape
from harness.load.schedule import arrivals, kind_of, worker_arrivals

MIX = {"checkout": 80, "query": 15, "refund": 5}


def test_same_seed_same_schedule_other_seed_differs():
    s = LoadShape.of([(0, 1), (60, 1)], 60, 20)
    a = list(arrivals(s, 7, MIX))
    assert a == list(arrivals(s, 7, MIX))
    assert a != list(arrivals(s, 8, MIX))
    assert [x.index for x in a] == list(range(len(a)))
    assert all(0 <= x.t < 60 for x in a) and [x.t for x in a] == sorted(x.t for x in a)


def test_count_follows_the_curve():
    s = LoadShape.of([(0, 0), (100, 1)], 100, 40)      # ramp 0 -> 40/s, expected 2000
    a = list(arrivals(s, 1, MIX))
    assert len(a) == pytest.approx(2000, rel=0.06)
    first_half = sum(1 for x in a if x.t < 50)
    assert first_half == pytest.approx(500, rel=0.12)  # a quarter of the area


def test_workers_partition_the_schedule():
    s = LoadShape.of([(0, 1)], 30, 30)
    whole = list(arrivals(s, 3, MIX))
    parts = [list(worker_arrivals(s, 3, MIX, k, 3)) for k in range(3)]
    merged = sorted((x for p in parts for x in p), key=lambda x: x.index)
    assert merged == whole
    assert all(abs(len(p) - len(whole) / 3) <= 1 for p in parts)
    with pytest.raises(ValueError):
        list(worker_arrivals(s, 3, MIX, 3, 3))


def test_kind_follows_mix_and_depends_only_on_seed_and_index():
    kinds = Counter(kind_of(5, i, MIX) for i in range(5000))
    assert kinds["checkout"] / 5000 == pytest.approx(0.8, abs=0.03)
    assert kinds["refund"] / 5000 == pytest.approx(0.05, abs=0.015)
    assert "verify" not in kinds
    assert kind_of(5, 123, MIX) == kind_of(5, 123, dict(MIX))


def test_zero_peak_gives_no_arrivals():
    assert list(arrivals(LoadShape.of([(0, 1)], 10, 0), 1, MIX)) == []

"""The open-model arrival schedule: when each customer arrives, and what it wants.

`peak_rps` is an arrival rate, not a number of users: customers arrive whether or
not the system has answered the ones before (a closed model, users that wait for
their answer and then think, slows down with the system and hides the overload).
Arrivals follow a non-homogeneous Poisson process with rate `shape.rate_at(t)`,
drawn by thinning (Lewis & Shedler) from one seeded generator, so the schedule is
a pure function of (shape, seed): the same scenario and seed give the same
arrival times, the same journey kinds and, via orders.py, the same order data,
however fast the system answers. With N worker processes, worker k takes the
arrivals whose global index i satisfies i % N == k.
"""
from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from typing import Iterator, Mapping

from .config import MIX_KINDS
from .curves import LoadShape

__all__ = ["Arrival", "arrivals", "worker_arrivals", "kind_of"]


@dataclass(frozen=True, slots=True)
class Arrival:
    index: int          # global arrival index (the order number of a checkout)
    t: float            # intended start, seconds after t0
    kind: str           # one of MIX_KINDS


def kind_of(seed: int, index: int, mix: Mapping[str, float]) -> str:
    """The journey kind of arrival `index`: drawn from `mix` by (seed, index) alone."""
    kinds = [k for k in MIX_KINDS if mix.get(k, 0) > 0]
    cum: list[float] = []
    acc = 0.0
    for k in kinds:
        acc += float(mix[k])
        cum.append(acc)
    x = random.Random(f"kind:{seed}:{index}").random() * acc
    return kinds[min(bisect.bisect_right(cum, x), len(kinds) - 1)]


def arrivals(shape: LoadShape, seed: int, mix: Mapping[str, float]) -> Iterator[Arrival]:
    """Every arrival of the run in time order (lazily; a 6-minute 300 rps run is ~50k)."""
    lam = shape.max_rate
    if lam <= 0:
        return
    rng = random.Random(f"arrivals:{seed}")
    t = 0.0
    index = 0
    while True:
        t += rng.expovariate(lam)
        if t >= shape.duration_s:
            return
        if rng.random() * lam < shape.rate_at(t):
            yield Arrival(index, t, kind_of(seed, index, mix))
            index += 1


def worker_arrivals(shape: LoadShape, seed: int, mix: Mapping[str, float], worker: int,
                    workers: int) -> Iterator[Arrival]:
    """The share of worker `worker` (0-based) of `workers`: every `workers`-th arrival."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
    for a in arrivals(shape, seed, mix):
        if a.index % workers == worker:
            yield a

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
from typing import Callable, Iterator, Mapping

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
    return _kind_picker(seed, mix)(index)


def _kind_picker(seed: int, mix: Mapping[str, float]) -> Callable[[int], str]:
    """`kind_of` for one (seed, mix): the cumulative weights built once per run, not per
    arrival, and no draw at all when the mix has one kind (it could only pick that one)."""
    kinds = [k for k in MIX_KINDS if mix.get(k, 0) > 0]
    cum: list[float] = []
    acc = 0.0
    for k in kinds:
        acc += float(mix[k])
        cum.append(acc)
    if len(kinds) == 1:
        only = kinds[0]
        return lambda index: only
    last = len(kinds) - 1
    right = bisect.bisect_right

    def pick(index: int) -> str:
        x = random.Random(f"kind:{seed}:{index}").random() * acc
        return kinds[min(right(cum, x), last)]
    return pick


def arrivals(shape: LoadShape, seed: int, mix: Mapping[str, float]) -> Iterator[Arrival]:
    """Every arrival of the run in time order (lazily; a 6-minute 300 rps run is ~50k)."""
    lam = shape.max_rate
    if lam <= 0:
        return
    rng = random.Random(f"arrivals:{seed}")
    kind = _kind_picker(seed, mix)
    t = 0.0
    index = 0
    while True:
        t += rng.expovariate(lam)
        if t >= shape.duration_s:
            return
        if rng.random() * lam < shape.rate_at(t):
            yield Arrival(index, t, kind(index))
            index += 1


def worker_arrivals(shape: LoadShape, seed: int, mix: Mapping[str, float], worker: int,
                    workers: int) -> Iterator[Arrival]:
    """The share of worker `worker` (0-based) of `workers`: every `workers`-th arrival."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
    for a in arrivals(shape, seed, mix):
        if a.index % workers == worker:
            yield a

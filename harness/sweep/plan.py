"""Which rates a sweep offers, from `--rates R1,R2,...` or `--from A --to B --steps N`."""
from __future__ import annotations

from ..errors import UsageError

__all__ = ["plan_rates", "FAULT_CHOICES"]

FAULT_CHOICES = ("scenario", "none", "both")


def plan_rates(rates: str | None, start: float | None, stop: float | None,
               steps: int | None) -> list[float]:
    """Ascending rates (arrivals/s). `--from/--to/--steps` spaces N rates evenly, both ends
    included (100..1200 in 6 steps: 100, 320, 540, 760, 980, 1200)."""
    if rates is not None:
        if start is not None or stop is not None or steps is not None:
            raise UsageError("give either --rates or --from/--to/--steps, not both")
        out = []
        for part in rates.split(","):
            try:
                r = float(part)
            except ValueError:
                raise UsageError(f"--rates {rates!r}: {part.strip()!r} is not a number") from None
            if r <= 0:
                raise UsageError(f"--rates: {part.strip()} must be > 0 arrivals/s")
            out.append(r)
        if not out:
            raise UsageError("--rates needs at least one rate")
        return sorted(set(out))
    if start is None or stop is None or steps is None:
        raise UsageError("give --rates R1,R2,... or all three of --from A --to B --steps N")
    if start <= 0 or stop < start:
        raise UsageError(f"--from {start:g} --to {stop:g}: need 0 < A <= B")
    if steps < 1 or (steps == 1 and stop != start):
        raise UsageError(f"--steps {steps}: need >= 2 for a range (or --from = --to)")
    if steps == 1:
        return [float(start)]
    return [round(start + (stop - start) * i / (steps - 1), 3) for i in range(steps)]

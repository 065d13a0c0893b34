"""The one percentile of dbops: nearest rank.

p(q) of n samples is the smallest sample such that at least q·n of the samples are at or below it:
the ceil(q·n)-th smallest. It is always a measured value, never one interpolated between two, and
never below the true share: a p95 met means 95 % of the requests measured were at most that fast.
Of the two samples statistics.quantiles(method="inclusive") interpolates between, it is one (the
inclusive position (n-1)·q is less than one rank from ceil(q·n) - 1), so the two agree exactly where
that position falls on a sample (n = 20k + 1 for p95) and differ by at most one rank elsewhere.
"""

from __future__ import annotations

import math
from typing import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1] of a non-empty collection of samples."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("a percentile of no samples")
    if not 0 < q <= 1:
        raise ValueError(f"a percentile's q must be in (0, 1], not {q}")
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]

"""The statistics the gates rest on, in plain Python so the core stays dependency-free.

- `wilson_interval`: the Wilson score interval of a binomial proportion. The error-rate gate fails only when the
  one-sided lower bound is above the allowed rate, i.e. when the data make "the rate is at most `max`" implausible at
  the configured confidence; a handful of unlucky errors in a small sample does not fail a healthy candidate.
- `two_proportion_z`: the pooled two-proportion z statistic; a split compares the candidate's error rate with
  stable's with it (one-sided: is the candidate worse?).
- `js_divergence`: Jensen-Shannon divergence in bits (0 = same distribution, 1 = disjoint support).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist


def z_quantile(confidence: float) -> float:
    """The one-sided standard-normal quantile: P(Z <= z) = confidence."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(confidence)


def wilson_interval(successes: int, trials: int, *, z: float) -> tuple[float, float]:
    """Wilson score bounds for `successes` out of `trials` at `z` standard deviations; (0, 1) with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} out of range for {trials} trials")
    p = successes / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    denominator = 1 + z2 / trials
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """z for H1: p1 > p2 with a pooled variance; 0 when either sample is empty or there is no variance at all."""
    if n1 <= 0 or n2 <= 0:
        return 0.0
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 0.0
    return (x1 / n1 - x2 / n2) / math.sqrt(variance)


def _normalise(counts: Mapping[str, float], keys: list[str]) -> list[float]:
    total = sum(max(0.0, counts.get(k, 0.0)) for k in keys)
    if total <= 0:
        raise ValueError("a distribution needs a positive total")
    return [max(0.0, counts.get(k, 0.0)) / total for k in keys]


def js_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen-Shannon divergence (base 2) of two distributions given as (unnormalised) counts per class."""
    keys = sorted(set(p) | set(q))
    pn, qn = _normalise(p, keys), _normalise(q, keys)
    total = 0.0
    for a, b in zip(pn, qn, strict=True):
        m = (a + b) / 2
        if a > 0:
            total += 0.5 * a * math.log2(a / m)
        if b > 0:
            total += 0.5 * b * math.log2(b / m)
    return min(1.0, max(0.0, total))

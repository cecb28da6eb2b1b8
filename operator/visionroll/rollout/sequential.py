"""Anytime-valid bounds: confidence sequences that hold at every look at once, so checking every interval of a stage
does not turn chance into a verdict. Plain Python, counts in, bounds out.

- `binomial_bounds`: a confidence sequence for a proportion (Robbins' beta-binomial mixture). With `s` successes in
  `n` trials and a Beta(a, b) prior, the mixture likelihood ratio against any fixed p,
      M_n(p) = B(a + s, b + n - s) / B(a, b) / (p^s (1 - p)^(n - s)),
  is a nonnegative martingale when p is the true rate, so by Ville's inequality P(ever M_n(p) >= 1/alpha) <= alpha.
  The bounds are the p with M_n(p) < 1/alpha: they miss the true rate, at *any* of the looks, with probability at most
  alpha. The prior only moves where the bounds are tightest; it is centred on the gate's threshold.
- `lower_bound` / `upper_bound` / `rate_bounds`: one-sided confidence sequences for a proportion, each the inversion
  of a one-sided mixture sequential probability ratio test. Testing "the rate is at most q", the evidence is
      E_n(q) = sum_j w_j L_n(p_j) / L_n(q),   odds(p_j) = r_j odds(q), r_j > 1 (the `ABOVE` mixture),
  the likelihood of the data under alternatives r_j times the odds of q, averaged with weights w_j, over its
  likelihood at q. Under any true rate p <= q each term is a nonnegative supermartingale (one request multiplies its
  mean by p p_j / q + (1 - p)(1 - p_j)/(1 - q) <= 1), so P(ever E_n(q) >= 1/alpha) <= alpha (Ville). E_n(q) falls
  as q grows, so the lower bound, the least q with E_n(q) < 1/alpha, misses the true rate at any look with
  probability at most alpha. The upper bound is the same test on the complement (alternatives below q). Half the
  weight sits on twice the odds: a gate is built to catch a rate twice its limit (a pass test, on half of it), and
  Wald's sequential test against a point alternative is the fastest there is; the rest catches larger effects within
  a few requests and smaller ones eventually. `rate_bounds` gives each side alpha / 2, so [lower, upper] holds at
  1 - alpha.
- `cdf_band`: bounds on a histogram's cumulative shares P(L <= bucket bound), one-sided sequences per bound and side
  at alpha / (2 x the number of bounds) (a union bound), made monotone.
- `slower_share_bounds`: bounds on theta = P(X > Y) + P(X = Y) / 2 for a candidate request X and a stable request Y
  (the Mann-Whitney probability), from both variants' CDF bands: theta only grows as X gets stochastically larger and
  Y smaller, so the extreme distributions inside the bands give its extremes. Requests in the same bucket count as
  ties, which keeps theta exactly 1/2 for identical latency distributions whatever the buckets.
- `divergence_bounds`: bounds on the Jensen-Shannon divergence (bits) of two class distributions from both variants'
  class counts. Each class's share gets a binomial sequence at alpha / (2 k) for k classes seen, and the divergence,
  a sum of one jointly convex term per class, is bounded class by class over those boxes. The raw plug-in divergence is
  never used: it is biased upward by about (k - 1) / (8 ln 2) (1/n1 + 1/n2), which for 1,000 classes swamps any
  threshold; the bounds widen with k and shrink with both sample sizes instead.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence

_STEPS = 200  # at most, to find a bound (Newton converges in far fewer)
_EDGE = 1e-12  # the bounds are searched in [_EDGE, 1 - _EDGE]


def binomial_bounds(
    successes: float, trials: float, *, alpha: float, prior_mean: float = 0.5, prior_strength: float = 2.0
) -> tuple[float, float]:
    """The (lower, upper) bounds of a proportion after `successes` out of `trials`, valid at every look at once with
    probability 1 - alpha; (0, 1) with no trials. The Beta prior has mean `prior_mean` and a + b = `prior_strength`."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0 < prior_mean < 1 or prior_strength <= 0:
        raise ValueError(f"prior mean must be in (0, 1) and strength > 0, got {prior_mean}, {prior_strength}")
    n = max(0.0, trials)
    if n <= 0:
        return 0.0, 1.0
    s = min(n, max(0.0, successes))
    a, b = prior_mean * prior_strength, (1 - prior_mean) * prior_strength
    # log M_n(p) = log_mix - s log p - (n - s) log(1 - p); the bounds are where it crosses log(1/alpha).
    log_mix = _log_beta(a + s, b + n - s) - _log_beta(a, b)
    level = math.log(1 / alpha)

    def excess(p: float) -> tuple[float, float]:
        """log M_n(p) - log(1/alpha) and its derivative in p; convex in p, least at p = s / n."""
        value = log_mix - (s * math.log(p) if s else 0.0) - ((n - s) * math.log1p(-p) if n > s else 0.0) - level
        return value, -s / p + (n - s) / (1 - p)

    centre = s / n
    # A first guess a little wider than a normal interval: it is usually just outside, which brackets the bound.
    spread = math.sqrt(2 * (level + math.log(n + 1)) * max(centre * (1 - centre), 1 / n) / n)
    lower = upper = 0.0
    if centre <= 0 or excess(_EDGE)[0] < 0:
        lower = 0.0
    else:
        guess = max(_EDGE, centre - spread)
        lower = _root(excess, guess, centre) if excess(guess)[0] >= 0 else _root(excess, _EDGE, guess)
    if centre >= 1 or excess(1 - _EDGE)[0] < 0:
        upper = 1.0
    else:
        guess = min(1 - _EDGE, centre + spread)
        upper = _root(excess, guess, centre) if excess(guess)[0] >= 0 else _root(excess, 1 - _EDGE, guess)
    return lower, upper


# Odds ratios r_j > 1 of the alternatives a one-sided test against higher rates mixes over, with weights w_j: half
# on 2; large ratios catch a gross failure in a few requests; ratios down to 1.02 let the bounds keep shrinking towards
# the estimate, so a rate a little inside its limit still passes with enough evidence.
ABOVE: tuple[tuple[float, float], ...] = (
    (2.0, 0.5),
    (1.02, 0.02), (1.05, 0.03), (1.1, 0.04), (1.2, 0.04), (1.3, 0.05), (1.5, 0.08),
    (3.0, 0.08), (5.0, 0.06), (10.0, 0.06), (30.0, 0.04),
)  # fmt: skip


def log_evidence(successes: float, trials: float, rate: float, mixture: Sequence[tuple[float, float]] = ABOVE) -> float:
    """log E_n(rate): the evidence of `successes` in `trials` against "the rate is at most `rate`" (module docs)."""
    return _evidence(successes, trials, _logit(rate), mixture)[0]


def lower_bound(successes: float, trials: float, *, alpha: float) -> float:
    """The least rate q not rejected by the one-sided test against higher rates at level alpha: a lower confidence
    sequence that misses the true rate, at any look, with probability at most alpha; 0 with no trials."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n = max(0.0, trials)
    s = min(n, max(0.0, successes))
    if n <= 0 or s <= 0:
        return 0.0
    level = math.log(1 / alpha)

    def excess(theta: float) -> tuple[float, float]:
        value, slope = _evidence(s, n, theta, ABOVE)
        return value - level, slope

    # The evidence falls as the tested log-odds theta grows (its slope is a weighted sum of n (sigma(theta) -
    # sigma(theta + log r)) < 0) and is at most 1 at the estimate, so the bound lies in [edge, estimate]: Newton steps
    # kept inside that bracket, a bisection when a step would leave it, to 1e-9 in the rate.
    low, high = _logit(_EDGE), _logit(min(s / n, 1 - _EDGE))
    if excess(low)[0] < 0:
        return 0.0
    centre = s / n
    theta = _logit(min(1 - _EDGE, max(_EDGE, centre - math.sqrt(2 * level * centre * (1 - centre) / n))))
    for _ in range(_STEPS):
        value, slope = excess(theta)
        if value >= 0:
            low = theta
        else:
            high = theta
        if abs(value) < 1e-9:
            return _sigmoid(theta)
        if _sigmoid(high) - _sigmoid(low) < 1e-9:
            break
        step = theta - value / slope if slope < 0 else (low + high) / 2
        theta = step if low < step < high else (low + high) / 2
    return _sigmoid(low)


def upper_bound(successes: float, trials: float, *, alpha: float) -> float:
    """The greatest rate not rejected by the one-sided test against lower rates (the same test on the complement);
    1 with no trials."""
    n = max(0.0, trials)
    return 1.0 - lower_bound(n - min(n, max(0.0, successes)), n, alpha=alpha)


def rate_bounds(successes: float, trials: float, *, alpha: float) -> tuple[float, float]:
    """(lower, upper) from the two one-sided sequences at alpha / 2 each: jointly valid at every look with
    probability 1 - alpha; a verdict of "above" errs with probability at most alpha / 2, "below" likewise."""
    return lower_bound(successes, trials, alpha=alpha / 2), upper_bound(successes, trials, alpha=alpha / 2)


def cdf_band(cumulative: Sequence[float], total: float, *, alpha: float) -> tuple[list[float], list[float]]:
    """Lower and upper bounds on P(L <= bound_i) for a histogram's cumulative counts (one per finite bucket bound,
    ascending; `total` is the +Inf count), jointly valid at every look with probability 1 - alpha."""
    each = alpha / max(1, 2 * len(cumulative))
    lows, highs = [], []
    known: dict[float, tuple[float, float]] = {}  # bounds with equal counts (empty or full buckets) share bounds
    for count in cumulative:
        if count not in known:
            known[count] = lower_bound(count, total, alpha=each), upper_bound(count, total, alpha=each)
        lo, hi = known[count]
        lows.append(lo)
        highs.append(hi)
    # A CDF never decreases: a lower bound at b holds at every later bound, an upper bound at every earlier one.
    for i in range(1, len(lows)):
        lows[i] = max(lows[i], lows[i - 1])
    for i in range(len(highs) - 2, -1, -1):
        highs[i] = min(highs[i], highs[i + 1])
    return lows, highs


def slower_share(cand_cdf: Sequence[float], stable_cdf: Sequence[float]) -> float:
    """theta = P(X > Y) + P(X = Y) / 2 over buckets, for CDFs given at the same bucket bounds (the last bucket, up to
    +Inf, holds the rest)."""
    x, y = _masses(cand_cdf), _masses(stable_cdf)
    below, theta = 0.0, 0.0
    for px, py in zip(x, y, strict=True):
        theta += px * (below + py / 2)
        below += py
    return theta


def slower_share_bounds(
    cand: Sequence[float], cand_total: float, stable: Sequence[float], stable_total: float, *, alpha: float
) -> tuple[float, float]:
    """(lower, upper) bounds on theta from both variants' cumulative bucket counts, jointly valid with 1 - alpha."""
    c_lo, c_hi = cdf_band(cand, cand_total, alpha=alpha / 2)
    s_lo, s_hi = cdf_band(stable, stable_total, alpha=alpha / 2)
    # Slowest candidate (lowest CDF) against fastest stable (highest CDF) gives the largest theta, and vice versa.
    return slower_share(c_hi, s_lo), slower_share(c_lo, s_hi)


def js_term(a: float, b: float) -> float:
    """One class's share of the Jensen-Shannon divergence (bits) for shares a and b: jointly convex, 0 when a == b."""
    m = (a + b) / 2
    out = 0.0
    if a > 0:
        out += a / 2 * math.log2(a / m)
    if b > 0:
        out += b / 2 * math.log2(b / m)
    return max(0.0, out)


def divergence_bounds(
    cand: Mapping[str, float], stable: Mapping[str, float], *, alpha: float
) -> tuple[float, float, int]:
    """(lower, upper) bounds on the Jensen-Shannon divergence (bits, at most 1) of two class distributions given as
    counts per class, jointly valid at every look with probability 1 - alpha; and k, the classes seen."""
    classes = sorted(c for c in set(cand) | set(stable) if cand.get(c, 0) > 0 or stable.get(c, 0) > 0)
    n1, n2 = sum(max(0.0, v) for v in cand.values()), sum(max(0.0, v) for v in stable.values())
    k = len(classes)
    if k == 0 or n1 <= 0 or n2 <= 0:
        return 0.0, 1.0, k
    each = alpha / (2 * k)
    prior = 1 / max(2, k)
    lower = upper = 0.0
    for c in classes:
        p_lo, p_hi = binomial_bounds(cand.get(c, 0.0), n1, alpha=each, prior_mean=prior)
        q_lo, q_hi = binomial_bounds(stable.get(c, 0.0), n2, alpha=each, prior_mean=prior)
        # A convex term is largest at a corner of the box, smallest at the point nearest the diagonal a == b.
        upper += max(js_term(p_lo, q_hi), js_term(p_hi, q_lo), js_term(p_lo, q_lo), js_term(p_hi, q_hi))
        if p_hi < q_lo:
            lower += js_term(p_hi, q_lo)
        elif q_hi < p_lo:
            lower += js_term(p_lo, q_hi)
    return min(1.0, lower), min(1.0, upper), k


def plug_in_bias(k: int, n1: float, n2: float) -> float:
    """The expected Jensen-Shannon divergence (bits) of two samples of sizes n1, n2 from one distribution over k
    classes: (k - 1) / (8 ln 2) (1/n1 + 1/n2). Shown next to the plug-in value so a reader sees why it is not used."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    return (k - 1) / (8 * math.log(2)) * (1 / n1 + 1 / n2)


def _masses(cdf: Sequence[float]) -> list[float]:
    out, prev = [], 0.0
    for value in cdf:
        out.append(max(0.0, value - prev))
        prev = max(prev, value)
    out.append(max(0.0, 1 - prev))
    return out


def _evidence(s: float, n: float, theta: float, mixture: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """log E_n at the log-odds theta, and its slope in theta. With l(x) = log sigmoid(x), a term is
    log w + s (l(theta + c) - l(theta)) + (n - s) (l(-theta - c) - l(-theta)), c = log r, and l(-x) = l(x) - x."""
    base = _log_sigmoid(theta)
    at = math.exp(base)  # sigmoid(theta)
    terms, slopes = [], []
    for c, log_weight in _logs(tuple(mixture)):
        shifted = _log_sigmoid(theta + c)
        terms.append(log_weight + n * (shifted - base) - (n - s) * c)
        slopes.append(n * (at - math.exp(shifted)))
    top = max(terms)
    shares = [math.exp(t - top) for t in terms]
    total = sum(shares)
    return top + math.log(total), sum(w * d for w, d in zip(shares, slopes, strict=True)) / total


@functools.cache
def _logs(mixture: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    """(log r, log w) of a mixture, computed once."""
    return tuple((math.log(ratio), math.log(weight)) for ratio, weight in mixture)


def _log_sigmoid(x: float) -> float:
    """log(1 / (1 + e^-x)) without overflow."""
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _root(excess: Callable[[float], tuple[float, float]], out: float, inside: float) -> float:
    """Where the convex `excess` crosses 0, between `out` (excess >= 0) and `inside` (excess < 0). A Newton step from
    the outside of a convex function never passes its root, so it converges from that side; a step that would leave
    the bracket (rounding) becomes a bisection."""
    value, slope = excess(out)
    for _ in range(_STEPS):
        if value < 1e-9 or abs(out - inside) < 1e-13:
            break
        step = out - value / slope if slope != 0 else (out + inside) / 2
        if not min(out, inside) < step < max(out, inside):
            step = (out + inside) / 2
        at, at_slope = excess(step)
        if at >= 0:
            out, value, slope = step, at, at_slope
        else:
            inside = step
    return out

"""Judging: the measurements of the stage so far held to the effective gates, one `GateResult` per gate of the
catalogue that applies, each pass, fail or inconclusive.

Rule 1 of the design lives here: evidence accumulates over a stage and every gate's test bounds its quantity with a
confidence sequence (`verdicts.py`), so a verdict never comes by chance from looking at every interval. A gate
passes only when its bound clears the threshold, fails only when the opposite bound is beyond it, and is
inconclusive otherwise; with no measurement, a failed query, or fewer than `minSamples` samples it is inconclusive
with no bounds at all (labels excepted: they arrive late, so too few of them is inconclusive with the bounds [0, 1],
evidence still to come, and waits out the stage like any accumulating evidence). The overall verdict of one analysis
is fail if any gate failed, else inconclusive if any gate was, else pass, and inconclusive when there was no gate at
all: no evidence is never a pass.
"""

from __future__ import annotations

from collections.abc import Iterable

from visionroll.api import Analysis, GateResult, Gates
from visionroll.api.status import Verdict
from visionroll.rollout.catalogue import Scope, entries
from visionroll.rollout.defaults import scope
from visionroll.rollout.types import Measurements


def judge(
    analysis: Analysis,
    stage: str | None,
    measurements: Measurements,
    *,
    vs_stable: bool = True,
    equal_load: bool = True,
) -> tuple[GateResult, ...]:
    """Every effective gate (the spec's, or the defaults) that applies to `stage`, judged on `measurements`;
    `vs_stable=False` (a canary step of 100%, see `gates.stable_serves`) leaves out the comparisons with stable, and
    `equal_load=False` (see `gates.equal_load`) the latency comparison."""
    where = scope(analysis, stage, vs_stable=vs_stable, equal_load=equal_load)
    return tuple(e.judge(where, measurements) for e in entries(where))


def thresholds(gates: Gates, stage: str | None = None) -> dict[str, float]:
    """The numeric limit of each gate in `gates` that has a single one, by gate name: the number its `threshold` text
    holds the gate's value to; pass the gates that judged, `effective_gates(analysis, stage)`. A gate compared with
    stable by a margin (errorRateVsStable) and a custom gate with both min and max have no single limit."""
    where = Scope(gates=gates, stage=stage, vs_stable=True, min_samples=1, defaults=False)
    limits: dict[str, float] = {}
    for e in entries(where):
        limit = e.limit(gates)
        if limit is not None:
            limits[e.name] = limit
    return limits


def overall(results: Iterable[GateResult]) -> Verdict:
    """fail if any gate failed, else inconclusive if any gate was or there was none, else pass."""
    verdicts = {r.verdict for r in results}
    if "fail" in verdicts:
        return "fail"
    if "inconclusive" in verdicts or not verdicts:
        return "inconclusive"
    return "pass"


def lacks_evidence(results: Iterable[GateResult]) -> bool:
    """True when some inconclusive gate had nothing at all to judge (not measured, a failed query, no data: no
    samples and no bounds), as opposed to evidence that is still accumulating: samples short of minSamples (a 5%
    canary step of modest traffic needs minutes to reach them), or short of the threshold's bounds (labels that have
    not arrived yet included: their gates report the bounds [0, 1], verdicts.missing)."""
    return any(r.verdict == "inconclusive" and r.lower is None and r.upper is None and not r.samples for r in results)


def counts_as_inconclusive(results: Iterable[GateResult], *, out_of_time: bool) -> bool:
    """Whether an analysis adds to `inconclusiveChecks`: it is inconclusive and either lacks evidence, or the stage
    has run out of time to gather it (`out_of_time`: its duration plus progressDeadline have passed). Evidence that
    is still accumulating within that time is not a failure to measure."""
    results = tuple(results)
    return overall(results) == "inconclusive" and (out_of_time or lacks_evidence(results))


def summary(results: Iterable[GateResult]) -> str:
    """One line for events and history: `errorRate=0.2 (<= 0.01, n=412, [0.15, 0.25]) fail; drift=...`."""
    parts = []
    for r in results:
        value = "n/a" if r.value is None else f"{r.value:.4g}"
        bounds = f", [{r.lower:.4g}, {r.upper:.4g}]" if r.lower is not None and r.upper is not None else ""
        why = f" [{r.message}]" if r.message and r.verdict != "pass" else ""
        parts.append(f"{r.name}={value} ({r.threshold}, n={r.samples}{bounds}) {r.verdict}{why}")
    return "; ".join(parts) or "no gate judged"

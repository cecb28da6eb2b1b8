"""No stable yet, a converged model, and `immediate`: no analysis involved."""

from __future__ import annotations

from support.rollout_sim import CAND, STABLE, at, make_spec, stable_status, tick
from visionroll.api import VisionModelStatus
from visionroll.rollout import analysis_due, decide
from visionroll.rollout.clock import parse
from visionroll.rollout.types import Context


def _retiring(status: VisionModelStatus) -> list[tuple[str, str]]:
    return [(r.revision, r.retire_at) for r in status.retiring]


def test_first_revision_becomes_stable_without_analysis() -> None:
    decision = tick(make_spec(), VisionModelStatus(), 0, desired=STABLE, generation=1)
    status = decision.status
    assert (status.phase, status.stable, status.candidate) == ("Stable", STABLE, None)
    assert (status.weights.stable, status.weights.candidate) == (100, 0)
    assert status.observed_generation == 1
    assert decision.outcome == "deployed"
    assert [e.reason for e in decision.events] == ["Deployed"]


def test_converged_model_is_left_alone() -> None:
    status = stable_status()
    decision = tick(make_spec(), status, 0, desired=STABLE)
    assert decision.status.model_copy(update={"observed_generation": None, "replicas": status.replicas}) == status
    assert decision.outcome is None
    assert decision.events == ()
    assert not analysis_due(make_spec(), decision.status, at(100))


def test_immediate_replaces_stable_and_drains_the_old_one() -> None:
    spec = make_spec("immediate")
    decision = tick(spec, stable_status(), 0)
    status = decision.status
    assert (status.phase, status.stable, status.candidate) == ("Stable", CAND, None)
    # The drain starts at the next tick, once this tick's traffic change is written: 2 x the 10 s analysis interval.
    assert _retiring(status) == [(STABLE.revision, None)]
    assert _retiring(tick(spec, status, 1).status) == [(STABLE.revision, "2024-05-01T12:00:21.000Z")]
    assert status.history[-1].outcome == "replaced"
    assert decision.outcome == "replaced"
    assert not analysis_due(spec, status, at(60))


def test_retiring_revision_is_dropped_at_the_first_tick_past_retire_at() -> None:
    spec = make_spec("immediate")
    status = tick(spec, tick(spec, stable_status(), 0).status, 1).status  # the drain runs from t=1 to t=21
    assert [r.revision for r in tick(spec, status, 20.9).status.retiring] == [STABLE.revision]
    after = tick(spec, status, 21.0)
    assert after.status.retiring == []
    assert [e.reason for e in after.events] == ["Retired"]


def test_drain_is_at_least_five_seconds() -> None:
    spec = make_spec("immediate", interval="1s")
    status = tick(spec, tick(spec, stable_status(), 0).status, 1).status
    assert parse(status.retiring[0].retire_at) == at(6)


def test_decide_is_pure() -> None:
    spec, status = make_spec(), stable_status()
    first = decide(Context(spec=spec, status=status, generation=2, desired=CAND, now=at(0)))
    again = decide(Context(spec=spec, status=status, generation=2, desired=CAND, now=at(0)))
    assert first == again
    assert status == stable_status()  # the input is not mutated

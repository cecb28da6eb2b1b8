"""Shadow: clients only see stable while the candidate answers mirrored requests; then promote or continue as canary."""

from __future__ import annotations

from support.rollout_sim import CAND, STABLE, make_spec, run, script, stable_status, tick, with_rollout
from visionroll.rollout import gates as g


def test_shadow_mirrors_without_live_weight() -> None:
    s = tick(make_spec("shadow"), stable_status(), 0).status
    assert (s.stage, s.mirror_percent, s.weights.stable, s.weights.candidate) == ("shadow", 100, 100, 0)
    assert g.AGREEMENT in g.required_measurements(make_spec("shadow").rollout.analysis, "shadow")


def test_good_shadow_promotes_directly() -> None:
    result = run(make_spec("shadow"), stable_status())
    assert result.outcomes == [(0, "started"), (30, "promoted")]
    assert all(d.status.weights.candidate == 0 for d in result.decisions)
    s = result.status
    assert (s.stable, [r.revision for r in s.retiring], s.mirror_percent) == (CAND, [STABLE.revision], 0)
    assert s.analysis is not None and "agreement" in {x.name for x in s.analysis.gates}


def test_wrong_answers_with_http_200_are_rolled_back_by_agreement_and_drift() -> None:
    wrong = script(agreement=(0.6, 500), predictions=(0.8, 500))
    result = run(make_spec("shadow"), stable_status(), measure=wrong)
    assert result.outcomes == [(0, "started"), (20, "rolled-back")]
    assert result.status.mirror_percent == 0 and result.status.phase == "RolledBack"
    failed = {x.name for x in result.status.analysis.gates if x.verdict == "fail"}  # type: ignore[union-attr]
    assert failed == {"agreement", "drift"}


def test_shadow_then_canary_continues_through_the_steps() -> None:
    spec = make_spec("shadow")
    spec = with_rollout(spec, shadow={"mirrorPercent": 50, "duration": "30s", "thenPromote": "canary"})
    result = run(spec, stable_status())
    assert result.outcomes == [(0, "started"), (30, "advanced"), (60, "advanced"), (90, "advanced"), (120, "promoted")]
    canary = result.decisions[6].status
    assert (canary.stage, canary.step, canary.mirror_percent, canary.weights.candidate) == ("canary", 0, 0, 10)


def test_agreement_is_not_required_once_the_shadow_became_a_canary() -> None:
    spec = make_spec("shadow")
    assert g.AGREEMENT not in g.required_measurements(spec.rollout.analysis, "canary")

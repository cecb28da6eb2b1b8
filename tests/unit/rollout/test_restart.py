"""Rule 3: all rollout state lives in status. Restarting = calling decide again with the last written status."""

from __future__ import annotations

import pytest

from support.rollout_sim import Measure, make_spec, run, script, stable_status, timed, with_rollout
from visionroll.api import VisionModelSpec, VisionModelStatus


def _reread(status: VisionModelStatus) -> VisionModelStatus:
    """What an operator restarted from the API server reads back: the status as JSON."""
    return VisionModelStatus.model_validate(status.model_dump(by_alias=True, mode="json"))


@timed
def _fails_after_40s(t: float) -> Measure:
    return script(errorRate=(0.4, 500)) if t >= 40 else script()


SCENARIOS: dict[str, tuple[VisionModelSpec, object]] = {
    "canary promoted": (make_spec(), script()),
    "canary rolled back mid-way": (make_spec(), _fails_after_40s),
    "inconclusive pause": (make_spec(onInconclusive="pause"), script(drift="no data")),
    "shadow then canary": (
        with_rollout(make_spec("shadow"), shadow={"mirrorPercent": 100, "duration": "20s", "thenPromote": "canary"}),
        script(),
    ),
    "shadow wrong answers": (make_spec("shadow"), script(agreement=(0.5, 400))),
    "split": (make_spec("split"), script()),
}


def _done(status: VisionModelStatus) -> bool:
    return status.candidate is None or status.phase == "Paused"


@pytest.mark.parametrize(("spec", "measure"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_resuming_at_any_tick_boundary_gives_the_same_outcome(spec: VisionModelSpec, measure: Measure) -> None:
    whole = run(spec, stable_status(), measure=measure, stop=_done)
    assert len(whole.decisions) > 3
    for cut in range(1, len(whole.decisions)):
        first = whole.decisions[cut - 1]
        rest = run(spec, _reread(first.status), measure=measure, start=whole.times[cut], stop=_done)
        assert rest.decisions[-1].status == whole.decisions[-1].status, f"diverged after a restart at tick {cut}"
        assert whole.outcomes[-1] == rest.outcomes[-1]


@pytest.mark.parametrize(("spec", "measure"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_a_lost_status_write_and_downtime_reach_the_same_outcome(spec: VisionModelSpec, measure: Measure) -> None:
    whole = run(spec, stable_status(), measure=measure, stop=_done)
    for cut in range(1, len(whole.decisions)):
        # The write of tick `cut` was lost and the operator came back 7 s later: same end, possibly later.
        rest = run(
            spec, _reread(whole.decisions[cut - 1].status), measure=measure, start=whole.times[cut] + 7, stop=_done
        )
        end, expected = rest.status, whole.status
        assert (end.phase, end.stable, end.candidate, end.pause_reason) == (
            expected.phase,
            expected.stable,
            expected.candidate,
            expected.pause_reason,
        )
        assert [h.outcome for h in end.history] == [h.outcome for h in expected.history]

"""Each shipped example, as a user applies it, driven through the rollout core: a healthy candidate is promoted under
the example's own gates (the canary's last step is 100%, where only the candidate's own gates apply), and one
answering 20% errors is rolled back. On real pods the same gates need the evidence the docs size (docs/rollout.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from support.rollout_sim import run, script, stable_status
from visionroll.api import VisionModelSpec

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


def _spec(path: Path) -> VisionModelSpec:
    return VisionModelSpec.model_validate(yaml.safe_load(path.read_text())["spec"])


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_a_healthy_candidate_is_promoted_under_the_example_s_gates(path: Path) -> None:
    result = run(_spec(path), stable_status(), until=4 * 3600)
    assert result.outcomes[-1][1] == "promoted", (result.outcomes, result.status.message)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_a_candidate_failing_a_fifth_of_requests_is_rolled_back(path: Path) -> None:
    result = run(_spec(path), stable_status(), measure=script(errorRate=(0.2, 4000)), until=4 * 3600)
    assert result.outcomes[-1][1] == "rolled-back", (result.outcomes, result.status.message)


def test_every_example_is_covered() -> None:
    assert {p.stem for p in EXAMPLES} == {"canary", "shadow", "split"}

"""`kubectl visionmodel`: annotations set and removed through an injected CustomObjects API; clear errors."""

from __future__ import annotations

import io
from typing import Any

import pytest

from support.rollout_sim import CAND, make_spec, run, script, stable_status
from visionroll.cli.plugin import main


class NotFound(Exception):
    status = 404
    reason = "Not Found"


class FakeApi:
    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.objects, self.patches = objects, []  # type: list[tuple[str, str, Any]]

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> Any:
        assert (group, version, plural) == ("visionroll.io", "v1alpha1", "visionmodels")
        if (namespace, name) not in self.objects:
            raise NotFound()
        return self.objects[(namespace, name)]

    def patch_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any:
        self.patches.append((namespace, name, body))
        return self.objects[(namespace, name)]


def _obj(status: Any, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "digits", "annotations": annotations},
        "status": status.model_dump(by_alias=True, mode="json"),
    }


ROLLING = run(make_spec(), stable_status(), until=25).status
FAILED = run(make_spec(), stable_status(), measure=script(errorRate=(0.3, 500))).status


def _main(argv: list[str], api: FakeApi, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, api=api, out=out)
    return code, out.getvalue(), capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "annotations"),
    [
        ("pause", {"visionroll.io/paused": "true"}),
        ("promote", {"visionroll.io/promote": CAND.revision, "visionroll.io/abort": None}),
        ("abort", {"visionroll.io/abort": CAND.revision, "visionroll.io/promote": None}),
    ],
)
def test_commands_set_annotations_naming_the_candidate(
    command: str, annotations: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi({("ml", "digits"): _obj(ROLLING)})
    code, out, _ = _main([command, "digits", "-n", "ml"], api, capsys)
    assert code == 0 and command in out
    assert api.patches == [("ml", "digits", {"metadata": {"annotations": annotations}})]


def test_resume_removes_the_pause(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi({("default", "digits"): _obj(ROLLING, {"visionroll.io/paused": "true"})})
    code, _, _ = _main(["resume", "digits", "-n", "default"], api, capsys)
    assert code == 0 and api.patches == [
        ("default", "digits", {"metadata": {"annotations": {"visionroll.io/paused": None}}})
    ]


def test_resume_when_not_paused_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(["resume", "digits", "-n", "default"], FakeApi({("default", "digits"): _obj(ROLLING)}), capsys)
    assert code == 1 and "not paused" in err


@pytest.mark.parametrize("command", ["pause", "resume", "promote", "abort"])
def test_no_rollout_in_progress(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi({("default", "digits"): _obj(stable_status())})
    code, _, err = _main([command, "digits", "-n", "default"], api, capsys)
    assert code == 1 and "no rollout in progress" in err and not api.patches


def test_missing_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(["status", "nope", "-n", "ml"], FakeApi({}), capsys)
    assert code == 1 and err.strip() == 'error: visionmodel "nope" not found in namespace "ml"'


def test_status_prints_rollout_gates_and_history(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(["status", "digits", "-n", "ml"], FakeApi({("ml", "digits"): _obj(ROLLING)}), capsys)
    assert code == 0
    assert "phase:      Progressing" in out and "candidate:  2.0 (2-0-bbbbbb)" in out
    assert "weights:    stable 90%, candidate 10%" in out
    assert "GATE" in out and "errorRate" in out and "<= 150ms" in out
    code, out, _ = _main(["status", "digits", "-n", "ml"], FakeApi({("ml", "digits"): _obj(FAILED)}), capsys)
    assert "RolledBack" in out and "History" in out and "rolled-back" in out and "fail" in out

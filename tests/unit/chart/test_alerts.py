"""The alert rules (charts/visionroll/files/alerts.yaml): valid for promtool, each alert unit-tested with
`promtool test rules` (alerts_test.yaml), and built on metrics the operator exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from visionroll import observability

HERE = Path(__file__).resolve().parent
ALERTS = HERE.parents[2] / "charts" / "visionroll" / "files" / "alerts.yaml"
CASES = HERE / "alerts_test.yaml"
# Metrics the rules need that the operator does not export yet (visionroll/observability.py). The stuck-rollout alert
# stays silent until they exist; this list keeps the gap visible and fails once it is closed, so it gets removed.
NOT_YET_EXPORTED: set[str] = set()


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package prometheus: make system-deps)")
    return found


def test_promtool_check_rules(promtool):
    proc = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_test_rules(promtool):
    proc = subprocess.run(
        [promtool, "test", "rules", CASES.name], cwd=HERE, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_has_cases_that_fire_and_stay_silent():
    cases = yaml.safe_load(CASES.read_text())["tests"]
    for rule in _alerts():
        checks = [c for case in cases for c in case["alert_rule_test"] if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in checks), f"{rule['alert']}: no case where it fires"
        assert any(not c["exp_alerts"] for c in checks), f"{rule['alert']}: no case where it stays silent"


def test_every_alert_says_what_and_how_bad():
    for rule in _alerts():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def _exported() -> set[str]:
    names = set()
    for family in observability.REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in ("_total", "_bucket", "_sum", "_count"))
    return names


def test_rules_use_metrics_the_operator_exports():
    used = set(re.findall(r"\b(visionroll_[a-z0-9_]+)", ALERTS.read_text()))
    exported = _exported()
    assert used - exported == NOT_YET_EXPORTED, "update NOT_YET_EXPORTED (or the rules) to what the operator exports"

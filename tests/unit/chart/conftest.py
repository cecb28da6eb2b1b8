"""Fixtures for the chart tests: the pinned helm (localkube's build, else one on PATH), rendered manifests, and the
promtool of the Prometheus the tests and the demo run."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART = REPO_ROOT / "charts" / "visionroll"
MONITORING_API = "monitoring.coreos.com/v1"

Render = Callable[..., list[dict[str, Any]]]


def find_helm() -> str | None:
    try:
        from localkube import build

        cached = build.bin_paths().helm
        if os.access(cached, os.X_OK):
            return str(cached)
    except ImportError:
        pass
    return shutil.which("helm")


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool, beside the `prometheus` the integration tests start (localkube/prometheus.py): the same
    package, so the rules are checked by the Prometheus that evaluates them. Missing is a failure, not a skip."""
    from localkube.prometheus import prometheus_executable

    try:
        prometheus = Path(prometheus_executable()).resolve()
    except FileNotFoundError as e:
        pytest.fail(f"{e}; it ships promtool, which checks the alert rules and dashboard queries")
    found = prometheus.with_name("promtool")
    if not os.access(found, os.X_OK):
        pytest.fail(f"no promtool beside {prometheus}: reinstall Debian's prometheus package (make system-deps)")
    return str(found)


@pytest.fixture(scope="session")
def helm() -> str:
    found = find_helm()
    if found is None:
        pytest.skip("helm is not built yet: run `make bins` (python -m localkube build)")
    return found


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def helm_run(helm: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`helm_run(*args)`: the CompletedProcess of the pinned helm (text)."""
    return lambda *args: run_helm(helm, *args)


@pytest.fixture(scope="session")
def render(helm: str) -> Render:
    """`render(*set_args, api_versions=(...), namespace=...)` → the objects `helm template` renders."""

    def _render(*sets: str, api_versions: tuple[str, ...] = (), namespace: str = "visionroll-system") -> list[Any]:
        args = ["template", "vr", str(CHART), "--namespace", namespace]
        for api in api_versions:
            args += ["--api-versions", api]
        for item in sets:
            args += ["--set", item]
        proc = run_helm(helm, *args)
        assert proc.returncode == 0, proc.stderr
        return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]

    return _render

"""The operator under test: `python -m visionroll` as a child process watching only the test's namespace (so tests
and colleagues' operators never see each other's objects), stopped by PID afterwards. Its log is attached to a
failing test's report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localkube.cluster import Cluster
from localkube.operator_process import OperatorProcess


@pytest.fixture
def operator(
    cluster: Cluster, namespace: str, crd: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[OperatorProcess]:
    op = OperatorProcess(cluster.kubeconfig, namespace=namespace, log_path=tmp_path / "operator.log", resync_seconds=5)
    op.start()
    try:
        op.wait_healthy()
        yield op
    finally:
        op.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(f"--- operator log ({op.log_path}) ---\n{op.log_tail(120)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report

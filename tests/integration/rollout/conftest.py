"""The CRD installed once, and `kube`: kubectl in the test's namespace with polling (a small copy of the operator
tests' helper, which lives in a conftest and cannot be imported)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from localkube.cluster import Cluster

CRD = Path(__file__).resolve().parents[3] / "crds" / "visionmodels.visionroll.io.yaml"
T = TypeVar("T")


@pytest.fixture(scope="session")
def rollout_crd(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    cluster.kubectl("wait", "--for=condition=Established", "crd/visionmodels.visionroll.io", "--timeout=60s")


class Kube:
    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        proc = self.cluster.kubectl("get", kind, name, "-n", self.namespace, "-o", "json", check=False)
        return dict(json.loads(proc.stdout)) if proc.returncode == 0 else None

    def apply(self, obj: dict[str, Any]) -> None:
        self.cluster.apply(obj, namespace=self.namespace)

    def wait(self, what: str, probe: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 1.0) -> T:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.fixture
def kube(cluster: Cluster, namespace: str, rollout_crd: None) -> Kube:
    return Kube(cluster, namespace)

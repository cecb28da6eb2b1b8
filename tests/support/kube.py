"""`Kube`: kubectl in one test namespace, with polling, for the integration tests (operator, rollout); the polling
helpers `wait` / `eventually`; `revision_of(vm)`: the revision the operator names for a VisionModel."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

from localkube.cluster import Cluster
from visionroll.api import VisionModelSpec
from visionroll.workloads.naming import revision

T = TypeVar("T")


def wait(
    what: str | Callable[[], str], probe: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.5
) -> T:
    """Poll ``probe`` until it returns something truthy and return that; AssertionError after ``timeout`` seconds.
    ``what`` may be a callable, for a description built when the wait fails (e.g. from the last state seen)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    described = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout}s waiting for {described} (last: {last!r})")


def eventually(check: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.2) -> bool:
    """True once ``check()`` is; AssertionError when it is still False after ``timeout`` seconds."""
    return wait("a condition to hold", check, timeout=timeout, interval=interval)


def revision_of(vm: dict[str, Any]) -> str:
    """The revision the operator names for this VisionModel's spec (the same function it uses)."""
    spec = VisionModelSpec.model_validate(vm["spec"])
    return revision(spec.model, spec.serving)


class Kube:
    """kubectl in the test's namespace, with polling."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        proc = self.cluster.kubectl(
            "get", kind, name, "-n", self.namespace, "-o", "json", "--show-managed-fields", check=False
        )
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return dict(json.loads(proc.stdout))

    def must(self, kind: str, name: str) -> dict[str, Any]:
        obj = self.get(kind, name)
        assert obj is not None, f"{kind}/{name} does not exist in {self.namespace}"
        return obj

    def list(self, kind: str, selector: str) -> list[dict[str, Any]]:
        answer = self.cluster.kubectl_json("get", kind, "-n", self.namespace, "-l", selector, "--show-managed-fields")
        return list(answer["items"])

    def apply(self, obj: dict[str, Any]) -> None:
        self.cluster.apply(obj, namespace=self.namespace)

    def kubectl(self, *args: str) -> str:
        return self.cluster.kubectl(*args, "-n", self.namespace).stdout

    @staticmethod
    def condition(vm: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
        for cond in (vm or {}).get("status", {}).get("conditions", []):
            if cond["type"] == kind:
                return dict(cond)
        return None

    def ready(self, name: str) -> dict[str, Any] | None:
        """The VisionModel once its Ready condition is True (for the current generation) and the spec's revision is
        stable (an `immediate` change first waits for the new revision's pods), else None."""
        vm = self.get("visionmodel", name)
        cond = self.condition(vm, "Ready")
        if (
            vm
            and cond
            and cond["status"] == "True"
            and vm["status"].get("observedGeneration") == vm["metadata"]["generation"]
            and (vm["status"].get("stable") or {}).get("revision") == revision_of(vm)
        ):
            return vm
        return None

    @staticmethod
    def visionmodel(name: str, *, version: str = "1.0", storage_uri: str | None = None, **spec: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": {
                "name": "digits",
                "version": version,
                "storageUri": storage_uri or f"https://models.example.com/digits-{version}.mar",
            },
            "rollout": {"strategy": "immediate"},
        }
        body.update(spec)
        return {"apiVersion": "visionroll.io/v1alpha1", "kind": "VisionModel", "metadata": {"name": name}, "spec": body}

    def wait(self, what: str, probe: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.5) -> T:
        return wait(what, probe, timeout=timeout, interval=interval)

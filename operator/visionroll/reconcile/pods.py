"""Why a revision's pods can never serve, read from their kubelet-reported status: a pure function of the pods.

Permanent failures, which waiting longer does not cure:
- an init container that exited with the fetch program's "refused" code: the archive is not the spec's model and
  version, or its sha256 is not `spec.model.digest` (workloads/fetch_program.py), which no retry cures; its
  termination message says why;
- an init container that keeps failing otherwise (CrashLoopBackOff after `RESTARTS_BEFORE_PERMANENT` restarts, e.g.
  an archive that cannot be fetched): a single failed download is retried by the kubelet and not judged;
- a container of any kind whose image cannot be pulled (ImagePullBackOff, ErrImagePull, ErrImageNeverPull) or
  named (InvalidImageName).

A container that is still starting, running, or that crashes after it started (TorchServe itself) is not judged
here: readiness and the rollout's progress deadline cover it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from visionroll import vocabulary
from visionroll.workloads.fetch_program import EXIT_REFUSED

RESTARTS_BEFORE_PERMANENT = 3
IMAGE_FAILURES = frozenset({"ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName"})
MAX_REASON = 600  # a digest refusal names the archive's URL and two 71-character digests


def failure_reasons(pods: list[dict[str, Any]]) -> dict[str, str]:
    """Revision (pod label `visionroll.io/revision`) → one-line reason, for each revision with a pod that failed for
    good. Pods are read in name order and containers in pod-spec order, so the same pods give the same reasons."""
    return _first_by_revision(pods, pod_failure)


def unscheduled_reasons(pods: list[dict[str, Any]]) -> dict[str, str]:
    """Revision → why one of its pods is not placed on a node (the scheduler's message, e.g. "0/1 nodes are
    available: 1 Insufficient cpu."). Not a failure: capacity may come (a node added, another pod gone); a rollout
    waiting for these pods says why it waits."""
    return _first_by_revision(pods, pod_unscheduled)


def _first_by_revision(
    pods: list[dict[str, Any]], reason_of: Callable[[Mapping[str, Any]], str | None]
) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for pod in sorted(pods, key=lambda p: str(p.get("metadata", {}).get("name", ""))):
        revision = (pod.get("metadata", {}).get("labels") or {}).get(vocabulary.LABEL_REVISION)
        if not revision or revision in reasons:
            continue
        reason = reason_of(pod)
        if reason is not None:
            reasons[revision] = reason
    return reasons


def creation_failures(deployments: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per Deployment whose pods the API server refuses to create (its ReplicaFailure condition, copied
    from the ReplicaSet's FailedCreate): the router's ServiceAccount `visionroll-router` missing from a namespace the
    chart does not serve (`dataPlane.namespaces`), a ResourceQuota, Pod Security. No pod exists to be judged by
    `failure_reasons`, so without this the status would only say that nothing is ready. In name order."""
    lines = []
    for dep in sorted(deployments, key=lambda d: str(d.get("metadata", {}).get("name", ""))):
        for condition in (dep.get("status") or {}).get("conditions") or ():
            if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
                name = dep.get("metadata", {}).get("name", "?")
                why = condition.get("message") or condition.get("reason") or "FailedCreate"
                lines.append(_one_line(f"Deployment {name} cannot create pods: {why}"))
    return lines


def pod_unscheduled(pod: Mapping[str, Any]) -> str | None:
    status = pod.get("status") or {}
    if status.get("phase") != "Pending":
        return None
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return _one_line(f"pod {pod.get('metadata', {}).get('name', '?')} unschedulable: "
                             f"{condition.get('message') or condition.get('reason') or 'no node fits it'}")  # fmt: skip
    return None


def pod_failure(pod: Mapping[str, Any]) -> str | None:
    """The first permanent failure of one pod, or None."""
    status = pod.get("status") or {}
    for container in _statuses(status.get("initContainerStatuses")):
        reason = _init_failure(container) or _image_failure(container, "init container")
        if reason is not None:
            return reason
    for container in _statuses(status.get("containerStatuses")):
        reason = _image_failure(container, "container")
        if reason is not None:
            return reason
    return None


def _statuses(raw: Any) -> Iterable[Mapping[str, Any]]:
    return [c for c in raw or () if isinstance(c, Mapping)]


def _init_failure(container: Mapping[str, Any]) -> str | None:
    name = container.get("name", "?")
    state = container.get("state") or {}
    refused = [
        t
        for t in (state.get("terminated"), (container.get("lastState") or {}).get("terminated"))
        if t and t.get("exitCode") == EXIT_REFUSED
    ]
    if refused:
        return _terminated_reason(name, refused[0])
    waiting = state.get("waiting") or {}
    if (
        waiting.get("reason") == "CrashLoopBackOff"
        and int(container.get("restartCount") or 0) >= RESTARTS_BEFORE_PERMANENT
    ):
        last = (container.get("lastState") or {}).get("terminated")
        if last:
            return _terminated_reason(name, last, restarts=container.get("restartCount"))
        return _one_line(f"init container {name} keeps failing: {waiting.get('message') or 'CrashLoopBackOff'}")
    return None


def _terminated_reason(name: str, terminated: Mapping[str, Any], *, restarts: Any = None) -> str:
    """The container's own words (its termination message) when it left any, else its exit code and reason."""
    message = _last_line(str(terminated.get("message") or ""))
    if message:
        return _one_line(f"init container {name}: {message}")
    code, why = terminated.get("exitCode"), terminated.get("reason") or "Error"
    again = f", restarted {restarts} times" if restarts else ""
    return _one_line(f"init container {name} exited with code {code} ({why}{again})")


def _image_failure(container: Mapping[str, Any], kind: str) -> str | None:
    waiting = (container.get("state") or {}).get("waiting") or {}
    why = waiting.get("reason")
    if why not in IMAGE_FAILURES:
        return None
    detail = _last_line(str(waiting.get("message") or ""))
    image = container.get("image") or "?"
    return _one_line(f"image {image} of {kind} {container.get('name', '?')}: {why}" + (f": {detail}" if detail else ""))


def _last_line(text: str) -> str:
    """A log tail's last words (a traceback ends with the exception), or the one line of a termination message."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"

"""failure_reasons on pod statuses shaped as the kubelet reports them (containerd 2.x): permanent failures by
revision with the pod's own words; pods that are starting, running or crashing after start are not judged here."""

from __future__ import annotations

from typing import Any

import pytest

from visionroll.reconcile.pods import (
    MAX_REASON,
    RESTARTS_BEFORE_PERMANENT,
    creation_failures,
    failure_reasons,
    unscheduled_reasons,
)
from visionroll.workloads.fetch_program import EXIT_REFUSED, EXIT_UNREACHABLE

IMAGE = "ghcr.io/visionroll/serving:0.1.0"
MISMATCH = (
    "archive http://10.0.0.1:8000/digits-1.0.mar is version '1.0' of model 'digits', but spec.model.version is '2.0'"
)


def pod(revision: str | None, *, name: str = "", init: dict[str, Any] | None = None,
        main: dict[str, Any] | None = None, phase: str = "Pending") -> dict[str, Any]:  # fmt: skip
    """A serving pod of `revision` with the given fetch-model and torchserve container statuses."""
    labels = {"app.kubernetes.io/name": "visionroll-serving", "visionroll.io/model": "digits"}
    if revision:
        labels |= {"visionroll.io/revision": revision, "pod-template-hash": "5f7c9d8b4"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name or f"digits-{revision}-5f7c9d8b4-x2x7q", "namespace": "ml", "labels": labels},
        "status": {
            "phase": phase,
            "hostIP": "10.88.0.1",
            "podIP": "10.244.0.12",
            "qosClass": "Burstable",
            "initContainerStatuses": [{"name": "fetch-model", "image": IMAGE, "imageID": "", "ready": False,
                                       "restartCount": 0, "started": False, **(init or WAITING_INIT)}],
            "containerStatuses": [{"name": "torchserve", "image": IMAGE, "imageID": "", "ready": False,
                                   "restartCount": 0, "started": False, **(main or POD_INITIALIZING)}],
        },
    }  # fmt: skip


def terminated(code: int, message: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": code,
        "reason": "Error" if code else "Completed",
        "startedAt": "2026-11-30T03:10:04Z",
        "finishedAt": "2026-11-30T03:10:05Z",
        "containerID": "containerd://4f1c0de1b9a3",
    }
    if message is not None:
        state["message"] = message
    return state


WAITING_INIT = {"state": {"waiting": {"reason": "PodInitializing"}}, "lastState": {}}
POD_INITIALIZING = {"state": {"waiting": {"reason": "PodInitializing"}}, "lastState": {}}
INIT_DONE = {"state": {"terminated": terminated(0)}, "lastState": {}, "ready": True}
RUNNING = {
    "state": {"running": {"startedAt": "2026-11-30T03:10:06Z"}},
    "lastState": {},
    "ready": True,
    "started": True,
    "imageID": f"{IMAGE}@sha256:9b2e",
}
INIT_REFUSED = {"state": {"terminated": terminated(EXIT_REFUSED, MISMATCH)}, "lastState": {}}
INIT_CRASH_LOOP = {
    "state": {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": "back-off 20s restarting failed container=fetch-model pod=digits-2-0-ef34aa-5f7c9d8b4-x2x7q_ml"
            "(6a1f0c52-8d1e-4c55-9d0e-3b1f9e2d7a10)",
        }
    },
    "lastState": {"terminated": terminated(EXIT_REFUSED, MISMATCH)},
    "restartCount": 2,
}
UNREACHABLE = "cannot download http://10.0.0.1:8000/digits-2.0.mar: <urlopen error [Errno 111] Connection refused>"


def pull_failure(reason: str, message: str) -> dict[str, Any]:
    return {"state": {"waiting": {"reason": reason, "message": message}}, "lastState": {}}


def test_a_refused_archive_names_the_mismatch() -> None:
    reasons = failure_reasons([pod("2-0-ef34aa", init=INIT_REFUSED)])
    assert reasons == {"2-0-ef34aa": f"init container fetch-model: {MISMATCH}"}


def test_a_crash_looping_fetch_gives_its_last_termination_message() -> None:
    reasons = failure_reasons([pod("2-0-ef34aa", init=INIT_CRASH_LOOP)])
    assert reasons == {"2-0-ef34aa": f"init container fetch-model: {MISMATCH}"}


def test_a_fetch_that_failed_is_judged_only_once_it_keeps_failing() -> None:
    once = {"state": {"terminated": terminated(EXIT_UNREACHABLE, UNREACHABLE)}, "lastState": {}}
    assert failure_reasons([pod("r1", init=once)]) == {}  # the kubelet tries again: the server may be back
    looping = {**INIT_CRASH_LOOP, "lastState": {"terminated": terminated(EXIT_UNREACHABLE, UNREACHABLE)}}
    assert failure_reasons([pod("r1", init=looping)]) == {}  # 2 restarts: still within RESTARTS_BEFORE_PERMANENT
    stuck = {**looping, "restartCount": RESTARTS_BEFORE_PERMANENT}
    assert failure_reasons([pod("r1", init=stuck)]) == {"r1": f"init container fetch-model: {UNREACHABLE}"}


def test_without_a_message_the_exit_code_and_restarts_are_named() -> None:
    loop = {**INIT_CRASH_LOOP, "lastState": {"terminated": terminated(137)}, "restartCount": 4}
    assert failure_reasons([pod("r1", init=loop)]) == {
        "r1": "init container fetch-model exited with code 137 (Error, restarted 4 times)"
    }


def test_a_log_tail_fallback_gives_its_last_line() -> None:
    # terminationMessagePolicy FallbackToLogsOnError: a crash before the program wrote its reason leaves the log tail
    tail = 'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\nMemoryError\n'
    crashed = {**INIT_CRASH_LOOP, "lastState": {"terminated": terminated(1, tail)}, "restartCount": 3}
    assert failure_reasons([pod("r1", init=crashed)]) == {"r1": "init container fetch-model: MemoryError"}


@pytest.mark.parametrize(
    ("reason", "message", "expected"),
    [
        (
            "ErrImagePull",
            'failed to pull and unpack image "ghcr.io/visionroll/serving:9.9": failed to resolve reference '
            '"ghcr.io/visionroll/serving:9.9": ghcr.io/visionroll/serving:9.9: not found',
            "image ghcr.io/visionroll/serving:9.9 of init container fetch-model: ErrImagePull: failed to pull",
        ),
        (
            "ImagePullBackOff",
            'Back-off pulling image "ghcr.io/visionroll/serving:9.9"',
            "image ghcr.io/visionroll/serving:9.9 of init container fetch-model: ImagePullBackOff: Back-off pulling",
        ),
    ],
)
def test_an_image_that_cannot_be_pulled_is_named(reason: str, message: str, expected: str) -> None:
    # the fetch runs in the serving image, so its init container meets a bad image first
    p = pod("9-9-000001", init=pull_failure(reason, message))
    p["status"]["initContainerStatuses"][0]["image"] = "ghcr.io/visionroll/serving:9.9"
    (found,) = failure_reasons([p]).values()
    assert found.startswith(expected), found
    assert "\n" not in found


def test_an_invalid_image_name_of_the_serving_container_is_named() -> None:
    bad = pull_failure(
        "InvalidImageName",
        'Failed to apply default image tag "Serving:Latest": couldn\'t parse image reference "Serving:Latest": '
        "invalid reference format: repository name must be lowercase",
    )
    p = pod("r2", init=INIT_DONE, main={**bad, "image": "Serving:Latest"})
    assert failure_reasons([p])["r2"].startswith("image Serving:Latest of container torchserve: InvalidImageName: ")


@pytest.mark.parametrize(
    "statuses",
    [
        {"init": WAITING_INIT},
        {"init": {"state": {"running": {"startedAt": "2026-11-30T03:10:04Z"}}, "lastState": {}}},
        {"init": INIT_DONE, "main": {"state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}},
        {"init": INIT_DONE, "main": RUNNING, "phase": "Running"},
        # TorchServe crashing after it started is for readiness and the progress deadline, not a refused archive
        {"init": INIT_DONE, "main": {**INIT_CRASH_LOOP, "lastState": {"terminated": terminated(1)}}},
        # an init container that failed once and then completed on its restart
        {"init": {"state": {"terminated": terminated(0)}, "lastState": {"terminated": terminated(1, "timed out")},
                  "restartCount": 1}, "main": RUNNING, "phase": "Running"},
    ],
    ids=["pod-initializing", "fetching", "container-creating", "running", "serving-crash-loop", "recovered-fetch"],
)  # fmt: skip
def test_pods_that_may_still_serve_give_no_reason(statuses: dict[str, Any]) -> None:
    assert failure_reasons([pod("r1", **statuses)]) == {}


def test_reasons_are_by_revision_from_any_failed_pod() -> None:
    pods = [
        pod("1-0-ab12cd", name="digits-1-0-ab12cd-a", init=INIT_DONE, main=RUNNING, phase="Running"),
        pod("2-0-ef34aa", name="digits-2-0-ef34aa-b", init=INIT_DONE, main=RUNNING, phase="Running"),
        pod("2-0-ef34aa", name="digits-2-0-ef34aa-a", init=INIT_REFUSED),
        pod("3-0-99aa00", name="digits-3-0-99aa00-a", init=INIT_CRASH_LOOP),
        pod(None, name="stray", init=INIT_REFUSED),  # no revision label: not a serving pod of a revision
        {"metadata": {"name": "new", "labels": {"visionroll.io/revision": "4-0-aaaaaa"}}},  # not scheduled yet
    ]
    assert failure_reasons(pods) == {
        "2-0-ef34aa": f"init container fetch-model: {MISMATCH}",
        "3-0-99aa00": f"init container fetch-model: {MISMATCH}",
    }


def test_the_first_pod_by_name_gives_the_reason() -> None:
    first = pod("r1", name="digits-r1-a", init=INIT_REFUSED)
    second = pod(
        "r1", name="digits-r1-b", init={"state": {"terminated": terminated(EXIT_REFUSED, "other")}, "lastState": {}}
    )
    expected = {"r1": f"init container fetch-model: {MISMATCH}"}
    assert failure_reasons([second, first]) == failure_reasons([first, second]) == expected


def test_a_long_reason_is_cut_to_one_short_line() -> None:
    long = {"state": {"terminated": terminated(EXIT_REFUSED, "x" * 5000)}, "lastState": {}}
    (reason,) = failure_reasons([pod("r1", init=long)]).values()
    assert len(reason) == MAX_REASON and reason.endswith("…")


def test_a_digest_refusal_is_reported_whole() -> None:
    message = (
        "archive http://models.example.com:8080/registry/digits/digits-2.0.mar has digest sha256:"
        + "a" * 64
        + ", but spec.model.digest is sha256:"
        + "b" * 64
        + ": refusing to serve an archive that is not the one published"
    )
    refused = {"state": {"terminated": terminated(EXIT_REFUSED, message)}, "lastState": {}}
    (reason,) = failure_reasons([pod("r1", init=refused)]).values()
    assert reason == f"init container fetch-model: {message}"


def test_a_pod_no_node_can_take_is_named_but_not_a_failure() -> None:
    pending = pod("2-0-ef34aa", name="digits-2-0-ef34aa-b")
    pending["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available.",
        }
    ]
    del pending["status"]["initContainerStatuses"], pending["status"]["containerStatuses"]
    assert failure_reasons([pending]) == {}
    assert unscheduled_reasons([pending]) == {
        "2-0-ef34aa": "pod digits-2-0-ef34aa-b unschedulable: 0/1 nodes are available: 1 Insufficient cpu. "
        "preemption: 0/1 nodes are available."
    }
    assert unscheduled_reasons([pod("2-0-ef34aa", init=INIT_DONE, main=RUNNING, phase="Running")]) == {}


def deployment(name: str, *conditions: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": name}, "status": {"conditions": list(conditions)}}


PROGRESSING = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
NO_SERVICE_ACCOUNT = (
    'pods "digits-router-6d9f7c7b8-" is forbidden: error looking up service account ml/visionroll-router: '
    'serviceaccount "visionroll-router" not found'
)


def test_a_deployment_whose_pods_are_refused_is_named_with_the_api_servers_words() -> None:
    refused = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": NO_SERVICE_ACCOUNT}
    deployments = [deployment("digits-router", PROGRESSING, refused), deployment("digits-1-0-a00a53", PROGRESSING)]
    assert creation_failures(deployments) == [f"Deployment digits-router cannot create pods: {NO_SERVICE_ACCOUNT}"]


def test_deployments_creating_their_pods_give_no_line() -> None:
    cleared = {"type": "ReplicaFailure", "status": "False", "reason": "FailedCreate"}
    assert creation_failures([deployment("a", PROGRESSING), deployment("b", cleared), deployment("c")]) == []

"""Manual controls on the real API server: an abort annotation rolls the candidate back once and is then removed,
so it cannot abort the same revision again if that revision is deployed later."""

from __future__ import annotations

from typing import Any

from localkube.operator_process import OperatorProcess
from support.kube import Kube
from visionroll.vocabulary import ANNOTATION_ABORT


def canary() -> dict[str, Any]:
    # long steps and interval: nothing but the annotation moves this rollout during the test
    return {"strategy": "canary", "canary": {"steps": [10, 100], "stepDuration": "1h"}, "analysis": {"interval": "1h"}}


def test_an_abort_is_acted_on_once_then_removed(kube: Kube, operator: OperatorProcess) -> None:
    kube.apply(kube.visionmodel("digits"))
    kube.wait("1.0 Ready", lambda: kube.ready("digits"))
    kube.apply(kube.visionmodel("digits", version="2.0", rollout=canary()))
    vm = kube.wait(
        "2.0 as the candidate",
        lambda: (v := kube.get("visionmodel", "digits")) and (v.get("status") or {}).get("candidate") and v,
    )
    candidate = vm["status"]["candidate"]
    assert candidate["version"] == "2.0"

    kube.kubectl("annotate", "visionmodel", "digits", f"{ANNOTATION_ABORT}={candidate['revision']}")
    vm = kube.wait(
        "the abort done and its annotation removed",
        lambda: (
            (v := kube.get("visionmodel", "digits"))
            and not (v["status"].get("candidate"))
            and ANNOTATION_ABORT not in (v["metadata"].get("annotations") or {})
            and v
        ),
    )
    assert vm["status"]["stable"]["version"] == "1.0"
    last = vm["status"]["history"][-1]
    assert (last["version"], last["outcome"]) == ("2.0", "aborted")

"""The generated CRD on the real API server: the examples are accepted with defaults applied, and every invalid case
of tests/support/api_cases.py (names included: CEL sees metadata.name at the root) is refused at admission (schema or
CEL) with a message naming the field."""

from __future__ import annotations

import json
import subprocess

import pytest

from localkube.cluster import Cluster
from support.api_cases import CASES, EXAMPLES, Case, example

pytestmark = pytest.mark.cluster


def _dry_run(cluster: Cluster, namespace: str, doc: dict) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(
        "apply", "--dry-run=server", f"--namespace={namespace}", "-f", "-", input=json.dumps(doc), check=False
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_admitted(cluster: Cluster, crd: None, namespace: str, path) -> None:
    answer = _dry_run(cluster, namespace, example(path.stem))
    assert answer.returncode == 0, answer.stderr


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_invalid_specs_are_refused_naming_the_field(cluster: Cluster, crd: None, namespace: str, case: Case) -> None:
    answer = _dry_run(cluster, namespace, case.manifest())
    assert answer.returncode != 0, f"{case.id} was admitted"
    assert case.field in answer.stderr, answer.stderr
    assert case.message in answer.stderr, answer.stderr

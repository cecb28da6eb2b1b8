"""The Python side of the rules computes what CEL computes: Go's duration arithmetic, Kubernetes' quantity rounding,
RE2's reading of `$`; and the patterns accept what real users write.

The expected numbers come from Go: `time.ParseDuration` (go1.26.8, printed as `int64(d)`) and, for quantities,
`resource.ParseQuantity` of k8s.io/apimachinery v0.36.3 (the API server's own).
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from visionroll.api import VisionModelSpec
from visionroll.api.pods import OPERATOR_IMAGE, SERVING_IMAGE
from visionroll.api.rules import (
    IMAGE_PATTERN,
    STORAGE_URI_CHECKS,
    duration_ns,
    lower_ascii,
    matches,
    quantity,
)
from visionroll.api.spec import Serving
from visionroll_build import crd as crdgen


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1.5s", 1_500_000_000),
        ("1h30m", 5_400_000_000_000),
        ("0.000000001ms", 0),  # truncated, as Go does: CEL's duration() sees 0
        ("0.999999999ms0.000000001ms", 999_999),  # each part truncated on its own
        ("99999.999999999h99999.999999999h", 719_999_999_999_992_800),  # float64 arithmetic, to the nanosecond
    ],
)
def test_durations_are_read_as_go_reads_them(text: str, ns: int) -> None:
    assert duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("1.5Gi", Fraction(3 * 2**29)),
        ("0.0001", Fraction(1, 10_000)),
        ("0.0000000001", Fraction(1, 10**9)),  # below a nano-unit: rounded up, as resource.ParseQuantity does
        ("1.0000000001", Fraction(10**9 + 1, 10**9)),
    ],
)
def test_quantities_are_read_as_kubernetes_reads_them(text: str, value: Fraction) -> None:
    assert quantity(text) == value


def test_dollar_is_the_end_of_the_text_as_in_re2() -> None:
    assert matches(r"^a$", "a")
    assert not matches(r"^a$", "a\n")  # Python's own `$` would match before the newline


def test_lower_ascii_changes_only_ascii() -> None:
    assert lower_ascii("METADATA\u212a") == "metadata\u212a"  # the Kelvin sign stays (str.lower() makes it k)


@pytest.mark.parametrize(
    "image",
    [
        SERVING_IMAGE,
        OPERATOR_IMAGE,
        "pytorch/torchserve:0.12.0-cpu",
        "torchserve",
        "localhost:5000/team/serving:dev",
        "registry.example.com:443/a/b/c:1.0_rc-2",
        "[::1]:5000/serving:1",
        "docker.io/library/serving@sha256:" + "a" * 64,
        "ghcr.io/visionroll/serving:0.1.0@sha256:" + "0" * 64,
        "my__team/serving--x",
        "Registry.Example.com/serving",
    ],
)
def test_real_image_references_are_accepted(image: str) -> None:
    assert matches(IMAGE_PATTERN, image)
    Serving(image=image)


@pytest.mark.parametrize(
    "uri",
    [
        "https://models.example.com/digits/digits-2.0.mar",
        "http://10.244.0.1:8080/digits-1.0.mar",
        "https://minio.ml.svc.cluster.local:9000/models/d.mar?X-Amz-Signature=abc#frag",
        "https://models.example.com./d.mar",
        "http://[2001:db8::1]:8080/d.mar",
        "https://models.example.com/a..b/..c/d..mar",  # dots inside a segment are not a way out
        "https://models.example.com/d.mar?next=../x",  # nor in a query
        "https://169.254.example.com/d.mar",  # a name, not the link-local network
        "https://metadata.example.com/d.mar",
        "pvc://model-store/digits/digits-3.0.mar",
        "pvc://models.v1/d.mar",
    ],
)
def test_real_storage_uris_are_accepted(uri: str) -> None:
    assert [c.message for c in STORAGE_URI_CHECKS if not c.holds(uri)] == []
    VisionModelSpec.model_validate(
        {"model": {"name": "digits", "version": "1", "storageUri": uri}, "rollout": {"strategy": "immediate"}}
    )


def _patterns(node: object) -> list[str]:
    """Every regular expression in the CRD: `pattern`s, and the raw-string literals of the CEL rules."""
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.append(node["pattern"])
        for rule in node.get("x-kubernetes-validations", []):
            found += re.findall(r"r'([^']*)'", rule["rule"])
        for value in node.values():
            found += _patterns(value)
    elif isinstance(node, list):
        for value in node:
            found += _patterns(value)
    return found


def test_no_pattern_uses_a_class_or_flag_whose_meaning_differs_between_re2_and_python() -> None:
    # RE2's \d \s \w \b are ASCII, Python's Unicode; inline flags and lookarounds differ or do not exist in RE2.
    patterns = _patterns(crdgen.crd())
    assert len(patterns) > 20
    dialect = re.compile(r"\\[dDsSwWbBZAz]|\(\?")
    assert [p for p in patterns if dialect.search(p)] == []

"""The name rules hold the numbers of workloads/naming.py: every object a VisionModel owns gets a valid Service name.

The API layer cannot import the workloads layer, so spec.py states the revision length as a number; this test keeps
the number true.
"""

from __future__ import annotations

import re

import pytest

from visionroll import vocabulary
from visionroll.api import ModelSource, Serving
from visionroll.api.spec import NAME_MAX, NAME_PATTERN, check_name
from visionroll.workloads import naming

SERVICE_NAME_MAX = 63
DNS_1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"


@pytest.mark.parametrize("version", ["1", "2.0", "A" * 63, "v1-2-3-rc-4." * 5])
def test_the_longest_name_still_names_every_owned_object(version: str) -> None:
    model = ModelSource(name="digits", version=version, storage_uri="https://models.example.com/d.mar")
    rev = naming.revision(model, Serving())
    name = "a" + "-" * (NAME_MAX - 2) + "z"
    for owned in (
        vocabulary.variant_name(name, rev),
        vocabulary.router_name(name),
        vocabulary.routing_configmap_name(name),
    ):
        assert len(owned) <= SERVICE_NAME_MAX, owned
        assert re.fullmatch(DNS_1035_LABEL, owned), owned


def test_the_name_pattern_is_a_dns_1035_label() -> None:
    assert f"^{DNS_1035_LABEL}$" == NAME_PATTERN


@pytest.mark.parametrize("name", ["digits", "d", "digits-split", "a" * NAME_MAX])
def test_good_names(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize("name", ["1digits", "digits.v2", "-digits", "digits-", "Digits", "", "a" * (NAME_MAX + 1)])
def test_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="metadata.name must"):
        check_name(name)

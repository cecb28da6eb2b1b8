from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from visionroll.api import VisionModelSpec
from visionroll.workloads import Owner, Variant, naming

SpecFactory = Callable[..., VisionModelSpec]


def _make_spec(**overrides: Any) -> VisionModelSpec:
    wire: dict[str, Any] = {
        "model": {"name": "digits", "version": "2.0", "storageUri": "https://models.example.com/digits-2.0.mar"},
        "rollout": {"strategy": "immediate"},
    }
    wire.update(overrides)
    return VisionModelSpec.model_validate(wire)


@pytest.fixture
def owner() -> Owner:
    return Owner(name="digits", namespace="ml", uid="0000-1111")


@pytest.fixture
def make_spec() -> SpecFactory:
    """`make_spec(serving={...})`: a valid spec with top-level sections replaced."""
    return _make_spec


@pytest.fixture
def spec() -> VisionModelSpec:
    return _make_spec()


@pytest.fixture
def stable(spec: VisionModelSpec) -> Variant:
    return Variant("stable", naming.revision(spec.model, spec.serving), spec.model, spec.serving, weight=100)

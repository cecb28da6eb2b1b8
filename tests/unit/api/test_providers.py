"""Every traffic provider the API admits has an implementation, so `errors.UnknownProvider` cannot meet an admitted
spec; and what a provider cannot carry out is refused at admission (tests/support/api_cases.py, gateway-* cases)."""

from __future__ import annotations

from typing import get_args

from visionroll.api import Traffic
from visionroll.traffic.registry import PROVIDERS


def test_every_admitted_provider_is_implemented() -> None:
    admitted = set(get_args(Traffic.model_fields["provider"].annotation))
    assert admitted == set(PROVIDERS)

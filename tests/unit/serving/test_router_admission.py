"""The router's forwarding slots (router/guard.py, `Admission`): bounded, and shared fairly between the addresses
clients come from once three quarters of them are taken, so that one client's flood leaves room for the others."""

from __future__ import annotations

from visionroll_serving.router.guard import RETRY_AFTER, Admission
from visionroll_serving.router.metrics import RouterMetrics

FLOOD, CALM, THIRD = "10.0.0.66", "10.0.0.7", "10.0.0.8"


def _admission(max_in_flight: int = 32) -> Admission:
    return Admission(
        RouterMetrics(), body_bytes=1 << 20, max_body_bytes=1 << 20, max_in_flight=max_in_flight, retry_after=1
    )


def _take(admission: Admission, client: str, up_to: int) -> int:
    """Admits `client` until refused or `up_to` slots; returns how many it got."""
    got = 0
    while got < up_to and admission.admit(client) is None:
        got += 1
    return got


def test_one_client_alone_gets_three_quarters_of_the_slots() -> None:
    admission = _admission()
    assert _take(admission, FLOOD, 100) == 24
    refused = admission.admit(FLOOD)
    assert refused is not None and refused.status == 503 and refused.headers[RETRY_AFTER] == "1"
    assert b"this client (10.0.0.66) has 24 of them" in refused.body


def test_the_last_quarter_is_left_to_the_other_clients() -> None:
    admission = _admission()
    _take(admission, FLOOD, 100)
    assert admission.admit(CALM) is None  # a client that holds nothing gets in past the flood
    assert admission.admit(FLOOD) is not None
    assert _take(admission, THIRD, 100) >= 1
    assert admission.in_flight <= admission.max_in_flight


def test_every_slot_taken_refuses_everyone() -> None:
    admission = _admission(max_in_flight=4)
    for client in ("a", "b", "c", "d"):
        assert admission.admit(client) is None
    refused = admission.admit("e")
    assert refused is not None and b"4 requests are being forwarded, the most it takes" in refused.body


def test_below_contention_a_client_may_hold_more_than_its_share() -> None:
    admission = _admission()
    assert _take(admission, CALM, 1) == 1
    assert _take(admission, FLOOD, 20) == 20  # 21 of 32 taken: not contended yet


def test_released_slots_are_given_back_by_client() -> None:
    admission = _admission()
    _take(admission, FLOOD, 100)
    for _ in range(24):
        admission.release(FLOOD)
    assert admission.in_flight == 0 and admission.held == {}
    assert _take(admission, FLOOD, 100) == 24


def test_a_prediction_the_slots_would_refuse_is_refused_before_its_body() -> None:
    admission = _admission()
    _take(admission, FLOOD, 100)
    assert not isinstance(admission.reserve("/predictions/digits", 1000, FLOOD), int)
    assert admission.reserve("/predictions/digits", 1000, CALM) == 1000
    assert admission.reserve("/healthz", None, FLOOD) == 0  # probes always get in
    assert admission.reserve("/feedback", 100, FLOOD) == 100  # not forwarded: no slot needed

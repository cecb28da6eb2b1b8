"""An abusive client against the real router process on loopback: slow heads and bodies are cut off, oversized and
junk bodies get a 4xx with a reason, overload gets 503 with Retry-After at once, and a hanging shadow at 100%
mirroring fills the copy queue to its byte bound (dropping, counting, and reporting the high-water mark) without
delaying a client's answer. Upstreams are small fakes on loopback; every router is stopped by its PID (conftest)."""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from localkube import local
from support.http import TopOneUpstream, serving

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 200  # passes the router's prefix check; the fake upstream does not decode it
HEAD = b"POST /predictions/digits HTTP/1.1\r\nHost: router\r\nContent-Type: image/png\r\n"
IMAGE = {"Content-Type": "image/png"}
SLOW_SECONDS = 1.0  # how long the fake upstream takes on /predictions/digits/slow


class FakeTorchServe(TopOneUpstream):
    def delay(self, path: str) -> float:
        return SLOW_SECONDS if path.endswith("/slow") else 0.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(FakeTorchServe) as url:
        yield url


@pytest.fixture
def hanging_upstream() -> Iterator[str]:
    """Accepts connections and never answers (a shadow that hangs)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    listener.close()
    for conn in held:
        conn.close()


StartRouter = Callable[..., local.Router]


@pytest.fixture
def router(start_router: StartRouter, upstream: str) -> local.Router:
    """Tight deadlines so the test is quick: 1 s for a head, 1 s for a body."""
    variants = [local.variant("stable", "1.0", upstream, weight=100)]
    return start_router(variants, extra_args=["--header-timeout", "1", "--body-timeout", "1"])


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def until_closed(sock: socket.socket, *, send: Callable[[], bytes], every: float, limit: float) -> tuple[bytes, float]:
    """Sends `send()` every `every` seconds until the server closes; (what it answered, seconds it took)."""
    started = time.monotonic()
    answer = b""
    sock.settimeout(every)
    while time.monotonic() - started < limit:
        try:
            sock.sendall(send())
        except OSError:  # reset: closed
            break
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not data:
            break
        answer += data
    return answer, time.monotonic() - started


def test_a_slowloris_head_is_closed_at_the_head_deadline(router: local.Router) -> None:
    """Headers trickled in forever: the connection is closed ~1 s (--header-timeout) after it opened."""
    with socket.create_connection(address(router.url)) as sock:
        sock.sendall(b"POST /predictions/digits HTTP/1.1\r\nHost: router\r\n")
        counter = iter(range(10_000))
        answer, seconds = until_closed(sock, send=lambda: b"X-%d: a\r\n" % next(counter), every=0.2, limit=10)
    assert answer == b""  # nothing to answer to a request whose head never ended
    assert seconds < 3


def test_an_idle_connection_is_closed_too(router: local.Router) -> None:
    with socket.create_connection(address(router.url)) as sock:
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - started < 3


def test_a_slowloris_body_gets_408_with_a_reason(router: local.Router) -> None:
    head = HEAD + b"Content-Length: 100000\r\n\r\n"
    with socket.create_connection(address(router.url)) as sock:
        sock.sendall(head + PNG[:8])
        answer, seconds = until_closed(sock, send=lambda: b"\0", every=0.2, limit=10)
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert b"Connection: close" in rest
    assert b"request body not received within 1s" in rest
    assert seconds < 4  # the deadline, and a short lingering close


def test_a_request_head_past_16_kib_is_refused_with_431(router: local.Router) -> None:
    """The head's bound is the read buffer each connection holds while a request comes in (16 KiB)."""
    big = HEAD + b"X-Padding: " + b"a" * (16 << 10) + b"\r\nContent-Length: 0\r\n\r\n"
    with socket.create_connection(address(router.url)) as sock:
        sock.settimeout(5)
        sock.sendall(big)
        answer, _ = until_closed(sock, send=lambda: b"", every=0.2, limit=5)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"request head larger than 16 KiB" in answer
    ok = requests.post(f"{router.url}/predictions/digits", data=PNG, headers={"X-Padding": "a" * (8 << 10)}, timeout=10)
    assert ok.status_code == 200, ok.text


def test_a_chunked_body_of_100_mb_is_refused_at_the_limit(router: local.Router) -> None:
    chunk = b"\0" * (1 << 20)
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    answer = b""
    started = time.monotonic()
    with socket.create_connection(address(router.url)) as sock:
        sock.settimeout(5)
        sock.sendall(head)
        try:
            for _ in range(100):  # reading while sending, as curl does: an early answer is not lost to a reset
                sock.sendall(framed)
                if select.select([sock], [], [], 0)[0]:
                    break
            while data := sock.recv(65536):
                answer += data
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"exceeds the limit of 1048576 bytes" in answer
    # Past the answer the router discards what still comes for at most its lingering time, then closes.
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"MZ\x90\x00 not an image at all", "application/octet-stream", "body is not an image"),
        (json.dumps({"instances": [1, 2, 3]}).encode(), "application/json", "a JSON body needs one of"),
        (json.dumps({"image": base64.b64encode(b"plain text").decode()}).encode(), "application/json",
         "does not hold an image"),
    ],
)  # fmt: skip
def test_junk_bodies_get_400_with_a_reason(router: local.Router, body: bytes, content_type: str, reason: str) -> None:
    response = requests.post(router.url + "/predictions/digits", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_overload_gets_503_with_retry_after_at_once(start_router: StartRouter, upstream: str) -> None:
    """4 requests in flight at most: of 24 concurrent ones, the 4 admitted wait for the slow upstream (1 s), the
    others are told to retry later within a fraction of that; the router keeps serving."""
    variants = [local.variant("stable", "slow", upstream, weight=100)]
    router = start_router(variants, extra_args=["--max-in-flight", "4", "--retry-after", "2"])

    def post(_: int) -> tuple[int, str | None, float]:
        started = time.monotonic()
        response = requests.post(router.url + "/predictions/digits", data=PNG, headers=IMAGE)
        return response.status_code, response.headers.get("Retry-After"), time.monotonic() - started

    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(post, range(24)))
    admitted = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 503]
    assert len(admitted) + len(refused) == 24
    assert 1 <= len(admitted) <= 8  # 4 at a time; a second wave may start as the first answers
    assert all(retry == "2" for _, retry, _ in refused)
    assert max(seconds for *_, seconds in refused) < SLOW_SECONDS * 0.8
    overloaded = local.metric_samples(router.metrics_text(), "visionroll_router_refused_total")
    assert {labels["reason"]: value for labels, value in overloaded}["overloaded"] == len(refused)
    assert requests.post(router.url + "/predictions/digits", data=PNG, headers=IMAGE).ok


def test_a_flood_from_one_address_leaves_slots_for_the_others(start_router: StartRouter, upstream: str) -> None:
    """8 requests in flight at most, each held 1 s by the slow upstream: 20 at once from one address (127.0.0.2, as
    another machine) get three quarters of the slots and 503 with the reason beyond; a client from another address
    (127.0.0.1) meanwhile still gets its answer."""
    variants = [local.variant("stable", "slow", upstream, weight=100)]
    router = start_router(variants, extra_args=["--max-in-flight", "8"])
    flood = [socket.create_connection(address(router.url), source_address=("127.0.0.2", 0)) for _ in range(20)]
    try:
        for sock in flood:
            sock.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(PNG) + PNG)
        time.sleep(0.3)  # the refusals are out; the admitted requests wait for the upstream
        calm = requests.post(router.url + "/predictions/digits", data=PNG, headers=IMAGE, timeout=5)
        assert calm.status_code == 200, calm.text
        answers = []
        for sock in flood:
            sock.settimeout(5)
            answers.append(sock.recv(65536))
    finally:
        for sock in flood:
            sock.close()
    admitted = [a for a in answers if a.startswith(b"HTTP/1.1 200 ")]
    refused = [a for a in answers if a.startswith(b"HTTP/1.1 503 ")]
    assert (len(admitted), len(refused)) == (6, 14)
    assert all(b"this client (127.0.0.2) has 6 of them, its share or more" in a for a in refused)


def test_slow_bodies_cost_their_own_size_and_no_forwarding_slot(start_router: StartRouter, upstream: str) -> None:
    """Bodies in progress may hold 950 kB and 2 requests may be forwarded: 9 slow bodies of 100 kB each hold 900 kB,
    yet small images are still answered (the slow bodies take no forwarding slot); a tenth and eleventh slow body
    would pass the byte bound and get 503 + Retry-After at once."""
    variants = [local.variant("stable", "1.0", upstream, weight=100)]
    router = start_router(variants, extra_args=["--body-bytes", "950000", "--max-in-flight", "2"])
    slow = [socket.create_connection(address(router.url)) for _ in range(11)]
    try:
        answers = []
        for sock in slow:
            sock.sendall(HEAD + b"Content-Length: 100000\r\n\r\n" + PNG[:8])
            sock.settimeout(0.5)
            try:
                answers.append(sock.recv(65536))
            except TimeoutError:
                answers.append(b"")  # still being read: holds its 100 kB
        assert answers[:9] == [b""] * 9
        for answer in answers[9:]:
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert b"Retry-After: 1" in answer
            assert b"bodies in progress hold 900000 bytes of the 950000" in answer
        for _ in range(5):
            response = requests.post(router.url + "/predictions/digits", data=PNG[:100], headers=IMAGE, timeout=5)
            assert response.status_code == 200, response.text
    finally:
        for sock in slow:
            sock.close()


def test_a_hanging_shadow_fills_the_copy_queue_to_its_byte_bound_and_costs_the_client_nothing(
    start_router: StartRouter, upstream: str, hanging_upstream: str
) -> None:
    """100% mirroring to a shadow that never answers: 64 KiB bodies, a 256 KiB copy bound and 2 senders (held for
    the 2 s copy timeout each). Every client gets its answer at the live upstream's pace; copies beyond the bound are
    dropped and counted; the high-water mark is reported and never above the bound."""
    variants = [
        local.variant("stable", "1.0", upstream, weight=100),
        local.variant("candidate", "2.0", hanging_upstream, weight=0),
    ]
    bound = 256 << 10
    router = start_router(
        variants,
        shadow={"variant": "candidate", "percent": 100},
        extra_args=["--copy-queue-bytes", str(bound), "--copy-timeout", "2", "--shadow-concurrency", "2"],
    )
    body = PNG + b"\0" * ((64 << 10) - len(PNG))
    latencies = []
    with requests.Session() as session:
        for _ in range(40):
            started = time.monotonic()
            response = session.post(router.url + "/predictions/digits", data=body, headers=IMAGE)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
            assert response.json()["top_k"][0]["label"] == "7"
    assert max(latencies) < 0.5
    text = router.metrics_text()
    [(_, high_water)] = local.metric_samples(text, "visionroll_router_copy_queue_bytes_high_water")
    [(_, limit)] = local.metric_samples(text, "visionroll_router_copy_queue_bytes_limit")
    assert limit == bound
    assert bound - len(body) < high_water <= bound
    dropped = local.metric_samples(text, "visionroll_router_shadow_dropped_total")
    not_sent = sum(v for labels, v in dropped if labels["reason"] in ("queue_full", "expired"))
    assert not_sent >= 40 - bound // len(body) - 2
    [(_, resident)] = local.metric_samples(text, "process_resident_memory_bytes")
    [(_, peak)] = local.metric_samples(text, "visionroll_router_resident_memory_peak_bytes")
    assert 0 < resident <= peak

"""Client traffic for the demo and the e2e suite: real digits images POSTed to the router, bounded in count and time.

Requests go only to the loopback router. The driver runs in a thread at a target rate, counts answers by status, and
stops on `stop()`, at `max_requests`, or at `max_seconds` — whichever comes first.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

from visionroll_serving.samples import held_out_pngs


@dataclass
class TrafficDriver:
    url: str  # e.g. http://127.0.0.1:PORT/predictions/digits
    rate_per_second: float = 40.0
    max_requests: int = 50_000
    max_seconds: float = 900.0
    # Longer than the router's own upstream timeout (10 s, and three connection attempts of 2 s): a slow variant is
    # answered by the router with a status and a reason, which a client that gave up first would never see.
    timeout_seconds: float = 15.0
    slow_seconds: float = 1.0
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    """The first transport failures (no HTTP answer), with the second of the run they happened at."""
    answers: list[tuple[float, str, str, str]] = field(default_factory=list)
    """The first 200 answers other than 200: (epoch seconds, code or "error", variant that answered, body)."""
    slow: list[tuple[float, float, str, str]] = field(default_factory=list)
    """The first 200 answers that took longer than `slow_seconds`: (epoch seconds, seconds, code, variant)."""
    slowest: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TrafficDriver:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.timeout_seconds + 2)

    def _run(self) -> None:
        images = [png for png, _ in held_out_pngs()]  # the serving side's own encoding and held-out split
        session = requests.Session()
        started = time.monotonic()
        period = 1.0 / self.rate_per_second
        i = 0
        while not self._stop.is_set() and i < self.max_requests and time.monotonic() - started < self.max_seconds:
            due = started + i * period
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            sent = time.monotonic()
            try:
                response = session.post(
                    self.url,
                    data=images[i % len(images)],
                    timeout=self.timeout_seconds,
                    headers={"Content-Type": "image/png"},
                )
                took = time.monotonic() - sent
                self.codes[str(response.status_code)] += 1
                variant = response.headers.get("x-visionroll-variant", "-")
                if response.status_code != 200 and len(self.answers) < 200:
                    self.answers.append((time.time(), str(response.status_code), variant, response.text[:160]))
                self.slowest = max(self.slowest, took)
                if took > self.slow_seconds and len(self.slow) < 200:
                    self.slow.append((time.time(), took, str(response.status_code), variant))
            except requests.RequestException as exc:
                if len(self.answers) < 200:
                    self.answers.append((time.time(), "error", "-", f"{type(exc).__name__}: {exc}"[:160]))
                self.codes["error"] += 1
                if len(self.failures) < 20:
                    self.failures.append(f"{time.monotonic() - started:.1f}s {type(exc).__name__}: {exc}"[:300])
            i += 1
        session.close()

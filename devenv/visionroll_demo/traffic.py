"""Client traffic for the demo and the e2e suite: real digits images POSTed to the router, bounded in count and time.

Requests go only to the loopback router. The driver runs in a thread at a target rate, counts answers by status, and
stops on `stop()`, at `max_requests`, or at `max_seconds` — whichever comes first.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import requests
from PIL import Image
from sklearn.datasets import load_digits


def digits_pngs(limit: int = 400) -> list[bytes]:
    """The held-out end of scikit-learn's bundled digits, encoded as PNG (what a client would send)."""
    images = load_digits().images[-limit:]
    out = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray((img * (255.0 / 16.0)).astype(np.uint8), mode="L").save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


@dataclass
class TrafficDriver:
    url: str  # e.g. http://127.0.0.1:PORT/predictions/digits
    rate_per_second: float = 40.0
    max_requests: int = 50_000
    max_seconds: float = 900.0
    timeout_seconds: float = 5.0
    codes: Counter[str] = field(default_factory=Counter)
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

    @property
    def sent(self) -> int:
        return sum(self.codes.values())

    def _run(self) -> None:
        images = digits_pngs()
        session = requests.Session()
        started = time.monotonic()
        period = 1.0 / self.rate_per_second
        i = 0
        while not self._stop.is_set() and i < self.max_requests and time.monotonic() - started < self.max_seconds:
            due = started + i * period
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            try:
                response = session.post(
                    self.url,
                    data=images[i % len(images)],
                    timeout=self.timeout_seconds,
                    headers={"Content-Type": "image/png"},
                )
                self.codes[str(response.status_code)] += 1
            except requests.RequestException:
                self.codes["error"] += 1
            i += 1
        session.close()

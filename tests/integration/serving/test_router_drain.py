"""A router told to stop (SIGTERM, as the kubelet does when its pod is deleted) keeps serving for `--drain-seconds`
while its pod leaves the Service's endpoints: /readyz says 503, predictions are still answered, each answer closes
its connection (so keep-alive clients reconnect, through the Service, to a router that stays), and new connections
are still accepted. Then it finishes and exits. The real router process on loopback before a stand-in upstream."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests

from localkube import local
from support.http import TopOneUpstream, serving
from visionroll_serving.samples import held_out_pngs

DRAIN = 3.0


def test_a_stopping_router_drains_before_it_stops_listening(tmp_path: Path) -> None:
    png = held_out_pngs(1)[0][0]
    with serving(TopOneUpstream) as upstream:
        path = local.write_router_config(
            tmp_path / "router.json", local.router_config([local.variant("stable", "1.0", upstream, weight=100)])
        )
        router = local.Router(config_file=path, extra_args=["--drain-seconds", str(DRAIN)])
        router.start()
        try:
            url = router.url + "/predictions/digits"
            with requests.Session() as client:
                before = client.post(url, data=png, headers={"Content-Type": "image/png"}, timeout=5)
                assert before.status_code == 200 and before.headers.get("Connection") != "close"
                assert router.pid is not None
                stopped_at = time.monotonic()
                os.kill(router.pid, signal.SIGTERM)
                time.sleep(0.5)
                ready = requests.get(router.url + "/readyz", timeout=5)
                assert ready.status_code == 503 and ready.json()["reason"] == "shutting down"
                answers = []
                while time.monotonic() - stopped_at < DRAIN - 1.0:
                    answer = client.post(url, data=png, headers={"Content-Type": "image/png"}, timeout=5)
                    answers.append((answer.status_code, answer.headers.get("Connection")))
                    time.sleep(0.2)
            assert answers and set(answers) == {(200, "close")}, answers
            deadline = time.monotonic() + DRAIN + 15
            while router.running() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not router.running(), router.log_tail()
            assert time.monotonic() - stopped_at >= DRAIN
        finally:
            router.stop()

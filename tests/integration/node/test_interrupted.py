"""Stops that hold: `make demo` stopped by SIGTERM in the middle of a rollout (as CI, `kill` or a closing terminal
stops it) unwinds like Ctrl-C and leaves nothing behind: no node process, container, mount, cgroup, network
interface or iptables chain, and none of the processes the demo started on the host (Prometheus, the archive
server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localkube import node
from localkube.build import cache_root
from localkube.testing import NodeClusters
from visionroll_demo.stack import REPO

pytestmark = [pytest.mark.slow, pytest.mark.node, pytest.mark.torchserve]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                cmdline = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"pid {p.name}: {cmdline[:200]}")
    return found


def test_sigterm_mid_rollout_stops_everything_the_demo_started(node_clusters: NodeClusters, tmp_path: Path) -> None:
    node_clusters.release()  # one node per machine: the session's is started again by the next test that needs it
    assert node.leftovers() == [], "a node was already running before this test"
    log_path = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    with log_path.open("w") as log:
        demo = subprocess.Popen(
            [sys.executable, "-u", "-m", "visionroll_demo", "--out", str(tmp_path / "out")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + 600
        # mid-rollout: the first canary has been applied and its candidate pods are starting or serving
        while "kubectl apply (version" not in log_path.read_text():
            assert demo.poll() is None, f"the demo ended early:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the demo never reached its first rollout:\n{log_path.read_text()}"
            time.sleep(1)
        time.sleep(10)
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=300)
    finally:
        if demo.poll() is None:  # the test failed before or during the stop: do not leave it running
            demo.kill()
            demo.wait(timeout=30)
    text = log_path.read_text()
    assert code != 0, text[-3000:]
    assert "stopped by signal SIGTERM" in text, text[-3000:]
    assert node.leftovers() == [], text[-3000:]
    assert _processes_mentioning(str(cache_root() / "run" / "demo")) == [], text[-3000:]
    assert not (tmp_path / "out" / "demo-record.json").exists()  # an interrupted run writes no record

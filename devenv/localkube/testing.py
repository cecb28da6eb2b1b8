"""The logic behind the pytest fixtures in tests/conftest.py (kept there as thin wrappers).

- ``session_cluster(base)``: $KUBECONFIG wins (nothing is started); otherwise a fresh LocalCluster in ``base``
  with kwok's fake nodes (fast; pods never run).
- ``NodeClusters(base)``: a LocalCluster with a real node, started on first use and stopped at the end of the
  session; a test that needs the machine free of any node (e.g. one that checks what `down` leaves) stops it first
  with ``.release()``, and the next user gets a fresh one. ``.get(network_policy=True)`` wants a node that enforces
  NetworkPolicy (localkube.netpol): a running node of the other kind is stopped and a fresh one started.
- ``session_prometheus(base)``: a fresh Prometheus in ``base``.
- ``namespace_for_test(cluster, test_name)``: a unique namespace, deleted afterwards.
- ``mark_items``: tests that use the fixtures get the ``cluster`` / ``prometheus`` markers automatically, and the
  tests of the real node and of TorchServe one ``xdist_group``: with pytest-xdist (`pytest -n 2 --dist loadgroup`;
  `make test` runs one process, see the Makefile) they run in one worker, one after the other (a machine runs one
  node; TorchServe beside it starves the node's pods of the 2 cores), while the other worker takes the rest.
- ``failure_sections`` / ``summary_lines``: where the logs are, shown when a test fails, and the start times.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from localkube.cluster import Cluster, LocalCluster, env_or_local
from localkube.prometheus import Prometheus

CLUSTER_FIXTURES = {"cluster", "namespace", "node_cluster", "node_namespace"}
PROMETHEUS_FIXTURES = {"prometheus"}
NODE_FIXTURES = {"node_clusters"}  # node_cluster and node_namespace request it
SERIAL_GROUP = "node-and-torchserve"  # the xdist_group of the tests of the real node and of TorchServe

_log_dirs: dict[str, Path] = {}
_summary: list[str] = []


class NodeClusters:
    """The session's real-node cluster, started lazily; only one node can run on a machine at a time."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.current: LocalCluster | None = None
        self.starts = 0

    def get(self, network_policy: bool | None = None) -> LocalCluster:
        """The running node, or a fresh one. ``network_policy``: True/False wants a node with/without the
        NetworkPolicy enforcer (one of the other kind is replaced); None takes what runs, else the default
        ($VISIONROLL_NETWORK_POLICY)."""
        if self.current is not None and network_policy is not None and self.current.network_policy != network_policy:
            self.release()
        if self.current is None:
            t0 = time.monotonic()
            self.starts += 1
            cluster = LocalCluster.start(
                self.base / f"node-{self.starts}", mode="node", timeout=180, network_policy=network_policy
            )
            self.current = cluster
            assert cluster.log_dir is not None
            _log_dirs["node"] = cluster.log_dir
            phases = ", ".join(f"{k} {v}" for k, v in cluster.phases.items())
            _summary.append(
                f"localkube: real-node cluster started in {time.monotonic() - t0:.1f} s ({phases}),"
                f" logs in {cluster.log_dir}"
            )
        return self.current

    def release(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


def node_clusters(base: Path) -> Iterator[NodeClusters]:
    clusters = NodeClusters(base)
    try:
        yield clusters
    finally:
        clusters.release()


def session_cluster(base: Path) -> Iterator[Cluster]:
    t0 = time.monotonic()
    with env_or_local(base / "cluster", mode="kwok") as cluster:
        if isinstance(cluster, LocalCluster):
            assert cluster.log_dir is not None
            _log_dirs["control plane"] = cluster.log_dir
            phases = ", ".join(f"{k} {v}" for k, v in cluster.phases.items())
            _summary.append(
                f"localkube: control plane started in {time.monotonic() - t0:.1f} s ({phases}),"
                f" logs in {cluster.log_dir}"
            )
        else:
            _summary.append(f"localkube: using $KUBECONFIG={cluster.kubeconfig} (nothing started)")
        yield cluster


def session_prometheus(base: Path) -> Iterator[Prometheus]:
    t0 = time.monotonic()
    prom = Prometheus.start(base / "prometheus")
    _log_dirs["prometheus"] = prom.log.parent
    _summary.append(f"localkube: prometheus {prom.url} started in {time.monotonic() - t0:.1f} s, log {prom.log}")
    try:
        yield prom
    finally:
        prom.stop()


def namespace_for_test(cluster: Cluster, test_name: str) -> Iterator[str]:
    name = cluster.create_namespace(test_name.removeprefix("test_").replace("_", "-"))
    try:
        yield name
    finally:
        cluster.delete_namespace(name, wait=False)


class _Item(Protocol):
    fixturenames: Iterable[str]

    def add_marker(self, marker: str | pytest.MarkDecorator) -> None: ...

    def get_closest_marker(self, name: str) -> pytest.Mark | None: ...


def mark_items(items: Iterable[_Item]) -> None:
    for item in items:
        names = set(item.fixturenames)  # every fixture the test needs, however indirectly
        if names & CLUSTER_FIXTURES:
            item.add_marker("cluster")
        if names & PROMETHEUS_FIXTURES:
            item.add_marker("prometheus")
        if names & NODE_FIXTURES or item.get_closest_marker("torchserve") is not None:
            item.add_marker(pytest.mark.xdist_group(SERIAL_GROUP))


def failure_sections(fixturenames: Iterable[str]) -> list[tuple[str, str]]:
    """Report sections naming the log directories of the components a failed test used."""
    names = set(fixturenames)
    sections = []
    if names & CLUSTER_FIXTURES and "control plane" in _log_dirs:
        sections.append(("localkube logs", f"control plane logs: {_log_dirs['control plane']}"))
    if names & {"node_cluster", "node_namespace"} and "node" in _log_dirs:
        sections.append(("localkube logs", f"real-node cluster logs: {_log_dirs['node']}"))
    if names & PROMETHEUS_FIXTURES and "prometheus" in _log_dirs:
        sections.append(("localkube logs", f"prometheus log: {_log_dirs['prometheus']}"))
    return sections


def summary_lines() -> list[str]:
    return list(_summary)


def add_summary_lines(lines: Iterable[str]) -> None:
    """Lines a pytest-xdist worker reported (its fixtures started there), for the summary of the whole run."""
    _summary.extend(lines)

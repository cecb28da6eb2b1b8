"""Shared fixtures: a real control plane, a namespace per test, a real Prometheus. The logic lives in
devenv/localkube (localkube.testing); see its docstrings. $KUBECONFIG, when set, names the cluster to use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localkube import testing
from localkube.cluster import Cluster, LocalCluster
from localkube.operator_process import install_crd
from localkube.procs import stop_on_signals
from localkube.prometheus import Prometheus
from support.kube import Kube


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (CI's stop, `kill`) unwinds like Ctrl-C: pytest then runs every fixture's teardown, so the real node's
    containers, mounts and network interfaces, Prometheus and every process a fixture started are stopped
    (tests/integration/node/test_interrupted.py checks it)."""
    stop_on_signals()
    _refuse_ungrouped_xdist(config)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads the xdist_group markers that mark_items adds
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` leaves out the tests marked `examples` (`make examples` runs them): the shipped examples do not fit
    this one 2-core node's traffic and CPU in CI time (tests/e2e/test_examples.py says how)."""
    testing.mark_items(items)  # type: ignore[arg-type]
    if "examples" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("examples") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


XDIST_UNGROUPED = "pytest-xdist's --dist loadgroup does not group tests on pytest 9.2 (pytest-xdist#1386)"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under `--dist loadgroup`, refuse to run when a grouped test did not get its group: the real node's tests would
    then run in both workers at once. The main process says why (below); a worker can only fail the run."""
    if not getattr(session.config.option, "loadgroup", False):  # set in pytest-xdist's workers
        return
    lost = [item.nodeid for item in session.items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        pytest.exit(f"{XDIST_UNGROUPED}: {lost[0]} has no group", returncode=4)


def _refuse_ungrouped_xdist(config: pytest.Config) -> None:
    dist = config.getoption("dist", default="no")
    if dist == "loadgroup" and tuple(int(p) for p in pytest.__version__.split(".")[:2]) >= (9, 2):
        raise pytest.UsageError(f"{XDIST_UNGROUPED}: install pytest<9.2, as pyproject.toml's [dev] extra says")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The cluster: `.kubeconfig`, `.kubectl(*args)`, `.kubectl_json(*args)`, `.apply(manifest)`, `.api_client()`,
    `.helm(*args)`, `.create_namespace()`, `.delete_namespace()`."""
    yield from testing.session_cluster(tmp_path_factory.mktemp("localkube"))


@pytest.fixture(scope="session")
def node_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testing.NodeClusters]:
    """The session's real-node clusters: `.get()` starts one on first use; `.release()` stops it."""
    yield from testing.node_clusters(tmp_path_factory.mktemp("localkube-node"))


@pytest.fixture
def node_cluster(node_clusters: testing.NodeClusters) -> LocalCluster:
    """A cluster with a real node (containerd, kubelet, kube-proxy, CoreDNS, metrics-server) whose pods run the
    images built here (localkube.images). Shared by the session; a test must not stop it."""
    return node_clusters.get()


@pytest.fixture
def node_namespace(node_cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace on the real-node cluster, deleted after the test."""
    yield from testing.namespace_for_test(node_cluster, request.node.name)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace (its default ServiceAccount exists), deleted after the test."""
    yield from testing.namespace_for_test(cluster, request.node.name)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A Prometheus on loopback, scraping every 1s: `.url`, `.add_scrape_target(job, "127.0.0.1:PORT", labels={})`,
    `.query(promql)`, `.wait_for(promql, predicate)`, `.add_rule_file(path)`, `.remove_job(job)`."""
    yield from testing.session_prometheus(tmp_path_factory.mktemp("prometheus"))


@pytest.fixture(scope="session")
def crd(cluster: Cluster) -> None:
    """The generated VisionModel CRD, installed once and served."""
    install_crd(cluster.kubectl)


@pytest.fixture
def kube(cluster: Cluster, namespace: str, crd: None) -> Kube:
    """kubectl in the test's namespace, with polling (tests/support/kube.py)."""
    return Kube(cluster, namespace)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.failed:
        report.sections.extend(testing.failure_sections(getattr(item, "fixturenames", ())))
    return report


SUMMARY_KEY = "localkube_summary"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand the start-up lines of what its fixtures started to the main process."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[SUMMARY_KEY] = testing.summary_lines()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """In the main process of a pytest-xdist run: a worker's start-up lines, for the summary."""
    testing.add_summary_lines(getattr(node, "workeroutput", {}).get(SUMMARY_KEY, []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in testing.summary_lines():
        terminalreporter.write_line(line)

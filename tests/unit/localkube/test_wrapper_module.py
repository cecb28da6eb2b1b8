"""The Kubernetes wrapper module pins every module k8s.io/kubernetes requires to the version it requires, so the tools
built beside the Kubernetes commands (metrics-server) cannot move the commands' dependencies."""

from __future__ import annotations

from localkube import build, versions

GOMOD = """module k8s.io/kubernetes

go 1.26.0

require github.com/single/line v1.2.3 // a comment

require (
\tgithub.com/a/b v0.1.0
\tk8s.io/api v0.0.0
\tgithub.com/c/d v2.0.0+incompatible // indirect
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
)
"""


def test_requirements_reads_single_lines_and_blocks_not_replaces() -> None:
    assert build._requirements(GOMOD) == {
        "github.com/single/line": "v1.2.3",
        "github.com/a/b": "v0.1.0",
        "k8s.io/api": "v0.0.0",
        "github.com/c/d": "v2.0.0+incompatible",
    }


def test_staging_modules_are_those_replaced_by_a_directory() -> None:
    assert build._staging_modules(GOMOD) == ["k8s.io/api"]


def test_every_binary_of_the_wrapper_has_a_tool_and_a_place() -> None:
    tools = build._wrapper_tools()
    assert set(tools) == set(build.bin_paths().in_kubernetes_wrapper())
    assert {"metrics-server", "kwok", "helm", "kube-apiserver"} <= set(tools)


def test_helm_is_told_the_kubernetes_minor_it_is_built_against() -> None:
    minor = versions.KUBERNETES.split(".")[1]
    assert f"chartutil.k8sVersionMinor={minor}" in build._wrapper_tools()["helm"].ldflags


def test_a_tool_whose_module_kubernetes_pins_at_another_version_is_named() -> None:
    tools = {
        "etcd": build._Tool("go.etcd.io/etcd/server/v3", "v3.6.16", "-s -w"),
        "crictl": build._Tool("sigs.k8s.io/cri-tools/cmd/crictl", "v1.36.0", "-s -w"),
    }
    pinned = {"go.etcd.io/etcd/server/v3": "v3.6.8", "go.etcd.io/etcd/client/v3": "v3.6.8"}
    assert build._overridden_pins(tools, pinned) == [
        f"etcd v3.6.16: k8s.io/kubernetes {versions.KUBERNETES} pins go.etcd.io/etcd/server/v3 v3.6.8"
    ]
    tools["etcd"] = build._Tool("go.etcd.io/etcd/server/v3", "v3.6.8", "-s -w")
    assert build._overridden_pins(tools, pinned) == []


def test_the_node_tools_that_share_kubernetes_libraries_build_in_the_wrapper() -> None:
    assert {"etcd", "crictl", "kube-router"} <= set(build._wrapper_tools())


def test_binaries_are_named_as_go_build_names_them_in_an_output_directory() -> None:
    assert build._exe_name("k8s.io/kubernetes/cmd/kube-apiserver") == "kube-apiserver"
    assert build._exe_name("go.etcd.io/etcd/server/v3") == "server"
    assert build._exe_name("helm.sh/helm/v3/cmd/helm") == "helm"
    assert build._exe_name(f"{build.WRAPPER_MODULE}/coredns") == "coredns"
    names = [build._exe_name(build._main_package(n, t)) for n, t in build._wrapper_tools().items()]
    assert len(set(names)) == len(names)  # one output directory: no two binaries may share a name

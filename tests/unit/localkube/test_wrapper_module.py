"""The Kubernetes wrapper module pins every module k8s.io/kubernetes requires to the version it requires, so the tools
built beside the Kubernetes commands (metrics-server) cannot move the commands' dependencies."""

from __future__ import annotations

from localkube import build

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

"""Pinned versions of everything localkube builds. Change a pin here; the cache is keyed by it."""

from __future__ import annotations

# Kubernetes 1.36 is maintained (released 2026-04); v1.36.3 is its newest patch on 2026-11-21.
KUBERNETES = "v1.36.3"
# etcd 3.6.x: current API servers want >= 3.5.13 for consistent reads from the watch cache; Debian ships 3.4.23.
# v3.6.8 is the etcd server k8s.io/kubernetes v1.36.3 requires (its go.mod), so it builds in the Kubernetes wrapper
# module against the etcd client libraries the API server compiles (localkube.build refuses a pin the wrapper would
# replace by another version).
ETCD = "v3.6.8"
KWOK = "v0.8.0"
# helm v3.22 (client-go v0.37) builds against the wrapper's v0.36 client libraries (localkube.build).
HELM = "v3.22.0"

KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet", "kube-proxy")

# The node: containerd 2.x (Kubernetes 1.36 dropped containerd 1.x, which is what Debian ships), runc new enough for
# containerd 2's runtime spec (Debian's 1.1.5 fails on it), crictl to clean up pods, CoreDNS, metrics-server.
# cri-tools 1.36 is the release for Kubernetes 1.36, built on its v0.36 libraries, so crictl builds in the Kubernetes
# wrapper module beside the commands. containerd cannot: even 2.3 (on the v0.36 libraries) needs newer OpenTelemetry
# and containerd API modules than Kubernetes pins, so it keeps a module of its own and its newest release.
CONTAINERD = "v2.4.2"
RUNC = "v1.5.3"
CRI_TOOLS = "v1.36.0"
COREDNS = "v1.15.0"
# The CoreDNS plugins built in: those the node's Corefile uses (localkube.node; a unit test holds the two together),
# in CoreDNS's own plugin order (its plugin.cfg), which is the order a query passes through them.
COREDNS_PLUGINS = ("bind", "ready", "errors", "cache", "kubernetes")
# metrics-server v0.9.0 is built on the Kubernetes v0.36 libraries, so it builds in the Kubernetes wrapper module
# against the libraries the Kubernetes commands compiled (localkube.build). v0.8.0 (v0.33) compiled there, then refused
# to start: its generated OpenAPI names predate v0.36's ("cannot find model definition for ...PodMetrics").
METRICS_SERVER = "v0.9.0"
# NetworkPolicy on the node (localkube.netpol): kube-router's firewall only. v2.1.0 is the only version of the /v2
# module the Go module proxy serves (`go list -m -versions`), and it builds with Go 1.26. Its service proxy, which
# advisory GHSA-phqm-jgc3-qf8g concerns (externalIPs), and its BGP router are never run.
KUBE_ROUTER = "v2.1.0"

# The Prometheus Operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule), copied from its Go module: the chart's
# monitoring objects are dry-run against them. v0.85.0 is the version the Go module proxy serves for the root module.
PROMETHEUS_OPERATOR = "v0.85.0"
MONITORING_CRDS = ("servicemonitors", "podmonitors", "prometheusrules")

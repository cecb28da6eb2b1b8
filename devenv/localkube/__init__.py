"""localkube: a real Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) and
Prometheus on loopback, built from pinned Go modules, for the tests and the demo. No Docker needed.

Modules: `versions` (pins), `build` (Go builds into a versioned cache), `certs`, `cluster` (start/stop, kubeconfig,
fake nodes, kwok), `prometheus`, `testing` (what tests/conftest.py uses).
CLI: `python -m localkube build|up|down|status`.
"""

"""localkube: the dev environment. A real Kubernetes control plane (etcd, kube-apiserver, controller-manager,
scheduler; kwok for fake nodes) and optionally a real node (containerd, runc, kubelet, kube-proxy, CoreDNS,
metrics-server), Prometheus, and the project's own processes on loopback, built from pinned Go modules, for the tests,
the benchmarks and the demo. No Docker needed. Nothing in the operator or the data plane imports it.

Modules: `versions` (pins), `build` (Go builds into a versioned cache), `certs`, `cluster` (start/stop, kubeconfig,
fake nodes, kwok), `node` and `hostnet` (the real node), `images` (the images pods run, from the Dockerfiles),
`monitoring_crds`, `prometheus` and `podsd` (Prometheus and its pod discovery), `fileserver` (model archives for
pods), `procs` (child processes by PID, free ports), `local` (model archives, TorchServe and the router as loopback
processes), `operator_process` (the operator as a child process), `testing` (what tests/conftest.py uses).
CLI: `python -m localkube build|images|up|down|status`.
"""

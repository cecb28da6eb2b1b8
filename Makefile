# Every command a reader needs. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: help venv system-deps bins lint typecheck test test-unit demo chaos examples cluster-up cluster-down kind-up crds bench clean

help:
	@echo "make demo        run the three rollouts end to end on a local control plane"
	@echo "make test        install everything the tests need, lint, type-check, run all tests"
	@echo "make cluster-up  start the local control plane + Prometheus and print the KUBECONFIG line"

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[operator,serving,dev]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# Debian packages: Prometheus (+promtool) for tests and the demo, nginx as the router's benchmark peer, Java 17 for
# TorchServe; for the real node: iptables, conntrack, the CNI plugins, buildah and debootstrap (images), and
# libseccomp-dev + pkg-config (runc is built with seccomp).
DEBIAN_PACKAGES := prometheus nginx-light openjdk-17-jre-headless iptables conntrack containernetworking-plugins \
	buildah debootstrap libseccomp-dev pkg-config iproute2 ipset
system-deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	  [ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }

# etcd, kube-apiserver, controller-manager, scheduler, kubectl, kubelet, kube-proxy, kwok, helm, containerd, runc,
# crictl, CoreDNS, metrics-server, kube-router from pinned Go modules (cached by version); the images pods run (cached by inputs);
# both at once.
bins: venv system-deps
	$(PY) -m localkube bins

crds: venv
	$(PY) -m visionroll_build.crd --write
	$(PY) -m visionroll_build.reference --write
	$(PY) -m visionroll_build.dashboards --write

lint: venv
	$(VENV)/bin/ruff check operator serving devenv tests bench
	$(VENV)/bin/ruff format --check operator serving devenv tests bench
	@unformatted=$$(gofmt -l serving/router bench/floor/go); [ -z "$$unformatted" ] || { echo "gofmt: $$unformatted"; exit 1; }

typecheck: venv
	$(VENV)/bin/mypy -p visionroll -p visionroll_serving -p visionroll_build -p localkube -p visionroll_demo
	$(VENV)/bin/lint-imports

test-unit: venv
	$(PY) -m pytest tests/unit

# --durations: where the suite's time goes, in CI's log too. Two pytest-xdist workers: the real node's and
# TorchServe's tests in one (grouped by localkube.testing.mark_items), everything else in the other. Measured
# 2026-12-02 on this 2-core machine, warm: 1,234 passed in 19.6 min against 28.8 min in one process, the node's tests
# no slower (chaos 188 s against 164, canary 105 against 107). With TorchServe's tests not grouped (2026-12-01) the
# node's ran 1.3-2x slower beside the local Java processes and one failed.
test: venv system-deps bins lint typecheck
	$(PY) -m pytest -n 2 --dist loadgroup --durations=30

demo: venv system-deps bins
	$(PY) -m visionroll_demo $(if $(KEEP),--keep,)

# A split and the demo's three rollouts on the real node under faults (operator SIGKILLed 21 times, API server
# restart, Prometheus stopped, pods killed): outcomes as undisturbed, client errors per fault, nothing left behind.
chaos: venv system-deps bins
	$(PY) -m visionroll_demo.chaos

# An abusive client against the router in the cluster on the real node (slowloris, 100 MB body, junk, 2,000
# connections, a hanging and a slow shadow): fault -> expected -> observed, memory, well-behaved p99 vs baseline.
# The real node is one per machine: the run waits for its lock. ABUSE_TARGET=loopback runs it on loopback processes.
abuse: venv system-deps bins
	flock /tmp/visionroll-node.lock $(PY) bench/abuse_router.py --target $(or $(ABUSE_TARGET),cluster)

# Each examples/*.yaml applied as shipped on real pods (only storageUri pointed at the local archives).
examples: venv system-deps bins
	$(PY) -m pytest -m examples tests/e2e/test_examples.py

cluster-up: venv system-deps bins
	$(PY) -m localkube up

cluster-down: venv
	$(PY) -m localkube down

# For people with Docker: a kind cluster; the same tests run against it through $$KUBECONFIG.
# It writes its own kubeconfig, so $$KUBECONFIG names only this cluster.
kind-up:
	kind create cluster --name visionroll --kubeconfig $(HOME)/.kube/visionroll-kind.yaml
	@echo "export KUBECONFIG=$(HOME)/.kube/visionroll-kind.yaml"

bench: venv system-deps bins
	@ls bench/*.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

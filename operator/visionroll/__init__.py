"""visionroll: a Kubernetes operator that rolls out computer-vision models served by TorchServe.

Rooms, from the bottom: `vocabulary` (labels, annotations, owned-object names), `api` (the VisionModel's pydantic
models), `rollout` (the pure decision core), then `workloads`, `traffic`, `metrics` and `k8s` side by side,
`reconcile` (one tick) and `handlers` (kopf); `cli` is the kubectl plugin. pyproject.toml's import contracts keep
that order. The operator runs nothing else of this repository but router.json's schema
(`visionroll_serving.router.config`); the generators of its CRD, reference and dashboards are `visionroll_build`.
"""

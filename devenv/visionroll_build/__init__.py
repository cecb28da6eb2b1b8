"""Build time: what generates the project's committed artifacts from the operator's code, and is never run by the
operator or the router. `crd` writes the VisionModel CRD (crds/ and the chart's copy) from the pydantic models,
`reference` writes docs/api.md from the same models, `dashboards` writes the chart's Grafana dashboards. Each has
`--write` and `--check`; `make crds` runs all three, and a unit test fails when a committed copy is stale.
"""

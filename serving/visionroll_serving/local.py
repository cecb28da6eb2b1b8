"""Moved to `localkube.local` (the dev environment). This re-export is kept only until bench/bench_router.py and
bench/profile_router.py, which another change (issue #18) is editing, import `localkube.local`; then it goes. It is
not in the serving image (serving/Dockerfile.dockerignore), and it is the one import of the dev environment from the
data plane that the import contracts allow (pyproject.toml)."""

from localkube.local import (
    Router,
    TorchServe,
    build_archives,
    metric_samples,
    router_config,
    variant,
    write_router_config,
)

__all__ = [
    "Router",
    "TorchServe",
    "build_archives",
    "metric_samples",
    "router_config",
    "variant",
    "write_router_config",
]

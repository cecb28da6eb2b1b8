"""One real TorchServe per module (1.0, 3.0 and 4.0 of the digits model) and routers started against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localkube import local
from visionroll_serving.build import BuildResult
from visionroll_serving.samples import held_out_pngs


@pytest.fixture(scope="session")
def archives() -> BuildResult:
    return local.build_archives()


@pytest.fixture(scope="session")
def pngs() -> list[tuple[bytes, int]]:
    return held_out_pngs()


@pytest.fixture(scope="session")
def torchserve(archives: BuildResult) -> Iterator[local.TorchServe]:
    """Shared by every serving test: started once (~15 s), batching on (up to 4 requests, 2 ms wait)."""
    versions = ("1.0", "3.0", "4.0")
    with local.TorchServe([archives.archive(v) for v in versions], batch_size=4, max_batch_delay_ms=2) as server:
        server.start()
        yield server


Variants = list[dict[str, Any]]


@pytest.fixture
def start_router(tmp_path: Path) -> Iterator[Callable[..., local.Router]]:
    """start_router(variants, shadow=None, sticky_header=None, paired=None, **Router options) -> a running router on
    a file."""
    started: list[local.Router] = []

    def start(variants: Variants, *, shadow: dict[str, Any] | None = None, sticky_header: str | None = None,
              paired: dict[str, Any] | None = None, **options: Any) -> local.Router:  # fmt: skip
        path = tmp_path / f"router-{len(started)}.json"
        config = local.router_config(variants, shadow=shadow, sticky_header=sticky_header)
        if paired is not None:
            config["paired"] = paired
        local.write_router_config(path, config)
        router = local.Router(config_file=path, **options)
        started.append(router)
        return router.start()

    yield start
    for router in started:
        router.stop()

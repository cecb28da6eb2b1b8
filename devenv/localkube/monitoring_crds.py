"""The Prometheus Operator's monitoring CRDs, fetched from its pinned Go module into the cache.

Layout: ``<cache>/crds/prometheus-operator-<version>/monitoring.coreos.com_<plural>.yaml`` for each plural in
``versions.MONITORING_CRDS``. The files come from the module's ``example/prometheus-operator-crd/`` folder (the CRDs
the operator's own release installs), downloaded with ``go mod download`` like every other pin; a warm cache
downloads nothing. The folder is moved into place whole, so its presence means "done".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from localkube import versions
from localkube.build import BuildError, cache_root, go_executable

MODULE = "github.com/prometheus-operator/prometheus-operator"
SOURCE_FOLDER = "example/prometheus-operator-crd"


def crds_dir() -> Path:
    return cache_root() / "crds" / f"prometheus-operator-{versions.PROMETHEUS_OPERATOR}"


def crd_paths() -> list[Path]:
    return [crds_dir() / f"monitoring.coreos.com_{plural}.yaml" for plural in versions.MONITORING_CRDS]


def _module_dir() -> Path:
    env = dict(os.environ, GOFLAGS="-mod=mod")
    proc = subprocess.run(
        [go_executable(), "mod", "download", "-json", f"{MODULE}@{versions.PROMETHEUS_OPERATOR}"],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
    )
    info = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    if proc.returncode != 0 or "Dir" not in info:
        reason = info.get("Error") or proc.stderr.strip()
        raise BuildError(f"go mod download {MODULE}@{versions.PROMETHEUS_OPERATOR} failed: {reason}")
    return Path(info["Dir"])


def ensure() -> list[Path]:
    """The CRD files, downloading the module when the cache does not hold them."""
    paths = crd_paths()
    if all(p.is_file() for p in paths):
        return paths
    source = _module_dir() / SOURCE_FOLDER
    dest = crds_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    for path in paths:
        src = source / path.name
        if not src.is_file():
            raise BuildError(f"{MODULE}@{versions.PROMETHEUS_OPERATOR} has no {SOURCE_FOLDER}/{path.name}")
        shutil.copyfile(src, staging / path.name)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(staging, dest)
    return paths

"""Where a model archive comes from, and the init container that puts it into the pod's model store.

`http(s)://` archives are downloaded with the serving image's own Python (no curl in the image, nothing to install);
`pvc://claim/path.mar` mounts the claim read-only and copies the file. Either way TorchServe only ever loads a local
file from an emptyDir it cannot be tricked into fetching from elsewhere, and only an archive whose manifest names the
spec's model and version, and whose sha256 is `spec.model.digest` when given (fetch_program.py, the program the
init container runs).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

MODEL_STORE = "/home/model-server/model-store"
SOURCE_MOUNT = "/mnt/visionroll-source"

TERMINATION_LOG = "/dev/termination-log"
# The fetch program's text, shipped in the init container's args (it runs in any TorchServe image with a python3).
PROGRAM = resources.files("visionroll.workloads").joinpath("fetch_program.py").read_text(encoding="utf-8")


@dataclass(frozen=True)
class HttpArchive:
    url: str


@dataclass(frozen=True)
class ClaimArchive:
    claim: str
    path: str
    """Path of the archive inside the claim, relative, never escaping it."""


ArchiveSource = HttpArchive | ClaimArchive


def parse_storage_uri(uri: str) -> ArchiveSource:
    """The archive source of a `storageUri`; ValueError naming the URI when it cannot be used."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return HttpArchive(uri)
    if parts.scheme == "pvc" and parts.netloc:
        path = posixpath.normpath(parts.path.lstrip("/"))
        if not path or path == "." or path.startswith(".."):
            raise ValueError(f"storageUri {uri!r}: expected pvc://<claim>/<path inside the claim>.mar")
        return ClaimArchive(claim=parts.netloc, path=path)
    raise ValueError(f"storageUri {uri!r}: expected http(s)://host/path.mar or pvc://claim/path.mar")


def archive_file(model_name: str) -> str:
    return f"{model_name}.mar"


def fetch_container(
    source: ArchiveSource,
    *,
    image: str,
    model_name: str,
    model_version: str,
    security_context: dict[str, Any],
    digest: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The init container and the extra volumes it needs (the model store volume is the pod's).

    It refuses an archive whose manifest names another model or version than the spec, or whose sha256 is not
    `digest` (spec.model.digest) when one is given (fetch_program.py): it exits with the "refused" code and the
    one-line reason as its termination message, which the pod's status carries."""
    dest = posixpath.join(MODEL_STORE, archive_file(model_name))
    mounts: list[dict[str, Any]] = [{"name": "model-store", "mountPath": MODEL_STORE}]
    volumes: list[dict[str, Any]] = []
    if isinstance(source, HttpArchive):
        location = source.url
    else:
        mounts.append({"name": "model-source", "mountPath": SOURCE_MOUNT, "readOnly": True})
        volumes.append({"name": "model-source", "persistentVolumeClaim": {"claimName": source.claim, "readOnly": True}})
        location = posixpath.join(SOURCE_MOUNT, source.path)
    container = {
        "name": "fetch-model",
        "image": image,
        "command": ["python3"],
        "args": [
            "-c",
            PROGRAM,
            "--model-name",
            model_name,
            "--model-version",
            model_version,
            *(["--digest", digest] if digest else []),
            "--termination-log",
            TERMINATION_LOG,
            location,
            dest,
        ],
        "volumeMounts": mounts,
        "securityContext": security_context,
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "terminationMessagePath": TERMINATION_LOG,
        # The program writes its reason there; a crash before it could (say, no python3 in the image) leaves the
        # log's tail as the message instead.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    return container, volumes

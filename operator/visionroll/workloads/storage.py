"""Where a model archive comes from, and the init container that puts it into the pod's model store.

`http(s)://` archives are downloaded with the serving image's own Python (no curl in the image, nothing to install);
`pvc://claim/path.mar` mounts the claim read-only and copies the file. Either way TorchServe only ever loads a local
file from an emptyDir it cannot be tricked into fetching from elsewhere.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MODEL_STORE = "/home/model-server/model-store"
SOURCE_MOUNT = "/mnt/visionroll-source"

# argv: url, destination. Writes to a temporary name and renames, so a half download is never loaded.
_DOWNLOAD = (
    "import os, sys, urllib.request\n"
    "url, dest = sys.argv[1], sys.argv[2]\n"
    "with urllib.request.urlopen(url, timeout=60) as r, open(dest + '.part', 'wb') as f:\n"
    "    while chunk := r.read(1 << 20):\n"
    "        f.write(chunk)\n"
    "if os.path.getsize(dest + '.part') == 0:\n"
    "    sys.exit('empty archive at ' + url)\n"
    "os.rename(dest + '.part', dest)\n"
)
_COPY = (
    "import shutil, sys\n"
    "shutil.copyfile(sys.argv[1], sys.argv[2] + '.part')\n"
    "shutil.move(sys.argv[2] + '.part', sys.argv[2])\n"
)


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
    source: ArchiveSource, *, image: str, model_name: str, security_context: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The init container and the extra volumes it needs (the model store volume is the pod's)."""
    dest = posixpath.join(MODEL_STORE, archive_file(model_name))
    mounts: list[dict[str, Any]] = [{"name": "model-store", "mountPath": MODEL_STORE}]
    volumes: list[dict[str, Any]] = []
    if isinstance(source, HttpArchive):
        args = ["-c", _DOWNLOAD, source.url, dest]
    else:
        mounts.append({"name": "model-source", "mountPath": SOURCE_MOUNT, "readOnly": True})
        volumes.append({"name": "model-source", "persistentVolumeClaim": {"claimName": source.claim, "readOnly": True}})
        args = ["-c", _COPY, posixpath.join(SOURCE_MOUNT, source.path), dest]
    container = {
        "name": "fetch-model",
        "image": image,
        "command": ["python3"],
        "args": args,
        "volumeMounts": mounts,
        "securityContext": security_context,
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    }
    return container, volumes

"""Pod Security "restricted" settings shared by every pod the operator runs.

The serving image (serving/Dockerfile) runs as the numeric user 10001; it is spelled out here too, so that
`runAsNonRoot` holds for any TorchServe image, and fsGroup 10001 makes the emptyDirs writable for it.
"""

from __future__ import annotations

from typing import Any

UID = 10001
GID = 10001


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": GID,
        "fsGroup": GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": GID,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }

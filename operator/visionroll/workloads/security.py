"""Pod Security "restricted" settings shared by every pod the operator runs.

The TorchServe image's user is a name, so `runAsNonRoot` needs the numeric UID spelled out; 1000 is the image's
`model-server` user, and fsGroup 1000 makes the emptyDirs writable for it.
"""

from __future__ import annotations

from typing import Any

UID = 1000
GID = 1000


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

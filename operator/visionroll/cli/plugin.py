"""`kubectl visionmodel status|pause|resume|promote|abort NAME [-n NAMESPACE]`: manual control of a rollout.

The plugin only sets or removes the annotations of `visionroll.vocabulary` (a merge patch of
metadata.annotations); the operator acts on them at its next tick. promote and abort carry the revision of the
candidate read from status at that moment, so an annotation left behind never acts on a later candidate.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from kubernetes import client, config

from visionroll.api import GROUP, PLURAL, VERSION, VisionModelStatus
from visionroll.cli.render import status_text
from visionroll.vocabulary import ANNOTATION_ABORT, ANNOTATION_PAUSED, ANNOTATION_PROMOTE, ANNOTATION_RESUME


class CustomObjects(Protocol):
    """The slice of `kubernetes.client.CustomObjectsApi` the plugin uses."""

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> Any: ...

    def patch_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any: ...


class PluginError(Exception):
    """A clear message for the person at the terminal; exit code 1."""


def _get(api: CustomObjects, namespace: str, name: str) -> tuple[dict[str, Any], VisionModelStatus]:
    try:
        obj: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except Exception as e:
        if getattr(e, "status", None) == 404:
            raise PluginError(f'visionmodel "{name}" not found in namespace "{namespace}"') from e
        raise
    return obj, VisionModelStatus.model_validate(obj.get("status") or {})


def _annotate(api: CustomObjects, namespace: str, name: str, values: dict[str, str | None]) -> None:
    api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"annotations": values}})


def run(command: str, name: str, namespace: str, api: CustomObjects, out: TextIO) -> None:
    obj, status = _get(api, namespace, name)
    if command == "status":
        print(status_text(name, namespace, status), file=out)
        return
    cand = status.candidate
    if cand is None:
        raise PluginError(f'visionmodel "{name}" has no rollout in progress (phase {status.phase})')
    annotations = obj.get("metadata", {}).get("annotations") or {}
    if command == "pause":
        _annotate(api, namespace, name, {ANNOTATION_PAUSED: "true"})
        print(f"visionmodel/{name} pause requested (candidate {cand.version}, {cand.revision})", file=out)
    elif command == "resume":
        if annotations.get(ANNOTATION_PAUSED, "").lower() == "true":
            _annotate(api, namespace, name, {ANNOTATION_PAUSED: None})
        elif status.phase == "Paused" and status.pause_reason == "inconclusive":
            _annotate(api, namespace, name, {ANNOTATION_RESUME: cand.revision})
        else:
            hint = "; a finished split awaits promote or abort" if status.pause_reason == "decision" else ""
            raise PluginError(f'visionmodel "{name}" is not paused (phase {status.phase}){hint}')
        print(f"visionmodel/{name} resume requested: the stage of {cand.version} starts afresh", file=out)
    elif command in ("promote", "abort"):
        key = ANNOTATION_PROMOTE if command == "promote" else ANNOTATION_ABORT
        other = ANNOTATION_ABORT if command == "promote" else ANNOTATION_PROMOTE
        _annotate(api, namespace, name, {key: cand.revision, other: None})
        print(f"visionmodel/{name} {command} of {cand.version} ({cand.revision}) requested", file=out)
    else:  # argparse restricts the choices; kept for callers of run()
        raise PluginError(f"unknown command {command!r}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubectl visionmodel", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("command", choices=["status", "pause", "resume", "promote", "abort"])
    p.add_argument("name", help="the VisionModel")
    p.add_argument("-n", "--namespace", help="default: the namespace of the current kubeconfig context")
    p.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config")
    p.add_argument("--context", help="kubeconfig context")
    return p


def connect(kubeconfig: str | None, context: str | None) -> tuple[CustomObjects, str]:
    """The API (kubeconfig, else in-cluster) and the default namespace of the kubeconfig context."""
    namespace = "default"
    try:
        config.load_kube_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        chosen = next((c for c in contexts if c["name"] == context), active)
        namespace = (chosen or {}).get("context", {}).get("namespace") or namespace
    except config.ConfigException:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    api: CustomObjects = client.CustomObjectsApi()
    return api, namespace


def main(argv: Sequence[str] | None = None, *, api: CustomObjects | None = None, out: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    stream = out or sys.stdout
    try:
        namespace = args.namespace
        if api is None:
            api, default_namespace = connect(args.kubeconfig, args.context)
            namespace = namespace or default_namespace
        run(args.command, args.name, namespace or "default", api, stream)
    except PluginError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # the API server's answer, said plainly instead of a traceback
        reason = getattr(e, "reason", None) or str(e)
        print(f"error: {type(e).__name__}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

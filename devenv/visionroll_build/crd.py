"""Generate the VisionModel CRD from the pydantic models, the one schema source.

The API server wants a *structural* OpenAPI v3 schema: no `$ref`, no `anyOf` for optionals, `exclusiveMinimum` as a
boolean, defaults written out (including those of `default_factory`). This module turns pydantic's JSON schema into
that, attaches the CEL rules the models carry, and writes `crds/visionmodels.visionroll.io.yaml` and the Helm chart's
copy in `charts/visionroll/crds/`.
`python -m visionroll_build.crd --write` regenerates it; `--check` fails when the committed copy is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from visionroll import api
from visionroll.api.spec import NAME_RULES, VisionModelSpec
from visionroll.api.status import VisionModelStatus

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = f"{api.PLURAL}.{api.GROUP}.yaml"
# The repository copy and the Helm chart's copy (Helm installs everything under a chart's crds/ before the templates).
CRD_PATHS = (REPO_ROOT / "crds" / CRD_FILE, REPO_ROOT / "charts" / "visionroll" / "crds" / CRD_FILE)

_DROP_KEYS = {"title", "additionalProperties"}


class _WithFactoryDefaults(GenerateJsonSchema):
    """Writes `default_factory` values out as defaults, so the API server applies them too."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            value = factory()  # type: ignore[call-arg]
            if isinstance(value, BaseModel):
                value = value.model_dump(by_alias=True, exclude_none=True, mode="json")
            schema = {**schema, "default": value}
            schema.pop("default_factory", None)
        return super().default_schema(schema)


def _structural(node: Any, defs: dict[str, Any], *, keep_defaults: bool) -> Any:
    """Inline refs, collapse optional anyOf, convert keywords to the API server's dialect."""
    if isinstance(node, list):
        return [_structural(n, defs, keep_defaults=keep_defaults) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs, keep_defaults=keep_defaults)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express anyOf {node['anyOf']} structurally")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if rest.get("default", "x") is None:
            rest.pop("default")
        return _structural({**options[0], **rest}, defs, keep_defaults=keep_defaults)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS or (key == "default" and not keep_defaults):
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "properties":
            out[key] = {k: _structural(v, defs, keep_defaults=keep_defaults) for k, v in value.items()}
        elif key == "default":
            out[key] = value
        elif key == "const":  # not in the API server's schema dialect; a one-value enum says the same
            out["enum"] = [value]
        else:
            out[key] = _structural(value, defs, keep_defaults=keep_defaults)
    return out


def openapi_schema(model: type[BaseModel], *, keep_defaults: bool = True) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_WithFactoryDefaults)
    defs = raw.pop("$defs", {})
    result: dict[str, Any] = _structural(raw, defs, keep_defaults=keep_defaults)
    return result


def crd() -> dict[str, Any]:
    root = {
        "type": "object",
        "required": ["spec"],
        # The name rules sit at the root: only there can CEL see metadata.name.
        "x-kubernetes-validations": [dict(r) for r in NAME_RULES],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": openapi_schema(VisionModelSpec),
            # Status defaults would be invented values: the operator writes the status whole, so none are applied.
            "status": openapi_schema(VisionModelStatus, keep_defaults=False),
        },
    }
    columns = [
        ("Phase", "string", ".status.phase"),
        ("Stable", "string", ".status.stable.version"),
        ("Candidate", "string", ".status.candidate.version"),
        ("Weight", "integer", ".status.weights.candidate"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{api.PLURAL}.{api.GROUP}", "labels": {"app.kubernetes.io/part-of": "visionroll"}},
        "spec": {
            "group": api.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": api.KIND,
                "plural": api.PLURAL,
                "singular": api.SINGULAR,
                "listKind": f"{api.KIND}List",
                "shortNames": api.SHORT_NAMES,
                "categories": api.CATEGORIES,
            },
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": n,
                            "type": t,
                            "jsonPath": p,
                            **({"description": "Candidate weight, %"} if n == "Weight" else {}),
                        }
                        for n, t, p in columns
                    ],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def render() -> str:
    header = "# Generated by `python -m visionroll_build.crd --write` from operator/visionroll/api. Do not edit.\n"
    return header + yaml.safe_dump(crd(), sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="write the CRD files")
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed CRD file is stale")
    args = parser.parse_args(argv)
    text = render()
    stale = [p for p in CRD_PATHS if not p.exists() or p.read_text() != text]
    if args.write:
        for path in CRD_PATHS:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(REPO_ROOT)} (run make crds)", file=sys.stderr)
        return 1 if stale else 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

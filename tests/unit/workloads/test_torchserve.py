"""TorchServe's config.properties: loopback management, pinned URLs, the spec's worker and batch settings."""

from __future__ import annotations

import json
from collections.abc import Callable

from visionroll.api import VisionModelSpec
from visionroll.workloads import Owner
from visionroll.workloads.torchserve import config_map, config_properties, parse_revision_record


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_addresses(make_spec: Callable[..., VisionModelSpec]) -> None:
    spec = make_spec()
    p = props(config_properties(spec.model, spec.serving))
    assert p["inference_address"] == "http://0.0.0.0:8080"
    assert p["management_address"] == "http://127.0.0.1:8081"
    assert p["grpc_inference_address"] == p["grpc_management_address"] == "127.0.0.1"
    assert p["metrics_address"] == "http://0.0.0.0:8082"
    assert p["metrics_mode"] == "prometheus"
    assert p["enable_model_api"] == "false"
    assert p["disable_token_authorization"] == "true"


def test_allowed_urls_pinned_to_the_storage_uri(make_spec: Callable[..., VisionModelSpec]) -> None:
    spec = make_spec(model={"name": "digits", "version": "2.0", "storageUri": "https://m.example.com/a,b/d.mar"})
    p = props(config_properties(spec.model, spec.serving))
    assert p["allowed_urls"] == r"^https://m\.example\.com/a\x2cb/d\.mar$"


def test_worker_and_batch_settings_from_spec(make_spec: Callable[..., VisionModelSpec]) -> None:
    spec = make_spec(serving={"workers": 3, "batchSize": 16, "maxBatchDelayMs": 50, "responseTimeoutSeconds": 90})
    p = props(config_properties(spec.model, spec.serving))
    assert p["load_models"] == "digits=digits.mar"
    assert p["default_workers_per_model"] == "3"
    assert p["default_response_timeout"] == "90"
    model = json.loads(p["models"])["digits"]["2.0"]
    assert model == {
        "marName": "digits.mar",
        "minWorkers": 3,
        "maxWorkers": 3,
        "batchSize": 16,
        "maxBatchDelay": 50,
        "responseTimeout": 90,
    }


def test_config_map_records_the_revision(make_spec: Callable[..., VisionModelSpec], owner: Owner) -> None:
    spec = make_spec(serving={"batchSize": 4})
    cm = config_map(owner, revision="2-0-abcdef", model=spec.model, serving=spec.serving)
    assert cm["metadata"]["name"] == "digits-2-0-abcdef"
    assert parse_revision_record(cm["data"]["revision.json"]) == (spec.model, spec.serving)

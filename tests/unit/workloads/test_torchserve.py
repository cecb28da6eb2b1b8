"""TorchServe's config.properties: loopback management, pinned URLs, the spec's worker and batch settings."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from localkube import local
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


def test_the_loopback_torchserve_of_the_tests_runs_the_production_configuration(
    make_spec: Callable[..., VisionModelSpec], tmp_path: Path
) -> None:
    """One builder: the tests' and the demo's TorchServe (localkube) differ from a pod's only where a loopback process
    must (addresses, model store, allowed URLs) and in the tuning it appends."""
    spec = make_spec()
    pod = props(config_properties(spec.model, spec.serving))
    archive = tmp_path / f"{spec.model.name}-{spec.model.version}.mar"
    serving = spec.serving
    server = local.TorchServe(
        [archive], workers=serving.workers, batch_size=serving.batch_size, max_batch_delay_ms=serving.max_batch_delay_ms
    )
    server.ports = {"inference": 1, "management": 2, "metrics": 3, "grpc_inference": 4, "grpc_management": 5}
    loopback = props(server.config_properties(tmp_path))
    differ = {k for k in pod if loopback.get(k) != pod[k]}
    where = {"inference_address", "management_address", "metrics_address", "model_store", "allowed_urls"}
    assert differ <= where | {"models", "load_models"}  # the archive's file name
    pod_model, loopback_model = (json.loads(p["models"])[spec.model.name][spec.model.version] for p in (pod, loopback))
    assert {**loopback_model, "marName": pod_model["marName"]} == pod_model
    assert set(loopback) - set(pod) == {
        "grpc_inference_port", "grpc_management_port", "job_queue_size", "number_of_netty_threads",
        "netty_client_threads", "vmargs",
    }  # fmt: skip


def test_the_serving_images_default_configuration_is_the_builders(make_spec: Callable[..., VisionModelSpec]) -> None:
    """serving/Dockerfile writes a default config.properties (no model; the revision's ConfigMap hides it in a pod):
    every setting it has is the one the builder gives a pod."""
    dockerfile = (Path(__file__).resolve().parents[3] / "serving" / "Dockerfile").read_text()
    printed = re.search(r"printf '%s\\n' \\\n(.*?)> /etc/visionroll/config.properties", dockerfile, re.S)
    assert printed, "serving/Dockerfile no longer prints its default config.properties"
    default = props("\n".join(re.findall(r"'([a-z_]+=[^']*)'", printed.group(1))))
    spec = make_spec()
    pod = props(config_properties(spec.model, spec.serving))
    assert len(default) >= 10
    assert {k: v for k, v in default.items() if k != "model_store"} == {
        k: pod[k] for k in default if k != "model_store"
    }
    assert default["model_store"] == pod["model_store"]

"""TorchServe's `config.properties` for one revision, and the ConfigMap that carries it. `properties` is the one
builder of that file: the tests and the demo run TorchServe on loopback with it too (localkube).

The ConfigMap also records the revision's model and serving spec (`revision.json`): a stable revision keeps running
unchanged while the spec already names a newer one, and this record is how the operator rebuilds its objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from visionroll import vocabulary
from visionroll.api import ModelSource, Serving
from visionroll.workloads import naming
from visionroll.workloads.meta import Manifest, Owner, manifest, metadata
from visionroll.workloads.storage import MODEL_STORE, archive_file

INFERENCE_PORT = 8080
MANAGEMENT_PORT = 8081
METRICS_PORT = 8082
CONFIG_DIR = "/etc/visionroll"
CONFIG_KEY = "config.properties"
REVISION_KEY = "revision.json"


@dataclass(frozen=True)
class Archive:
    """A model archive in the model store, which TorchServe registers at start as `name`, version `version`."""

    name: str
    version: str
    file: str


@dataclass(frozen=True)
class Listen:
    """Where TorchServe's servers listen. gRPC is always on in TorchServe: its ports are pinned only when given."""

    inference: str
    management: str
    metrics: str
    grpc_host: str = "127.0.0.1"


IN_POD = Listen(
    # Clients reach inference through the pod IP: it must listen on all interfaces inside the pod.
    inference=f"http://0.0.0.0:{INFERENCE_PORT}",
    # The management API can register models, and a model archive is code: loopback only, never in a Service.
    management=f"http://127.0.0.1:{MANAGEMENT_PORT}",
    metrics=f"http://0.0.0.0:{METRICS_PORT}",
)


def _pinned(uri: str) -> str:
    # allowed_urls is a comma-separated list of Java regexes: escape the URI and any comma inside it.
    return "^" + re.escape(uri).replace(",", r"\x2c") + "$"


def config_properties(model: ModelSource, serving: Serving) -> str:
    """The whole TorchServe configuration of one revision: one model, loaded from the local model store."""
    archive = Archive(model.name, model.version, archive_file(model.name))
    # Only the model's own archive may ever be named as a URL; the init container fetched it already.
    return properties(
        [archive], serving, listen=IN_POD, model_store=MODEL_STORE, allowed_urls=_pinned(model.storage_uri)
    )


def properties(
    archives: Sequence[Archive],
    serving: Serving,
    *,
    listen: Listen,
    model_store: str,
    allowed_urls: str,
    token_authorization: bool = False,
    tuning: Mapping[str, str] | None = None,
) -> str:
    """TorchServe's `config.properties`: the production one (`config_properties`), and the one the tests and the
    demo run on loopback (localkube), which differ only in `listen`, the model store, `allowed_urls` and `tuning`
    (settings appended as given: gRPC ports, queue and thread sizes, JVM options)."""
    per_model: dict[str, dict[str, Any]] = {}
    for archive in archives:
        per_model.setdefault(archive.name, {})[archive.version] = {
            "marName": archive.file,
            "minWorkers": serving.workers,
            "maxWorkers": serving.workers,
            "batchSize": serving.batch_size,
            "maxBatchDelay": serving.max_batch_delay_ms,
            "responseTimeout": serving.response_timeout_seconds,
        }
    lines: list[tuple[str, str]] = [
        ("inference_address", listen.inference),
        ("management_address", listen.management),
        ("metrics_address", listen.metrics),
        # TorchServe also opens gRPC inference *and management* servers on every interface by default: the gRPC
        # management API can register a model (code) just like the REST one, so both bind to loopback.
        ("grpc_inference_address", listen.grpc_host),
        ("grpc_management_address", listen.grpc_host),
        ("metrics_mode", "prometheus"),
        ("model_store", model_store),
        ("load_models", ",".join(f"{archive.name}={archive.file}" for archive in archives)),
        ("models", json.dumps(per_model, sort_keys=True)),
        ("default_workers_per_model", str(serving.workers)),
        ("default_response_timeout", str(serving.response_timeout_seconds)),
        ("number_of_gpu", str(serving.gpu)),
        ("allowed_urls", allowed_urls),
        ("enable_model_api", "false"),
        # Token authorization guards the management API; in a pod that API listens on 127.0.0.1 only (IN_POD) and is
        # never exposed by a Service, so only processes inside the pod can reach it. That is why it may be off.
        ("disable_token_authorization", "false" if token_authorization else "true"),
        ("install_py_dep_per_model", "false"),
        ("enable_envvars_config", "false"),
        *(tuning or {}).items(),
    ]
    return "".join(f"{key}={value}\n" for key, value in lines)


def parse_revision_record(text: str) -> tuple[ModelSource, Serving]:
    """The model and serving spec a revision's ConfigMap recorded; ValueError when it does not validate."""
    data: dict[str, Any] = json.loads(text)
    return ModelSource.model_validate(data["model"]), Serving.model_validate(data["serving"])


def config_map(owner: Owner, *, revision: str, model: ModelSource, serving: Serving) -> Manifest:
    return manifest(
        "v1",
        "ConfigMap",
        metadata(owner, vocabulary.variant_name(owner.name, revision), revision=revision),
        data={CONFIG_KEY: config_properties(model, serving), REVISION_KEY: naming.revision_record(model, serving)},
    )

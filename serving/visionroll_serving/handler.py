"""TorchServe handler for image classification: image bytes in, top-k classes out.

Packed into every model archive as the handler file, so it depends only on what a TorchServe worker has: torch,
numpy, Pillow and `ts`. Everything model-specific (input size, normalisation, labels, top-k, and the fault
injection that the faulty test model uses) comes from the `handler:` section of the archive's model-config.yaml.

Inputs, one image per request (TorchServe may batch several requests into one call):
- the raw body: PNG/JPEG/... bytes;
- multipart/form-data: the first file field (any name);
- JSON: `{"image": "<base64>"}` (also `data` or `b64`).

Answer (docs/contracts.md): `{"model": "digits", "version": "1.0", "top_k": [{"label", "index", "score"}, ...]}`;
an input that is not a decodable image gets `{"error": "...", "code": 400}` with HTTP 400, and only that request
of a batch fails.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

JSON_IMAGE_KEYS = ("image", "data", "b64")
# Small images only: a 8x8 model has no use for a 40-megapixel upload, and the cap stops decompression bombs.
MAX_PIXELS = 4096 * 4096
# TorchScript profiles a model's first calls at each input shape and optimises after them; measured on a 2-core VM
# the digits model's first call took 158 ms and a new batch size 56 ms, against 0.3 ms warm. Three calls per shape
# are warm.
WARM_UP_CALLS = 3


class BadInput(ValueError):
    """The request does not carry a decodable image; the message is the reason sent back with a 400."""


@dataclass(frozen=True)
class Faults:
    """Deliberate misbehaviour for a test model: fail a fraction of requests with 500 and/or add latency."""

    error_rate: float = 0.0
    extra_latency_ms: float = 0.0
    seed: int | None = None  # per worker: seed + pid, so the workers of one model fail on different requests

    @classmethod
    def from_config(cls, raw: dict[str, Any] | None) -> Faults:
        raw = raw or {}
        error_rate = float(raw.get("error_rate", 0.0))
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"faults.error_rate must be within [0, 1], got {error_rate}")
        seed = raw.get("seed")
        return cls(
            error_rate=error_rate,
            extra_latency_ms=max(0.0, float(raw.get("extra_latency_ms", 0.0))),
            seed=None if seed is None else int(seed),
        )


@dataclass(frozen=True)
class HandlerSettings:
    image_size: int
    mean: float
    std: float
    labels: tuple[str, ...]
    top_k: int = 3
    faults: Faults = field(default_factory=Faults)

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> HandlerSettings:
        labels = tuple(str(label) for label in raw["labels"])
        return cls(
            image_size=int(raw.get("image_size", 8)),
            mean=float(raw.get("mean", 0.0)),
            std=float(raw.get("std", 1.0)) or 1.0,
            labels=labels,
            top_k=max(1, min(int(raw.get("top_k", 3)), len(labels))),
            faults=Faults.from_config(raw.get("faults")),
        )


def extract_image_bytes(item: Any) -> bytes:
    """Finds the image bytes in one TorchServe request item (raw body, multipart field or JSON with base64)."""
    payload: Any = item
    if isinstance(item, dict):
        if "body" in item:
            payload = item["body"]
        elif "data" in item:
            payload = item["data"]
        else:  # multipart/form-data: fields by name; take the first non-empty binary one.
            payload = next((v for v in item.values() if isinstance(v, bytes | bytearray) and v), item)
    if isinstance(payload, bytes | bytearray):
        raw = bytes(payload)
        if not raw:
            raise BadInput('empty body: send an image (PNG or JPEG) or JSON {"image": "<base64>"}')
        return _image_from_json(_parse_json(raw)) if raw.lstrip()[:1] == b"{" else raw
    if isinstance(payload, str):
        return _image_from_json(_parse_json(payload.encode()))
    if isinstance(payload, dict):
        return _image_from_json(payload)
    raise BadInput(f"unsupported request body of type {type(payload).__name__}")


def _image_from_json(document: Any) -> bytes:
    if isinstance(document, dict):
        for key in JSON_IMAGE_KEYS:
            value = document.get(key)
            if isinstance(value, str) and value:
                try:
                    return base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise BadInput(f"field {key!r} is not valid base64: {exc}") from None
    raise BadInput(f"a JSON body needs one of {list(JSON_IMAGE_KEYS)} holding a base64-encoded image")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"body is neither an image nor valid JSON: {exc}") from None


def decode_image(raw: bytes, settings: HandlerSettings) -> np.ndarray:
    """Decodes image bytes to a normalised float32 array (size, size) of the model's input."""
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise BadInput(f"image of {image.width}x{image.height} pixels is larger than {MAX_PIXELS} pixels")
            grey = image.convert("L")
    except BadInput:
        raise
    except UnidentifiedImageError:
        raise BadInput(
            "body is not a decodable image (unknown format; send PNG, JPEG or another common format)"
        ) from None
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise BadInput(f"body is not a decodable image: {exc.__class__.__name__}: {exc}") from None
    size = settings.image_size
    if grey.size != (size, size):
        grey = grey.resize((size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(grey, dtype=np.float32) / 255.0
    return (pixels - settings.mean) / settings.std


def top_k_answer(scores: np.ndarray, settings: HandlerSettings, *, model: str, version: str) -> dict[str, Any]:
    order = np.argsort(-scores)[: settings.top_k]
    return {
        "model": model,
        "version": version,
        "top_k": [
            {"label": settings.labels[int(i)], "index": int(i), "score": round(float(scores[i]), 6)} for i in order
        ],
    }


def error_answer(message: str, code: int) -> dict[str, Any]:
    return {"error": message, "code": code}


def warm_up(model: torch.jit.ScriptModule, image_size: int, batch_sizes: list[int]) -> float:
    """Run `model` WARM_UP_CALLS times on a blank batch of each size, as `handle` calls it; milliseconds taken."""
    started = time.perf_counter()
    with torch.inference_mode():
        for size in batch_sizes:
            blank = torch.zeros(size, 1, image_size, image_size)
            for _ in range(WARM_UP_CALLS):
                model(blank)
    return (time.perf_counter() - started) * 1000.0


class VisionHandler:
    """The object TorchServe calls: `initialize(context)` once per worker, `handle(data, context)` per batch."""

    def __init__(self) -> None:
        self.initialized = False
        self.model: torch.jit.ScriptModule | None = None
        self.settings: HandlerSettings | None = None
        self.model_name = ""
        self.version = ""
        self._rng = random.Random()

    def initialize(self, context: Any) -> None:
        # The CPU is shared by several workers and the router: one thread per worker is the fastest overall.
        torch.set_num_threads(1)
        properties = context.system_properties
        model_dir = properties.get("model_dir")
        manifest = context.manifest
        self.model_name = manifest["model"]["modelName"]
        self.version = str(manifest["model"].get("modelVersion", ""))
        yaml_config = getattr(context, "model_yaml_config", None) or {}
        self.settings = HandlerSettings.from_config(yaml_config.get("handler", {}))
        serialized = manifest["model"]["serializedFile"]
        self.model = torch.jit.load(os.path.join(model_dir, serialized), map_location="cpu")  # type: ignore[no-untyped-call]
        self.model.eval()
        # Warm before TorchServe counts the worker as ready (/ping, hence the pod's readiness): a cold pod's first
        # answers would otherwise be slow while it already takes traffic.
        batch_size = int(properties.get("batch_size") or 1)
        took = warm_up(self.model, self.settings.image_size, sorted({1, batch_size}))
        seed = self.settings.faults.seed
        self._rng = random.Random(None if seed is None else seed + os.getpid())
        self.initialized = True
        log.info("loaded %s %s with %s; warmed up in %.0f ms", self.model_name, self.version, self.settings, took)

    def handle(self, data: list[Any], context: Any) -> list[str]:
        assert self.model is not None and self.settings is not None
        settings = self.settings
        answers: list[str | None] = [None] * len(data)
        batch: list[np.ndarray] = []
        batch_index: list[int] = []
        for idx, item in enumerate(data):
            try:
                batch.append(decode_image(extract_image_bytes(item), settings))
                batch_index.append(idx)
            except BadInput as exc:
                answers[idx] = self._fail(context, idx, 400, str(exc))
        if settings.faults.extra_latency_ms:
            time.sleep(settings.faults.extra_latency_ms / 1000.0)
        if batch:
            with torch.inference_mode():
                inputs = torch.from_numpy(np.stack(batch)).unsqueeze(1)
                probabilities = torch.softmax(self.model(inputs), dim=1).numpy()
            for row, idx in enumerate(batch_index):
                if settings.faults.error_rate and self._rng.random() < settings.faults.error_rate:
                    answers[idx] = self._fail(context, idx, 500, "injected fault (faults.error_rate)")
                    continue
                answer = top_k_answer(probabilities[row], settings, model=self.model_name, version=self.version)
                answers[idx] = json.dumps(answer)
                context.set_response_content_type(idx, "application/json")
        return [answer if answer is not None else "" for answer in answers]

    @staticmethod
    def _fail(context: Any, idx: int, code: int, message: str) -> str:
        context.set_response_status(code, message, idx)
        context.set_response_content_type(idx, "application/json")
        return json.dumps(error_answer(message, code))


_service = VisionHandler()


def handle(data: list[Any] | None, context: Any) -> list[str] | None:
    """Module-level entry point, as TorchServe expects of a handler file."""
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)

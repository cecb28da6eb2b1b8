"""The handler's input decoding and answer format, without TorchServe."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from visionroll_serving import handler  # noqa: E402
from visionroll_serving.handler import (  # noqa: E402
    BadInput,
    Faults,
    HandlerSettings,
    decode_image,
    extract_image_bytes,
    top_k_answer,  # noqa: E402
)
from visionroll_serving.samples import encode_png, held_out_pngs  # noqa: E402

SETTINGS = HandlerSettings(image_size=8, mean=0.0, std=1.0, labels=tuple(str(i) for i in range(10)), top_k=3)


def jpeg(size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 10, 10)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "item",
    [
        {"body": bytearray(b"PNGBYTES")},
        {"data": b"PNGBYTES"},
        {"file": b"PNGBYTES"},  # multipart field with any name
        {"body": {"image": base64.b64encode(b"PNGBYTES").decode()}},  # JSON decoded by TorchServe
        {"body": json.dumps({"b64": base64.b64encode(b"PNGBYTES").decode()}).encode()},  # JSON left as bytes
    ],
)
def test_image_bytes_are_found_in_every_input_form(item: dict[str, Any]) -> None:
    assert extract_image_bytes(item) == b"PNGBYTES"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"body": b""}, "empty body"),
        ({"body": {"image": "***"}}, "base64"),
        ({"body": {"nothing": 1}}, "needs one of"),
        ({"body": b"{not json"}, "neither an image nor valid JSON"),
    ],
)
def test_bad_inputs_have_reasons(item: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadInput, match=reason):
        extract_image_bytes(item)


def test_decoding_normalises_and_resizes() -> None:
    png, _ = held_out_pngs(1)[0]
    pixels = decode_image(png, SETTINGS)
    assert pixels.shape == (8, 8) and pixels.dtype == np.float32 and 0.0 <= pixels.min() <= pixels.max() <= 1.0
    assert decode_image(jpeg(64), SETTINGS).shape == (8, 8)  # larger colour JPEG: grey, resized
    assert decode_image(encode_png(np.zeros((8, 8), np.uint8)), SETTINGS).max() == 0.0
    with pytest.raises(BadInput, match="not a decodable image"):
        decode_image(b"\x89PNG\r\n\x1a\n broken", SETTINGS)


def test_answer_lists_top_k_in_order() -> None:
    scores = np.array([0.01, 0.7, 0.05, 0.2, 0.04, 0, 0, 0, 0, 0], dtype=np.float32)
    answer = top_k_answer(scores, SETTINGS, model="digits", version="1.0")
    assert answer["model"] == "digits" and answer["version"] == "1.0"
    assert [entry["index"] for entry in answer["top_k"]] == [1, 3, 2]
    assert answer["top_k"][0] == {"label": "1", "index": 1, "score": pytest.approx(0.7)}


def test_fault_settings_are_validated() -> None:
    assert Faults.from_config({"error_rate": 0.3}).error_rate == 0.3
    with pytest.raises(ValueError, match="error_rate"):
        Faults.from_config({"error_rate": 2})


class _Recorder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return x.flatten(1)


def test_warm_up_runs_the_model_at_every_batch_size_it_will_see_before_the_worker_is_ready() -> None:
    model = _Recorder()
    took = handler.warm_up(model, 8, [1, 4])  # type: ignore[arg-type]
    assert model.shapes == [(1, 1, 8, 8)] * handler.WARM_UP_CALLS + [(4, 1, 8, 8)] * handler.WARM_UP_CALLS
    assert took >= 0.0

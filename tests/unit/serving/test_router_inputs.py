"""What the router refuses itself (a client fault, counted against no variant) and what it forwards (a body the
handler decodes, so that a refusal by the handler is the variant's fault)."""

from __future__ import annotations

import base64
import io
import json

import pytest

pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from visionroll_serving import handler  # noqa: E402
from visionroll_serving.router.inputs import JSON_IMAGE_KEYS, refusal  # noqa: E402
from visionroll_serving.samples import held_out_pngs  # noqa: E402

SETTINGS = handler.HandlerSettings(image_size=8, mean=0.0, std=1.0, labels=tuple(str(i) for i in range(10)))
# Every format the router names in its reason, as Pillow writes it (PPM stands for PBM/PGM/PPM).
FORMATS = ("BMP", "GIF", "JPEG", "PNG", "PPM", "TIFF", "WEBP")


def encoded(pil_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), color=90).save(buffer, format=pil_format)
    return buffer.getvalue()


def test_the_router_reads_the_same_json_keys_as_the_handler() -> None:
    assert JSON_IMAGE_KEYS == handler.JSON_IMAGE_KEYS


@pytest.mark.parametrize("pil_format", FORMATS)
def test_every_format_the_router_forwards_the_handler_decodes(pil_format: str) -> None:
    body = encoded(pil_format)
    assert refusal(body, "application/octet-stream") is None
    assert handler.decode_image(handler.extract_image_bytes({"body": body}), SETTINGS).shape == (8, 8)
    as_json = json.dumps({"image": base64.b64encode(body).decode()}).encode()
    assert refusal(as_json, "application/json") is None
    assert handler.decode_image(handler.extract_image_bytes({"body": as_json}), SETTINGS).shape == (8, 8)


def test_the_digits_samples_are_forwarded() -> None:
    assert all(refusal(png, "image/png") is None for png, _ in held_out_pngs(20))


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"", "image/png", "empty body"),
        (b"not an image", "text/plain", "body is not an image"),
        (b"\x89PNG but not really", "image/png", "body is not an image"),
        (b"P7 not a pnm", "application/octet-stream", "body is not an image"),
        (b"BM", "application/octet-stream", None),  # a BMP signature: the handler's to judge
        (b'{"image": ', "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "must be an object"),
        (b'{"picture": "aGVsbG8="}', "application/json", "needs one of ['image', 'data', 'b64']"),
        (b'{"image": "***"}', "application/json", "field 'image' is not valid base64"),
        (b'{"b64": "aGVsbG8="}', "application/json", "field 'b64' does not hold an image"),
        (b"--x\r\n", "multipart/form-data", "without a boundary"),
        (b"--x\r\n", "multipart/form-data; boundary=x", None),
    ],
)
def test_refusals_name_the_fault(body: bytes, content_type: str, reason: str | None) -> None:
    found = refusal(body, content_type)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found, found
        assert "\n" not in found


def test_a_json_body_is_read_as_json_whatever_its_content_type() -> None:
    # the handler parses any body starting with "{" as JSON, so the router checks it as JSON too
    assert "needs one of" in (refusal(b'  {"x": 1}', "image/png") or "")

"""What the router refuses before any variant sees a request: a body that cannot carry an image for the handler.

The rule (docs/contracts.md, "Which answers count against a variant"): a client fault the router can see is answered
by the router itself, with a 400 and a reason, and is recorded against no variant. Everything it forwards is a
request a healthy model serves, so every answer from a variant other than a 2xx counts as that variant's error.

The checks are structural and cheap (a prefix compare for a raw image; one JSON parse and one base64 decode for a
JSON body). What they pass, the handler (serving/visionroll_serving/handler.py) is expected to decode: a body that
starts like a PNG but is corrupt past its signature is the variant's error, as is any 400 the handler answers to it.
A multipart/form-data body is checked for its boundary only: its parts are the handler's to read.
"""

from __future__ import annotations

import base64
import binascii
import json

# The handler's JSON keys, in its order of preference (a unit test checks they stay equal).
JSON_IMAGE_KEYS = ("image", "data", "b64")
# Leading bytes of the image formats the router accepts in a raw body or a base64 field.
IMAGE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",  # PNG
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"BM",  # BMP
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
)
_PNM = tuple(b"P%d" % n for n in range(1, 7))  # PBM, PGM, PPM (plain and raw), then whitespace
FORMATS = "PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM"
_USAGE = f'send an image ({FORMATS}) as the body, or JSON {{"image": "<base64 of an image>"}}'


def is_image(data: bytes) -> bool:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    if data.startswith(_PNM):
        return data[2:3].isspace()
    return data.startswith(IMAGE_SIGNATURES)


def refusal(body: bytes, content_type: str) -> str | None:
    """Why the router refuses `body` as a prediction request (one line, for the client), or None to forward it."""
    if not body:
        return f"empty body: {_USAGE}"
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type == "multipart/form-data":
        return None if "boundary=" in parameters.lower() else "multipart/form-data without a boundary parameter"
    # The handler reads any body that starts with "{" as JSON, whatever its Content-Type says.
    if media_type == "application/json" or body.lstrip()[:1] == b"{":
        return _json_refusal(body)
    if is_image(body):
        return None
    return f"body is not an image ({media_type or 'no Content-Type'}, starts {body[:8]!r}): {_USAGE}"


def _json_refusal(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        return f"body is not valid JSON: {exc}"
    if not isinstance(document, dict):
        return f"a JSON body must be an object: {_USAGE}"
    for key in JSON_IMAGE_KEYS:
        value = document.get(key)
        if isinstance(value, str) and value:
            try:
                image = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                return f"field {key!r} is not valid base64: {exc}"
            if not is_image(image):
                return f"field {key!r} does not hold an image ({FORMATS}); it starts {image[:8]!r}"
            return None
    return f"a JSON body needs one of {list(JSON_IMAGE_KEYS)} holding a base64-encoded image"

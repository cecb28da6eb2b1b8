"""The digits images as the serving path sees them: scikit-learn's bundled 8x8 digits, as 8-bit grey PNG bytes.

Training, the handler, the tests and the benchmark all go through the same encoding (0..16 ink levels scaled to
0..255), so there is no skew between what a model was trained on and what it is served.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

SEED = 20240917
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DigitsSplit:
    """uint8 images (n, 8, 8) and int64 labels, split once with a fixed seed."""

    train_images: NDArray[np.uint8]
    train_labels: NDArray[np.int64]
    test_images: NDArray[np.uint8]
    test_labels: NDArray[np.int64]


def to_pixels(raw: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Maps scikit-learn's 0..16 ink levels (n, 64) to 8-bit grey images (n, 8, 8)."""
    scaled = np.rint(np.asarray(raw, dtype=np.float64) * (255.0 / 16.0))
    return np.clip(scaled, 0, 255).astype(np.uint8).reshape(-1, 8, 8)


@lru_cache(maxsize=1)
def digits_split() -> DigitsSplit:
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    data = load_digits()
    images = to_pixels(data.data)
    labels = np.asarray(data.target, dtype=np.int64)
    order = np.random.default_rng(SEED).permutation(len(labels))
    n_test = int(round(len(labels) * TEST_FRACTION))
    test, train = order[:n_test], order[n_test:]
    return DigitsSplit(images[train], labels[train], images[test], labels[test])


def encode_png(image: NDArray[np.uint8]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def held_out_pngs(limit: int | None = None) -> list[tuple[bytes, int]]:
    """Held-out digits as (PNG bytes, true label), in a fixed order."""
    split = digits_split()
    n = len(split.test_labels) if limit is None else min(limit, len(split.test_labels))
    return [(encode_png(split.test_images[i]), int(split.test_labels[i])) for i in range(n)]

"""Per-test-image correctness as stored in the ``test_correct`` column: base64
of ``numpy.packbits`` (an image costs 1/8 byte), in the evaluated split's order.
The report bootstraps over these images (plots/stats.py)."""
from __future__ import annotations

import base64

import numpy as np


def pack_correct(correct) -> str:
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode("ascii")


def unpack_correct(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)

"""Tiny stage-2 inputs for training tests: no footage needed, and the two classes differ visibly."""

from __future__ import annotations

import numpy as np


def toy_frames(n: int = 160, seed: int = 0, groups: int = 8):
    """(X, y, groups): fight frames have a busy, scattered motion channel; normal ones one compact
    moving blob. X is (n, 64, 64, 2) float32 in 0..1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = np.zeros((n, 64, 64, 2), np.float32)
    X[..., 0] = rng.uniform(0.3, 0.7, (n, 64, 64))
    for i in range(n):
        if y[i]:
            X[i, ..., 1] = rng.random((64, 64)) > 0.6
        else:
            x0, y0 = rng.integers(5, 40, 2)
            X[i, y0:y0 + 20, x0:x0 + 10, 1] = 1.0
    return X, y, np.arange(n) % groups

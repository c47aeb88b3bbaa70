"""A fixed-size sliding window of per-frame feature rows, summarised as mean and standard deviation.

The same summary is used on a whole labelled clip at training time and on the last few seconds of
a live stream, so a model trained on clips scores live windows on the same footing.
"""

from __future__ import annotations

import numpy as np


def summary_names(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{n}_mean" for n in names) + tuple(f"{n}_std" for n in names)


def summarise(rows: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of each column of an (n, F) array (zeros for an empty one)."""
    if len(rows) == 0:
        return np.zeros(2 * rows.shape[1], np.float32)
    return np.concatenate([rows.mean(axis=0), rows.std(axis=0)]).astype(np.float32)


class FeatureWindow:
    """Ring buffer of the last `size` rows; preallocated so the per-frame path allocates nothing."""

    def __init__(self, size: int, n_features: int):
        if size < 1:
            raise ValueError("window size must be at least 1")
        self._buf = np.zeros((size, n_features), np.float32)
        self._next = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def size(self) -> int:
        return len(self._buf)

    def clear(self) -> None:
        self._next = self._count = 0

    def push(self, row: np.ndarray) -> None:
        self._buf[self._next] = row
        self._next = (self._next + 1) % len(self._buf)
        self._count = min(self._count + 1, len(self._buf))

    def rows(self) -> np.ndarray:
        """The filled rows (order does not matter to the summary)."""
        return self._buf[: self._count] if self._count < len(self._buf) else self._buf

    def column_mean(self, j: int) -> float:
        return float(self.rows()[:, j].mean()) if self._count else 0.0

    def summary(self) -> np.ndarray:
        return summarise(self.rows())

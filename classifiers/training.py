"""What the Keras models' training shares (the CNN, the Siamese tower, the weapon CNN): a validation
part that holds whole source groups, and early stopping that keeps the best weights seen."""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.model_selection import GroupShuffleSplit


def grouped_validation_split(y: np.ndarray, groups: np.ndarray, val_frac: float, seed: int
                             ) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices with whole groups on each side and both classes on both: the first
    of 20 shuffled group splits that has them. ValueError when none does."""
    split = GroupShuffleSplit(n_splits=20, test_size=val_frac, random_state=seed)
    for tr, va in split.split(y, y, groups):
        if len(set(y[tr].tolist())) == 2 and len(set(y[va].tolist())) == 2:
            return tr, va
    raise ValueError("no split of the source groups gives both classes on both sides")


class EarlyStopping:
    """Feed it each epoch's validation figure: it keeps the weights of the best one and says when
    `patience` epochs have passed without a better one."""

    def __init__(self, patience: int, higher_is_better: bool = True, min_delta: float = 1e-4):
        self.patience = patience
        self.sign = 1.0 if higher_is_better else -1.0
        self.min_delta = min_delta
        self.best = -np.inf
        self.best_weights = None
        self.history: list[float] = []
        self._wait = 0

    def update(self, value: float, weights: Callable[[], list]) -> bool:
        """True when training should stop."""
        self.history.append(round(float(value), 4))
        if self.sign * value > self.best + self.min_delta:
            self.best, self.best_weights, self._wait = self.sign * value, weights(), 0
            return False
        self._wait += 1
        return self._wait >= self.patience

    @property
    def best_value(self) -> float:
        return self.sign * self.best

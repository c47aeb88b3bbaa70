"""What the Keras models' training shares (the CNN, the Siamese tower, the weapon CNN): a validation
part that holds whole source groups, early stopping that keeps the best weights seen, and a worker
process's set-up for training several models side by side."""

from __future__ import annotations

import os
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


def one_training_thread() -> None:
    """Run first in a worker process that trains one model of several trained side by side (the folds
    of a cross-validation): TensorFlow and OpenCV on one thread each, set before TensorFlow starts.
    Why: a small network does not train twice as fast on two threads as on one, so one model per core
    finishes the set sooner than the same models one after the other on all of them, and two
    workers' thread pools would only fight over the cores."""
    os.environ["TF_NUM_INTRAOP_THREADS"] = "1"
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2
    import tensorflow as tf

    cv2.setNumThreads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


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

"""The exported deep CNN as a kiosk runs it: LiteRT (classifiers/lite_runner.py), never TensorFlow."""

from __future__ import annotations

import numpy as np

from classifiers.lite_runner import LiteRunner
from features.deep_input import CHANNELS, SIZE


class DeepLiteModel:
    """`predict_proba(x)` -> (classes,) probabilities for one (64, 64, 2) input; `threshold_` is the
    card's P(fight) under which stage 2 vetoes a fight flag."""

    def __init__(self, flatbuffers: dict[str, bytes], classes: list[str], threshold: float, variant: str,
                 precision: str = "float"):
        self.classes_ = tuple(classes)
        self.threshold_ = float(threshold)
        self.variant = variant
        self._run = LiteRunner(flatbuffers, (SIZE, SIZE, CHANNELS), len(self.classes_), precision)

    @property
    def precision(self) -> str:
        return self._run.precision

    @precision.setter
    def precision(self, value: str) -> None:
        self._run.precision = value

    def predict_proba(self, x: np.ndarray, precision: str | None = None) -> np.ndarray:
        return self._run(x, precision)

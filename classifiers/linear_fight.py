"""The saved fight model as a kiosk scores it: numpy alone, so `run` needs no scikit-learn (which,
with SciPy, costs about 100 MB of memory on the kiosk). scikit-learn is only for training
(classifiers/fight_classifier.py)."""

from __future__ import annotations

import numpy as np

from features.frame_features import WINDOW_FEATURES


class LinearFightModel:
    """The saved fight model, scored with numpy alone: sigmoid(((x - mean) / scale) . coef + intercept).

    Built from the model store's plain arrays; `threshold_` is the card's.
    """

    def __init__(self, arrays: dict[str, np.ndarray], threshold: float):
        n = len(WINDOW_FEATURES)
        cols = np.asarray(arrays["columns"], np.int64)
        k = len(cols)
        if cols.ndim != 1 or k == 0 or cols.min() < 0 or cols.max() >= n or any(
                np.asarray(arrays[a]).shape != (k,) for a in ("mean", "scale", "coef")) \
                or np.asarray(arrays["intercept"]).size != 1:
            raise ValueError("fight model arrays do not fit this version's features")
        scale = np.asarray(arrays["scale"], np.float64)
        if not np.all(np.isfinite(scale)) or np.any(scale == 0):
            raise ValueError("fight model has a zero or non-finite scale")
        self.columns = cols
        self.mean = np.asarray(arrays["mean"], np.float64)
        self.weights = np.asarray(arrays["coef"], np.float64) / scale   # folded: one dot product a call
        self.bias = float(np.asarray(arrays["intercept"]).ravel()[0]) - float(self.mean @ self.weights)
        self.threshold_ = float(threshold)

    def decision_scores(self, X) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, np.float64))
        z = X[:, self.columns] @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-z))


def clip_peaks(model, windows: list[np.ndarray]) -> np.ndarray:
    """Per clip, the highest score over the windows the live detector scored (0 where it scored none)."""
    return np.array([float(model.decision_scores(w).max()) if len(w) else 0.0 for w in windows])

"""The saved face classifier as a kiosk scores it: numpy alone (`run` imports no scikit-learn).

A logistic regression on the standardised face descriptor (features/face_region.py): exactly what
scikit-learn's `make_pipeline(StandardScaler(), LogisticRegression())` computes
(classifiers/face_classifier.py trains it; a test checks the two agree).
"""

from __future__ import annotations

import numpy as np

from features.face_region import DESCRIPTOR_SIZE

CLASSES = ("uncovered", "covered")
COVERED = 1


class FaceModel:
    """`predict_proba(X)` -> (n, 2) in CLASSES order; `threshold_` is the card's: the covered
    probability at which a face counts as covered."""

    classes_ = CLASSES

    def __init__(self, arrays: dict[str, np.ndarray], threshold: float):
        d = DESCRIPTOR_SIZE
        mean, scale = np.asarray(arrays["mean"], np.float64), np.asarray(arrays["scale"], np.float64)
        coef = np.asarray(arrays["coef"], np.float64).ravel()
        intercept = np.asarray(arrays["intercept"], np.float64).ravel()
        if mean.shape != (d,) or scale.shape != (d,) or coef.shape != (d,) or intercept.shape != (1,):
            raise ValueError("face model's arrays do not fit this version's face descriptor")
        if not all(np.all(np.isfinite(a)) for a in (mean, scale, coef, intercept)) or np.any(scale == 0):
            raise ValueError("face model's arrays hold non-finite values or zero scales")
        # Folded once: w . (x - mean) / scale + b == (w / scale) . x + (b - w . mean / scale)
        self.w = (coef / scale).astype(np.float32)
        self.b = float(intercept[0] - np.dot(coef / scale, mean))
        self.threshold_ = float(threshold)

    def covered_proba(self, X) -> np.ndarray:
        z = np.atleast_2d(np.asarray(X, np.float32)) @ self.w + self.b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def predict_proba(self, X) -> np.ndarray:
        p = self.covered_proba(X)
        return np.stack([1.0 - p, p], axis=1)

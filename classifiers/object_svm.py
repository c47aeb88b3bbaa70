"""The saved left-object classifier as a kiosk scores it: numpy alone (`run` imports no scikit-learn).

The model is a one-vs-rest RBF support vector machine per class (person, bag_or_parcel, other) on the
standardised blob descriptors, each class's decision value mapped to a probability by its sigmoid
(Platt scaling), the three normalised to sum to one: exactly what scikit-learn's
`CalibratedClassifierCV(OneVsRestClassifier(SVC(kernel="rbf")), method="sigmoid", ensemble=False)`
computes (classifiers/object_classifier.py trains it; a test checks the two agree).
"""

from __future__ import annotations

import numpy as np

from features.blob_descriptors import DESCRIPTOR_NAMES
from features.blob_descriptors import OBJECT_CLASSES as CLASSES

BAG = CLASSES.index("bag_or_parcel")


class ObjectSvmModel:
    """`predict_proba(X)` -> (n, 3) probabilities in CLASSES order; `threshold_` is the card's: the
    bag_or_parcel probability at which a static blob counts as a bag or parcel."""

    classes_ = CLASSES

    def __init__(self, arrays: dict[str, np.ndarray], threshold: float):
        d = len(DESCRIPTOR_NAMES)
        self.mean = np.asarray(arrays["mean"], np.float64)
        scale = np.asarray(arrays["scale"], np.float64)
        if self.mean.shape != (d,) or scale.shape != (d,) or not np.all(np.isfinite(scale)) or np.any(scale == 0):
            raise ValueError("object model's scaler does not fit this version's descriptors")
        self.scale = scale
        self.gamma = float(np.asarray(arrays["gamma"]).ravel()[0])
        self.intercept = np.asarray(arrays["intercept"], np.float64).ravel()
        self.cal_a = np.asarray(arrays["cal_a"], np.float64).ravel()
        self.cal_b = np.asarray(arrays["cal_b"], np.float64).ravel()
        k = len(CLASSES)
        if not (self.gamma > 0) or any(v.shape != (k,) for v in (self.intercept, self.cal_a, self.cal_b)):
            raise ValueError("object model arrays are incomplete")
        self.sv = [np.asarray(arrays[f"sv_{i}"], np.float64) for i in range(k)]
        self.coef = [np.asarray(arrays[f"coef_{i}"], np.float64).ravel() for i in range(k)]
        for sv, coef in zip(self.sv, self.coef):
            if sv.ndim != 2 or sv.shape[1] != d or coef.shape != (sv.shape[0],):
                raise ValueError("object model's support vectors do not fit its coefficients")
        self._sv_sq = [np.einsum("ij,ij->i", sv, sv) for sv in self.sv]
        self.threshold_ = float(threshold)

    def decision_function(self, X) -> np.ndarray:
        Z = (np.atleast_2d(np.asarray(X, np.float64)) - self.mean) / self.scale
        z_sq = np.einsum("ij,ij->i", Z, Z)[:, None]
        out = np.empty((len(Z), len(CLASSES)))
        for i, (sv, sv_sq, coef) in enumerate(zip(self.sv, self._sv_sq, self.coef)):
            dist = np.maximum(z_sq + sv_sq[None, :] - 2.0 * Z @ sv.T, 0.0)
            out[:, i] = np.exp(-self.gamma * dist) @ coef + self.intercept[i]
        return out

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(self.cal_a * self.decision_function(X) + self.cal_b))
        total = p.sum(axis=1, keepdims=True)
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / len(CLASSES))

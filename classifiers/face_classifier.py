"""Covered or uncovered, from a face descriptor (features/face_region.py). Training only: the kiosk
scores the exported arrays with classifiers/face_model.py.

scikit-learn style: `fit(X, y, groups)`, `predict_proba`, `predict`, `score`, learned state ending in
`_`. A logistic regression on standardised HOG: on face_mask it matched an RBF SVM (validation 0.99
against 0.96) and it is one dot product on the kiosk. The threshold on P(covered) maximises balanced
accuracy on out-of-fold probabilities, folds grouped so that a face and the coverings drawn onto it
stay on one side.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from classifiers.face_model import COVERED
from classifiers.thresholds import best_threshold


class FaceClassifier(BaseEstimator, ClassifierMixin):
    """`y`: 1 covered, 0 uncovered; `groups`: the source image of each row."""

    def __init__(self, C: float = 0.005, folds: int = 5, seed: int = 0):
        self.C = C
        self.folds = folds
        self.seed = seed

    def _estimator(self):
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=5000))

    def fit(self, X, y, groups):
        X = np.asarray(X, np.float64)
        y = np.asarray(y, np.int64)
        groups = np.asarray(groups)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("the face classifier needs covered and uncovered examples")
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise ValueError("the face classifier needs at least two images")
        cv = StratifiedGroupKFold(n_splits=min(self.folds, n_groups), shuffle=True, random_state=self.seed)
        oof = np.zeros(len(y))
        for train, test in cv.split(X, y, groups):
            oof[test] = self._estimator().fit(X[train], y[train]).predict_proba(X[test])[:, COVERED]
        self.oof_proba_ = oof
        self.threshold_ = best_threshold(y == 1, oof, "balanced_accuracy")
        self.model_ = self._estimator().fit(X, y)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        return self.model_.predict_proba(np.asarray(X, np.float64))

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, COVERED] >= self.threshold_).astype(int)

    def score(self, X, y, sample_weight=None) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def to_arrays(self) -> dict[str, np.ndarray]:
        scaler, logreg = self.model_[0], self.model_[1]
        return {"mean": np.asarray(scaler.mean_, np.float64), "scale": np.asarray(scaler.scale_, np.float64),
                "coef": np.asarray(logreg.coef_[0], np.float64),
                "intercept": np.asarray(logreg.intercept_, np.float64)}

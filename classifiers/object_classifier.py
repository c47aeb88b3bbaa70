"""Person, bag_or_parcel or other, from a static blob's descriptors (features/blob_descriptors.py).

scikit-learn style: `fit(X, y, groups)`, `predict_proba(X)`, `predict(X)`, `score(X, y)`, learned
state ending in `_`. The estimator is a one-vs-rest RBF SVM on standardised descriptors with sigmoid
calibration (Platt) fitted on folds grouped by source, so a class's probability is not calibrated on
the scenes its SVM was fitted on. The threshold on the bag_or_parcel probability is chosen on
out-of-fold probabilities (nested: each outer fold refits the whole calibrated model) and saved with
the model. Training only: the kiosk scores the exported arrays with classifiers/object_svm.py.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from classifiers.object_svm import BAG, CLASSES
from classifiers.thresholds import best_threshold
from features.blob_descriptors import DESCRIPTOR_NAMES


def grouped_splits(y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list:
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError("the object classifier needs examples from at least two sources")
    cv = StratifiedGroupKFold(n_splits=min(folds, n_groups), shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(y)), y, groups))


class ObjectClassifier(BaseEstimator, ClassifierMixin):
    """`y` holds class indices into CLASSES; `groups` the source of each row (its clip's source video)."""

    def __init__(self, C: float = 10.0, folds: int = 5, seed: int = 0):
        self.C = C
        self.folds = folds
        self.seed = seed

    def _estimator(self, splits) -> CalibratedClassifierCV:
        # gamma fixed (not "scale") so the exported model needs no state scikit-learn keeps privately:
        # 1 / n_features is what "scale" gives on standardised inputs.
        svm = OneVsRestClassifier(SVC(kernel="rbf", C=self.C, gamma=1.0 / len(DESCRIPTOR_NAMES)))
        return CalibratedClassifierCV(make_pipeline(StandardScaler(), svm), method="sigmoid", cv=splits,
                                      ensemble=False)

    def fit(self, X, y, groups):
        X = np.asarray(X, np.float64)
        y = np.asarray(y, np.int64)
        groups = np.asarray(groups)
        if set(np.unique(y)) != set(range(len(CLASSES))):
            raise ValueError(f"the object classifier needs examples of every class {CLASSES}")
        splits = grouped_splits(y, groups, self.folds, self.seed)
        # Out-of-fold probabilities: each outer fold refits the calibrated model on the other folds
        # (its calibration grouped too), so the threshold never sees a prediction of a row it fitted.
        oof = np.zeros((len(y), len(CLASSES)))
        for train, test in splits:
            inner = grouped_splits(y[train], groups[train], self.folds, self.seed)
            oof[test] = self._estimator(inner).fit(X[train], y[train]).predict_proba(X[test])
        self.oof_proba_ = oof
        # The bag_or_parcel probability that maximises F1 of "bag or parcel" against the rest.
        self.threshold_ = best_threshold(y == BAG, oof[:, BAG], "f1")
        self.model_ = self._estimator(splits).fit(X, y)
        self.classes_ = np.arange(len(CLASSES))
        return self

    def predict_proba(self, X) -> np.ndarray:
        return self.model_.predict_proba(np.asarray(X, np.float64))

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)

    def cv_report(self, y) -> dict:
        """Per class, out-of-fold precision and recall (folds grouped by source), and bag_or_parcel
        against the rest at the saved threshold: the figures the README and the card quote."""
        y = np.asarray(y)
        pred = np.argmax(self.oof_proba_, axis=1)
        p, r, f, n = precision_recall_fscore_support(y, pred, labels=range(len(CLASSES)), zero_division=0)
        report = {c: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                      "f1": round(float(f[i]), 4), "n": int(n[i])} for i, c in enumerate(CLASSES)}
        is_bag, said = y == BAG, self.oof_proba_[:, BAG] >= self.threshold_
        tp = int(np.sum(is_bag & said))
        report["bag_at_threshold"] = {"precision": round(tp / max(1, int(said.sum())), 4),
                                      "recall": round(tp / max(1, int(is_bag.sum())), 4)}
        return report

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted model as plain arrays (classifiers/object_svm.py reads them back)."""
        calibrated = self.model_.calibrated_classifiers_[0]
        scaler, ovr = calibrated.estimator[0], calibrated.estimator[1]
        arrays = {"mean": scaler.mean_, "scale": scaler.scale_,
                  "gamma": np.array([ovr.estimators_[0].gamma], np.float64),
                  "intercept": np.array([float(e.intercept_[0]) for e in ovr.estimators_]),
                  "cal_a": np.array([float(c.a_) for c in calibrated.calibrators]),
                  "cal_b": np.array([float(c.b_) for c in calibrated.calibrators])}
        for i, svc in enumerate(ovr.estimators_):
            arrays[f"sv_{i}"] = svc.support_vectors_
            arrays[f"coef_{i}"] = svc.dual_coef_[0]
        return {k: np.asarray(v, np.float64) for k, v in arrays.items()}

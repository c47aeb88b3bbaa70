"""Fight or not, from the sliding-window summary of motion and flow statistics.

scikit-learn style: `fit(X, y)`, `predict_proba(X)`, `predict(X)`, `score(X, y)`; the decision
threshold is fitted on out-of-fold predictions of the training data (so it is not tuned on
predictions the model made of its own training rows) and saved with the model.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.flow import FLOW_FEATURES
from detectors.motion_stats import MOTION_FEATURES
from features.window import summary_names

FRAME_FEATURES = MOTION_FEATURES + FLOW_FEATURES
WINDOW_FEATURES = summary_names(FRAME_FEATURES)
# The classifier reads only the flow summaries: in grouped cross-validation on fight_surv the blob
# statistics (sizes, counts, speeds) describe the scene and camera more than the fighting, and adding
# them lowered the AUC on unseen source videos.
FIGHT_INPUTS = summary_names(FLOW_FEATURES)


def _default_estimator():
    # A linear model on standardised summaries: with ~200 clips from ~30 scenes, anything more
    # flexible learns the scenes instead of the fighting.
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))


def youden_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold maximising TPR - FPR (Youden's J) on the given labelled scores."""
    fpr, tpr, thr = roc_curve(y, scores)
    best = int(np.argmax(tpr - fpr))
    t = float(thr[best])
    return min(max(t, 0.0), 1.0)


class FightClassifier(BaseEstimator, ClassifierMixin):
    """X rows are full window summaries (WINDOW_FEATURES); `inputs` names the columns the model uses."""

    def __init__(self, estimator=None, threshold: float | None = None, inputs: tuple[str, ...] = FIGHT_INPUTS):
        self.estimator = estimator
        self.threshold = threshold
        self.inputs = inputs

    def _select(self, X) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, np.float64))
        return X[:, self.columns_]

    def _out_of_fold(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        oof = np.zeros(len(y))
        n_splits = 5
        splits = None
        if groups is not None and len(set(groups)) >= n_splits:
            splits = list(GroupKFold(n_splits).split(X, y, groups))
            if any(len(np.unique(y[tr])) < 2 for tr, _ in splits):
                splits = None  # one class's clips all in a few groups: grouping would leave a fold one-sided
        if splits is None:
            splits = StratifiedKFold(min(n_splits, int(np.bincount(y).min())), shuffle=True, random_state=0).split(X, y)
        for tr, te in splits:
            m = clone(self.estimator_).fit(X[tr], y[tr])
            oof[te] = m.predict_proba(X[te])[:, 1]
        return oof

    def fit(self, X, y, groups=None):
        self.columns_ = np.array([WINDOW_FEATURES.index(n) for n in self.inputs])
        X = self._select(X)
        y = np.asarray(y, int)
        if len(np.unique(y)) != 2 or np.bincount(y, minlength=2).min() < 2:
            # Fewer than two of a class leaves nothing to fit the threshold on out of fold.
            raise ValueError("training needs at least 2 fight and 2 normal examples")
        self.estimator_ = clone(self.estimator) if self.estimator is not None else _default_estimator()
        self.classes_ = np.array([0, 1])
        if self.threshold is None:
            self.threshold_ = youden_threshold(y, self._out_of_fold(X, y, groups))
        else:
            self.threshold_ = float(self.threshold)
        self.estimator_.fit(X, y)
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(self._select(X))

    def decision_scores(self, X) -> np.ndarray:
        return self.predict_proba(X)[:, 1]

    def predict(self, X):
        return (self.decision_scores(X) >= self.threshold_).astype(int)


class BuiltinFightRule:
    """Used when no trained fight model exists: widespread motion that does not move together.

    disorder = (share of 16-px cells in motion) x (1 - flow coherence within those cells): people
    walking move their cells as one, flailing limbs do not. Counted only while blobs actually travel
    (a covered or noisy lens makes incoherent flow noise too, but moves no blob). Mapped to 0..1 by
    1 - exp(-disorder / scale), with `scale` putting 0.5 at disorder 0.02, set by hand in the upper
    tail of this measure over the normal clips of fight_surv: conservative on purpose.
    `python run.py train --task fight` replaces it with a fitted model.
    """

    threshold_ = 0.5
    _at_half = 0.02
    _min_speed = 0.05  # frame widths per second

    def __init__(self):
        self._act = WINDOW_FEATURES.index("act_c16_mean")
        self._coh = WINDOW_FEATURES.index("coh_c16_mean")
        self._speed = WINDOW_FEATURES.index("blob_speed_mean")

    def decision_scores(self, X) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, np.float64))
        disorder = X[:, self._act] * (1.0 - X[:, self._coh]) * (X[:, self._speed] >= self._min_speed)
        return 1.0 - np.exp(-np.maximum(disorder, 0.0) * np.log(2.0) / self._at_half)

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

from classifiers.linear_fight import LinearFightModel, clip_peaks  # noqa: F401  (re-exported)
from features.flow import FLOW_FEATURES
from features.frame_features import WINDOW_FEATURES
from features.window import summary_names

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
    """X rows are full window summaries (WINDOW_FEATURES); `inputs` names the columns the model uses.

    `threshold` None fits one on out-of-fold predictions of the rows (Youden's J); the live trainer
    (`fit_live`) passes the one it fitted on out-of-fold clip peaks instead.
    """

    def __init__(self, estimator=None, threshold: float | None = None, inputs: tuple[str, ...] = FIGHT_INPUTS):
        self.estimator = estimator
        self.threshold = threshold
        self.inputs = inputs

    def _select(self, X) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, np.float64))
        return X[:, self.columns_]

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
            oof = np.zeros(len(y))
            for tr, te in _splits(y, groups):
                oof[te] = clone(self.estimator_).fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
            self.threshold_ = youden_threshold(y, oof)
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

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted model as plain arrays (standardise, then logistic): what the model store saves."""
        scaler, logistic = self.estimator_[0], self.estimator_[-1]
        if not isinstance(scaler, StandardScaler) or not isinstance(logistic, LogisticRegression):
            raise TypeError("only the default StandardScaler + LogisticRegression model can be saved as arrays")
        return {"columns": self.columns_.astype(np.int64), "mean": scaler.mean_, "scale": scaler.scale_,
                "coef": logistic.coef_[0], "intercept": np.asarray(logistic.intercept_[:1])}


def _splits(y: np.ndarray, groups, n_splits: int = 5):
    """Grouped folds when there are enough groups and no fold's training part is one-sided, else stratified."""
    if groups is not None and len(set(np.asarray(groups).tolist())) >= n_splits:
        splits = list(GroupKFold(n_splits).split(y, y, groups))
        if all(len(np.unique(y[tr])) == 2 for tr, _ in splits):
            return splits
    return list(StratifiedKFold(min(n_splits, int(np.bincount(y).min())), shuffle=True,
                                random_state=0).split(y, y))


def fit_live(windows: list[np.ndarray], y: np.ndarray, groups: np.ndarray | None = None) -> FightClassifier:
    """Fit on the windows the live detector scores, each labelled with its clip's label, and choose
    the threshold on out-of-fold clip peaks (a clip raises an event when its peak reaches it), with
    folds grouped by source video so a scene is never scored by a model that saw it."""
    y = np.asarray(y, int)
    if len(np.unique(y)) != 2 or np.bincount(y, minlength=2).min() < 2:
        raise ValueError("training needs at least 2 fight and 2 normal clips")
    scored = [i for i, w in enumerate(windows) if len(w)]
    if len(np.unique(y[scored])) < 2 or np.bincount(y[scored], minlength=2).min() < 2:
        raise ValueError("the live detector scored too few windows: at least 2 fight and 2 normal clips "
                         "must show motion")

    def stack(idx):
        X = np.concatenate([windows[i] for i in idx if len(windows[i])])
        return X, np.concatenate([[y[i]] * len(windows[i]) for i in idx])

    oof = np.zeros(len(y))
    for tr, te in _splits(y, groups):
        Xtr, ytr = stack(tr)
        if len(np.unique(ytr)) < 2:
            continue  # this fold's training clips scored windows of one class only: its clips keep 0
        m = FightClassifier(threshold=0.5).fit(Xtr, ytr)
        oof[te] = clip_peaks(m, [windows[i] for i in te])
    # Above 0: a clip whose windows were all too still scores 0 and must not raise an event.
    threshold = max(youden_threshold(y, oof), 1e-6)
    X, yw = stack(range(len(y)))
    return FightClassifier(threshold=threshold).fit(X, yw)

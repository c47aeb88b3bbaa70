"""`train --task fight` and `evaluate --task fight`: clips -> window summaries -> classifier."""

from __future__ import annotations

import datetime as dt
import os
import sys

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from classifiers.fight_classifier import WINDOW_FEATURES, FightClassifier
from classifiers.metrics import write_evaluation
from classifiers.fight_store import NAME, adopt_feature_config, feature_config, load
from classifiers.model_io import save_model
from datasets.labelled import read_labels
from features.clips import clip_vectors
from pipeline.config import Config
from pipeline.errors import UserError


def _dataset(folder: str):
    items = read_labels(folder, NAME)
    y = np.array([it.y for it in items])
    if len(set(y.tolist())) < 2:
        raise UserError(f"{folder}: task fight needs both 'fight' and 'normal' clips")
    return items, y


def train(dataset: str, model_dir: str, cfg: Config) -> dict:
    items, y = _dataset(dataset)
    if np.bincount(y, minlength=2).min() < 2:  # before minutes of feature extraction, not after
        raise UserError(f"{dataset}: training needs at least 2 'fight' and 2 'normal' clips")
    X = clip_vectors([it.path for it in items], cfg, desc="fight: features")
    groups = np.array([it.group for it in items])
    try:
        clf = FightClassifier().fit(X, y, groups=groups)
    except ValueError as exc:
        raise UserError(f"{dataset}: {exc}") from None
    meta = {
        "task": NAME, "kind": "FightClassifier", "features": list(WINDOW_FEATURES),
        "threshold": clf.threshold_, "threshold_rule": "Youden J on out-of-fold training predictions",
        "n": int(len(y)), "n_positive": int(y.sum()), "dataset": os.path.abspath(dataset),
        "feature_config": feature_config(cfg), "sklearn": sklearn.__version__,
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "train_auc": float(roc_auc_score(y, clf.decision_scores(X))),
    }
    return save_model(clf, model_dir, NAME, meta)


def evaluate(dataset: str, model_dir: str, out: str, cfg: Config) -> dict:
    clf, meta = load(model_dir)
    items, y = _dataset(dataset)
    cfg = adopt_feature_config(cfg, meta, model_dir, lambda line: print(line, file=sys.stderr))
    X = clip_vectors([it.path for it in items], cfg, desc="fight: features")
    scores = clf.decision_scores(X)
    return write_evaluation(out, NAME, [(it.rel, it.label) for it in items], y, scores, clf.threshold_,
                            "fight", "normal", extra={"model_sha256": meta["sha256"]})


def cross_validate(dataset: str, out: str, cfg: Config, folds: int = 5, seed: int = 0) -> dict:
    """Grouped k-fold: every fold's model and threshold come from the other folds only."""
    items, y = _dataset(dataset)
    groups = np.array([it.group for it in items])
    if len(set(groups.tolist())) < folds:
        raise UserError(f"{dataset}: {len(set(groups.tolist()))} groups are too few for {folds}-fold grouped CV")
    per_class = [len(set(groups[y == c].tolist())) for c in (1, 0)]
    if min(per_class) < folds:
        # Fewer source videos of a class than folds would leave some fold's training part one-sided.
        raise UserError(f"{dataset}: {folds}-fold grouped CV needs fight and normal clips from at least {folds} "
                        f"source videos each (has {per_class[0]} and {per_class[1]})")
    X = clip_vectors([it.path for it in items], cfg, desc="fight: features")
    scores = np.zeros(len(y))
    decided = np.zeros(len(y), bool)
    thresholds = []
    for tr, te in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(X, y, groups):
        try:
            clf = FightClassifier().fit(X[tr], y[tr], groups=groups[tr])
        except ValueError as exc:
            raise UserError(f"{dataset}: a fold's training part cannot be fitted ({exc}); try fewer folds") from None
        scores[te] = clf.decision_scores(X[te])
        decided[te] = scores[te] >= clf.threshold_
        thresholds.append(float(clf.threshold_))
    # Each fold has its own threshold: the confusion matrix counts each clip by its own fold's
    # decision, and "threshold" reports the mean of the fold thresholds.
    return write_evaluation(out, NAME, [(it.rel, it.label) for it in items], y, scores, float(np.mean(thresholds)),
                            "fight", "normal", pred=decided,
                            extra={"cv_folds": folds, "cv_grouped_by": "source_video", "cv_seed": seed,
                                   "fold_thresholds": thresholds})

"""Where the fight model is kept: its name, the feature settings saved with it, saving and loading it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from classifiers.linear_fight import LinearFightModel
from classifiers.model_store import load_model, save_arrays
from classifiers.registry import ModelSpec, register_model
from features.frame_features import WINDOW_FEATURES

if TYPE_CHECKING:  # training only: the kiosk loads arrays and never imports scikit-learn
    from classifiers.fight_classifier import FightClassifier

NAME = "fight"
# The parts of the configuration that change what a feature means, saved with the model. The
# source's settings (processing width, reconnect, offline timer) never reach the features: the
# cheap stage reads the decoded frame itself. Models saved before this kept "source" as well; it
# is ignored.
FEATURE_KEYS = ("motion",)


def feature_config(cfg: Any) -> dict:
    return {k: getattr(cfg, k).model_dump() for k in FEATURE_KEYS}


def retrain_hint(model_dir: str) -> str:
    return f"python run.py train --task fight --dataset FOLDER --model-dir {model_dir}"


def save(clf: "FightClassifier", model_dir: str, cfg: Any, training: dict) -> dict:
    """The fitted classifier as plain arrays with its card; returns the card (as `load` gives it)."""
    card = save_arrays(model_dir, NAME, clf.to_arrays(), task=NAME, classes=["normal", "fight"],
                       threshold=float(clf.threshold_), features=list(WINDOW_FEATURES),
                       feature_config=feature_config(cfg), training=training,
                       threshold_rule="Youden J on out-of-fold clip peaks of the live detector's windows, "
                                      "folds grouped by source video")
    return dict(card.model_dump(), sha256=card.sha256)


def load(model_dir: str) -> tuple[LinearFightModel, dict]:
    """The fight model and its card (checksums verified first; no pickle involved)."""
    return load_model(model_dir, NAME, retrain_hint(model_dir), list(WINDOW_FEATURES), LinearFightModel)


register_model(ModelSpec(NAME, load, feature_keys=FEATURE_KEYS))

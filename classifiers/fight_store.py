"""Where the fight model is kept: its name, the feature settings saved with it, and loading it."""

from __future__ import annotations

from classifiers.fight_classifier import WINDOW_FEATURES, FightClassifier
from classifiers.model_io import load_model
from pipeline.config import Config
from pipeline.errors import UserError

NAME = "fight"
# The parts of the configuration that change what a feature means; saved with the model and used
# again whenever the model scores, so a site's tuning cannot silently shift the model's inputs.
FEATURE_KEYS = ("source", "motion")


def feature_config(cfg: Config) -> dict:
    return {k: getattr(cfg, k).model_dump() for k in FEATURE_KEYS}


def apply_feature_config(cfg: Config, meta: dict) -> Config:
    saved = meta.get("feature_config")
    if not saved:
        return cfg
    data = cfg.model_dump()
    data.update(saved)
    return Config.model_validate(data)


def load(model_dir: str) -> tuple[FightClassifier, dict]:
    model, meta = load_model(model_dir, NAME)
    if meta.get("features") != list(WINDOW_FEATURES):
        # A model from another version reads columns by position: it would score the wrong features.
        raise UserError(f"fight model in {model_dir} was trained on other features than this version computes; "
                        f"retrain it: python run.py train --task fight --dataset FOLDER --model-dir {model_dir}")
    return model, meta

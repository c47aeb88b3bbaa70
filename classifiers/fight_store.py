"""Where the fight model is kept: its name, the feature settings saved with it, and loading it."""

from __future__ import annotations

from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from classifiers.fight_classifier import WINDOW_FEATURES, FightClassifier, LinearFightModel
from classifiers.model_store import load_arrays, save_arrays
from pipeline.config import Config
from pipeline.errors import UserError

NAME = "fight"
# The parts of the configuration that change what a feature means, saved with the model. The
# source's settings (processing width, reconnect, offline timer) never reach the features: the
# cheap stage reads the decoded frame itself. Models saved before this kept "source" as well; it
# is ignored.
FEATURE_KEYS = ("motion",)


def feature_config(cfg: Config) -> dict:
    return {k: getattr(cfg, k).model_dump() for k in FEATURE_KEYS}


def explicit_keys(section: BaseModel, prefix: str = "") -> set[str]:
    """Dotted names of the settings a configuration set itself (YAML or --set), not left at default."""
    keys: set[str] = set()
    for name in section.model_fields_set:
        value = getattr(section, name)
        dotted = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            keys |= explicit_keys(value, dotted + ".")
        else:
            keys.add(dotted)
    return keys


def _leaves(tree: dict, prefix: str):
    for name, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def apply_feature_config(cfg: Config, meta: dict) -> tuple[Config, dict[str, tuple[Any, Any]]]:
    """`cfg` with the feature settings the model was trained with, and the conflicts left standing.

    A setting the configuration leaves at its default takes the model's value, so the model scores
    the features it was fitted on. A setting the site chose itself stays the site's (an operator
    tuning the motion threshold must get it), and comes back in the conflicts as
    {dotted key: (the model's value, the configuration's)} for the caller to report: the model's
    saved threshold was fitted to features computed the other way.
    """
    saved = meta.get("feature_config") or {}
    data = cfg.model_dump()
    chosen = explicit_keys(cfg)
    conflicts: dict[str, tuple[Any, Any]] = {}
    for section in FEATURE_KEYS:
        for key, trained in _leaves(saved.get(section) or {}, section + "."):
            *path, leaf = key.split(".")
            node = data
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict) or leaf not in node or node[leaf] == trained:
                continue  # a setting this version no longer has, or no difference
            if key in chosen:
                conflicts[key] = (trained, node[leaf])
            else:
                node[leaf] = trained
    try:
        return Config.model_validate(data), conflicts
    except ValidationError as err:
        raise UserError(f"fight model's saved feature settings are not valid here ({err.errors()[0]['msg']}); "
                        f"retrain it") from None


def adopt_feature_config(cfg: Config, meta: dict, model_dir: str, warn: Callable[[str], None]) -> Config:
    """apply_feature_config, with the site's conflicting choices reported to `warn` in one line."""
    cfg, conflicts = apply_feature_config(cfg, meta)
    if conflicts:
        warn(describe_conflicts(model_dir, conflicts))
    return cfg


def describe_models(metas: dict[str, dict], model_dir: str | None = None) -> str:
    """The "models: ..." line that run and demo print: which trained models are in use, or none."""
    if not metas:
        where = f" in {model_dir}" if model_dir else ""
        return f"models: none trained{where}, built-in defaults"
    names = ", ".join(f"{k} (sha256 {m['sha256'][:12]})" for k, m in metas.items())
    return f"models: {names}" + (f" from {model_dir}" if model_dir else "")


def describe_conflicts(model_dir: str, conflicts: dict[str, tuple[Any, Any]]) -> str:
    """One line for stderr: which of the site's settings differ from the model's training."""
    pairs = ", ".join(f"{k}={mine!r} (trained with {trained!r})" for k, (trained, mine) in sorted(conflicts.items()))
    return (f"warning: the fight model in {model_dir} was trained with other feature settings than this "
            f"configuration sets: {pairs}; the configuration's are used, so the model's threshold may not fit; "
            f"retrain with the same settings to match")


def retrain_hint(model_dir: str) -> str:
    return f"python run.py train --task fight --dataset FOLDER --model-dir {model_dir}"


def save(clf: FightClassifier, model_dir: str, cfg: Config, training: dict) -> dict:
    """The fitted classifier as plain arrays with its card; returns the card (as `load` gives it)."""
    card = save_arrays(model_dir, NAME, clf.to_arrays(), task=NAME, classes=["normal", "fight"],
                       threshold=float(clf.threshold_), features=list(WINDOW_FEATURES),
                       feature_config=feature_config(cfg), training=training,
                       threshold_rule="Youden J on out-of-fold clip peaks of the live detector's windows, "
                                      "folds grouped by source video")
    return dict(card.model_dump(), sha256=card.sha256)


def load(model_dir: str) -> tuple[LinearFightModel, dict]:
    """The fight model and its card (checksums verified first; no pickle involved)."""
    arrays, card = load_arrays(model_dir, NAME, retrain_hint(model_dir))
    if card.features != list(WINDOW_FEATURES):
        # A model from another version reads columns by position: it would score the wrong features.
        raise UserError(f"fight model in {model_dir} was trained on other features than this version computes; "
                        f"retrain it: {retrain_hint(model_dir)}")
    try:
        model = LinearFightModel(arrays, card.threshold)
    except (KeyError, ValueError) as exc:
        raise UserError(f"fight model in {model_dir} is not usable ({exc}); retrain it: {retrain_hint(model_dir)}"
                        ) from None
    return model, dict(card.model_dump(), sha256=card.sha256)

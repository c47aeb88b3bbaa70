"""What every task's train and evaluate share: the saved model loaded as `run` loads it, and the
record of which clips trained it."""

from __future__ import annotations

import sys
from typing import Any

from classifiers.model_store import sha256_file
from classifiers.registry import model_specs
from pipeline.models import load_models


def load_for_evaluation(model_dir: str, cfg, name: str) -> tuple[Any, dict[str, Any], dict]:
    """(cfg, models, card of `name`) exactly as `run` would load the folder: the signature checked
    when the config names a key, every model's card and checksums verified, feature settings adopted.
    A folder without model `name` is the store's one-line error for it."""
    cfg, models, metas = load_models(model_dir, cfg)
    if name not in models:
        next(s for s in model_specs() if s.name == name).load(model_dir)  # raises: not found, and why
    return cfg, models, metas[name]


def clip_digests(paths_by_rel: dict[str, str]) -> dict[str, str]:
    """sha256 of each training clip -> its path as labelled: how `evaluate` recognises training
    footage anywhere, under any name."""
    return {sha256_file(path): rel for rel, path in paths_by_rel.items()}


def warn_trained_on(paths: list[str], meta: dict, dataset: str, model_dir: str, name: str) -> None:
    """One `warning:` line when some of the footage evaluated was used to train the model."""
    seen = set((meta.get("training") or {}).get("clips") or {})
    if not seen:
        return
    overlap = sum(sha256_file(p) in seen for p in paths)
    if overlap:
        print(f"warning: {overlap} of {len(paths)} clips in {dataset} were used to train the {name} model in "
              f"{model_dir}: these figures describe footage it has seen, not new scenes", file=sys.stderr)

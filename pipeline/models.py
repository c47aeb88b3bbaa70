"""The trained models a run uses: every registered model kind found in the model folder, loaded with
its card checked, and the configuration's feature settings reconciled with the ones it was trained on.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

import classifiers  # noqa: F401  (registers the model kinds)
from classifiers.model_store import has_model, verify_folder_signature
from classifiers.registry import model_specs
from core.errors import UserError


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_models(model_dir: str | None, cfg, warn: Callable[[str], None] = _stderr
                ) -> tuple[Any, dict[str, Any], dict[str, dict]]:
    """Models present in `model_dir` (checksums verified, and the folder's signature when the
    config names a key). The config adopts their feature settings where it leaves them at default;
    where the site set one itself, `warn` gets one line saying so.

    A folder that does not exist means no model (a fresh install has none); one that exists but holds
    half a model, an old pickled one, or is no folder at all, is a mistake the site must hear about,
    not a silent fallback."""
    models: dict[str, Any] = {}
    metas: dict[str, dict] = {}
    key_file = cfg.models.signing_key
    if not model_dir or not os.path.exists(model_dir):
        if key_file:
            raise UserError(f"models.signing_key is set but the model folder {model_dir} does not exist")
        return cfg, models, metas
    if not os.path.isdir(model_dir):
        raise UserError(f"--model-dir {model_dir} is not a folder")
    if key_file:
        verify_folder_signature(model_dir, key_file)  # before any card or file is opened
    for spec in model_specs():
        if not has_model(model_dir, spec.name):
            continue
        # Half a model or an old pickled one is refused inside load, with a line that says to
        # retrain: falling back to a built-in rule would hide it.
        models[spec.name], metas[spec.name] = spec.load(model_dir)
    return reconcile(cfg, metas, model_dir, warn), models, metas


def reconcile(cfg, metas: dict[str, dict], model_dir: str | None, warn: Callable[[str], None] = _stderr):
    """`cfg` with the feature settings each loaded model (`metas`, by name) was trained with, where the
    configuration leaves them at default (at start, and again when `run` re-reads its config)."""
    for spec in model_specs():
        if spec.feature_keys and spec.name in metas:
            cfg = adopt_feature_config(cfg, metas[spec.name], model_dir, warn, spec.feature_keys, spec.name)
    return cfg


def describe_models(metas: dict[str, dict], model_dir: str | None = None) -> str:
    """The "models: ..." line that run and demo print: which trained models are in use, or none."""
    if not metas:
        where = f" in {model_dir}" if model_dir else ""
        return f"models: none trained{where}, built-in defaults"
    names = ", ".join(f"{k} (sha256 {m['sha256'][:12]})" for k, m in metas.items())
    return f"models: {names}" + (f" from {model_dir}" if model_dir else "")


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


def apply_feature_config(cfg, meta: dict, feature_keys: tuple[str, ...], name: str
                         ) -> tuple[Any, dict[str, tuple[Any, Any]]]:
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
    for section in feature_keys:
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
        return type(cfg).model_validate(data), conflicts
    except ValidationError as err:
        raise UserError(f"{name} model's saved feature settings are not valid here ({err.errors()[0]['msg']}); "
                        f"retrain it") from None


def adopt_feature_config(cfg, meta: dict, model_dir: str, warn: Callable[[str], None],
                         feature_keys: tuple[str, ...], name: str):
    """apply_feature_config, with the site's conflicting choices reported to `warn` in one line."""
    cfg, conflicts = apply_feature_config(cfg, meta, feature_keys, name)
    if conflicts:
        warn(describe_conflicts(model_dir, conflicts, name))
    return cfg


def describe_conflicts(model_dir: str, conflicts: dict[str, tuple[Any, Any]], name: str) -> str:
    """One line for stderr: which of the site's settings differ from the model's training."""
    pairs = ", ".join(f"{k}={mine!r} (trained with {trained!r})" for k, (trained, mine) in sorted(conflicts.items()))
    return (f"warning: the {name} model in {model_dir} was trained with other feature settings than this "
            f"configuration sets: {pairs}; the configuration's are used, so the model's threshold may not fit; "
            f"retrain with the same settings to match")

"""`export`: LiteRT files for the deep models of a model folder (tasks whose backend is Keras)."""

from __future__ import annotations

import json
import os

from classifiers.model_store import has_model
from core.errors import UserError
from pipeline.config import load_config
from pipeline.models import load_models
from tasks.registry import tasks


def export(args) -> int:
    if not os.path.isdir(args.model_dir):
        raise UserError(f"model directory not found: {args.model_dir}")
    # Every model in the folder is checked (card, checksums) as run would: a broken one is exit 2 here too.
    _, _, metas = load_models(args.model_dir, load_config(None, []))
    deep = [t for t in tasks() if t.backend == "keras" and t.export is not None and has_model(args.model_dir, t.model)]
    if not deep:
        present = [t for t in tasks() if t.model in metas]
        listed = ", ".join(f"{t.name} ({t.backend})" for t in present) or "none"
        print(f"no deep model to export in {args.model_dir} (train one with: python run.py train --task deep "
              f"--dataset FOLDER --model-dir {args.model_dir}); its other models run as they are (here: {listed})")
        return 0
    for t in deep:
        card = t.export(args.model_dir)
        print(f"{t.name}: exported {', '.join(sorted(card['files']))} to {args.model_dir}; LiteRT against Keras on "
              f"the representative inputs: {json.dumps(card.get('litert_vs_keras'))}")
    return 0

"""`export`: LiteRT files for the deep models of a model folder (tasks whose backend is Keras)."""

from __future__ import annotations

import os

from core.errors import UserError
from pipeline.config import load_config
from pipeline.models import load_models
from tasks.registry import tasks


def export(args) -> int:
    if not os.path.isdir(args.model_dir):
        raise UserError(f"model directory not found: {args.model_dir}")
    # Every model in the folder is checked (card, checksums) as run would: a broken one is exit 2 here too.
    _, _, metas = load_models(args.model_dir, load_config(None, []))
    deep = [t for t in tasks() if t.backend == "keras"]
    present = [t for t in tasks() if t.model in metas]
    if not deep:
        listed = ", ".join(f"{t.name} ({t.backend})" for t in present) or "none"
        print(f"no deep model to export in {args.model_dir}: this version has only classical models, which run "
              f"as they are (here: {listed})")
        return 0
    raise AssertionError("no exporter is registered for the Keras backend yet")

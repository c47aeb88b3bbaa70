"""`export`: LiteRT files for the deep models of a model folder (tasks whose backend is Keras)."""

from __future__ import annotations

import os

from classifiers.model_store import has_model
from core.errors import UserError
from tasks.registry import tasks


def export(args) -> int:
    if not os.path.isdir(args.model_dir):
        raise UserError(f"model directory not found: {args.model_dir}")
    deep = [t for t in tasks() if t.backend == "keras"]
    present = [t for t in tasks() if t.model and has_model(args.model_dir, t.model)]
    if not deep:
        listed = ", ".join(f"{t.name} ({t.backend})" for t in present) or "none"
        print(f"no deep model to export in {args.model_dir}: this version has only classical models, which run "
              f"as they are (here: {listed})")
        return 0
    raise AssertionError("no exporter is registered for the Keras backend yet")

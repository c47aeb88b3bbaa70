"""`export`: LiteRT files for the deep models; there are none in this version."""

from __future__ import annotations

import os

from pipeline.errors import UserError


def export(args) -> int:
    if not os.path.isdir(args.model_dir):
        raise UserError(f"model directory not found: {args.model_dir}")
    print(f"no deep model to export in {args.model_dir}: this version has only classical models "
          "(scikit-learn), which run as they are")
    return 0

"""`train` and `evaluate`: dispatch a task to its module in tasks/; `--task all` trains what a data root holds."""

from __future__ import annotations

import json
import os
import sys

from pipeline.config import load_config
from pipeline.errors import UserError
from tasks import fight

# Where `--task all` looks for each task's labelled folder inside a data root laid out like ../shared/data.
ALL_LAYOUT = {"fight": "fight_surv"}
NOT_YET = {"face", "weapon"}


def _not_yet(task: str) -> UserError:
    return UserError(f"task {task} has no model in this version yet (available: fight)")


def train(args) -> int:
    cfg = load_config(args.config, args.overrides)
    if args.task in NOT_YET:
        raise _not_yet(args.task)
    if args.task == "fight":
        meta = fight.train(args.dataset, args.model_dir, cfg)
        print(f"fight model saved in {args.model_dir}: threshold {meta['threshold']:.3f} "
              f"(n={meta['training']['n']}, sha256 {meta['sha256'][:12]})")
        return 0
    # all
    if not os.path.isdir(args.dataset):
        raise UserError(f"data root not found: {args.dataset}")
    trained = []
    for task, sub in ALL_LAYOUT.items():
        folder = os.path.join(args.dataset, sub)
        if not os.path.isfile(os.path.join(folder, "labels.csv")):
            print(f"{task}: no {sub}/labels.csv under {args.dataset}, skipped", file=sys.stderr)
            continue
        meta = fight.train(folder, args.model_dir, cfg)
        trained.append(task)
        print(f"{task} model saved in {args.model_dir}: threshold {meta['threshold']:.3f} "
              f"(n={meta['training']['n']})")
    if not trained:
        raise UserError(f"no labelled set found under {args.dataset} (looked for: "
                        f"{', '.join(s + '/labels.csv' for s in ALL_LAYOUT.values())})")
    return 0


def evaluate(args) -> int:
    cfg = load_config(args.config, args.overrides)
    if args.task in NOT_YET:
        raise _not_yet(args.task)
    if args.cv is not None:
        if args.cv < 2:
            raise UserError("--cv needs at least 2 folds")
        metrics = fight.cross_validate(args.dataset, args.out, cfg, folds=args.cv, seed=args.seed)
    else:
        metrics = fight.evaluate(args.dataset, args.model_dir, args.out, cfg)
    print(json.dumps({k: metrics[k] for k in ("task", "n", "auc", "accuracy", "precision", "recall", "f1",
                                              "threshold", "confusion")}))
    return 0

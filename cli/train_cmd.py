"""`train`, `evaluate` and `sign`: parse, look the task up in tasks/registry.py, dispatch."""

from __future__ import annotations

import inspect
import json
import os
import sys

from core.errors import UserError
from pipeline.config import load_config
from tasks.registry import get, tasks


def _task(name: str):
    task = get(name)
    if task is None:
        built = ", ".join(t.name for t in tasks())
        raise UserError(f"unknown task {name} (available: {built})")
    return task


def _sign_if_configured(cfg, model_dir: str) -> None:
    if cfg.models.signing_key:
        from classifiers.model_store import sign_folder

        sign_folder(model_dir, cfg.models.signing_key)
        print(f"{model_dir} signed with {cfg.models.signing_key}")


def train(args) -> int:
    cfg = load_config(args.config, args.overrides)
    if args.task == "all":
        return _train_all(args, cfg)
    task = _task(args.task)
    if task.train is None:
        print(f"task {task.name} has nothing to train: {task.untrained}")
        return 0
    card = task.train(args.dataset, args.model_dir, cfg)
    print(f"{task.name} model saved in {args.model_dir}: threshold {card['threshold']:.3f} "
          f"(n={card['training']['n']}, sha256 {card['sha256'][:12]})")
    _sign_if_configured(cfg, args.model_dir)
    return 0


def _train_all(args, cfg) -> int:
    """Every task that trains, each from its folder under the data root; says what it trained and skipped."""
    if not os.path.isdir(args.dataset):
        raise UserError(f"data root not found: {args.dataset}")
    trained, skipped = [], []
    for task in tasks():
        if task.train is None:
            skipped.append(f"{task.name} (nothing to train: {task.untrained})")
            continue
        folder = os.path.join(args.dataset, task.layout or task.name)
        if not os.path.isfile(os.path.join(folder, "labels.csv")):
            skipped.append(f"{task.name} (no {os.path.relpath(folder, args.dataset)}/labels.csv)")
            continue
        card = task.train(folder, args.model_dir, cfg)
        trained.append(task.name)
        print(f"{task.name} model saved in {args.model_dir}: threshold {card['threshold']:.3f} "
              f"(n={card['training']['n']})")
    print(f"trained: {', '.join(trained) or 'nothing'}; skipped: {'; '.join(skipped)}", file=sys.stderr)
    if not trained:
        raise UserError(f"no labelled set found under {args.dataset}")
    _sign_if_configured(cfg, args.model_dir)
    return 0


def evaluate(args) -> int:
    # The cheap stage alone: stage 2 is switched off whatever the model folder holds.
    overrides = [*args.overrides, "deep.enabled=false"] if args.stage == "classical" else args.overrides
    cfg = load_config(args.config, overrides)
    task = _task(args.task)
    if args.adversarial:
        if task.adversarial is None:
            raise UserError(f"--adversarial does not apply to task {task.name} (no CNN to attack)")
        result = task.adversarial(args.dataset, args.model_dir, args.out, cfg)
        print(json.dumps(result["rows"]))
        return 0
    # The skimming task's own options, each passed only to an evaluate that takes it (never with --cv).
    extra = {}
    for given, param, value, said in (
            (args.patch_style is not None or args.patch_size is not None, "patch",
             (args.patch_style, args.patch_size), "--patch-style and --patch-size apply"),   # None: the default
            (args.roi_share is not None, "roi_share", args.roi_share, "--roi-share applies"),
            (bool(args.trace), "trace", args.trace, "--trace applies")):
        if not given:
            continue
        if param not in inspect.signature(task.evaluate).parameters or args.cv is not None:
            raise UserError(f"{said} to task skimming only, not {task.name}"
                            f"{' with --cv' if args.cv is not None else ''}")
        extra[param] = value
    if args.seed is not None and args.cv is None:
        # Without --cv only the skimming task has a seed (where each patch goes); elsewhere it would be
        # silently ignored, and a figure said to be from seed N would be the default's.
        if "seed" not in inspect.signature(task.evaluate).parameters:
            raise UserError(f"--seed goes with --cv, or with task skimming (where each patch is placed), not with "
                            f"task {task.name} alone")
        extra["seed"] = args.seed
    if args.perturb:
        if "perturb" not in inspect.signature(task.evaluate).parameters:
            raise UserError(f"--perturb does not apply to task {task.name}")
        if args.cv is not None:
            raise UserError("--perturb goes with saved models, not --cv")
        result = _perturb(task, args, cfg, extra)
        print(json.dumps(result["rows"]))
        return 0
    if args.cv is not None:
        if task.cross_validate is None:
            raise UserError(f"--cv does not apply to task {task.name} (nothing is trained)")
        if args.cv < 2:
            raise UserError("--cv needs at least 2 folds")
        stage = {}
        if args.stage is not None:
            if "stage" not in inspect.signature(task.cross_validate).parameters:
                raise UserError(f"--stage does not apply to task {task.name} with --cv")
            stage = {"stage": args.stage}
        metrics = task.cross_validate(args.dataset, args.out, cfg, folds=args.cv, seed=args.seed or 0, **stage)
    else:
        metrics = task.evaluate(args.dataset, args.model_dir, args.out, cfg, **extra)
    keys = ("task", "n", "auc", "accuracy", "precision", "recall", "f1", "threshold", "confusion")
    if all(k in metrics for k in keys):
        print(json.dumps({k: metrics[k] for k in keys}))
    return 0


def _perturb(task, args, cfg, extra: dict) -> dict:
    """The task's metrics on the footage as it is and under each perturbation: perturb.json, perturb.png.
    A task scored without an AUC (skimming: patches found, recorded clips with an event) gives its
    recall and false alarms."""
    from datasets.perturb import KINDS, LEVELS, describe

    def row(m: dict) -> dict:
        if "confusion" in m:
            return {**{k: m[k] for k in ("auc", "accuracy", "recall")}, "false_alarms": m["confusion"][0][1]}
        return {"recall": m["recall"], "false_alarms": m["false_alarms"]}

    rows = []
    clean = task.evaluate(args.dataset, args.model_dir, os.path.join(args.out, "clean"), cfg, **extra)
    rows.append({"perturbation": "none", "level": 0, **row(clean)})
    for kind in KINDS:
        for level in LEVELS:
            m = task.evaluate(args.dataset, args.model_dir, os.path.join(args.out, f"{kind}_{level}"), cfg,
                              perturb=(kind, level), **extra)
            rows.append({"perturbation": kind, "level": level, "what": describe(kind, level), **row(m)})
    result = {"task": task.name, "n": clean.get("n", clean.get("clips")), "scored_by": clean.get("scored_by"),
              "rows": rows}
    with open(os.path.join(args.out, "perturb.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    _plot_perturb(os.path.join(args.out, "perturb.png"), task.name, rows)
    return result


def _plot_perturb(path: str, task: str, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    key = "auc" if "auc" in rows[0] else "recall"
    clean = rows[0][key]
    kinds = sorted({r["perturbation"] for r in rows[1:]}, key=[r["perturbation"] for r in rows].index)
    for kind in kinds:
        pts = [(r["level"], r[key]) for r in rows if r["perturbation"] == kind and r[key] is not None]
        ax.plot([0] + [p[0] for p in pts], [clean] + [p[1] for p in pts], "o-", label=kind)
    ax.set_xticks([0, 1, 2, 3])
    ax.set_xlabel("strength (0: as recorded)")
    ax.set_ylabel("AUC" if key == "auc" else "share of patches found")
    ax.set_title(f"{task}: {'AUC' if key == 'auc' else 'found'} under camera perturbations")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def sign(args) -> int:
    """Sign a model folder with the key the configuration names (or --key)."""
    from classifiers.model_store import sign_folder

    cfg = load_config(args.config, args.overrides)
    key = args.key or cfg.models.signing_key
    if not key:
        raise UserError("no key: set models.signing_key in the configuration or pass --key FILE")
    if not os.path.isdir(args.model_dir):
        raise UserError(f"model directory not found: {args.model_dir}")
    digest = sign_folder(args.model_dir, key)
    print(f"{args.model_dir} signed (SIGNATURE {digest[:12]}...)")
    return 0

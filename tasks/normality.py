"""Task `normality`: the Siamese tower and the normality dictionary per state, trained on what the
live cheap stage computes, exported for LiteRT (classifiers/siamese.py, classifiers/normality_store.py).

Training replays every clip of a labelled clip folder (`fight` / `normal`, grouped by `source_video`)
through the live classical stage and keeps the frames stage 2 could be asked about (as task `deep`
does), each with the state it was seen in: a clip has no state reader, so its scene's (nobody, one
person, more). Normal frames make the dictionary; fight frames teach the tower what to tell apart.
A site that records its own normal footage with a state reader gets one dictionary per ATM state.

Evaluation replays each clip live through the whole cascade with the exported model (LiteRT, as on a
kiosk): a clip is predicted abnormal when an `anomaly` event came out, and its score is the highest
distance margin (distance over its state's threshold) the refiner saw on the clip's escalated frames
(0 when it was never asked). The positive class is `fight`, the one abnormal kind these clips have.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from classifiers import normality_store
from classifiers.metrics import write_evaluation
from core.errors import UserError
from datasets.labelled import read_labels
from pipeline.cascade import Cascade
from pipeline.config import Config
from tasks.common import clip_digests, load_for_evaluation, warn_trained_on
from tasks.deep import harvest_by_clip
from tasks.registry import Task, register_task

NAME = normality_store.KERAS_NAME
VARIANT = "grey"   # the CNN's comparison found neither variant better consistently; the plain one


def fit(X: np.ndarray, y: np.ndarray, groups: np.ndarray, states: np.ndarray, where: str, epochs: int = 15,
        **kwargs):
    from classifiers.siamese import SiameseNormality

    try:
        return SiameseNormality(epochs=epochs, **kwargs).fit(X.astype(np.float32) / 255.0, y, groups, states)
    except ValueError as exc:
        raise UserError(f"{where}: {exc}") from None


def train(dataset: str, model_dir: str, cfg: Config, epochs: int = 15) -> dict:
    items = read_labels(dataset, "fight")
    if len({it.group for it in items}) < 4:
        raise UserError(f"{dataset}: task normality needs clips from at least four source videos "
                        f"(validation holds whole ones)")
    X, y, clip, states = harvest_by_clip(items, cfg)
    groups = np.array([items[i].group for i in clip])
    model = fit(X[VARIANT], y, groups, states, dataset, epochs)
    d = model.dictionary_
    print(f"normality: validation AUC {model.val_auc_:.3f} (distance to normal frames, whole source videos held "
          f"out, {model.epochs_run_} epochs); at the {model.percentile:g}th percentile: held-out normal frames over "
          f"it {model.val_false_rate_:.3f}, fight frames {model.val_recall_:.3f}; states "
          f"{', '.join(f'{s} ({len(e)})' for s, e in sorted(d.embeddings.items()))}", file=sys.stderr)
    training = {"dataset": os.path.abspath(dataset), "n": int(len(y)), "n_clips": len(items),
                "per_class": {"normal": int(np.sum(y == 0)), "abnormal (fight)": int(np.sum(y == 1))},
                "real": "frames of the labelled clips, as the live cheap stage computes them, labelled by clip; "
                        "states inferred from the scene (no state reader in these clips)",
                "generated": "none (augmented on the fly: brightness, contrast, noise, blur, JPEG, shake, mirror)",
                "val_auc": round(model.val_auc_, 4), "val_normal_over_threshold": round(model.val_false_rate_, 4),
                "val_fight_over_threshold": round(model.val_recall_, 4), "epochs_run": model.epochs_run_,
                "val_auc_history": model.history_, "clips": clip_digests({it.rel: it.path for it in items})}
    return normality_store.save_keras(model, model_dir, VARIANT, training)


def lite_model(model):
    """The fitted normality model as the kiosk runs it: the tower in LiteRT float and int8, in memory."""
    from classifiers.deep_cnn import to_tflite
    from classifiers.lite_runner import LiteRunner
    from classifiers.normality import NormalityLiteModel
    from features.deep_input import CHANNELS, SIZE

    buffers = {"float": to_tflite(model.tower_), "int8": to_tflite(model.tower_, model.representative_)}
    runner = LiteRunner(buffers, (SIZE, SIZE, CHANNELS), model.dictionary_.dim)
    return NormalityLiteModel(runner, model.dictionary_, VARIANT)


def export(model_dir: str) -> dict:
    return normality_store.export(model_dir)


def _peak_margin(cascade: Cascade) -> float:
    refiner = next((r for r in cascade.refiners if r.name == "normality"), None)
    return float(refiner.peak_margin) if refiner is not None else 0.0


def evaluate(dataset: str, model_dir: str, out: str, cfg: Config, perturb: tuple[str, int] | None = None) -> dict:
    from pipeline.replay import replay_clips

    cfg, models, meta = load_for_evaluation(model_dir, cfg, normality_store.NAME)
    items = read_labels(dataset, "fight")
    y = np.array([it.y for it in items])
    warn_trained_on([it.path for it in items], meta, dataset, model_dir, NAME)
    done = replay_clips([it.path for it in items], cfg, models, probe=_peak_margin, desc="normality: live replay",
                        perturb=perturb)
    scores = np.array([r.probe for r in done])
    pred = np.array([any(e.type == "anomaly" and e.is_start for e in r.events) for r in done])
    return write_evaluation(out, NAME, [(it.rel, it.label) for it in items], y, scores, 1.0, "fight", "normal",
                            pred=pred,
                            extra={"scored_by": "live replay: source -> cascade (normality check on escalated frames, "
                                                f"LiteRT {cfg.normality.precision}) -> decision, as run; score: the "
                                                "highest distance over its state's threshold",
                                   "model_sha256": meta["sha256"]})


register_task(Task(NAME, evaluate=evaluate, train=train, layout="fight_surv", model=NAME, backend="keras",
                   export=export))

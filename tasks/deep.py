"""Task `deep`: the stage-2 CNN, trained on what the live cheap stage computes, exported for LiteRT.

Training replays every clip of a labelled clip folder (`fight` / `normal`, grouped by `source_video`)
through the live classical stage and keeps, every other frame once the background is learnt and
something moves, the frame as stage 2 would see it (features/deep_input.py), in both input variants
(plain grey, and the method's preprocessing chain), labelled with its clip's label. One CNN per
variant is fitted with a validation part of whole source videos; the variant with the higher
validation AUC is kept and saved (`deep`), and both AUCs go on the card. `python run.py export`
writes the LiteRT files (`deep_lite`) that `run` loads.

Evaluation replays each clip live through the whole cascade with the exported model (LiteRT, as on a
kiosk): a clip is predicted fight when a `fight` event came out of the cascade, and its score is the
highest P(fight) stage 2 gave on the clip's escalated frames (0 when it was never asked).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from classifiers import deep_store
from classifiers.metrics import write_evaluation
from classifiers.normality import scene_state
from core.errors import UserError
from datasets.labelled import Item, read_labels
from features.deep_input import VARIANTS, deep_input
from pipeline.cascade import Cascade
from pipeline.classical import ClassicalStage
from pipeline.config import Config
from pipeline.replay import parallel_map, replay_clips
from sources.frame_source import FrameSource
from tasks.common import clip_digests, load_for_evaluation, warn_trained_on
from tasks.registry import Task, register_task

NAME = deep_store.KERAS_NAME
STATE = "state"       # the key of each frame's state in a clip's harvest
EVERY = 2              # every other frame: neighbours are nearly the same picture
MIN_MOTION = 0.01      # the fight detector's own floor (fight.min_motion_frac): stage 2 is asked about motion


def _clip_inputs(args) -> dict[str, np.ndarray]:
    """One clip -> {variant: (n, 64, 64, 2) uint8} of the frames stage 2 could be asked about, and
    under STATE the state each was seen in (here always the scene's: a clip has no state reader)."""
    path, cfg = args
    out: dict[str, list] = {v: [] for v in (*VARIANTS, STATE)}
    with FrameSource(path, process_width=cfg.source.process_width, reconnect=False) as src:
        stage = ClassicalStage(cfg, src.fps)
        for frame in src:
            ctx = stage.process(frame.raw, frame.index, frame.time_s, "unknown", frame).ctx
            if ctx.motion.calibrating or frame.index % EVERY or (ctx.motion.mask.mean() / 255.0) < MIN_MOTION:
                continue
            for v in VARIANTS:
                out[v].append(np.round(deep_input(ctx.grey_tamper, ctx.motion.mask, v) * 255).astype(np.uint8))
            out[STATE].append(ctx.state if ctx.state != "unknown" else scene_state(ctx.people))
    states = np.array(out.pop(STATE), dtype=str)
    return {**{v: np.array(x, np.uint8).reshape(-1, 64, 64, 2) for v, x in out.items()}, STATE: states}


def harvest_by_clip(items: list[Item], cfg: Config, jobs: int | None = None):
    """{variant: frames}, each frame's label, the index of its clip in `items`, and its state."""
    per_clip = parallel_map(_clip_inputs, [(it.path, cfg) for it in items], jobs, desc="deep: frames")
    X = {v: np.concatenate([c[v] for c in per_clip]) for v in VARIANTS}
    y = np.concatenate([np.full(len(c[VARIANTS[0]]), it.y) for c, it in zip(per_clip, items)])
    clip = np.concatenate([np.full(len(c[VARIANTS[0]]), i) for i, c in enumerate(per_clip)])
    states = np.concatenate([c[STATE] for c in per_clip]).astype(str)
    return X, y, clip, states


def harvest(items: list[Item], cfg: Config, jobs: int | None = None):
    X, y, clip, _ = harvest_by_clip(items, cfg, jobs)
    return X, y, np.array([items[i].group for i in clip])


def _clips(folder: str) -> list[Item]:
    items = read_labels(folder, "fight")
    if len({it.group for it in items}) < 4:
        raise UserError(f"{folder}: task deep needs clips from at least four source videos (validation holds "
                        f"whole ones)")
    return items


def fit_best(X: dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray, where: str, epochs: int = 20):
    """One CNN per input variant; the one with the higher validation AUC, its variant, and all of them."""
    from classifiers.deep_cnn import DeepClassifier

    if len(set(y.tolist())) < 2:
        raise UserError(f"{where}: task deep needs fight and normal clips with motion")
    fitted = {}
    for v in VARIANTS:
        try:
            fitted[v] = DeepClassifier(epochs=epochs).fit(X[v].astype(np.float32) / 255.0, y, groups)
        except ValueError as exc:
            raise UserError(f"{where}: {exc}") from None
        print(f"deep: input {v}: validation AUC {fitted[v].val_auc_:.3f} (whole source videos held out, "
              f"{fitted[v].epochs_run_} epochs)", file=sys.stderr)
    best = max(VARIANTS, key=lambda v: fitted[v].val_auc_)
    return fitted[best], best, fitted


def lite_model(clf, variant: str):
    """The fitted CNN as the kiosk runs it: LiteRT float and int8 from the estimator, in memory."""
    from classifiers.deep_cnn import to_tflite
    from classifiers.deep_lite import DeepLiteModel

    buffers = {"float": to_tflite(clf.model_), "int8": to_tflite(clf.model_, clf.representative_)}
    return DeepLiteModel(buffers, list(deep_store.CLASSES), clf.threshold_, variant)


def train(dataset: str, model_dir: str, cfg: Config, epochs: int = 20) -> dict:
    items = _clips(dataset)
    X, y, groups = harvest(items, cfg)
    clf, best, fitted = fit_best(X, y, groups, dataset, epochs)
    training = {"dataset": os.path.abspath(dataset), "n": int(len(y)), "n_clips": len(items),
                "per_class": {"normal": int(np.sum(y == 0)), "fight": int(np.sum(y == 1))},
                "real": "frames of the labelled clips, as the live cheap stage computes them, labelled by clip",
                "generated": "none (augmented on the fly: brightness, contrast, noise, blur, JPEG, shake, mirror)",
                "variants_val_auc": {v: round(fitted[v].val_auc_, 4) for v in VARIANTS}, "variant_kept": best,
                "val_veto_rate_normal": round(clf.val_veto_rate_normal_, 4), "epochs_run": clf.epochs_run_,
                "val_loss_history": clf.history_, "clips": clip_digests({it.rel: it.path for it in items})}
    return deep_store.save_keras(clf, model_dir, best, training)


def export(model_dir: str) -> dict:
    return deep_store.export(model_dir)


def _stage2_peak(cascade: Cascade) -> float:
    refiner = next((r for r in cascade.refiners if r.name == "deep"), None)
    return float(refiner.peak) if refiner is not None else 0.0


def judging_fights(cfg: Config) -> Config:
    """`cfg` with stage 2's CNN judging fight flags (`deep.veto: [fight]`) when it judges nothing:
    what `evaluate --task deep` and the cascade's cross-validation measure."""
    if cfg.deep.veto:
        return cfg
    return cfg.model_copy(update={"deep": cfg.deep.model_copy(update={"veto": ["fight"]})})


def evaluate(dataset: str, model_dir: str, out: str, cfg: Config, perturb: tuple[str, int] | None = None) -> dict:
    cfg, models, meta = load_for_evaluation(model_dir, judging_fights(cfg), deep_store.NAME)
    items = read_labels(dataset, "fight")
    y = np.array([it.y for it in items])
    warn_trained_on([it.path for it in items], meta, dataset, model_dir, NAME)
    done = replay_clips([it.path for it in items], cfg, models, probe=_stage2_peak, desc="deep: live replay",
                        perturb=perturb)
    scores = np.array([r.probe for r in done])
    pred = np.array([any(e.type == "fight" and e.is_start for e in r.events) for r in done])
    threshold = cfg.deep.min_fight_prob if cfg.deep.min_fight_prob is not None else models[deep_store.NAME].threshold_
    extra = {"scored_by": "live replay: source -> cascade (stage 2 on escalated frames, LiteRT "
                          f"{cfg.deep.precision}) -> decision, as run", "model_sha256": meta["sha256"]}
    if perturb is None:
        extra["litert_vs_keras"] = litert_against_keras(model_dir, items, cfg, models[deep_store.NAME])
    return write_evaluation(out, "deep", [(it.rel, it.label) for it in items], y, scores, float(threshold), "fight",
                            "normal", pred=pred, extra=extra)


def litert_against_keras(model_dir: str, items: list[Item], cfg: Config, lite) -> dict:
    """The exported LiteRT model (float and int8) against the Keras tower it came from, on every frame
    of the evaluated clips as stage 2 would see it: the largest difference in P(fight) and the
    agreement of the decision at the threshold. Needs the training extras and the `.keras` file;
    without them, says why."""
    from classifiers.model_store import has_model, read_card, verified_bytes

    try:
        from classifiers.deep_cnn import load_keras
    except ImportError:
        return {"skipped": "the training extras (requirements-train.txt) are not installed"}
    if not has_model(model_dir, NAME):
        return {"skipped": f"no Keras model ({NAME}.json) in {model_dir}"}
    card = read_card(model_dir, NAME, deep_store.retrain_hint(model_dir))
    keras_model = load_keras(verified_bytes(model_dir, card, "deep.keras"))
    X, _, _ = harvest(items, cfg)
    x = X[lite.variant].astype(np.float32) / 255.0
    ref = keras_model.predict(x, verbose=0, batch_size=256)[:, 1]
    out = {}
    for precision in ("float", "int8"):
        got = np.array([lite.predict_proba(xi, precision)[1] for xi in x])
        same = (got >= lite.threshold_) == (ref >= lite.threshold_)
        out[precision] = {"max_abs_diff": round(float(np.max(np.abs(got - ref))), 6) if len(x) else None,
                          "decision_agreement": round(float(np.mean(same)), 4) if len(x) else None,
                          "n_frames": int(len(x))}
    return out


EPSILONS = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05)
PGD_STEPS = 5


def adversarial(dataset: str, model_dir: str, out: str, cfg: Config) -> dict:
    """FGSM and PGD on the CNN (its Keras tower: the attack needs gradients) over a sweep of epsilon,
    on the frames of a labelled clip folder as stage 2 sees them; accuracy of its decision at the
    saved threshold. Writes adversarial.json and adversarial.png."""
    import json

    from classifiers.deep_cnn import adversarial_accuracy, load_keras
    from classifiers.model_store import read_card, verified_bytes

    card = read_card(model_dir, NAME, deep_store.retrain_hint(model_dir))
    variant = (card.model_extra or {}).get("variant", "grey")
    model = load_keras(verified_bytes(model_dir, card, "deep.keras"))
    items = read_labels(dataset, "fight")
    warn_trained_on([it.path for it in items], {"training": card.training}, dataset, model_dir, NAME)
    X, y, _ = harvest(items, cfg)
    rows = adversarial_accuracy(model, X[variant].astype(np.float32) / 255.0, y, card.threshold, EPSILONS, PGD_STEPS)
    result = {"task": "deep", "attack": "FGSM and PGD (5 steps of epsilon/4), L-infinity on the 0..1 input",
              "n_frames": int(len(y)), "threshold": card.threshold, "variant": variant, "rows": rows}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adversarial.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    _plot(os.path.join(out, "adversarial.png"), rows)
    return result


def _plot(path: str, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    eps = [r["epsilon"] for r in rows]
    ax.plot(eps, [r["fgsm_accuracy"] for r in rows], "o-", label="FGSM")
    if "pgd_accuracy" in rows[0]:
        ax.plot(eps, [r["pgd_accuracy"] for r in rows], "s-", label="PGD")
    ax.set_xlabel("epsilon (input 0..1)")
    ax.set_ylabel("frame accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("stage-2 CNN under attack")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


register_task(Task(NAME, evaluate=evaluate, train=train, layout="fight_surv", model=NAME, backend="keras",
                   export=export, adversarial=adversarial))

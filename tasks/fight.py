"""Task `fight`: train and evaluate on what the live path computes.

Training replays every clip through the same frame loop as `run` (source, cascade, decision) with a
recording model in the fight detector's place: it keeps each window the live detector scores (the
windows it would have scored with any model, since the gates before the model do not depend on it).
The classifier is fitted on those windows, each labelled with its clip's label, and its threshold
is chosen on out-of-fold clip peaks (`classifiers.fight_classifier.fit_live`).

Evaluation replays each clip live with the saved model: a clip is predicted "fight" when the live
path raised a `fight` event, and its score is the peak of the live fight score, so the two agree
by construction (an event is raised when the score first reaches the threshold). `--cv K` fits on
K-1 folds' live windows and replays the held-out fold live with that fold's model.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from classifiers import fight_store
from classifiers.fight_classifier import WINDOW_FEATURES, FightClassifier, fit_live
from classifiers.linear_fight import LinearFightModel
from classifiers.metrics import write_evaluation
from core.errors import UserError
from datasets.labelled import Item, read_labels
from pipeline.cascade import Cascade
from pipeline.config import Config
from pipeline.replay import ClipReplay, replay_clips
from tasks.common import clip_digests, load_for_evaluation, warn_trained_on
from tasks.registry import Task, register_task

NAME = fight_store.NAME
EVENT = "fight"


class WindowRecorder:
    """Stands in for the fight model while harvesting: keeps every window summary the live detector
    scores, and never flags (its threshold is out of reach)."""

    threshold_ = 2.0

    def __init__(self):
        self.rows: list[np.ndarray] = []

    def decision_scores(self, X) -> np.ndarray:
        X = np.atleast_2d(X)
        self.rows.extend(np.array(r, np.float32) for r in X)
        return np.zeros(len(X))


def _recorded_windows(cascade: Cascade) -> np.ndarray:
    rows = cascade.classical.detector("fight").model.rows
    return np.array(rows, np.float32).reshape(-1, len(WINDOW_FEATURES))


def _peak_score(cascade: Cascade) -> float:
    return float(cascade.classical.detector("fight").peak_score)


def _dataset(folder: str) -> tuple[list[Item], np.ndarray]:
    items = read_labels(folder, NAME)
    y = np.array([it.y for it in items])
    if len(set(y.tolist())) < 2:
        raise UserError(f"{folder}: task fight needs both 'fight' and 'normal' clips")
    return items, y


def harvest(items: list[Item], cfg: Config, jobs: int | None = None) -> list[np.ndarray]:
    """Per clip, the window summaries the live fight detector scores, (n_windows, WINDOW_FEATURES)."""
    done = replay_clips([it.path for it in items], cfg, [{"fight": WindowRecorder()} for _ in items],
                        probe=_recorded_windows, jobs=jobs, desc="fight: live windows")
    return [r.probe for r in done]


def _fit(windows: list[np.ndarray], y: np.ndarray, groups: np.ndarray, where: str) -> FightClassifier:
    try:
        return fit_live(windows, y, groups)
    except ValueError as exc:
        raise UserError(f"{where}: {exc}") from None


def train(dataset: str, model_dir: str, cfg: Config) -> dict:
    items, y = _dataset(dataset)
    if np.bincount(y, minlength=2).min() < 2:  # before minutes of replay, not after
        raise UserError(f"{dataset}: training needs at least 2 'fight' and 2 'normal' clips")
    groups = np.array([it.group for it in items])
    windows = harvest(items, cfg)
    clf = _fit(windows, y, groups, dataset)
    training = {"dataset": os.path.abspath(dataset), "n": int(len(y)), "n_positive": int(y.sum()),
                "n_windows": int(sum(len(w) for w in windows)), "clips": clip_digests({it.rel: it.path for it in items})}
    return fight_store.save(clf, model_dir, cfg, training)


def _live_metrics(out: str, items: list[Item], y: np.ndarray, done: list[ClipReplay], threshold: float,
                  extra: dict) -> dict:
    scores = np.array([r.probe for r in done])
    firsts = [next((e for e in r.events if e.type == EVENT and e.is_start), None) for r in done]
    pred = np.array([f is not None for f in firsts])
    columns = {"first_event_frame": ["" if f is None else f.frame for f in firsts],
               "first_event_time_s": ["" if f is None else round(f.time_s, 3) for f in firsts]}
    return write_evaluation(out, NAME, [(it.rel, it.label) for it in items], y, scores, threshold, "fight",
                            "normal", pred=pred, columns=columns,
                            extra={"scored_by": "live replay: source -> cascade -> decision, as run", **extra})


def evaluate(dataset: str, model_dir: str, out: str, cfg: Config, perturb: tuple[str, int] | None = None) -> dict:
    cfg, models, meta = load_for_evaluation(model_dir, cfg, NAME)
    items, y = _dataset(dataset)
    warn_trained_on([it.path for it in items], meta, dataset, model_dir, NAME)
    done = replay_clips([it.path for it in items], cfg, models, probe=_peak_score, desc="fight: live replay",
                        perturb=perturb)
    threshold = cfg.fight.threshold if cfg.fight.threshold is not None else models[NAME].threshold_
    return _live_metrics(out, items, y, done, threshold, {"model_sha256": meta["sha256"]})


def _both_scores(cascade: Cascade) -> tuple[float, float, float, float]:
    """(classical peak score, classical peak / its threshold, the cascade's peak margin, the normality
    check's peak margin): the clip's score for the cheap stage alone and for the cascade, on one scale
    (1 = the threshold), and how far from normal stage 2's normality check found it (0: not asked)."""
    fight = cascade.classical.detector("fight")
    refiner = next((r for r in cascade.refiners if r.name == "deep"), None)
    normality = next((r for r in cascade.refiners if r.name == "normality"), None)
    anomaly = float(normality.peak_margin) if normality is not None else 0.0
    below = fight.peak_below / fight.threshold
    if refiner is None or refiner.model_calls == 0:
        return fight.peak_score, fight.peak_score / fight.threshold, below, anomaly
    return fight.peak_score, fight.peak_score / fight.threshold, max(below, refiner.peak_margin), anomaly


def _comparison(y: np.ndarray, classical: np.ndarray, cascade: np.ndarray, pred_c: np.ndarray,
                pred_k: np.ndarray) -> dict:
    """Both rows side by side: AUC, decisions at their thresholds, and the cascade's false alarms at
    the cheap stage's recall (its own score's cut that first reaches that recall)."""
    from sklearn.metrics import roc_auc_score

    pos = y == 1
    recall_c = float(np.mean(pred_c[pos]))
    cut = np.sort(cascade[pos])[::-1][max(0, int(np.ceil(recall_c * pos.sum())) - 1)] if pos.any() else 1.0
    row = lambda s, p: {"auc": round(float(roc_auc_score(y, s)), 4), "recall": round(float(np.mean(p[pos])), 4),  # noqa: E731
                        "false_alarms": int(np.sum(p & ~pos)), "normal_clips": int(np.sum(~pos))}
    return {"classical": row(classical, pred_c), "cascade": row(cascade, pred_k),
            "cascade_false_alarms_at_classical_recall": int(np.sum((cascade >= cut) & ~pos)),
            "classical_recall": round(recall_c, 4)}


def _anomaly_row(y: np.ndarray, margin: np.ndarray, raised: np.ndarray) -> dict:
    """The normality check against the clips' labels (fight the abnormal kind): AUC of its peak
    margin, fight clips with an `anomaly` event, normal clips with one."""
    from sklearn.metrics import roc_auc_score

    pos = y == 1
    return {"auc": round(float(roc_auc_score(y, margin)), 4) if len(set(y.tolist())) == 2 else None,
            "fight_clips_with_anomaly": int(np.sum(raised & pos)),
            "normal_clips_with_anomaly": int(np.sum(raised & ~pos)), "fight_clips": int(np.sum(pos)), "normal_clips": int(np.sum(~pos))}


def cross_validate(dataset: str, out: str, cfg: Config, folds: int = 5, seed: int = 0,
                   stage: str = "classical", epochs: int | None = None) -> dict:
    """Grouped k-fold on live windows; each held-out clip is replayed live with its own fold's model.
    `stage="cascade"`: each fold also trains the stage-2 CNN on its training clips' frames (as
    `train --task deep`) and the held-out clips run through the whole cascade with it (LiteRT);
    `comparison.json` then puts the cheap stage and the cascade side by side. `epochs`: the most each
    stage-2 network trains for (None: as `train` trains them; the tests ask for one)."""
    items, y = _dataset(dataset)
    groups = np.array([it.group for it in items])
    if len(set(groups.tolist())) < folds:
        raise UserError(f"{dataset}: {len(set(groups.tolist()))} groups are too few for {folds}-fold grouped CV")
    per_class = [len(set(groups[y == c].tolist())) for c in (1, 0)]
    if min(per_class) < folds:
        # Fewer source videos of a class than folds would leave some fold's training part one-sided.
        raise UserError(f"{dataset}: {folds}-fold grouped CV needs fight and normal clips from at least {folds} "
                        f"source videos each (has {per_class[0]} and {per_class[1]})")
    if cfg.fight.threshold is not None:
        raise UserError("--cv fits each fold's threshold: unset fight.threshold")
    windows = harvest(items, cfg)
    if stage == "cascade":
        from tasks import deep

        # What is measured is stage 2 judging fights: by default a kiosk does not let it (deep.veto
        # empty), so the comparison asks it to, unless the configuration names its own types.
        cfg = deep.judging_fights(cfg)

        from tasks import normality

        frames, frame_y, frame_clip, frame_state = deep.harvest_by_clip(items, cfg)
    models: list[dict[str, Any]] = [{} for _ in items]
    thresholds, variants = [], []
    trained_for = {} if epochs is None else {"epochs": epochs}
    for tr, te in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups):
        clf = _fit([windows[i] for i in tr], y[tr], groups[tr], f"{dataset}: a fold's training part (try fewer folds)")
        # The held-out clips meet the model as a kiosk would load it: the saved arrays, not the estimator.
        live = LinearFightModel(clf.to_arrays(), clf.threshold_)
        thresholds.append(float(clf.threshold_))
        fold_models = {"fight": live}
        if stage == "cascade":
            keep = np.isin(frame_clip, tr)
            cnn, variant, _ = deep.fit_best({v: x[keep] for v, x in frames.items()}, frame_y[keep],
                                            groups[frame_clip[keep]], f"{dataset}: a fold's training part",
                                            **trained_for)
            fold_models["deep_lite"] = deep.lite_model(cnn, variant)
            variants.append(variant)
            # The normality check too, from the same training frames: its anomaly events are scored below.
            siamese = normality.fit(frames[normality.VARIANT][keep], frame_y[keep], groups[frame_clip[keep]],
                                    frame_state[keep], f"{dataset}: a fold's training part", **trained_for)
            fold_models["normality_lite"] = normality.lite_model(siamese)
        for i in te:
            models[i] = fold_models
    done = replay_clips([it.path for it in items], cfg, models, probe=_both_scores, desc="fight: live replay")
    extra = {"cv_folds": folds, "cv_grouped_by": "source_video", "cv_seed": seed, "fold_thresholds": thresholds,
             "stage": stage}
    raw = [r.probe for r in done]
    for r in done:
        r.probe = r.probe[0]
    if stage == "cascade":
        classical = np.array([p[1] for p in raw])
        cascade = np.array([p[2] for p in raw])
        pred_c = classical >= 1.0
        pred_k = np.array([any(e.type == EVENT and e.is_start for e in r.events) for r in done])
        comparison = _comparison(y, classical, cascade, pred_c, pred_k)
        anomaly = np.array([p[3] for p in raw])
        raised = np.array([any(e.type == "anomaly" and e.is_start for e in r.events) for r in done])
        comparison["anomaly"] = _anomaly_row(y, anomaly, raised)
        comparison.update(cv_seed=seed, cv_folds=folds, deep_variants=variants, deep_veto=list(cfg.deep.veto),
                          deep_confirm_frames=cfg.deep.confirm_frames,
                          scores="each clip's peak over its own fold's threshold: 1 is the threshold")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "comparison.json"), "w", encoding="utf-8") as fh:
            json.dump(comparison, fh, indent=2)
        extra["comparison"] = comparison
    # Each fold has its own threshold: the confusion matrix counts each clip by its own fold's event,
    # and "threshold" reports the mean of the fold thresholds.
    return _live_metrics(out, items, y, done, float(np.mean(thresholds)), extra)


register_task(Task(NAME, evaluate=evaluate, train=train, cross_validate=cross_validate, layout="fight_surv",
                   model=NAME, backend="arrays"))

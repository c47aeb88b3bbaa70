"""Task `objects`: the left-object classifier (person / bag_or_parcel / other), trained from a folder
of real clips plus generated objects, and evaluated live.

Training data, per clip of the labelled clip folder (`clip,label[,source_video]`, e.g. fight_surv):
- real: people. The clip's grey frames at the static foreground's 160-px width, against the clip's
  median frame; each foreground blob of a sampled frame is described as the detector describes a
  static blob (same mask rule, same descriptors). Clips of people are mostly people moving, so these
  blobs are labelled `person`.
- generated: bags, parcels and boxes (datasets/object_render.py) composited onto that median frame,
  and things that are neither (shadows, light, a moved part of the scene). Each is put through the
  live static foreground itself, frame after frame with sensor noise, until it is static; the static
  blob that covers it is described.
Every example carries its clip's source video as its group, and cross-validation keeps a group on one
side, so no scene is both trained and tested.

Evaluation replays footage live through the same frame loop as `run`: a folder with `events.csv`
(as ../shared/data/aboda: `video,event,first_frame,last_frame,x,y,w,h`) is scored against its
left_object rows; a clip folder with `labels.csv` has no left objects, so every left_object start in
it is a false alarm.
"""

from __future__ import annotations

import csv
import os
import sys

import numpy as np

from classifiers import object_store
from classifiers.metrics import write_evaluation
from classifiers.object_svm import CLASSES
from core.errors import UserError
from datasets.labelled import Item, read_labels
from datasets.object_render import place_bag, place_other
from detectors.left_object import LeftObjectConfig
from features.blob_descriptors import describe
from features.boxes import intersection
from features.frame_features import FrameFeatures
from features.motion import MotionConfig, blobs_of
from features.preprocess import close, disk
from features.static_foreground import StaticForeground
from pipeline.config import Config
from pipeline.replay import parallel_map, replay_clips
from sources.frame_source import FrameSource
from tasks.common import clip_digests, load_for_evaluation, warn_trained_on
from tasks.registry import Task, register_task

NAME = object_store.NAME
EVENT = "left_object"
PERSON, BAG, OTHER = (CLASSES.index(c) for c in ("person", "bag_or_parcel", "other"))
SIM_FPS = 10.0        # frame rate of the simulated static foreground (the time constants are in seconds)


def clip_greys(path: str, motion: MotionConfig) -> list[np.ndarray]:
    """Every frame of a clip as the cheap stage's 160-px grey (the static foreground's input), made
    by the cheap stage's own FrameFeatures."""
    out = []
    with FrameSource(path, reconnect=False) as src:
        features = FrameFeatures(motion, src.fps)
        for frame in src:
            features.prepare(frame.raw)
            out.append(features.tamper_grey.copy())  # its buffers are reused by the next frame
    return out


def person_examples(greys: list[np.ndarray], median: np.ndarray, cfg: LeftObjectConfig, every: int = 6,
                    per_frame: int = 2) -> list[np.ndarray]:
    """Descriptors of the largest foreground blobs of every `every`-th frame against the clip's median,
    masked as the static foreground masks (its threshold and closing). Only blobs of at least twice
    the static foreground's smallest blob count: the slivers of a moving limb or a shadow are not
    what a person who stops looks like. Frames where most of the picture changed (a cut, a camera
    move) are skipped: their blobs are not people."""
    import cv2

    if len(greys) < 3:
        return []
    min_area = 2 * cfg.min_area_frac * median.size
    kernel = disk(cfg.close_px)
    out = []
    for grey in greys[::every]:
        mask = np.where(np.abs(grey.astype(np.float32) - median) > cfg.threshold, 255, 0).astype(np.uint8)
        mask = close(mask, kernel)
        if cv2.countNonZero(mask) > 0.35 * mask.size:
            continue
        blobs = sorted(blobs_of(mask, min_area), key=lambda b: -b.area)[:per_frame]
        out += [describe(mask, grey, b.bbox) for b in blobs]
    return out


def static_example(background: np.ndarray, frame: np.ndarray, box, cfg: LeftObjectConfig,
                   rng: np.random.Generator) -> np.ndarray | None:
    """Put `frame` (the background with something added at `box`) through the live static foreground,
    with sensor noise, until it has been static long enough; describe the static blob over `box`.
    None when the object never becomes static (too like the floor): the detector would not see it."""
    sf = StaticForeground(cfg, SIM_FPS)
    noise = rng.normal(0, 2.0, (8,) + background.shape).astype(np.float32)
    for k in range(5):
        sf.update(np.clip(background + noise[k], 0, 255).astype(np.uint8))
    steps = int(np.ceil((cfg.after_s + 3 * cfg.short_tau_s) * SIM_FPS)) + 2
    blobs, grey = [], None
    for k in range(steps):
        grey = np.clip(frame + noise[k % 8], 0, 255).astype(np.uint8)
        blobs = sf.update(grey)
    best = max(blobs, key=lambda b: intersection(b.bbox, box), default=None)
    if best is None or intersection(best.bbox, box) == 0:
        return None
    return describe(sf.static_mask, grey, best.bbox)


def clip_examples(args) -> tuple[np.ndarray, np.ndarray]:
    """One clip's examples: (descriptors, class indices). Deterministic for a given seed."""
    path, cfg, motion, seed, n_bags, n_other = args
    rng = np.random.default_rng(seed)
    greys = clip_greys(path, motion)
    rows = []
    if greys:
        background = np.median(np.stack(greys), axis=0).astype(np.float32)
        rows = [(d, PERSON) for d in person_examples(greys, background, cfg)]
        for label, n, place in ((BAG, n_bags, place_bag), (OTHER, n_other, place_other)):
            for _ in range(n):
                frame, box, _kind = place(background.astype(np.uint8), rng)
                d = static_example(background, frame, box, cfg, rng)
                if d is not None:
                    rows.append((d, label))
    if not rows:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return np.stack([r[0] for r in rows]), np.array([r[1] for r in rows], np.int64)


def harvest(items: list[Item], cfg: Config, seed: int = 0, n_bags: int = 12, n_other: int = 5,
            jobs: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    args = [(it.path, cfg.left_object, cfg.motion, [seed, i], n_bags, n_other) for i, it in enumerate(items)]
    done = parallel_map(clip_examples, args, jobs, "objects: examples")
    X = np.concatenate([d[0] for d in done if len(d[1])]).astype(np.float64)
    y = np.concatenate([d[1] for d in done if len(d[1])])
    groups = np.concatenate([[it.group] * len(d[1]) for it, d in zip(items, done)])
    return X, y, groups


def _clips(folder: str) -> list[Item]:
    try:
        items = read_labels(folder, "fight")
    except UserError as exc:
        raise UserError(f"{exc}; task objects learns from a folder of clips") from None
    if len({it.group for it in items}) < 2:
        raise UserError(f"{folder}: task objects needs clips from at least two source videos")
    return items


def train(dataset: str, model_dir: str, cfg: Config) -> dict:
    from classifiers.object_classifier import ObjectClassifier

    items = _clips(dataset)
    X, y, groups = harvest(items, cfg)
    try:
        clf = ObjectClassifier().fit(X, y, groups)
    except ValueError as exc:
        raise UserError(f"{dataset}: {exc}") from None
    report = clf.cv_report(y)
    training = {"dataset": os.path.abspath(dataset), "n": int(len(y)),
                "per_class": {c: int(np.sum(y == i)) for i, c in enumerate(CLASSES)},
                "real": "person: foreground blobs of the clips' frames against each clip's median frame",
                "generated": "bag_or_parcel and other: drawn objects composited onto each clip's median frame, "
                             "through the live static foreground",
                "grouped_cv": report, "static_foreground": cfg.left_object.model_dump(),
                "clips": clip_digests({it.rel: it.path for it in items})}
    card = object_store.save(clf, model_dir, training)
    print("objects: grouped CV (by source video), out of fold: " + "; ".join(
        f"{c} precision {report[c]['precision']:.3f} recall {report[c]['recall']:.3f} (n={report[c]['n']})"
        for c in CLASSES), file=sys.stderr)
    return card


def _truth(folder: str) -> dict[str, list[dict]]:
    """events.csv: video -> its left_object rows (frames and box in the video's own numbers)."""
    path = os.path.join(folder, "events.csv")
    out: dict[str, list[dict]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"video", "event", "first_frame", "last_frame", "x", "y", "w", "h"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise UserError(f"{path}:1: expected a header with {','.join(sorted(need))}")
        for line, row in enumerate(reader, start=2):
            video = os.path.join(folder, row["video"])
            if not os.path.isfile(video):
                raise UserError(f"{path}:{line}: video not found: {row['video']}")
            rows = out.setdefault(row["video"], [])
            if row["event"] != EVENT:
                continue
            try:
                rows.append({k: int(row[k]) for k in ("first_frame", "last_frame", "x", "y", "w", "h")})
            except ValueError:
                raise UserError(f"{path}:{line}: frames and box must be whole numbers") from None
    if not out:
        raise UserError(f"{path}: no rows")
    return out


def _hits(truth: dict, start) -> bool:
    if not truth["first_frame"] <= start.frame <= truth["last_frame"] or start.bbox is None:
        return False
    return intersection(start.bbox, [truth[k] for k in ("x", "y", "w", "h")]) > 0


def evaluate(dataset: str, model_dir: str, out: str, cfg: Config) -> dict:
    """Live replay of footage: per video (events.csv) or clip (labels.csv), did the live path raise
    left_object where and when it should, and nowhere else. Score: its highest left_object score."""
    cfg, models, meta = load_for_evaluation(model_dir, cfg, NAME)
    if os.path.isfile(os.path.join(dataset, "events.csv")):
        truth = _truth(dataset)
        rels = sorted(truth)
        y = np.array([int(bool(truth[r])) for r in rels])
    elif os.path.isfile(os.path.join(dataset, "labels.csv")):
        rels = [it.rel for it in read_labels(dataset, None)]
        truth, y = {r: [] for r in rels}, np.zeros(len(rels), int)
    else:
        raise UserError(f"{dataset}: task objects evaluates a folder with events.csv or labels.csv")
    paths = [os.path.join(dataset, r) for r in rels]
    warn_trained_on(paths, meta, dataset, model_dir, NAME)
    done = replay_clips(paths, cfg, models, desc="objects: live replay")
    scores, pred, right, wrong, found = [], [], [], [], 0
    for rel, replay in zip(rels, done):
        starts = [e for e in replay.events if e.type == EVENT and e.is_start]
        good = [s for s in starts if any(_hits(t, s) for t in truth[rel])]
        found += sum(any(_hits(t, s) for s in starts) for t in truth[rel])
        scores.append(max((s.score for s in starts), default=0.0))
        pred.append(bool(starts))
        right.append(good)
        wrong.append([s for s in starts if s not in good])
    threshold = cfg.left_object.min_bag_prob
    frames = lambda starts: ";".join(str(s.frame) for s in starts)  # noqa: E731
    return write_evaluation(out, NAME, [(r, EVENT if v else "none") for r, v in zip(rels, y)], y,
                            np.array(scores), float(models[NAME].threshold_ if threshold is None else threshold), EVENT,
                            "none", pred=np.array(pred),
                            columns={"left_object_starts_on_truth": [frames(g) for g in right],
                                     "other_left_object_starts": [frames(w) for w in wrong]},
                            extra={"scored_by": "live replay: source -> cascade -> decision, as run",
                                   "truth_events": sum(len(v) for v in truth.values()), "truth_events_found": found,
                                   "false_starts": sum(len(w) for w in wrong), "model_sha256": meta["sha256"]})

register_task(Task(NAME, evaluate=evaluate, train=train, layout="fight_surv", model=NAME, backend="arrays"))

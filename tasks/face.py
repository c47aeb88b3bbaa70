"""Task `face`: covered or uncovered, from images of people (labels.csv: image,label; ../shared/CONTRACT.md).

Every image is scored by the live detector's own check (`detectors.face.FaceCheck`: the face cascade,
the crop, the descriptor, the model), so `evaluate` measures what the kiosk decides on a head region.

Training adds generated examples of real coverings (datasets/face_cover.py: scarf, balaclava, helmet,
hand, cloth mask with hood) drawn onto the training set's uncovered faces, one per face the cascade
finds; each is grouped with its source image, so cross-validation never splits a face from its cover.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from classifiers import face_store
from classifiers.metrics import write_evaluation
from core.errors import UserError
from datasets.face_cover import KINDS, clutter, cover
from datasets.labelled import Item, read_labels
from detectors.face import FaceCheck
from pipeline.config import Config
from pipeline.replay import parallel_map
from tasks.common import load_for_evaluation
from tasks.registry import Task, register_task

NAME = face_store.NAME


def _images(folder: str) -> list[Item]:
    return read_labels(folder, "face")


def _read(item: Item) -> np.ndarray:
    img = cv2.imread(item.path, cv2.IMREAD_COLOR)
    if img is None:
        raise UserError(f"{item.path}: not an image OpenCV can read")
    return img


_CHECK = None  # one per worker process: loading the cascade costs about as much as describing an image


def _describe(args) -> list[tuple[np.ndarray, int, str, bool]]:
    """One image -> its rows: (descriptor, label, kind, cascade found a face); with `generate`, a face
    the cascade finds also gives a row in other surroundings, and an uncovered one a covered row with
    a drawn covering."""
    global _CHECK
    item, generate, seed = args
    if _CHECK is None:
        _CHECK = FaceCheck(None)
    check = _CHECK
    img = _read(item)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    x, box = check.describe(grey)
    rows = [(x, item.y, "real_" + item.label, box is not None)]
    if generate and box is not None:
        rng = np.random.default_rng(seed)
        if item.y == 0:
            kind = KINDS[int(rng.integers(len(KINDS)))]
            covered = cv2.cvtColor(cover(img, box, kind, rng), cv2.COLOR_BGR2GRAY)
            xg, box_g = check.describe(covered)
            rows.append((xg, 1, "generated_" + kind, box_g is not None))
        # The same face in other surroundings, whatever its label: clothes and walls are not coverings.
        xc, box_c = check.describe(cv2.cvtColor(clutter(img, box, rng), cv2.COLOR_BGR2GRAY))
        rows.append((xc, item.y, "generated_surroundings_" + item.label, box_c is not None))
    return rows


def harvest(items: list[Item], generate: bool, jobs: int | None = None):
    out = parallel_map(_describe, [(it, generate, i) for i, it in enumerate(items)], jobs, desc="face: describe",
                       unit="image")
    X, y, groups, kinds, found = [], [], [], [], []
    for i, rows in enumerate(out):
        for x, label, kind, f in rows:
            X.append(x)
            y.append(label)
            groups.append(i)
            kinds.append(kind)
            found.append(f)
    return np.array(X, np.float32), np.array(y), np.array(groups), np.array(kinds), np.array(found)


def train(dataset: str, model_dir: str, cfg: Config) -> dict:
    from classifiers.face_classifier import FaceClassifier

    items = _images(dataset)
    X, y, groups, kinds, found = harvest(items, generate=True)
    try:
        clf = FaceClassifier().fit(X, y, groups)
    except ValueError as exc:
        raise UserError(f"{dataset}: {exc}") from None
    oof_pred = clf.oof_proba_ >= clf.threshold_
    by_kind = {k: {"n": int(np.sum(kinds == k)), "oof_accuracy": round(float(np.mean(oof_pred[kinds == k] == y[kinds == k])), 4)}
               for k in sorted(set(kinds.tolist()))}
    real = np.char.startswith(kinds.astype(str), "real_")
    training = {"dataset": os.path.abspath(dataset), "n": int(len(y)), "n_images": len(items),
                "real": "the folder's images as labelled",
                "generated": "covered: scarf, balaclava, helmet, hand, cloth mask with hood drawn onto the "
                             "uncovered faces the cascade found (datasets/face_cover.py)",
                "oof_by_kind": by_kind,
                "oof_accuracy_real_images": round(float(np.mean(oof_pred[real] == y[real])), 4),
                "cascade_found_real": round(float(np.mean(found[real])), 4)}
    card = face_store.save(clf, model_dir, training)
    print("face: out-of-fold accuracy (folds grouped by source image): " + "; ".join(
        f"{k} {v['oof_accuracy']:.3f} (n={v['n']})" for k, v in by_kind.items()), file=sys.stderr)
    return card


def evaluate(dataset: str, model_dir: str, out: str, cfg: Config) -> dict:
    """Each image scored by the live check: P(covered) of the face the cascade finds, or of the whole
    image when it finds none; covered when at or above the threshold the detector uses."""
    cfg, models, meta = load_for_evaluation(model_dir, cfg, NAME)
    items = _images(dataset)
    X, _, _, _, found = harvest(items, generate=False)
    y = np.array([it.y for it in items])
    check = FaceCheck(models[NAME], cfg.face.min_covered_prob)   # the detector's own check and threshold
    threshold = check.threshold
    scores = check.covered_proba(X)
    haar_alone = float(np.mean((~found).astype(int) == y))
    return write_evaluation(out, NAME, [(it.rel, it.label) for it in items], y, scores, float(threshold), "covered",
                            "uncovered", columns={"face_found": [int(f) for f in found]},
                            extra={"scored_by": "detectors.face.FaceCheck: the live detector's face check",
                                   "face_found_fraction": round(float(np.mean(found)), 4),
                                   "accuracy_face_found_alone": round(haar_alone, 4),
                                   "model_sha256": meta["sha256"]})


register_task(Task(NAME, evaluate=evaluate, train=train, layout="face_mask/train", model=NAME, backend="arrays"))

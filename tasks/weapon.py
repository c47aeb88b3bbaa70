"""Task `weapon`: is this person armed? Scored per person box, as ../shared/CONTRACT.md says.

Every person box of a labelled image folder (`image,label,boxes[,source_group]`) becomes one example:
its crop as the kiosk's stage 2 cuts it (features/person_crop.py), labelled armed when a weapon box
lies over half inside it (datasets/weapon_boxes.py). The image-level label is not used to score: a
scene's look gives it away (see ../shared/data/README.md).

- `train`: the CNN (classifiers/weapon_cnn.py) on a fixed schedule, calibrated and its threshold
  fitted on a validation part of whole source groups; saved as `weapon` (Keras) and at once exported
  for LiteRT (`weapon_lite`), so `evaluate` and `run` work without a separate `export` (which redoes it).
- `evaluate`: the exported model (LiteRT, as the kiosk runs it) on every person box.
- `--cv K`: grouped by source group, the CNN and the HOG + linear SVM baseline on the same folds;
  out-of-fold metrics for the CNN and `comparison.json` for both.
"""

from __future__ import annotations

import json
import os
import sys
from typing import NamedTuple

import cv2
import numpy as np

from classifiers import weapon_store
from classifiers.metrics import auc_by_stratum, write_evaluation
from core.errors import UserError
from datasets.labelled import Item, read_labels
from datasets.weapon_boxes import labelled_people, read_boxes
from features.person_crop import crop_input
from pipeline.config import Config
from tasks.common import load_for_evaluation
from tasks.registry import Task, register_task

NAME = weapon_store.KERAS_NAME


class PersonRow(NamedTuple):
    image: str                           # relative to the dataset
    person: int                          # its index among the image's person boxes
    box: tuple[int, int, int, int]       # x, y, w, h in the image's pixels
    picture_share: float                 # the box's share of the picture's area


def person_examples(items: list[Item]):
    """(crops (n, *SHAPE) float32, armed (n,), group (n,), rows [PersonRow])."""
    X, y, groups, rows = [], [], [], []
    for it in items:
        grey = cv2.imread(it.path, cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise UserError(f"{it.path}: not an image OpenCV can read")
        H, W = grey.shape
        for k, (person, armed) in enumerate(labelled_people(read_boxes(it.boxes))):
            box = person.pixels(W, H)
            x = crop_input(grey, box)
            if x is None:
                continue
            X.append(x)
            y.append(int(armed))
            groups.append(it.group)
            rows.append(PersonRow(it.rel, k, box, box[2] * box[3] / float(W * H)))
    if not X:
        raise UserError("no person boxes in the dataset (task weapon is scored per person box, class 0)")
    return np.stack(X).astype(np.float32), np.array(y), np.array(groups), rows


def _items(dataset: str) -> list[Item]:
    return read_labels(dataset, "weapon")


def train(dataset: str, model_dir: str, cfg: Config, epochs: int | None = None, members: int | None = None,
          jobs: int | None = None) -> dict:
    # Imported here: the training module (scikit-learn, Keras) is for the commands that train, not the kiosk's.
    from classifiers.weapon_cnn import EPOCHS, MEMBERS, WeaponClassifier

    X, y, groups, _ = person_examples(_items(dataset))
    if len(set(groups.tolist())) < 4:
        raise UserError(f"{dataset}: task weapon needs person boxes from at least four source groups")
    try:
        clf, = fit_side_by_side([WeaponClassifier(epochs=epochs or EPOCHS, members=members or MEMBERS)],
                                [(X, y, groups)], jobs, "weapon: networks")
    except ValueError as exc:
        raise UserError(f"{dataset}: {exc}") from None
    print(f"weapon: validation AUC {clf.val_auc_:.3f} per person box (whole source groups held out; the mean of "
          f"{clf.members} networks of {clf.epochs_run_} epochs); threshold {clf.threshold_:.3f}: armed people over "
          f"it {clf.val_recall_:.3f}, unarmed {clf.val_false_alarm_:.3f}", file=sys.stderr)
    training = {"dataset": os.path.abspath(dataset), "n": int(len(y)),
                "per_class": {"unarmed": int(np.sum(y == 0)), "armed": int(np.sum(y == 1))},
                "n_groups": int(len(set(groups.tolist()))),
                "real": "person boxes of the labelled images, armed when a weapon box lies over half inside",
                "generated": "none (augmented on the fly: box shift and scale, brightness, contrast, noise, "
                             "salt and pepper through the crop's median, blur, JPEG, mirror)",
                "val_auc": round(clf.val_auc_, 4), "val_recall_at_threshold": round(clf.val_recall_, 4),
                "val_false_alarm_at_threshold": round(clf.val_false_alarm_, 4),
                # The model is the mean of `members` networks: epochs and validation AUCs are per member.
                "members": clf.members, "epochs_run": clf.epochs_run_, "val_auc_history": clf.history_}
    card = weapon_store.save_keras(clf, model_dir, training)
    weapon_store.export(model_dir)   # the kiosk's LiteRT files at once: evaluate and run need no extra step
    return card


def export(model_dir: str) -> dict:
    return weapon_store.export(model_dir)


def evaluate(dataset: str, model_dir: str, out: str, cfg: Config) -> dict:
    cfg, models, meta = load_for_evaluation(model_dir, cfg, weapon_store.NAME)
    model = models[weapon_store.NAME]
    X, y, _, rows = person_examples(_items(dataset))
    scores = np.array([model.predict_proba(x)[1] for x in X])
    return write_evaluation(out, "weapon", [(r.image, "weapon" if a else "no_weapon") for r, a in zip(rows, y)],
                            y, scores, float(model.threshold_), "weapon", "no_weapon",
                            columns={"person": [r.person for r in rows], "box": [list(r.box) for r in rows]},
                            extra={"scored_by": "per person box: its crop as stage 2 cuts it, the exported model "
                                                "(LiteRT float), as run", "model_sha256": meta["sha256"],
                                   "auc_by_person_size": by_person_size(y, scores, rows)})


def by_person_size(y: np.ndarray, scores: np.ndarray, rows: list[PersonRow]) -> dict:
    """The AUC among people of about one size (thirds by the box's share of the picture), and of size alone.
    Why: a person's size in the picture says nothing of a weapon at a kiosk (it is where they stand), but
    in a development set it can (robberies photographed close, shoplifters from afar): the pooled AUC
    counts what the crop's look gives away about size (its sharpness), the thirds mostly do not."""
    res = {"by": "the person box's share of the picture's area, three equal-count parts, smallest first",
           **auc_by_stratum(y, scores, np.array([r.picture_share for r in rows]))}
    print(f"weapon: AUC among people of about one size (smallest third first) {res['auc']}; size alone "
          f"{res['auc_of_it_alone']}", file=sys.stderr)
    return res


def cross_validate(dataset: str, out: str, cfg: Config, folds: int = 5, seed: int = 0, epochs: int | None = None,
                   jobs: int | None = None) -> dict:
    """Grouped K-fold per person box: the CNN and the HOG + linear SVM on the same folds, each fold's
    networks trained side by side with the other folds' (`fit_side_by_side`)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    from classifiers.weapon_cnn import EPOCHS, HogLinearSVM, WeaponClassifier

    X, y, groups, rows = person_examples(_items(dataset))
    if len(set(groups.tolist())) < folds:
        raise UserError(f"{dataset}: --cv {folds} needs person boxes from at least {folds} source groups")
    splits = list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(X, y, groups))
    try:
        fitted = fit_side_by_side([WeaponClassifier(epochs=epochs or EPOCHS, seed=seed) for _ in splits],
                                  [(X[tr], y[tr], groups[tr]) for tr, _ in splits], jobs, "weapon: fold networks")
    except ValueError as exc:   # a fold's training part cannot be split or lacks a class: the dataset's
        raise UserError(f"{dataset}: --cv {folds}: {exc}") from None
    cnn, hog = np.zeros(len(y)), np.zeros(len(y))
    # Each fold's box is judged at its own fold's threshold (fitted on that fold's training groups).
    fold_thr = np.zeros(len(y))
    for k, ((tr, te), clf) in enumerate(zip(splits, fitted)):
        cnn[te], fold_thr[te] = clf.predict_proba(X[te])[:, 1], clf.threshold_
        hog[te] = HogLinearSVM().fit(X[tr], y[tr]).decision_function(X[te])
        print(f"weapon: fold {k + 1}/{folds}: CNN AUC {roc_auc_score(y[te], cnn[te]):.3f}, "
              f"HOG + linear SVM AUC {roc_auc_score(y[te], hog[te]):.3f}", file=sys.stderr)
    comparison = {"cnn_auc": round(float(roc_auc_score(y, cnn)), 4),
                  "hog_linear_svm_auc": round(float(roc_auc_score(y, hog)), 4),
                  "folds": folds, "seed": seed, "n_person_boxes": int(len(y)),
                  "networks_per_fold": fitted[0].members, "epochs_per_network": fitted[0].epochs_run_,
                  "scores": "out of fold, folds grouped by source group"}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "comparison.json"), "w", encoding="utf-8") as fh:
        json.dump(comparison, fh, indent=2)
    return write_evaluation(out, "weapon", [(r.image, "weapon" if a else "no_weapon") for r, a in zip(rows, y)],
                            y, cnn, float(np.median([clf.threshold_ for clf in fitted])), "weapon", "no_weapon",
                            pred=cnn >= fold_thr,
                            columns={"person": [r.person for r in rows], "box": [list(r.box) for r in rows],
                                     "hog_svm_score": [round(float(s), 6) for s in hog]},
                            extra={"cv_folds": folds, "cv_seed": seed, "comparison": comparison,
                                   "scored_by": "out of fold per person box (the CNN in Keras, as trained)",
                                   "auc_by_person_size": by_person_size(y, cnn, rows)})


def fit_side_by_side(models: list, problems: list[tuple[np.ndarray, np.ndarray, np.ndarray]], jobs: int | None,
                     desc: str) -> list:
    """classifiers/weapon_cnn.fit_all with every network of every model in its own job, on up to `jobs`
    worker processes (default one per core) of one thread each (classifiers/training.one_training_thread;
    pipeline/replay.parallel_map). Why per network, not per model: five folds of three networks are
    fifteen equal jobs, which two cores finish in eight rounds; five jobs of three networks each would
    take nine."""
    from classifiers.training import one_training_thread
    from classifiers.weapon_cnn import fit_all
    from pipeline.replay import parallel_map

    networks = sum(clf.members for clf in models)
    return fit_all(models, problems, lambda fn, work: parallel_map(
        fn, work, min(networks, jobs or os.cpu_count() or 1), desc=desc, unit="network",
        initializer=one_training_thread, min_items=2, chunksize=1))


register_task(Task(NAME, evaluate=evaluate, train=train, cross_validate=cross_validate, layout="weapon", model=NAME,
                   backend="keras", export=export))


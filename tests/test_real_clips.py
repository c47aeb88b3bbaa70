"""Crowding and fight on real CCTV clips from ../shared/data/fight_surv (skipped when absent).

Which clips show what was checked by eye: nofi019 is an ATM lobby with one customer at the machine
and a second person walking in; fi007 a bar terrace with several people; nofi039 one passenger
walking down a bus; nofi062 one man walking along a corridor.
"""

import csv

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from classifiers.fight_classifier import FightClassifier
from conftest import shared
from features.clips import clip_vectors
from pipeline.classical import ClassicalStage
from pipeline.config import Config
from sources.frame_source import FrameSource


def _crowding_frames(path: str) -> int:
    cfg = Config()
    cfg.motion.calibrate_frames = 5
    cfg.crowding.persist_s = 1.0
    with FrameSource(path, process_width=cfg.source.process_width, reconnect=False) as src:
        stage = ClassicalStage(cfg, src.fps)
        return sum(any(f.type == "crowding" for f in stage.process(fr.raw).flags) for fr in src)


@pytest.mark.parametrize("clip", ["noFight/nofi019.mp4", "fight/fi007.mp4"])
def test_crowding_flagged_with_several_people(clip):
    assert _crowding_frames(shared("fight_surv", clip)) > 0


@pytest.mark.parametrize("clip", ["noFight/nofi039.mp4", "noFight/nofi062.mp4"])
def test_no_crowding_with_one_person(clip):
    assert _crowding_frames(shared("fight_surv", clip)) == 0


@pytest.fixture(scope="module")
def fight_features():
    folder = shared("fight_surv")
    with open(f"{folder}/labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    X = clip_vectors([f"{folder}/{r['clip']}" for r in rows], Config(), jobs=2, desc="test features")
    y = np.array([r["label"] == "fight" for r in rows], int)
    groups = np.array([r["source_video"] for r in rows])
    return X, y, groups


def test_fight_scores_unseen_scenes(fight_features):
    """Trained on some source videos, the classifier ranks fights above normal clips in the others."""
    X, y, groups = fight_features
    names = sorted(set(groups.tolist()))
    held = set(names[::3])  # a third of the source videos, never seen in training
    te = np.array([g in held for g in groups])
    clf = FightClassifier().fit(X[~te], y[~te], groups=groups[~te])
    scores = clf.decision_scores(X[te])
    assert roc_auc_score(y[te], scores) > 0.7
    assert 0.0 <= clf.threshold_ <= 1.0

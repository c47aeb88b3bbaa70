"""The model store: a validated card, every file's sha256 checked before it is opened, and nothing
loaded that can run code, also when an attacker rewrites the card to match a crafted file."""

from __future__ import annotations

import hashlib
import json
import os
import pickle

import numpy as np
import pytest

import run as run_py
from classifiers import fight_store
from classifiers.fight_classifier import WINDOW_FEATURES, FightClassifier
from classifiers.model_store import ModelCard
from core.errors import UserError
from pipeline.config import Config
from pipeline.models import load_models


def _saved(tmp_path) -> str:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, len(WINDOW_FEATURES))) + np.repeat([[0.0], [1.0]], 30, axis=0)
    y = np.repeat([0, 1], 30)
    clf = FightClassifier().fit(X, y)
    fight_store.save(clf, str(tmp_path), Config(), training={"n": 60})
    return str(tmp_path)


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class _Boom:
    """Unpickling this creates a marker file: the proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_saved_model_scores_as_the_fitted_one_and_uses_the_cards_threshold(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, len(WINDOW_FEATURES))) + np.repeat([[0.0], [1.0]], 30, axis=0)
    clf = FightClassifier().fit(X, np.repeat([0, 1], 30))
    fight_store.save(clf, str(tmp_path), Config(), training={})
    model, card = fight_store.load(str(tmp_path))
    assert np.allclose(model.decision_scores(X), clf.decision_scores(X), atol=1e-9)
    assert model.threshold_ == card["threshold"] == clf.threshold_
    # A threshold edited in the card is refused (the card carries its own checksum); a site that
    # wants another threshold sets fight.threshold in its configuration.
    path = tmp_path / "fight.json"
    data = json.loads(path.read_text())
    data["threshold"] = 0.123
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="card checksum mismatch"):
        fight_store.load(str(tmp_path))


def test_one_changed_byte_is_refused_with_one_line(tmp_path):
    d = _saved(tmp_path)
    blob = tmp_path / "fight.npz"
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(UserError, match="checksum mismatch"):
        fight_store.load(d)


def test_a_crafted_pickle_with_a_matching_checksum_never_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"
    models = tmp_path / "models"
    models.mkdir()
    blob = models / "fight.joblib"
    blob.write_bytes(pickle.dumps(_Boom(str(marker))))
    # The old layout: a pickle and a JSON whose sha256 the attacker updated to match.
    (models / "fight.json").write_text(json.dumps({"sha256": _sha(blob), "threshold": 0.0,
                                                   "features": list(WINDOW_FEATURES)}))
    code = run_py.main(["run", "--source", str(blob), "--model-dir", str(models)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "retrain" in err[0] and "pickle" in err[0]
    assert not marker.exists()
    # The same pickle smuggled into the arrays file, with the card rewritten to match: still refused.
    d = _saved(tmp_path / "m2")
    npz = tmp_path / "m2" / "fight.npz"
    with open(npz, "wb") as fh:
        np.savez(fh, columns=np.array([_Boom(str(marker))], dtype=object))
    card = json.loads((tmp_path / "m2" / "fight.json").read_text())
    card["files"]["fight.npz"] = _sha(npz)
    card["card_sha256"] = ModelCard.model_validate(card).content_digest()  # the attacker recomputes it too
    (tmp_path / "m2" / "fight.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match="unreadable"):
        fight_store.load(d)
    assert not marker.exists()


def test_cards_that_point_outside_or_at_a_pickle_are_refused(tmp_path):
    d = _saved(tmp_path)
    path = tmp_path / "fight.json"
    good = json.loads(path.read_text())
    # Schema checks come first: even a card whose checksum an attacker recomputed is refused.
    for files in ({"../fight.npz": good["files"]["fight.npz"]}, {"fight.joblib": "0" * 64}):
        path.write_text(json.dumps({**good, "files": files}))
        with pytest.raises(UserError, match="not valid"):
            fight_store.load(d)
    path.write_text(json.dumps({**good, "threshold": 7}))
    with pytest.raises(UserError, match="threshold"):
        fight_store.load(d)


def test_half_a_model_is_refused_not_replaced_by_the_builtin_rule(tmp_path):
    d = _saved(tmp_path)
    os.remove(tmp_path / "fight.npz")
    with pytest.raises(UserError, match="missing"):
        load_models(d, Config())
    _saved(tmp_path)
    os.remove(tmp_path / "fight.json")
    with pytest.raises(UserError, match="not found"):
        load_models(d, Config())


def test_thresholds_maximise_their_criterion():
    from classifiers.thresholds import best_threshold

    pos = np.array([0, 0, 0, 1, 1, 1, 0, 1], bool)
    p = np.array([0.1, 0.2, 0.35, 0.4, 0.8, 0.9, 0.85, 0.3])
    # Cut at 0.4: 3 of 4 positives, 1 false alarm; F1 = 6/8, balanced accuracy = (0.75 + 0.75) / 2.
    assert best_threshold(pos, p, "f1") == pytest.approx(0.3)        # all 4 at the price of 2 false: F1 0.8
    assert best_threshold(pos, p, "balanced_accuracy") == pytest.approx(0.3)
    assert best_threshold(np.array([1, 0], bool), np.array([0.9, 0.1]), "f1") == pytest.approx(0.9)

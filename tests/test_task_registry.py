"""One seam for every model: a toy task and its model, defined in this file alone, are trained and
saved through the task registry, listed, loaded with their checksums verified, and refused with one
line when a byte of any of their files changes, or when the folder's signature does not match."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import run as run_py
from classifiers.model_store import SIGNATURE, load_arrays, save_arrays
from classifiers.registry import ModelSpec, register_model, unregister_model
from core.errors import UserError
from pipeline.config import load_config
from pipeline.models import describe_models, load_models
from tasks.registry import Task, register_task, unregister_task


def _toy_load(model_dir: str):
    arrays, card = load_arrays(model_dir, "toy", f"python run.py train --task toy --model-dir {model_dir}")
    return arrays["w"], dict(card.model_dump(), sha256=card.sha256)


def _toy_train(dataset: str, model_dir: str, cfg) -> dict:
    with open(os.path.join(dataset, "labels.csv")) as fh:
        n = len(fh.read().splitlines()) - 1
    card = save_arrays(model_dir, "toy", {"w": np.arange(4.0) * n}, task="toy", classes=["no", "yes"],
                       threshold=0.5, training={"n": n, "dataset": dataset})
    return dict(card.model_dump(), sha256=card.sha256)


def _toy_evaluate(dataset, model_dir, out, cfg) -> dict:
    return {}


@pytest.fixture
def toy_task():
    register_model(ModelSpec("toy", _toy_load))
    register_task(Task("toy", evaluate=_toy_evaluate, train=_toy_train, layout="toy_set", model="toy",
                       backend="arrays"))
    yield
    unregister_task("toy")
    unregister_model("toy")


@pytest.fixture
def toy_root(tmp_path):
    folder = tmp_path / "data" / "toy_set"
    folder.mkdir(parents=True)
    (folder / "labels.csv").write_text("clip,label\na.mp4,fight\nb.mp4,normal\n")
    return tmp_path / "data"


def test_trained_listed_loaded_and_refused_when_a_byte_changes(toy_task, toy_root, tmp_path, capsys):
    models = tmp_path / "models"
    assert run_py.main(["train", "--task", "toy", "--dataset", str(toy_root / "toy_set"),
                        "--model-dir", str(models)]) == 0
    assert sorted(os.listdir(models)) == ["toy.json", "toy.npz"]
    cfg, loaded, metas = load_models(str(models), load_config())
    assert np.array_equal(loaded["toy"], np.arange(4.0) * 2) and metas["toy"]["training"]["n"] == 2
    assert "toy (sha256 " in describe_models(metas, str(models))
    assert run_py.main(["export", "--model-dir", str(models)]) == 0
    assert "toy (arrays)" in capsys.readouterr().out
    for name in ("toy.npz", "toy.json"):
        path = models / name
        kept = path.read_bytes()
        changed = bytearray(kept)
        changed[len(changed) // 2] ^= 0x01
        path.write_bytes(bytes(changed))
        with pytest.raises(UserError):
            load_models(str(models), load_config())
        code = run_py.main(["run", "--source", str(path), "--model-dir", str(models)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "toy" in err[0], err
        path.write_bytes(kept)
    assert "toy" in load_models(str(models), load_config())[1]


def test_train_all_says_what_it_trained_and_skipped(toy_task, toy_root, tmp_path, capsys):
    assert run_py.main(["train", "--task", "all", "--dataset", str(toy_root), "--model-dir",
                        str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert "trained: toy;" in err and "fight (no fight_surv/labels.csv)" in err
    assert "tamper (nothing to train" in err and "weapon (no weapon/labels.csv)" in err


def test_a_signed_folder_is_verified_before_anything_is_opened(toy_task, toy_root, tmp_path, capsys):
    key = tmp_path / "site.key"
    key.write_bytes(os.urandom(32).hex().encode())
    models = tmp_path / "models"
    site = tmp_path / "site.yaml"
    site.write_text(json.dumps({"models": {"signing_key": str(key)}}))
    assert run_py.main(["train", "--task", "toy", "--dataset", str(toy_root / "toy_set"), "--model-dir",
                        str(models), "--config", str(site)]) == 0
    assert (models / SIGNATURE).is_file()
    cfg = load_config(str(site))
    assert "toy" in load_models(str(models), cfg)[1]
    # A file planted beside the models (a pickle, say) breaks the signature: nothing is loaded.
    (models / "extra.joblib").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UserError, match="does not match its signature"):
        load_models(str(models), cfg)
    code = run_py.main(["run", "--source", str(key), "--model-dir", str(models), "--config", str(site)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "signature" in err[0]
    os.remove(models / "extra.joblib")
    assert "toy" in load_models(str(models), cfg)[1]
    # Signed with another key: refused; unsigned: refused; a key kept inside the folder: refused.
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32).hex().encode())
    assert run_py.main(["sign", "--model-dir", str(models), "--key", str(other)]) == 0
    with pytest.raises(UserError, match="does not match its signature"):
        load_models(str(models), cfg)
    os.remove(models / SIGNATURE)
    with pytest.raises(UserError, match="not signed"):
        load_models(str(models), cfg)
    inside = models / "key"
    inside.write_bytes(os.urandom(32).hex().encode())
    with pytest.raises(UserError, match="inside the model folder"):
        load_models(str(models), load_config(None, [f"models.signing_key={inside}"]))
    capsys.readouterr()

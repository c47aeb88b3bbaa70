"""Where the face classifier is kept: its name, saving and loading it through the model store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classifiers.face_model import CLASSES, FaceModel
from classifiers.model_store import load_model, save_arrays
from classifiers.registry import ModelSpec, register_model
from features.face_region import CASCADE, DESCRIPTOR_SIZE, FACE_SIZE

if TYPE_CHECKING:  # training only
    from classifiers.face_classifier import FaceClassifier

NAME = "face"
# The descriptor's identity: a model trained on another crop, size or cascade is refused at load.
FEATURES = [f"hog{FACE_SIZE}_{DESCRIPTOR_SIZE}", CASCADE]


def retrain_hint(model_dir: str) -> str:
    return f"python run.py train --task face --dataset FOLDER --model-dir {model_dir}"


def save(clf: "FaceClassifier", model_dir: str, training: dict) -> dict:
    card = save_arrays(model_dir, NAME, clf.to_arrays(), task=NAME, classes=list(CLASSES),
                       threshold=float(clf.threshold_), features=FEATURES, training=training,
                       threshold_rule="covered probability maximising balanced accuracy on out-of-fold "
                                      "probabilities, folds grouped by source image")
    return dict(card.model_dump(), sha256=card.sha256)


def load(model_dir: str) -> tuple[FaceModel, dict]:
    """The face classifier and its card (checksums verified first; no pickle involved)."""
    return load_model(model_dir, NAME, retrain_hint(model_dir), FEATURES, FaceModel, list(CLASSES))


register_model(ModelSpec(NAME, load))

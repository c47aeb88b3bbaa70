"""Where the left-object classifier is kept: its name, saving and loading it through the model store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classifiers.model_store import load_model, save_arrays
from classifiers.object_svm import CLASSES, ObjectSvmModel
from classifiers.registry import ModelSpec, register_model
from features.blob_descriptors import DESCRIPTOR_NAMES

if TYPE_CHECKING:  # training only
    from classifiers.object_classifier import ObjectClassifier

NAME = "objects"


def retrain_hint(model_dir: str) -> str:
    return f"python run.py train --task objects --dataset FOLDER --model-dir {model_dir}"


def save(clf: "ObjectClassifier", model_dir: str, training: dict) -> dict:
    card = save_arrays(model_dir, NAME, clf.to_arrays(), task=NAME, classes=list(CLASSES),
                       threshold=float(clf.threshold_), features=list(DESCRIPTOR_NAMES), training=training,
                       threshold_rule="bag_or_parcel probability maximising F1 against the other classes, "
                                      "on out-of-fold probabilities, folds grouped by source video")
    return dict(card.model_dump(), sha256=card.sha256)


def load(model_dir: str) -> tuple[ObjectSvmModel, dict]:
    """The left-object classifier and its card (checksums verified first; no pickle involved)."""
    return load_model(model_dir, NAME, retrain_hint(model_dir), list(DESCRIPTOR_NAMES), ObjectSvmModel, list(CLASSES))


register_model(ModelSpec(NAME, load))

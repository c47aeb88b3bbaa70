"""Where the deep model is kept: the trained Keras tower (`deep`, for export only) and its LiteRT
export (`deep_lite`, what a kiosk loads), each with a validated card beside its files.

- `deep`: `deep.keras` (the tower alone, loaded in safe mode) and `deep_representative.npz` (inputs
  drawn from the training frames, for int8 calibration). Not loaded by `run`.
- `deep_lite`: `deep_float.tflite` and `deep_int8.tflite`, written by `python run.py export`; the card
  says the input shape, classes, veto threshold, input variant (preprocessing), and how far LiteRT
  float and int8 are from Keras on the representative inputs.
"""

from __future__ import annotations

from typing import Any

from classifiers.deep_lite import DeepLiteModel
from classifiers.model_store import read_card, save_files, verified_bytes
from classifiers.registry import ModelSpec, register_model
from core.errors import UserError
from features.deep_input import CHANNELS, SIZE

KERAS_NAME = "deep"
NAME = "deep_lite"
CLASSES = ["normal", "fight"]


def features(variant: str) -> list[str]:
    return [f"deep_input:{variant}:{SIZE}x{SIZE}x{CHANNELS}"]


def retrain_hint(model_dir: str) -> str:
    return f"python run.py train --task deep --dataset FOLDER --model-dir {model_dir}"


def save_keras(clf, model_dir: str, variant: str, training: dict) -> dict:
    from classifiers.deep_cnn import representative_bytes

    card = save_files(model_dir, KERAS_NAME, "keras",
                      {"deep.keras": clf.keras_bytes(),
                       "deep_representative.npz": representative_bytes(clf.representative_)},
                      task="deep", classes=CLASSES, threshold=float(clf.threshold_), features=features(variant),
                      training=training, variant=variant, input_shape=[SIZE, SIZE, CHANNELS],
                      threshold_rule="P(fight) that keeps 95 % of the fight frames of a validation part holding "
                                     "whole source videos: stage 2 vetoes a fight flag under it")
    return dict(card.model_dump(), sha256=card.sha256)


def export(model_dir: str) -> dict:
    """`deep_lite` from `deep`: LiteRT float and int8, compared with Keras on the representative inputs."""
    from classifiers.deep_cnn import class_agreement, tower_for_export

    card = read_card(model_dir, KERAS_NAME, retrain_hint(model_dir))
    model, rep, buffers = tower_for_export(model_dir, card, "deep.keras", "deep_representative.npz",
                                           {"deep.keras", "deep_representative.npz"}, "deep")
    extra: dict[str, Any] = card.model_extra or {}
    variant = extra.get("variant", "grey")
    lite = DeepLiteModel(buffers, card.classes, card.threshold, variant)
    agreement = class_agreement(model.predict(rep, verbose=0), lite.predict_proba, rep, card.threshold)
    out = save_files(model_dir, NAME, "tflite", {"deep_float.tflite": buffers["float"],
                                                 "deep_int8.tflite": buffers["int8"]},
                     task="deep", classes=card.classes, threshold=card.threshold, features=card.features,
                     training={"from": KERAS_NAME, "keras_card_sha256": card.card_sha256,
                               "clips": card.training.get("clips") or {}},
                     variant=variant, input_shape=[SIZE, SIZE, CHANNELS], litert_vs_keras=agreement)
    return dict(out.model_dump(), sha256=out.sha256)


def load(model_dir: str) -> tuple[DeepLiteModel, dict]:
    """The exported deep model (LiteRT), checksums verified first."""
    card = read_card(model_dir, NAME, retrain_hint(model_dir) + f"; then python run.py export --model-dir {model_dir}")
    extra = card.model_extra or {}
    variant = extra.get("variant")
    if card.backend != "tflite" or card.classes != CLASSES or variant is None or card.features != features(variant):
        raise UserError(f"deep model in {model_dir} was exported for other inputs or classes than this version "
                        f"uses; retrain and export it")
    buffers = {p: verified_bytes(model_dir, card, f"deep_{p}.tflite") for p in ("float", "int8")
               if f"deep_{p}.tflite" in card.files}
    try:
        model = DeepLiteModel(buffers, card.classes, card.threshold, variant)
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"deep model in {model_dir} is not usable ({exc}); export it again") from None
    return model, dict(card.model_dump(), sha256=card.sha256)


register_model(ModelSpec(NAME, load))

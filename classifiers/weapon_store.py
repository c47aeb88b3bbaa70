"""Where the weapon classifier is kept, each with a validated card beside its files:

- `weapon` (training and export only): `weapon.keras` (the tower alone, loaded in safe mode) and
  `weapon_representative.npz` (training crops for int8 calibration).
- `weapon_lite` (what a kiosk loads): `weapon_float.tflite` and `weapon_int8.tflite`; the card says
  the input shape, classes, threshold, and how far LiteRT is from Keras on the representative crops.
"""

from __future__ import annotations

import numpy as np

from classifiers.lite_runner import LiteRunner
from classifiers.model_store import read_card, save_files, verified_bytes
from classifiers.registry import ModelSpec, register_model
from core.errors import UserError
from features.person_crop import HEIGHT, MARGIN, SHAPE, WIDTH

KERAS_NAME = "weapon"
NAME = "weapon_lite"
CLASSES = ["unarmed", "armed"]
ARMED = CLASSES.index("armed")
# The crop's recipe: a model trained on crops made another way fails its card check (retrain).
FEATURES = [f"person_crop:median3+grey+box:{HEIGHT}x{WIDTH}x{SHAPE[2]}:margin{MARGIN:g}"]


def retrain_hint(model_dir: str) -> str:
    return f"python run.py train --task weapon --dataset FOLDER --model-dir {model_dir}"


# logit and the logistic in numpy, not scipy.special: the kiosk applies them and never imports SciPy.
def logit(p: np.ndarray | float) -> np.ndarray | float:
    p = np.clip(p, 1e-6, 1.0 - 1e-6)
    return np.log(p) - np.log1p(-p)


def calibrated(raw: np.ndarray | float, calibration: tuple[float, float]) -> np.ndarray | float:
    """The network's P(armed) through the card's Platt scaling (slope, intercept on its logit)."""
    slope, intercept = calibration
    return 1.0 / (1.0 + np.exp(-(slope * logit(raw) + intercept)))


class WeaponLiteModel:
    """`predict_proba(x)` -> (unarmed, armed) for one person crop of SHAPE, calibrated; `threshold_`
    on P(armed)."""

    def __init__(self, flatbuffers: dict[str, bytes], threshold: float, calibration: tuple[float, float],
                 precision: str = "float"):
        self.classes_ = tuple(CLASSES)
        self.threshold_ = float(threshold)
        self.calibration = (float(calibration[0]), float(calibration[1]))
        self.runner = LiteRunner(flatbuffers, SHAPE, len(CLASSES), precision)

    def predict_proba(self, x: np.ndarray, precision: str | None = None) -> np.ndarray:
        p = float(calibrated(float(self.runner(x, precision)[ARMED]), self.calibration))
        return np.array([1.0 - p, p], np.float32)


def save_keras(clf, model_dir: str, training: dict) -> dict:
    from classifiers.deep_cnn import keras_model_bytes, representative_bytes

    card = save_files(model_dir, KERAS_NAME, "keras",
                      {"weapon.keras": keras_model_bytes(clf.model_),
                       "weapon_representative.npz": representative_bytes(clf.representative_)},
                      task="weapon", classes=CLASSES, threshold=float(clf.threshold_), features=FEATURES,
                      training=training, input_shape=list(SHAPE), calibration=calibration_card(clf.calibration_),
                      threshold_rule=f"the lowest P(armed) that leaves at most {clf.max_false_alarm:g} of the unarmed "
                                     f"people of a validation part holding whole source groups over it (an attack "
                                     f"alarm must be rare on unarmed people)")
    return dict(card.model_dump(), sha256=card.sha256)


def calibration_card(calibration: tuple[float, float]) -> dict:
    return {"slope": float(calibration[0]), "intercept": float(calibration[1]),
            "rule": "P(armed) = 1 / (1 + exp(-(slope * logit(p) + intercept))), p the network's softmax P(armed); "
                    "fitted on the validation part (Platt scaling)"}


def card_calibration(card, model_dir: str) -> tuple[float, float]:
    """(slope, intercept) from a weapon card; a card without them (trained before calibration, or not
    what this version would write) is refused with the retrain command."""
    cal = getattr(card, "calibration", None)
    ok = (isinstance(cal, dict)
          and all(isinstance(cal.get(k), (int, float)) and np.isfinite(cal[k]) for k in ("slope", "intercept"))
          and cal["slope"] > 0)
    if not ok:
        raise UserError(f"weapon model in {model_dir} has no calibration this version can use; retrain it: "
                        f"{retrain_hint(model_dir)}")
    return float(cal["slope"]), float(cal["intercept"])


def export(model_dir: str) -> dict:
    """`weapon_lite` from `weapon`: LiteRT float and int8, compared with Keras on the representative crops."""
    from classifiers.deep_cnn import class_agreement, tower_for_export

    card = read_card(model_dir, KERAS_NAME, retrain_hint(model_dir))
    model, rep, buffers = tower_for_export(model_dir, card, "weapon.keras", "weapon_representative.npz",
                                           {"weapon.keras", "weapon_representative.npz"}, "weapon")
    calibration = card_calibration(card, model_dir)
    lite = WeaponLiteModel(buffers, card.threshold, calibration)
    p = calibrated(model.predict(rep, verbose=0)[:, ARMED], calibration)
    agreement = class_agreement(np.stack([1.0 - p, p], axis=1), lite.predict_proba, rep, card.threshold)
    out = save_files(model_dir, NAME, "tflite", {"weapon_float.tflite": buffers["float"],
                                                 "weapon_int8.tflite": buffers["int8"]},
                     task="weapon", classes=CLASSES, threshold=card.threshold, features=card.features,
                     training={"from": KERAS_NAME, "keras_card_sha256": card.card_sha256},
                     input_shape=list(SHAPE), calibration=calibration_card(calibration), litert_vs_keras=agreement)
    return dict(out.model_dump(), sha256=out.sha256)


def load(model_dir: str) -> tuple[WeaponLiteModel, dict]:
    """The exported weapon classifier (LiteRT), checksums verified first."""
    card = read_card(model_dir, NAME, retrain_hint(model_dir))
    if card.backend != "tflite" or card.classes != CLASSES or card.features != FEATURES:
        raise UserError(f"weapon model in {model_dir} was exported for other inputs or classes than this version "
                        f"uses; retrain it")
    buffers = {p: verified_bytes(model_dir, card, f"weapon_{p}.tflite") for p in ("float", "int8")
               if f"weapon_{p}.tflite" in card.files}
    calibration = card_calibration(card, model_dir)
    try:
        model = WeaponLiteModel(buffers, card.threshold, calibration)
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"weapon model in {model_dir} is not usable ({exc}); retrain it") from None
    return model, dict(card.model_dump(), sha256=card.sha256)


register_model(ModelSpec(NAME, load))

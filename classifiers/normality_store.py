"""Where the Siamese normality model is kept, each with a validated card beside its files:

- `normality` (training and export only, never loaded by `run`): `normality.keras` (the shared tower
  alone, loaded in safe mode), `normality_representative.npz` (training inputs for int8 calibration)
  and `normality_dictionary.npz` (classifiers/normality.py: embeddings per state, thresholds, k).
- `normality_lite` (what a kiosk loads), written by `python run.py export`: `normality_float.tflite`,
  `normality_int8.tflite` and the same dictionary; the card says the input shape, the embedding width,
  the states, their thresholds, and how far LiteRT is from Keras on the representative inputs.

Every file is plain data: arrays read with `allow_pickle=False`, Keras in safe mode, flatbuffers.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from classifiers.lite_runner import LiteRunner
from classifiers.model_store import read_card, save_files, verified_bytes
from classifiers.normality import NormalityDictionary, NormalityLiteModel
from classifiers.registry import ModelSpec, register_model
from core.errors import UserError
from features.deep_input import CHANNELS, SIZE

KERAS_NAME = "normality"
NAME = "normality_lite"
DICTIONARY = "normality_dictionary.npz"
KERAS_FILES = {"normality.keras", "normality_representative.npz", DICTIONARY}


def features(variant: str) -> list[str]:
    return [f"deep_input:{variant}:{SIZE}x{SIZE}x{CHANNELS}"]


def retrain_hint(model_dir: str) -> str:
    return f"python run.py train --task normality --dataset FOLDER --model-dir {model_dir}"


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _dictionary(data: bytes, where: str) -> NormalityDictionary:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return NormalityDictionary.from_arrays({k: z[k] for k in z.files})
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"normality dictionary in {where} is not usable ({exc}); retrain it") from None


def _summary(d: NormalityDictionary) -> dict:
    return {"k": d.k, "dim": d.dim, "states": {s: {"n": len(e), "threshold": round(d.thresholds[s], 6)}
                                               for s, e in sorted(d.embeddings.items())}}


def save_keras(model, model_dir: str, variant: str, training: dict) -> dict:
    from classifiers.deep_cnn import keras_model_bytes, representative_bytes

    d = model.dictionary_
    card = save_files(model_dir, KERAS_NAME, "keras",
                      {"normality.keras": keras_model_bytes(model.tower_),
                       "normality_representative.npz": representative_bytes(model.representative_),
                       DICTIONARY: _npz(d.to_arrays())},
                      task="normality", classes=["normal", "abnormal"], threshold=d.thresholds["any"],
                      features=features(variant), training=training, variant=variant,
                      input_shape=[SIZE, SIZE, CHANNELS], dictionary=_summary(d),
                      threshold_rule=f"per state: the {model.percentile:g}th percentile of held-out normal frames' "
                                     f"mean distance to their {d.k} nearest training normal frames (held out: whole "
                                     f"source videos); `threshold` is the `any` state's")
    return dict(card.model_dump(), sha256=card.sha256)


def export(model_dir: str) -> dict:
    """`normality_lite` from `normality`: the tower in LiteRT float and int8, the dictionary as it is."""
    from classifiers.deep_cnn import tower_for_export

    card = read_card(model_dir, KERAS_NAME, retrain_hint(model_dir))
    tower, rep, buffers = tower_for_export(model_dir, card, "normality.keras", "normality_representative.npz",
                                           KERAS_FILES, "normality")
    dict_bytes = verified_bytes(model_dir, card, DICTIONARY)
    dictionary = _dictionary(dict_bytes, model_dir)
    runner = LiteRunner(buffers, (SIZE, SIZE, CHANNELS), dictionary.dim)
    ref = tower.predict(rep, verbose=0)
    agreement = {}
    for precision in ("float", "int8"):
        got = np.stack([runner(x, precision) for x in rep])
        # The decision that matters is the distance against its threshold, in the `any` dictionary.
        d_ref, d_got = dictionary.distances(ref, "any"), dictionary.distances(got, "any")
        thr = dictionary.thresholds["any"]
        agreement[precision] = {"max_abs_diff_embedding": round(float(np.max(np.abs(got - ref))), 6),
                                "max_abs_diff_distance": round(float(np.max(np.abs(d_got - d_ref))), 6),
                                "decision_agreement": round(float(np.mean((d_got >= thr) == (d_ref >= thr))), 4),
                                "n": int(len(rep))}
    extra: dict[str, Any] = card.model_extra or {}
    out = save_files(model_dir, NAME, "tflite", {"normality_float.tflite": buffers["float"],
                                                 "normality_int8.tflite": buffers["int8"], DICTIONARY: dict_bytes},
                     task="normality", classes=card.classes, threshold=card.threshold, features=card.features,
                     training={"from": KERAS_NAME, "keras_card_sha256": card.card_sha256,
                               "clips": card.training.get("clips") or {}},
                     variant=extra.get("variant", "grey"), input_shape=[SIZE, SIZE, CHANNELS],
                     dictionary=_summary(dictionary), litert_vs_keras=agreement)
    return dict(out.model_dump(), sha256=out.sha256)


def load(model_dir: str) -> tuple[NormalityLiteModel, dict]:
    """The exported normality check (LiteRT tower and dictionary), checksums verified first."""
    hint = retrain_hint(model_dir) + f"; then python run.py export --model-dir {model_dir}"
    card = read_card(model_dir, NAME, hint)
    variant = (card.model_extra or {}).get("variant")
    expected = {"normality_float.tflite", "normality_int8.tflite", DICTIONARY}
    if card.backend != "tflite" or set(card.files) != expected or variant is None or card.features != features(variant):
        raise UserError(f"normality model in {model_dir} was exported for other inputs than this version uses; "
                        f"retrain and export it")
    dictionary = _dictionary(verified_bytes(model_dir, card, DICTIONARY), model_dir)
    buffers = {p: verified_bytes(model_dir, card, f"normality_{p}.tflite") for p in ("float", "int8")}
    try:
        runner = LiteRunner(buffers, (SIZE, SIZE, CHANNELS), dictionary.dim)
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"normality model in {model_dir} is not usable ({exc}); export it again") from None
    return NormalityLiteModel(runner, dictionary, variant), dict(card.model_dump(), sha256=card.sha256)


register_model(ModelSpec(NAME, load))

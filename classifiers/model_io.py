"""Saving and loading models with metadata, refusing any file whose sha256 does not match.

A model file is a pickle, and unpickling runs code: so the checksum recorded next to it at training
time is checked before a single byte is unpickled. `<name>.joblib` holds the model,
`<name>.json` its metadata (what it was trained on, its threshold, its sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import joblib

from pipeline.errors import UserError


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_paths(model_dir: str, name: str) -> tuple[str, str]:
    return os.path.join(model_dir, f"{name}.joblib"), os.path.join(model_dir, f"{name}.json")


def save_model(obj: Any, model_dir: str, name: str, metadata: dict) -> dict:
    """Write the model and its metadata (atomically, each); return the metadata as saved."""
    os.makedirs(model_dir, exist_ok=True)
    blob, meta_path = model_paths(model_dir, name)
    tmp = blob + ".tmp"
    joblib.dump(obj, tmp)
    os.replace(tmp, blob)
    meta = dict(metadata, name=name, file=os.path.basename(blob), sha256=sha256_file(blob))
    with open(meta_path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True)
    os.replace(meta_path + ".tmp", meta_path)
    return meta


def has_model(model_dir: str, name: str) -> bool:
    return all(os.path.isfile(p) for p in model_paths(model_dir, name))


def load_model(model_dir: str, name: str) -> tuple[Any, dict]:
    """Return (model, metadata); a missing, tampered or unreadable model is a UserError."""
    blob, meta_path = model_paths(model_dir, name)
    for p in (blob, meta_path):
        if not os.path.isfile(p):
            raise UserError(f"model not found: {p} (train it with: python run.py train --task {name} ...)")
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UserError(f"model metadata unreadable: {meta_path}: {exc}") from None
    expected = meta.get("sha256") if isinstance(meta, dict) else None
    if not expected:
        raise UserError(f"model metadata has no sha256: {meta_path}")
    actual = sha256_file(blob)
    if actual != expected:
        raise UserError(f"model checksum mismatch: {blob} (sha256 {actual[:12]}..., expected {expected[:12]}...)")
    try:
        return joblib.load(blob), meta
    except Exception as exc:  # a file that passed its checksum but will not load is still the user's to fix
        raise UserError(f"model unreadable: {blob}: {exc}") from None

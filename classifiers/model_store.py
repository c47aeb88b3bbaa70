"""One model store: a validated model card beside the model's files, every file's sha256 checked
before it is opened, and nothing loaded that can run code (after anomalib's export metadata).

`<name>.json` is the card: schema version, task, backend, the files with their sha256, classes,
threshold, the feature settings the model was trained with, what it was trained on, when, and by
which project version. The card's threshold is the one used.

Backends (one loader each):
- `arrays`: a `.npz` of plain numeric arrays, read with `allow_pickle=False`: a linear model or
  any model that is its parameters.
- `keras`: a `.keras` file, loaded only for training and export, with `safe_mode=True` (no Lambda
  layers, no arbitrary code), from the very bytes whose checksum was verified.
- `tflite`: LiteRT flatbuffers, what the kiosk runs: data for an interpreter, no code.
A pickle (`.joblib`, `.pkl`) is never loaded: unpickling runs code, and a checksum the attacker can
rewrite beside the file proves nothing. Models saved that way by older versions are refused with a
line that says to retrain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import UserError

SCHEMA_VERSION = 2          # 1 was the joblib era: a pickle and a loose metadata dict
PROJECT_VERSION = "0.3.0"
_LEGACY = (".joblib", ".pkl", ".pickle")


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    schema_version: Literal[2]
    name: str = Field(min_length=1)
    task: str = Field(min_length=1)
    backend: Literal["arrays", "keras", "tflite"]
    files: dict[str, str] = Field(min_length=1, description="file name in the model folder -> sha256")
    classes: list[str] = Field(min_length=2)
    threshold: float = Field(ge=0, le=1)
    features: list[str] = Field(default_factory=list)
    feature_config: dict = Field(default_factory=dict)
    training: dict = Field(default_factory=dict, description="what it was trained on (dataset, counts, clips)")
    created_at: str
    project_version: str
    card_sha256: str = Field("", description="sha256 of the card's other fields (canonical JSON): a changed "
                                              "byte in the card is refused like one in a model file")

    @field_validator("files")
    @classmethod
    def _plain_names(cls, files: dict[str, str]) -> dict[str, str]:
        for name, digest in files.items():
            # A card must not point the loader anywhere outside its own folder.
            if os.path.basename(name) != name or name in ("", ".", ".."):
                raise ValueError(f"file name {name!r} is not a plain name in the model folder")
            if name.lower().endswith(_LEGACY):
                raise ValueError(f"{name}: pickled models are not loaded")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"{name}: sha256 must be 64 lowercase hex digits")
        return files

    def content_digest(self) -> str:
        body = self.model_dump(exclude={"card_sha256"})
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()

    @property
    def sha256(self) -> str:
        """One digest naming the whole model (its files' digests together)."""
        return hashlib.sha256("".join(f"{k}:{v};" for k, v in sorted(self.files.items())).encode()).hexdigest()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(model_dir: str, name: str) -> str:
    return os.path.join(model_dir, f"{name}.json")


def legacy_files(model_dir: str, name: str) -> list[str]:
    return [p for p in (os.path.join(model_dir, name + ext) for ext in _LEGACY) if os.path.exists(p)]


def has_model(model_dir: str, name: str) -> bool:
    """A card, or any file of the model's name (half a model is an error for the loader to report)."""
    if os.path.isfile(card_path(model_dir, name)) or legacy_files(model_dir, name):
        return True
    return os.path.exists(os.path.join(model_dir, f"{name}.npz"))


def _atomic_write(path: str, write) -> None:
    tmp = path + ".tmp"
    write(tmp)
    os.replace(tmp, path)


def save_arrays(model_dir: str, name: str, arrays: dict[str, np.ndarray], **card: Any) -> ModelCard:
    """Write `<name>.npz` and its card (each atomically); return the card as saved."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return save_files(model_dir, name, "arrays", {f"{name}.npz": buf.getvalue()}, **card)


def save_files(model_dir: str, name: str, backend: str, files: dict[str, bytes], **card: Any) -> ModelCard:
    """Write each file (plain names in `model_dir`) and then the card that lists their sha256, each
    atomically; return the card as saved."""
    os.makedirs(model_dir, exist_ok=True)
    for old in legacy_files(model_dir, name):
        os.remove(old)  # a pickle left beside a new card would only confuse the next reader
    digests = {}
    for fname, data in files.items():
        def write(tmp: str, data=data) -> None:
            with open(tmp, "wb") as fh:
                fh.write(data)

        _atomic_write(os.path.join(model_dir, fname), write)
        digests[fname] = hashlib.sha256(data).hexdigest()
    full = ModelCard(schema_version=SCHEMA_VERSION, name=name, backend=backend, files=digests,
                     created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     project_version=PROJECT_VERSION, **card)
    full.card_sha256 = full.content_digest()

    def write_card(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(full.model_dump(), fh, indent=2, sort_keys=True)

    _atomic_write(card_path(model_dir, name), write_card)
    return full


def read_card(model_dir: str, name: str, retrain: str) -> ModelCard:
    """The validated card of model `name`; every failure is one UserError line (`retrain` says how)."""
    path = card_path(model_dir, name)
    if not os.path.isfile(path):
        if legacy_files(model_dir, name):
            raise UserError(f"{name} model in {model_dir} was saved by an older version as a pickle, which is "
                            f"no longer loaded (it can run code); retrain it: {retrain}")
        raise UserError(f"model not found: {path} (train it with: {retrain})")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UserError(f"model card unreadable: {path}: {exc}") from None
    if isinstance(data, dict) and data.get("schema_version", 1) == 1 and "sha256" in data:
        raise UserError(f"{name} model in {model_dir} was saved by an older version as a pickle, which is no "
                        f"longer loaded (it can run code); retrain it: {retrain}")
    try:
        card = ModelCard.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(card)"
        raise UserError(f"model card {path} is not valid: {loc}: {first['msg']}") from None
    if card.card_sha256 != card.content_digest():
        raise UserError(f"model card checksum mismatch: {path} (changed after training; retrain: {retrain})")
    return card


def verified_bytes(model_dir: str, card: ModelCard, fname: str) -> bytes:
    """A file of the card, read once and checked against its sha256: the bytes returned are the
    bytes checked (a file swapped between a check and a second read is never what gets loaded)."""
    path = os.path.join(model_dir, fname)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise UserError(f"model file missing: {path} (listed in {card_path(model_dir, card.name)})") from None
    except OSError as exc:
        raise UserError(f"model unreadable: {path}: {exc}") from None
    actual, expected = hashlib.sha256(data).hexdigest(), card.files[fname]
    if actual != expected:
        raise UserError(f"model checksum mismatch: {path} (sha256 {actual[:12]}..., card says {expected[:12]}...)")
    return data


def load_arrays(model_dir: str, name: str, retrain: str) -> tuple[dict[str, np.ndarray], ModelCard]:
    card = read_card(model_dir, name, retrain)
    if card.backend != "arrays":
        raise UserError(f"model card {card_path(model_dir, name)} is a {card.backend} model, not arrays "
                        f"(retrain: {retrain})")
    if len(card.files) != 1:
        raise UserError(f"model card {card_path(model_dir, name)} lists {len(card.files)} files; an arrays model "
                        f"has one (retrain: {retrain})")
    (fname,) = card.files
    data = verified_bytes(model_dir, card, fname)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return {k: arrays[k] for k in arrays.files}, card
    except (OSError, ValueError) as exc:  # object arrays are refused here: allow_pickle=False
        raise UserError(f"model unreadable: {os.path.join(model_dir, fname)}: {exc}") from None


# -- signing -------------------------------------------------------------------------------------
# A checksum beside a file proves nothing to someone who can write both. A folder signed with a key
# kept elsewhere (HMAC-SHA256 over every file's name and sha256) can only be re-signed by whoever
# holds that key; `models.signing_key` in the configuration names the key file, and then every load
# verifies the folder before any card or model file is opened.
SIGNATURE = "SIGNATURE"


def _read_key(key_file: str, model_dir: str) -> bytes:
    if os.path.commonpath([os.path.abspath(key_file), os.path.abspath(model_dir)]) == os.path.abspath(model_dir):
        raise UserError(f"models.signing_key {key_file} lies inside the model folder it protects; keep it elsewhere")
    try:
        with open(key_file, "rb") as fh:
            key = fh.read().strip()
    except OSError as exc:
        raise UserError(f"models.signing_key {key_file} cannot be read: {exc.strerror or exc}") from None
    if len(key) < 16:
        raise UserError(f"models.signing_key {key_file} holds fewer than 16 bytes: too short to be a key")
    return key


def _folder_digest(model_dir: str, key: bytes) -> str:
    import hmac

    names = sorted(n for n in os.listdir(model_dir) if n != SIGNATURE and os.path.isfile(os.path.join(model_dir, n)))
    message = "".join(f"{n}\0{sha256_file(os.path.join(model_dir, n))}\n" for n in names)
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_folder(model_dir: str, key_file: str) -> str:
    """Write the folder's SIGNATURE with the key in `key_file`; returns it."""
    digest = _folder_digest(model_dir, _read_key(key_file, model_dir))

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(digest + "\n")

    _atomic_write(os.path.join(model_dir, SIGNATURE), write)
    return digest


def verify_folder_signature(model_dir: str, key_file: str) -> None:
    """The folder's SIGNATURE matches its files under the key, or one UserError line."""
    import hmac

    key = _read_key(key_file, model_dir)
    path = os.path.join(model_dir, SIGNATURE)
    try:
        with open(path, encoding="utf-8") as fh:
            stated = fh.read().strip()
    except OSError:
        raise UserError(f"model folder {model_dir} is not signed ({SIGNATURE} missing) but models.signing_key "
                        f"is set; sign it: python run.py sign --model-dir {model_dir}") from None
    if not hmac.compare_digest(stated, _folder_digest(model_dir, key)):
        raise UserError(f"model folder {model_dir} does not match its signature: a file was changed, added or "
                        f"removed since it was signed (or another key signed it)")


def load_model(model_dir: str, name: str, retrain: str, features: list[str], build, classes: list[str] | None = None
               ) -> tuple[Any, dict]:
    """A model kind's arrays (checksums verified first) built into its kiosk scorer by
    `build(arrays, threshold)`, and its card as a dict. A model saved for other features or classes
    than this version's, or arrays its scorer refuses, is a UserError that says to retrain."""
    arrays, card = load_arrays(model_dir, name, retrain)
    if card.features != list(features) or (classes is not None and card.classes != list(classes)):
        # A model from another version reads columns by position: it would score the wrong features.
        raise UserError(f"{name} model in {model_dir} was trained on other features or classes than this version "
                        f"uses; retrain it: {retrain}")
    try:
        model = build(arrays, card.threshold)
    except (KeyError, ValueError) as exc:
        raise UserError(f"{name} model in {model_dir} is not usable ({exc}); retrain it: {retrain}") from None
    return model, dict(card.model_dump(), sha256=card.sha256)

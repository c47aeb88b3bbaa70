"""The stage-2 CNN: a softmax over anomaly types from one escalated frame (features/deep_input.py).
Training and export only: it imports Keras/TensorFlow, which the kiosk never does (it runs the
exported .tflite with classifiers/deep_lite.py).

scikit-learn style: `fit(X, y, groups)`, `predict_proba`, `score`, learned state ending in `_`.
- A small CNN (about 15k parameters): four 3x3 convolutions (8, 16, 32, 32 filters) with pooling,
  global average pooling, dropout, softmax. Kiosk-sized input (64x64x2).
- Augmented for what kiosk cameras do, on every batch: brightness, contrast, noise, blur, JPEG,
  a small shake (shift), mirror.
- Regularised for unseen scenes: early stopping on a validation part that holds whole source
  videos (never frames of a scene it trains on), class weights balanced.
- The threshold under which stage 2 vetoes a fight flag is fitted on that validation part: the
  P(fight) that keeps `keep_recall` of its fight frames (a veto must be sure).
"""

from __future__ import annotations

import io
import os
import tempfile

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

from classifiers.training import EarlyStopping, grouped_validation_split

# TensorFlow's C++ start-up chatter (oneDNN, absl) is not for the user's terminal; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = ("normal", "fight")
FIGHT = 1


def stage2_backbone() -> list:
    """The stage-2 input (64x64x2) through four small convolutions to one pooled vector: shared by
    the CNN and the Siamese tower (classifiers/siamese.py), which differ only in their heads."""
    import keras
    from keras import layers

    return [
        keras.Input((64, 64, 2)),
        layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
    ]


def build_model(classes: int = len(CLASSES)):
    import keras
    from keras import layers

    return keras.Sequential([*stage2_backbone(), layers.Dropout(0.3), layers.Dense(classes, activation="softmax")],
                            name="deep_cnn")


def augment(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A batch (n, 64, 64, 2) float32 as a kiosk camera might have seen it instead."""
    X = X.copy()
    n = len(X)
    grey = X[..., 0]
    grey *= rng.uniform(0.6, 1.4, (n, 1, 1))                               # contrast
    grey += rng.uniform(-0.2, 0.2, (n, 1, 1))                              # brightness
    grey += rng.uniform(0, 0.04, (n, 1, 1)) * rng.standard_normal(grey.shape).astype(np.float32)  # noise
    for i in range(n):
        r = rng.random()
        if r < 0.2:
            X[i, ..., 0] = cv2.GaussianBlur(X[i, ..., 0], (0, 0), rng.uniform(0.5, 1.5))
        elif r < 0.35:
            q = int(rng.integers(30, 80))
            enc = cv2.imencode(".jpg", np.clip(X[i, ..., 0] * 255, 0, 255).astype(np.uint8),
                               [cv2.IMWRITE_JPEG_QUALITY, q])[1]
            X[i, ..., 0] = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE) / 255.0
        dx, dy = (int(v) for v in rng.integers(-3, 4, 2))                 # camera shake
        if dx or dy:
            X[i] = np.roll(X[i], (dy, dx), axis=(0, 1))
        if rng.random() < 0.5:
            X[i] = X[i, :, ::-1]
    np.clip(X, 0.0, 1.0, out=X)
    return X


class DeepClassifier:
    def __init__(self, epochs: int = 20, batch: int = 64, patience: int = 4, val_frac: float = 0.25,
                 keep_recall: float = 0.95, seed: int = 0):
        self.epochs = epochs
        self.batch = batch
        self.patience = patience
        self.val_frac = val_frac
        self.keep_recall = keep_recall
        self.seed = seed

    def fit(self, X, y, groups):
        import keras

        X = np.asarray(X, np.float32)
        y = np.asarray(y, np.int64)
        groups = np.asarray(groups)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("the deep classifier needs normal and fight examples")
        if len(np.unique(groups)) < 2:
            raise ValueError("the deep classifier needs examples from at least two source videos")
        keras.utils.set_random_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        tr, va = grouped_validation_split(y, groups, self.val_frac, self.seed)
        counts = np.bincount(y[tr], minlength=2)
        weights = {c: len(tr) / (2.0 * max(1, counts[c])) for c in (0, 1)}
        model = build_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        stop = EarlyStopping(self.patience, higher_is_better=False)
        for _ in range(self.epochs):
            order = rng.permutation(tr)
            for s in range(0, len(order), self.batch):
                idx = order[s:s + self.batch]
                sw = np.array([weights[int(c)] for c in y[idx]], np.float32)
                model.train_on_batch(augment(X[idx], rng), y[idx], sample_weight=sw)
            val_loss = float(model.evaluate(X[va], y[va], verbose=0,
                                            sample_weight=np.array([weights[int(c)] for c in y[va]], np.float32)))
            if stop.update(val_loss, model.get_weights):
                break
        model.set_weights(stop.best_weights)
        self.model_ = model
        p_val = model.predict(X[va], verbose=0)[:, FIGHT]
        self.val_auc_ = float(roc_auc_score(y[va], p_val))
        fights = np.sort(p_val[y[va] == FIGHT])
        self.threshold_ = float(fights[int(np.floor((1 - self.keep_recall) * len(fights)))]) if len(fights) else 0.5
        self.val_veto_rate_normal_ = float(np.mean(p_val[y[va] == 0] < self.threshold_))
        self.history_ = stop.history
        self.epochs_run_ = len(stop.history)
        self.representative_ = X[rng.choice(tr, size=min(200, len(tr)), replace=False)]
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        return self.model_.predict(np.asarray(X, np.float32), verbose=0)

    def score(self, X, y) -> float:
        return float(np.mean((self.predict_proba(X)[:, FIGHT] >= self.threshold_) == np.asarray(y)))

    def keras_bytes(self) -> bytes:
        return keras_model_bytes(self.model_)


def keras_model_bytes(model) -> bytes:
    """The tower alone (no optimizer, no loss) as a .keras file's bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path, include_optimizer=False)
        with open(path, "rb") as fh:
            return fh.read()


def load_keras(data: bytes):
    """A .keras model from verified bytes, in safe mode (no Lambda layers, no code)."""
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as fh:
            fh.write(data)
        return keras.saving.load_model(path, safe_mode=True, compile=False)


def tower_for_export(model_dir: str, card, tower_file: str, representative_file: str, files: set[str], what: str):
    """A Keras card's tower (safe mode, from checksum-verified bytes), its representative inputs and
    their LiteRT flatbuffers, float and int8: what every deep model's `export` starts from. A card
    that is not a Keras model with exactly `files` is one UserError line naming `what`."""
    from classifiers.model_store import verified_bytes
    from core.errors import UserError

    if card.backend != "keras" or set(card.files) != files:
        raise UserError(f"{model_dir}: the {what} model's card does not list {', '.join(sorted(files))}")
    model = load_keras(verified_bytes(model_dir, card, tower_file))
    with np.load(io.BytesIO(verified_bytes(model_dir, card, representative_file)), allow_pickle=False) as z:
        rep = np.asarray(z["x"], np.float32)
    return model, rep, {"float": to_tflite(model), "int8": to_tflite(model, rep)}


def class_agreement(ref: np.ndarray, predict, X: np.ndarray, threshold: float) -> dict:
    """LiteRT against Keras for a two-class softmax, per precision: the largest difference in the
    probabilities and the agreement of the decision `P(positive) >= threshold`."""
    out = {}
    for precision in ("float", "int8"):
        got = np.stack([predict(x, precision) for x in X])
        same = (got[:, 1] >= threshold) == (ref[:, 1] >= threshold)
        out[precision] = {"max_abs_diff": round(float(np.max(np.abs(got - ref))), 6),
                          "decision_agreement": round(float(np.mean(same)), 4), "n": int(len(X))}
    return out


def to_tflite(model, representative: np.ndarray | None = None) -> bytes:
    """LiteRT flatbuffer: float, or int8 (weights and activations) calibrated on `representative`."""
    import contextlib
    import sys

    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]

        def gen():
            for x in representative:
                yield [np.asarray(x, np.float32)[None]]

        conv.representative_dataset = gen
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    # The converter prints the traced graph on stdout, which carries the commands' results.
    with contextlib.redirect_stdout(sys.stderr):
        return conv.convert()


def representative_bytes(X: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.asarray(X, np.float32))
    return buf.getvalue()


def adversarial_accuracy(model, X: np.ndarray, y: np.ndarray, threshold: float, epsilons, pgd_steps: int = 0,
                         batch: int = 256) -> list[dict]:
    """Accuracy of the decision `P(fight) >= threshold` under FGSM (and PGD when `pgd_steps` > 0) at
    each epsilon (L-infinity, on the 0..1 input), the attack pushing every frame away from its label."""
    import tensorflow as tf

    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    X = np.asarray(X, np.float32)
    y = np.asarray(y, np.int64)

    def grad_sign(x, t):
        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(t, model(x, training=False))
        return tf.sign(tape.gradient(loss, x)).numpy()

    def accuracy(xs) -> float:
        p = model.predict(xs, verbose=0, batch_size=batch)[:, FIGHT]
        return float(np.mean((p >= threshold) == (y == FIGHT)))

    rows = []
    for eps in epsilons:
        fgsm, pgd = np.empty_like(X), np.empty_like(X)
        for s in range(0, len(X), batch):
            x, t = X[s:s + batch], y[s:s + batch]
            fgsm[s:s + batch] = np.clip(x + eps * grad_sign(x, t), 0.0, 1.0)
            if pgd_steps:
                adv = x.copy()
                for _ in range(pgd_steps):  # steps of eps/4, projected back into the eps-ball
                    adv = np.clip(adv + (eps / 4.0) * grad_sign(adv, t), x - eps, x + eps)
                    adv = np.clip(adv, 0.0, 1.0)
                pgd[s:s + batch] = adv
        row = {"epsilon": float(eps), "fgsm_accuracy": round(accuracy(fgsm), 4)}
        if pgd_steps:
            row["pgd_accuracy"] = round(accuracy(pgd), 4)
        rows.append(row)
    return rows

"""The Siamese normality model: one shared embedding tower trained with a triplet loss, and the
normality dictionary built from normal frames only (classifiers/normality.py). Training and export
only: it imports Keras/TensorFlow, which the kiosk never does (it runs the exported tower in LiteRT).

scikit-learn style: `fit(X, y, groups, states)`, `score_samples`, `score`; learned state ends in `_`.
- The tower: the stage-2 input (64x64x2, features/deep_input.py) -> four small convolutions -> a
  `dim`-wide embedding on the unit sphere (`UnitNormalization`, a built-in layer: the saved file loads
  in safe mode and converts to built-in LiteRT ops). Every frame goes through the same tower: that
  shared tower is the Siamese part, and only it is saved (never the loss).
- The loss: batch-all triplets. An anchor's positives are frames of its own class from *another
  source video* (so what pulls normal frames together is their behaviour, not their scene), its
  negatives frames of the other class. Augmented as the CNN is (kiosk camera faults).
- Early stopping on a validation part that holds whole source videos: the AUC of the distance to the
  training normal frames' dictionary, abnormal against normal held-out frames.
- The dictionary: embeddings of the normal frames per state (the ATM's, or the scene's), plus `any`.
  Each state's threshold is the `percentile` of held-out normal frames' distance to the training
  dictionary (states with fewer than `min_state_frames` held-out frames use `any`'s).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from classifiers.deep_cnn import augment, stage2_backbone
from classifiers.normality import ANY, NormalityDictionary
from classifiers.training import EarlyStopping, grouped_validation_split


def build_tower(dim: int = 16):
    import keras
    from keras import layers

    return keras.Sequential([*stage2_backbone(), layers.Dense(dim), layers.UnitNormalization()],
                            name="normality_tower")


def triplet_loss(emb, y, g, margin: float):
    """Batch-all triplets: the mean of relu(d(a, p) - d(a, n) + margin) over the triplets of the batch
    that still violate the margin, where p is of a's class from *another source video* and n of the
    other class. (Batch-hard mining, the farthest positive against the nearest negative from the first
    step, collapsed every embedding onto one point here.)"""
    import tensorflow as tf

    d2 = tf.reduce_sum(tf.square(emb[:, None, :] - emb[None, :, :]), axis=-1)
    d = tf.sqrt(tf.maximum(d2, 1e-12))
    pos = tf.logical_and(tf.equal(y[:, None], y[None, :]), tf.not_equal(g[:, None], g[None, :]))
    neg = tf.not_equal(y[:, None], y[None, :])
    valid = tf.cast(tf.logical_and(pos[:, :, None], neg[:, None, :]), d.dtype)    # (anchor, positive, negative)
    loss = tf.nn.relu(d[:, :, None] - d[:, None, :] + margin) * valid
    active = tf.reduce_sum(tf.cast(loss > 1e-9, d.dtype))
    return tf.reduce_sum(loss) / tf.maximum(active, 1.0)


def embed(tower, X: np.ndarray, batch: int = 512) -> np.ndarray:
    return np.asarray(tower.predict(np.asarray(X, np.float32), verbose=0, batch_size=batch), np.float32)


class SiameseNormality:
    def __init__(self, dim: int = 16, epochs: int = 15, batch: int = 64, margin: float = 0.2, k: int = 5,
                 percentile: float = 99.0, val_frac: float = 0.25, patience: int = 4, min_state_frames: int = 50,
                 steps_per_epoch: int | None = None, seed: int = 0):
        self.dim = dim
        self.epochs = epochs
        self.batch = batch
        self.margin = margin
        self.k = k
        self.percentile = percentile
        self.val_frac = val_frac
        self.patience = patience
        self.min_state_frames = min_state_frames
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed

    def fit(self, X, y, groups, states):
        """X: (n, 64, 64, 2) in 0..1; y: 0 normal, 1 abnormal (fight); groups: source video; states: the
        state each frame was seen in (ATM state, or scene:...)."""
        import keras
        import tensorflow as tf

        X = np.asarray(X, np.float32)
        y = np.asarray(y, np.int64)
        groups = np.asarray(groups)
        states = np.asarray(states).astype(str)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("the normality tower needs normal frames (the dictionary) and abnormal ones "
                             "(what it learns to tell apart)")
        if len(np.unique(groups[y == 0])) < 2:
            raise ValueError("the normality dictionary needs normal frames from at least two source videos")
        keras.utils.set_random_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        tr, va = grouped_validation_split(y, groups, self.val_frac, self.seed)
        _, g_codes = np.unique(groups, return_inverse=True)
        tower = build_tower(self.dim)
        opt = keras.optimizers.Adam(1e-3)
        margin = self.margin

        @tf.function(reduce_retracing=True)
        def step(xb, yb, gb):
            with tf.GradientTape() as tape:
                loss = triplet_loss(tower(xb, training=True), yb, gb, margin)
            grads = tape.gradient(loss, tower.trainable_weights)
            opt.apply_gradients(zip(grads, tower.trainable_weights))
            return loss

        normal_tr, abnormal_tr = tr[y[tr] == 0], tr[y[tr] == 1]
        half = self.batch // 2
        stop = EarlyStopping(self.patience)
        # An epoch: about one pass over the training frames (balanced batches are drawn, not dealt).
        steps = self.steps_per_epoch or max(1, int(np.ceil(len(tr) / self.batch)))
        for _ in range(self.epochs):
            for _ in range(steps):
                # Balanced batches: half normal, half abnormal, from many source videos.
                idx = np.concatenate([rng.choice(normal_tr, half), rng.choice(abnormal_tr, half)])
                step(tf.constant(augment(X[idx], rng)), tf.constant(y[idx]), tf.constant(g_codes[idx]))
            if stop.update(self._val_auc(tower, X, y, tr, va), tower.get_weights):
                break
        tower.set_weights(stop.best_weights)
        self.tower_ = tower
        self.history_ = stop.history
        self.epochs_run_ = len(stop.history)
        self.val_auc_ = float(stop.best_value)
        # Thresholds: held-out normal frames against the training normal frames' dictionary.
        E = embed(tower, X)
        train_dict = NormalityDictionary({ANY: E[normal_tr]}, {ANY: 0.0}, self.k)
        d_va = train_dict.distances(E[va], ANY)
        normal_va = y[va] == 0
        thresholds = {ANY: float(np.percentile(d_va[normal_va], self.percentile))}
        for s in np.unique(states[va][normal_va]):
            mine = normal_va & (states[va] == s)
            if mine.sum() >= self.min_state_frames:
                thresholds[str(s)] = float(np.percentile(d_va[mine], self.percentile))
        self.val_false_rate_ = float(np.mean(d_va[normal_va] >= thresholds[ANY]))
        self.val_recall_ = float(np.mean(d_va[~normal_va] >= thresholds[ANY]))
        # The dictionary: every normal frame, per state (a state's own threshold where it had enough
        # held-out frames, `any`'s otherwise).
        normal = y == 0
        per_state = {ANY: E[normal]}
        for s in np.unique(states[normal]):
            mine = E[normal & (states == s)]
            if len(mine) >= max(self.k, 1):
                per_state[str(s)] = mine
        self.dictionary_ = NormalityDictionary(per_state, {s: thresholds.get(s, thresholds[ANY]) for s in per_state},
                                               self.k)
        self.representative_ = X[rng.choice(tr, size=min(200, len(tr)), replace=False)]
        return self

    def _val_auc(self, tower, X, y, tr, va) -> float:
        E_tr, E_va = embed(tower, X[tr[y[tr] == 0]]), embed(tower, X[va])
        d = NormalityDictionary({ANY: E_tr}, {ANY: 0.0}, self.k).distances(E_va, ANY)
        return float(roc_auc_score(y[va], d))

    def score_samples(self, X, states=None) -> np.ndarray:
        """Each frame's distance to the normal frames of its state (higher: less normal)."""
        E = embed(self.tower_, X)
        keys = [self.dictionary_.key(s, None) if states is not None else ANY for s in
                (states if states is not None else [None] * len(E))]
        return np.array([self.dictionary_.distance(e, key) for e, key in zip(E, keys)])

    def score(self, X, y, states=None) -> float:
        """Accuracy of `distance >= threshold` (abnormal) against y."""
        d = self.score_samples(X, states)
        keys = [self.dictionary_.key(s, None) for s in states] if states is not None else [ANY] * len(d)
        thr = np.array([self.dictionary_.thresholds[k] for k in keys])
        return float(np.mean((d >= thr) == (np.asarray(y) == 1)))

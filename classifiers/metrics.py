"""The evaluation files of the contract: metrics.json, predictions.csv, roc.png."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve


def compute_metrics(task: str, y: np.ndarray, scores: np.ndarray, threshold: float,
                    pred: np.ndarray | None = None) -> dict:
    """`pred` defaults to scores >= threshold; cross-validation passes each fold's own decisions."""
    y = np.asarray(y, int)
    pred = (np.asarray(scores) >= threshold).astype(int) if pred is None else np.asarray(pred, int)
    (tn, fp), (fn, tp) = confusion_matrix(y, pred, labels=[0, 1])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    auc = float(roc_auc_score(y, scores)) if len(set(y.tolist())) == 2 else None
    return {"task": task, "n": int(len(y)), "auc": auc, "accuracy": float((pred == y).mean()),
            "precision": float(precision), "recall": float(recall), "f1": float(f1), "threshold": float(threshold),
            "confusion": [[int(tn), int(fp)], [int(fn), int(tp)]]}


def auc_by_stratum(y: np.ndarray, scores: np.ndarray, by: np.ndarray, parts: int = 3) -> dict:
    """The AUC within each of `parts` equal-count strata of `by` (lowest first), and the AUC of `by` alone.
    Why: when the label goes with something the scorer can see and a deployment will not share (in one
    dataset the armed people are photographed bigger), the pooled AUC counts that too; within a stratum
    mostly the rest counts. A stratum holding one class has no AUC (None)."""
    y, scores, by = np.asarray(y, int), np.asarray(scores, float), np.asarray(by, float)
    chunks = np.array_split(np.argsort(by, kind="stable"), parts)
    one = len(set(y.tolist())) == 2
    return {"edges": [round(float(by[c[-1]]), 6) for c in chunks[:-1] if len(c)],
            "n": [int(len(c)) for c in chunks],
            "positive_share": [round(float(y[c].mean()), 4) if len(c) else None for c in chunks],
            "auc": [round(float(roc_auc_score(y[c], scores[c])), 4) if len(set(y[c].tolist())) == 2 else None
                    for c in chunks],
            "auc_of_it_alone": round(float(roc_auc_score(y, by)), 4) if one else None}


def write_evaluation(out_dir: str, task: str, rows: list[tuple[str, str]], y: np.ndarray, scores: np.ndarray,
                     threshold: float, positive: str, negative: str, extra: dict | None = None,
                     pred: np.ndarray | None = None, columns: dict[str, list] | None = None) -> dict:
    """rows: (path, label) per item, in the order of y and scores; `columns` adds named columns to
    predictions.csv after the contract's four."""
    os.makedirs(out_dir, exist_ok=True)
    if pred is None:
        pred = (np.asarray(scores) >= threshold).astype(int)
    metrics = compute_metrics(task, y, scores, threshold, pred)
    if extra:
        metrics.update(extra)
    with open(os.path.join(out_dir, "metrics.json"), "w", encoding="utf-8") as fh:
        json.dump(metrics, fh, indent=2)
    with open(os.path.join(out_dir, "predictions.csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        columns = columns or {}
        w.writerow(["path", "label", "score", "predicted", *columns])
        for i, ((path, label), s, p) in enumerate(zip(rows, scores, pred)):
            w.writerow([path, label, f"{float(s):.6f}", positive if p else negative, *(c[i] for c in columns.values())])
    _plot_roc(os.path.join(out_dir, "roc.png"), task, y, scores, metrics["auc"])
    return metrics


def _plot_roc(path: str, task: str, y: np.ndarray, scores: np.ndarray, auc: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if auc is not None:
        fpr, tpr, _ = roc_curve(y, scores)
        ax.plot(fpr, tpr, label=f"AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC: {task}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

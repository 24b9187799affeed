"""Scoring a fitted model on a labelled set: accuracy, macro-F1, report, confusion matrix, timing."""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score


def evaluate_model(model, dataset):
    """Score ``model`` on an :class:`~cnnsvm.data.ImageDataset` (light ink).

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``n_samples``, ``predict_seconds``,
        ``predict_ms_per_image``, ``y_true``, ``y_pred``, ``confusion``
        (rows: true class), ``report`` (text) and ``report_dict``.
    """
    data = dataset.with_light_ink()
    start = time.perf_counter()
    y_pred = np.asarray(model.predict(data.images))
    elapsed = time.perf_counter() - start
    labels = np.arange(data.n_classes)
    names = data.class_names
    return {
        "accuracy": float(accuracy_score(data.labels, y_pred)),
        "macro_f1": float(f1_score(data.labels, y_pred, labels=labels, average="macro", zero_division=0)),
        "n_samples": int(len(data)),
        "predict_seconds": elapsed,
        "predict_ms_per_image": 1000.0 * elapsed / max(1, len(data)),
        "y_true": data.labels,
        "y_pred": y_pred,
        "confusion": confusion_matrix(data.labels, y_pred, labels=labels),
        "report": classification_report(
            data.labels, y_pred, labels=labels, target_names=names, digits=4, zero_division=0
        ),
        "report_dict": classification_report(
            data.labels, y_pred, labels=labels, target_names=names, output_dict=True, zero_division=0
        ),
    }


def format_confusion(matrix, class_names, max_name=8):
    """Render a confusion matrix as aligned text (rows: true class, columns: predicted)."""
    names = [str(n)[:max_name] for n in class_names]
    width = max(max(len(n) for n in names), len(str(int(np.max(matrix)) if matrix.size else 0)), 3)
    lines = ["true \\ pred".ljust(width) + " " + " ".join(n.rjust(width) for n in names)]
    for name, row in zip(names, matrix, strict=True):
        lines.append(name.ljust(width) + " " + " ".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)

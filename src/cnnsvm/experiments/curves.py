"""One-vs-rest ROC and precision-recall curves of a probabilistic classifier, with their areas."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    auc,
    average_precision_score,
    precision_recall_curve,
    roc_curve,
)

GRID_POINTS = 201


def _indicator(y_true, classes):
    classes = np.asarray(classes)
    return (np.asarray(y_true)[:, None] == classes[None, :]).astype(int)


def one_vs_rest_curves(y_true, proba, classes, class_names=None):
    """ROC and precision-recall curves of each class against the rest, and their averages.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    proba : ndarray of shape (n_samples, n_classes)
        Scores, columns ordered as ``classes``.
    classes : array-like of shape (n_classes,)
    class_names : list of str, optional
        Display names, ordered as ``classes``.

    Returns
    -------
    dict
        ``per_class``: list of dicts (``name``, ``fpr``, ``tpr``, ``roc_auc``,
        ``precision``, ``recall``, ``average_precision``) for classes with
        both positive and negative test samples; ``micro`` and ``macro``:
        the averaged curves (micro: all decisions pooled; macro: the mean of
        the per-class curves on a common grid) with their AUC and average
        precision. The macro areas are the means of the per-class areas, as
        :func:`sklearn.metrics.roc_auc_score` and
        :func:`~sklearn.metrics.average_precision_score` compute them with
        ``average="macro"``.
    """
    proba = np.asarray(proba, dtype=np.float64)
    classes = np.asarray(classes)
    names = [str(c) for c in classes] if class_names is None else [str(n) for n in class_names]
    Y = _indicator(y_true, classes)
    per_class = []
    for i, name in enumerate(names):
        positives = int(Y[:, i].sum())
        if positives == 0 or positives == len(Y):
            continue
        fpr, tpr, _ = roc_curve(Y[:, i], proba[:, i])
        precision, recall, _ = precision_recall_curve(Y[:, i], proba[:, i])
        per_class.append({
            "name": name,
            "fpr": fpr,
            "tpr": tpr,
            "roc_auc": float(auc(fpr, tpr)),
            "precision": precision,
            "recall": recall,
            "average_precision": float(average_precision_score(Y[:, i], proba[:, i])),
        })
    result = {"per_class": per_class}
    kept = [i for i, n in enumerate(names) if any(c["name"] == n for c in per_class)]
    if not kept:
        result["micro"] = result["macro"] = None
        return result
    y_flat, p_flat = Y[:, kept].ravel(), proba[:, kept].ravel()
    fpr, tpr, _ = roc_curve(y_flat, p_flat)
    precision, recall, _ = precision_recall_curve(y_flat, p_flat)
    result["micro"] = {
        "fpr": fpr, "tpr": tpr, "roc_auc": float(auc(fpr, tpr)),
        "precision": precision, "recall": recall,
        "average_precision": float(average_precision_score(Y[:, kept], proba[:, kept], average="micro")),
    }
    all_fpr = np.unique(np.concatenate([c["fpr"] for c in per_class]))
    mean_tpr = np.mean([np.interp(all_fpr, c["fpr"], c["tpr"]) for c in per_class], axis=0)
    grid = np.linspace(0.0, 1.0, GRID_POINTS)
    # precision_recall_curve returns recall in decreasing order; interpolate on the increasing one
    mean_precision = np.mean([np.interp(grid, c["recall"][::-1], c["precision"][::-1]) for c in per_class], axis=0)
    result["macro"] = {
        "fpr": all_fpr, "tpr": mean_tpr, "roc_auc": float(np.mean([c["roc_auc"] for c in per_class])),
        "precision": mean_precision, "recall": grid,
        "average_precision": float(np.mean([c["average_precision"] for c in per_class])),
    }
    return result


def curve_summary(curves):
    """The areas of :func:`one_vs_rest_curves` as plain JSON data."""
    def area(block, key):
        return None if block is None else block[key]

    return {
        "roc_auc_micro": area(curves["micro"], "roc_auc"),
        "roc_auc_macro": area(curves["macro"], "roc_auc"),
        "average_precision_micro": area(curves["micro"], "average_precision"),
        "average_precision_macro": area(curves["macro"], "average_precision"),
        "per_class": {c["name"]: {"roc_auc": c["roc_auc"], "average_precision": c["average_precision"]}
                      for c in curves["per_class"]},
    }

"""One-vs-rest ROC and precision-recall curves of a probabilistic classifier, with their areas."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

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
    positives = Y.sum(axis=0)
    kept = [i for i in range(len(classes)) if 0 < positives[i] < len(Y)]
    if not kept:
        return {"per_class": [], "micro": None, "macro": None}
    Y, proba = Y[:, kept], proba[:, kept]
    # The areas: scikit-learn's one-vs-rest averages over the indicator columns.
    roc_auc = np.atleast_1d(roc_auc_score(Y, proba, average=None))
    average_precision = np.atleast_1d(average_precision_score(Y, proba, average=None))
    per_class = []
    for j, i in enumerate(kept):
        fpr, tpr, _ = roc_curve(Y[:, j], proba[:, j])
        precision, recall, _ = precision_recall_curve(Y[:, j], proba[:, j])
        per_class.append(
            {
                "name": names[i],
                "fpr": fpr,
                "tpr": tpr,
                "roc_auc": float(roc_auc[j]),
                "precision": precision,
                "recall": recall,
                "average_precision": float(average_precision[j]),
            }
        )
    fpr, tpr, _ = roc_curve(Y.ravel(), proba.ravel())
    precision, recall, _ = precision_recall_curve(Y.ravel(), proba.ravel())
    micro = {
        "fpr": fpr,
        "tpr": tpr,
        "roc_auc": float(roc_auc_score(Y, proba, average="micro")),
        "precision": precision,
        "recall": recall,
        "average_precision": float(average_precision_score(Y, proba, average="micro")),
    }
    # The macro curves (for plots): the per-class curves averaged on a common grid.
    all_fpr = np.unique(np.concatenate([c["fpr"] for c in per_class]))
    mean_tpr = np.mean([np.interp(all_fpr, c["fpr"], c["tpr"]) for c in per_class], axis=0)
    grid = np.linspace(0.0, 1.0, GRID_POINTS)
    # precision_recall_curve returns recall in decreasing order; interpolate on the increasing one
    mean_precision = np.mean([np.interp(grid, c["recall"][::-1], c["precision"][::-1]) for c in per_class], axis=0)
    macro = {
        "fpr": all_fpr,
        "tpr": mean_tpr,
        "roc_auc": float(roc_auc_score(Y, proba, average="macro")),
        "precision": mean_precision,
        "recall": grid,
        "average_precision": float(average_precision_score(Y, proba, average="macro")),
    }
    return {"per_class": per_class, "micro": micro, "macro": macro}


def curve_summary(curves):
    """The areas of :func:`one_vs_rest_curves` as plain JSON data."""

    def area(block, key):
        return None if block is None else block[key]

    return {
        "roc_auc_micro": area(curves["micro"], "roc_auc"),
        "roc_auc_macro": area(curves["macro"], "roc_auc"),
        "average_precision_micro": area(curves["micro"], "average_precision"),
        "average_precision_macro": area(curves["macro"], "average_precision"),
        "per_class": {
            c["name"]: {"roc_auc": c["roc_auc"], "average_precision": c["average_precision"]}
            for c in curves["per_class"]
        },
    }

"""One-vs-one decision values of a multi-class SVM, and their one-vs-rest vote."""

from __future__ import annotations

import numpy as np


def class_pairs(n_classes):
    """The class pairs ``(i, j)``, ``i < j``, in libsvm's order: (0, 1), (0, 2), ..., (1, 2), ...

    Parameters
    ----------
    n_classes : int

    Returns
    -------
    list of tuple of int
    """
    return [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]


def ovr_from_ovo(decision, n_classes):
    """One-vs-rest scores from one-vs-one decision values, as :class:`~sklearn.svm.SVC` computes them.

    Each pair's decision value is positive where its first class wins. A class scores its
    votes plus its summed confidences squashed into (-1/3, 1/3), which only breaks ties
    between equal vote counts.

    Parameters
    ----------
    decision : ndarray of shape (n_samples, n_pairs)
        Decision values of the pairs of :func:`class_pairs`, in that order.
    n_classes : int

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
    """
    pairs = class_pairs(n_classes)
    first = np.zeros((len(pairs), n_classes))
    second = np.zeros((len(pairs), n_classes))
    first[np.arange(len(pairs)), [i for i, _ in pairs]] = 1.0
    second[np.arange(len(pairs)), [j for _, j in pairs]] = 1.0
    wins_first = ~(decision < 0)
    votes = wins_first @ first + (~wins_first) @ second
    confidence = decision @ first - decision @ second
    return votes + confidence / (3 * (np.abs(confidence) + 1))

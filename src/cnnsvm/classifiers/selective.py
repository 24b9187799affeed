"""Selective classification: how well a confidence score ranks a classifier's own errors.

A classifier that may abstain answers only its most confident samples. Sorting
the samples by a confidence score, from most to least confident, and answering
the first ``k`` of ``n`` gives coverage ``k / n`` and risk (error rate among the
answered samples) ``errors(k) / k``: the risk-coverage curve. Its area (AURC,
Geifman & El-Yaniv 2017; lower is better) summarises accuracy and ranking in
one number; the rejection needed for a target reliability (accuracy on the
answered samples) reads one point off the curve.

Tied scores are answered together: a score that cannot tell samples apart
(probabilities saturated at 1.0, say) pays for it. :func:`confidence_score`
reads the top probability without that loss: where it rounds to 1.0 the other
classes' probabilities (1e-20, say) still tell the answers apart.
"""

from __future__ import annotations

import numpy as np

#: Coverages at which :func:`selective_summary` reports the accuracy of the answered samples.
COVERAGES = (1.0, 0.99, 0.98, 0.95, 0.90)
#: Reliabilities for which it reports the rejection needed.
RELIABILITIES = (0.999, 1.0)


def residual_probability(proba):
    """``1 - max(proba)`` of each row, computed as the sum of the other classes' probabilities.

    Mathematically the same as ``1 - proba.max(axis=1)``, but exact where the top
    probability rounds to 1.0 in floating point: a confident model's answers keep
    their order (residuals of 1e-20 and 1e-9 differ; ``1 - 1.0`` twice does not).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 1:
        raise ValueError(f"proba must be a 2-D array (n_samples, n_classes); got shape {proba.shape}")
    if proba.shape[1] == 1:
        return np.zeros(len(proba))
    rest = np.partition(proba, proba.shape[1] - 1, axis=1)[:, :-1]
    return rest.sum(axis=1)


def confidence_score(proba):
    """The confidence of each answer for ranking: ``-residual_probability(proba)`` (higher: surer).

    Orders the answers as the top probability does, without its ties at 1.0.
    """
    return -residual_probability(proba)


def reaches_threshold(proba, threshold):
    """Whether each row's top probability reaches ``threshold``, read without rounding to 1.0.

    Compares ``1 - threshold`` with :func:`residual_probability`, allowing for the
    rounding of ``1 - threshold`` itself (``1 - 0.9`` is 0.09999999999999998), so a
    top probability of exactly 0.9 reaches 0.9. At ``threshold=1`` only rows whose
    other probabilities are all exactly 0 reach it.
    """
    return residual_within(residual_probability(proba), threshold)


def residual_within(residual, threshold):
    """Whether the residual probability (``1 - top``) of an answer is within ``1 - threshold``,
    allowing for the rounding of ``1 - threshold`` itself (see :func:`reaches_threshold`)."""
    margin = 1.0 - float(threshold)
    return np.asarray(residual) <= margin + 4 * np.finfo(np.float64).eps * max(margin, 0.0)


def risk_coverage_curve(correct, score):
    """Risk against coverage when the samples are answered in decreasing ``score``.

    Parameters
    ----------
    correct : array-like of bool, shape (n_samples,)
        Whether each prediction is right.
    score : array-like of float, shape (n_samples,)
        Confidence of each prediction (higher: answered first).

    Returns
    -------
    coverage, risk, threshold : ndarray
        One point per distinct score, from the highest: answering every sample
        whose score is at least ``threshold`` covers ``coverage`` of them with
        error rate ``risk``.
    """
    correct = np.asarray(correct, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    if correct.shape != score.shape or correct.ndim != 1 or not len(correct):
        raise ValueError("correct and score must be 1-D arrays of the same, non-zero length")
    order = np.argsort(-score, kind="stable")
    s = score[order]
    errors = np.cumsum(~correct[order])
    # The last sample of each group of equal scores: ties are answered together.
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
    answered = last + 1
    return answered / len(s), errors[last] / answered, s[last]


def area_under(coverage, risk):
    """Area under a risk-coverage curve given as its points (see :func:`aurc`)."""
    return float(np.sum(np.diff(np.r_[0.0, coverage]) * risk))


def rejection_on_curve(curve, reliability=1.0):
    """``(rejection_rate, threshold)`` read off a :func:`risk_coverage_curve`; see
    :func:`rejection_for_reliability`."""
    coverage, risk, threshold = curve
    ok = np.flatnonzero(1.0 - risk >= reliability - 1e-12)
    if not len(ok):
        return 1.0, None
    best = ok[-1]  # coverage grows along the curve
    return float(1.0 - coverage[best]), float(threshold[best])


def accuracy_on_curve(curve, coverage):
    """Accuracy at ``coverage`` read off a :func:`risk_coverage_curve`; see :func:`accuracy_at_coverage`."""
    cov, risk, _ = curve
    i = min(np.searchsorted(cov, coverage - 1e-12), len(cov) - 1)
    return float(1.0 - risk[i])


def summarize_curve(curve):
    """AURC, accuracy at :data:`COVERAGES` and rejection for :data:`RELIABILITIES` of one curve
    (the :func:`selective_summary` entries but ``accuracy``)."""
    coverage, risk, _ = curve
    return {
        "aurc": area_under(coverage, risk),
        "accuracy_at_coverage": {f"{c:g}": accuracy_on_curve(curve, c) for c in COVERAGES},
        "rejection_for_reliability": {f"{r:g}": rejection_on_curve(curve, r)[0] for r in RELIABILITIES},
    }


def aurc(correct, score):
    """Area under the risk-coverage curve (mean risk over the coverages ``k / n``; lower is better).

    Ties are counted as one step at the group's risk, so a score with many ties is
    not credited with an ordering it does not have.
    """
    coverage, risk, _ = risk_coverage_curve(correct, score)
    return area_under(coverage, risk)


def rejection_for_reliability(correct, score, reliability=1.0):
    """Smallest share of samples to reject so that the answered ones reach ``reliability``.

    Returns ``(rejection_rate, threshold)``; ``(1.0, None)`` when only rejecting
    everything reaches it.
    """
    return rejection_on_curve(risk_coverage_curve(correct, score), reliability)


def accuracy_at_coverage(correct, score, coverage):
    """Accuracy on the ``coverage`` share of samples with the highest scores (ties kept whole)."""
    return accuracy_on_curve(risk_coverage_curve(correct, score), coverage)


def selective_summary(y_true, y_pred, score):
    """Accuracy, AURC, accuracy at fixed coverages and rejection for fixed reliabilities.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    score : array-like of shape (n_samples,)
        Confidence of each prediction.

    Returns
    -------
    dict
        ``accuracy``, ``aurc``, ``accuracy_at_coverage`` ({coverage: accuracy}),
        ``rejection_for_reliability`` ({reliability: rejection rate}).
    """
    correct = np.asarray(y_true) == np.asarray(y_pred)
    return {"accuracy": float(correct.mean()), **summarize_curve(risk_coverage_curve(correct, score))}

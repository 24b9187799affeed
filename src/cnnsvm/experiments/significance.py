"""Paired significance of two classifiers on one test set: McNemar's exact test."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.stats import binom


def mcnemar_exact(y_true, pred_a, pred_b):
    """McNemar's exact test on the samples where exactly one of two classifiers is right.

    Under the null hypothesis (equal error rates) each discordant sample is
    equally likely to favour either classifier, so the number favouring ``a``
    follows Binomial(n_discordant, 1/2); the p-value is the two-sided
    :func:`scipy.stats.binomtest`.

    Parameters
    ----------
    y_true, pred_a, pred_b : array-like of shape (n_samples,)
        True labels and the two classifiers' predictions of the same samples.

    Returns
    -------
    dict
        ``a_only`` (a right, b wrong), ``b_only`` (b right, a wrong),
        ``both_right``, ``both_wrong``, ``n`` and ``p_value`` (1.0 without
        discordant samples).
    """
    y_true, pred_a, pred_b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not (len(y_true) == len(pred_a) == len(pred_b)):
        raise ValueError(
            f"McNemar's test pairs predictions of the same samples; got {len(y_true)} labels, "
            f"{len(pred_a)} and {len(pred_b)} predictions"
        )
    right_a, right_b = pred_a == y_true, pred_b == y_true
    a_only = int(np.sum(right_a & ~right_b))
    b_only = int(np.sum(~right_a & right_b))
    return {
        "a_only": a_only,
        "b_only": b_only,
        "both_right": int(np.sum(right_a & right_b)),
        "both_wrong": int(np.sum(~right_a & ~right_b)),
        "n": len(y_true),
        "p_value": mcnemar_p_value(a_only, b_only),
    }


def mcnemar_p_value(a_only, b_only):
    """Two-sided exact p-value of McNemar's test from its discordant counts (1.0 without any).

    Parameters
    ----------
    a_only, b_only : int
        Samples only the first, only the second classifier got right.

    Returns
    -------
    float
    """
    a_only, b_only = int(a_only), int(b_only)
    if not a_only + b_only:
        return 1.0
    # binomtest's two-sided p for a fair coin is 2 P(X <= min(a, b)); summed in log space, since
    # binomtest returns 0 once about a thousand samples disagree (a p of 1e-280 is still a float)
    log_tail = logsumexp(binom.logpmf(np.arange(min(a_only, b_only) + 1), a_only + b_only, 0.5))
    return float(min(1.0, np.exp(np.log(2.0) + log_tail)))

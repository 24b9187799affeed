"""McNemar's exact test and the one-vs-rest curves."""

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from cnnsvm.experiments.curves import curve_summary, one_vs_rest_curves
from cnnsvm.experiments.significance import mcnemar_exact, mcnemar_p_value


def test_mcnemar_counts_discordant_pairs():
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0])
    a = np.array([0, 1, 1, 0, 1, 0, 1, 1, 1, 1])  # wrong on the last two
    b = np.array([1, 0, 0, 1, 1, 0, 1, 1, 0, 0])  # wrong on the first four
    result = mcnemar_exact(y, a, b)
    assert (result["a_only"], result["b_only"], result["both_right"], result["both_wrong"]) == (4, 2, 4, 0)
    assert result["p_value"] == pytest.approx(binomtest(4, 6, 0.5).pvalue)
    assert mcnemar_exact(y, a, a)["p_value"] == 1.0
    lopsided = mcnemar_exact(np.zeros(30), np.zeros(30), np.ones(30))
    assert lopsided["a_only"] == 30 and lopsided["p_value"] < 1e-8
    with pytest.raises(ValueError, match="same samples"):
        mcnemar_exact(y, a, b[:5])
    assert mcnemar_p_value(4, 2) == result["p_value"] and mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(39, 18) == pytest.approx(binomtest(39, 57, 0.5).pvalue)
    assert mcnemar_p_value(39, 18) < 0.01
    for a, b in [(0, 1), (1, 0), (5, 5), (10, 3), (3, 10), (200, 150), (60, 0)]:
        assert mcnemar_p_value(a, b) == pytest.approx(binomtest(a, a + b, 0.5).pvalue, rel=1e-9)
    # where binomtest underflows to 0, the exact p: 2 * sum_{k<=24} C(1093, k) / 2**1093
    exact = 2 * sum(math.comb(1093, k) for k in range(25)) / 2**1093
    assert binomtest(1069, 1093, 0.5).pvalue == 0.0  # what the log-space sum avoids
    assert mcnemar_p_value(1069, 24) == pytest.approx(exact, rel=1e-9)


def test_one_vs_rest_curves_match_sklearn():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    proba = rng.dirichlet(np.ones(3), size=60)
    proba[np.arange(60), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    curves = one_vs_rest_curves(y, proba, np.arange(3), ["a", "b", "c"])
    summary = curve_summary(curves)
    assert summary["roc_auc_macro"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    for i, name in enumerate("abc"):
        assert summary["per_class"][name]["roc_auc"] == pytest.approx(roc_auc_score(y == i, proba[:, i]))
    assert 0.5 < summary["average_precision_micro"] <= 1.0


def test_classes_without_test_samples_are_left_out():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.4, 0.5, 0.1]])
    curves = one_vs_rest_curves(y, proba, np.arange(3))
    assert [c["name"] for c in curves["per_class"]] == ["0", "1"]
    assert curves["macro"]["roc_auc"] == pytest.approx(1.0)

import numpy as np
import pytest

from cnnsvm.classifiers.selective import (
    accuracy_at_coverage,
    aurc,
    confidence_score,
    rejection_for_reliability,
    residual_probability,
    risk_coverage_curve,
    selective_summary,
)


def test_perfect_ranking_has_the_smallest_area():
    # 8 right answers, 2 wrong ones; a score that puts the errors last.
    correct = np.array([True] * 8 + [False] * 2)
    good = np.linspace(1.0, 0.1, 10)
    bad = good[::-1]  # errors answered first
    coverage, risk, threshold = risk_coverage_curve(correct, good)
    assert np.allclose(coverage, np.arange(1, 11) / 10)
    assert np.allclose(risk, [0] * 8 + [1 / 9, 2 / 10])
    assert threshold[0] == good[0]
    assert aurc(correct, good) == pytest.approx((1 / 9 + 2 / 10) / 10)
    assert aurc(correct, bad) > 5 * aurc(correct, good)
    assert rejection_for_reliability(correct, good, 1.0) == (pytest.approx(0.2), pytest.approx(good[7]))
    assert rejection_for_reliability(correct, bad, 1.0) == (1.0, None)


def test_tied_scores_are_answered_together():
    # Saturated probabilities: every sample at 1.0 cannot be ranked, whatever the order of the arrays.
    correct = np.array([False, True, True, True])
    score = np.ones(4)
    coverage, risk, _ = risk_coverage_curve(correct, score)
    assert coverage.tolist() == [1.0] and risk.tolist() == [0.25]
    assert aurc(correct, score) == pytest.approx(0.25)
    assert aurc(correct[::-1], score) == pytest.approx(0.25)
    assert rejection_for_reliability(correct, score, 1.0)[0] == 1.0


def test_accuracy_at_coverage_and_summary():
    correct = np.array([True] * 95 + [False] * 5)
    score = np.r_[np.linspace(1, 0.5, 95), np.linspace(0.4, 0.3, 5)]
    assert accuracy_at_coverage(correct, score, 0.95) == 1.0
    assert accuracy_at_coverage(correct, score, 1.0) == pytest.approx(0.95)
    y_true = np.zeros(100, int)
    y_pred = np.where(correct, 0, 1)
    summary = selective_summary(y_true, y_pred, score)
    assert summary["accuracy"] == pytest.approx(0.95)
    assert summary["accuracy_at_coverage"]["0.95"] == 1.0
    assert summary["rejection_for_reliability"]["1"] == pytest.approx(0.05)
    assert summary["rejection_for_reliability"]["0.999"] == pytest.approx(0.05)


def test_bad_input():
    with pytest.raises(ValueError, match="same, non-zero length"):
        risk_coverage_curve([True, False], [0.5])
    with pytest.raises(ValueError):
        risk_coverage_curve([], [])


def test_residual_probability_keeps_the_order_of_saturated_answers():
    # Both rows round to a top probability of exactly 1.0; their residuals still differ.
    proba = np.array([[1.0, 1e-20, 3e-21], [1.0, 1e-9, 0.0], [0.6, 0.3, 0.1]])
    assert (proba[:2].max(1) == 1.0).all()
    residual = residual_probability(proba)
    assert residual == pytest.approx([1.3e-20, 1e-9, 0.4], rel=1e-12)
    score = confidence_score(proba)
    assert score[0] > score[1] > score[2]
    correct = np.array([True, False, True])
    # Read as top probabilities the first two tie; read losslessly the error comes after the right answer.
    assert aurc(correct, score) < aurc(correct, proba.max(1))
    with pytest.raises(ValueError, match="2-D"):
        residual_probability(np.ones(3))


def test_threshold_boundary_is_inclusive():
    from cnnsvm.classifiers.selective import reaches_threshold

    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.5, 0.5], [1.0, 1e-20], [1.0, 0.0]])
    assert reaches_threshold(proba, 0.9).tolist() == [True, False, False, True, True]
    assert reaches_threshold(proba, 0.8).tolist() == [True, True, False, True, True]
    assert reaches_threshold(proba, 0.5).tolist() == [True] * 5
    # at 1.0 only an answer with nothing left for the other classes is kept
    assert reaches_threshold(proba, 1.0).tolist() == [False, False, False, False, True]
    assert reaches_threshold(proba, 1 - 1e-12).tolist() == [False, False, False, True, True]

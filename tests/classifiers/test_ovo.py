"""One-vs-one decision values and their one-vs-rest vote, as scikit-learn's SVC computes them."""

import numpy as np
import pytest
from sklearn.svm import SVC

from cnnsvm.classifiers.ovo import class_pairs, ovr_from_ovo


def test_class_pairs_follow_libsvm_order():
    assert class_pairs(4) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert class_pairs(1) == []


@pytest.mark.parametrize("n_classes", [3, 5])
def test_ovr_from_ovo_equals_svc_decision_function(n_classes):
    rng = np.random.RandomState(n_classes)
    y = np.arange(150) % n_classes
    X = rng.normal(size=(150, 4)) + np.eye(n_classes, 4)[y]
    ovo = SVC(decision_function_shape="ovo").fit(X, y).decision_function(X)
    ovr = SVC(decision_function_shape="ovr").fit(X, y).decision_function(X)
    np.testing.assert_allclose(ovr_from_ovo(ovo, n_classes), ovr, rtol=1e-12, atol=1e-12)


def test_a_class_that_wins_every_pair_has_every_vote():
    decision = np.array([[1.0, 2.0, 0.5]])  # pairs (0, 1), (0, 2), (1, 2): class 0 wins both of its pairs
    scores = ovr_from_ovo(decision, 3)
    assert scores.argmax() == 0 and np.floor(scores[0, 0] + 1 / 3) == 2

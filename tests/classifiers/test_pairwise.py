"""PairwiseSVC: an RBF SVM fitted pair by pair, and classes added to a fitted SVM."""

import copy
import pickle

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.svm import SVC

from cnnsvm.classifiers._sklearn_fastpath import fitted_gamma
from cnnsvm.classifiers.ovo import class_pairs
from cnnsvm.classifiers.pairwise import PairwiseSVC
from cnnsvm.classifiers.svm import GramSVC

CENTERS = 3.0 * np.random.RandomState(42).normal(size=(10, 5))  # class k's centre: row k


def _blobs(classes, n=30, seed=0):
    rng = np.random.RandomState(seed)
    y = np.repeat(classes, n)
    return rng.normal(size=(len(y), 5)) + CENTERS[y], y


def _ovo(svc, X):
    return copy.copy(svc).set_params(decision_function_shape="ovo").decision_function(X)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_without_a_base_it_is_the_rbf_svc(n_classes):
    X, y = _blobs(list(range(n_classes)))
    svc = SVC(C=3.0).fit(X, y)
    model = PairwiseSVC(C=3.0).fit(X, y)
    assert model.gamma_ == pytest.approx(fitted_gamma(svc))
    np.testing.assert_allclose(model.decision_function(X), svc.decision_function(X), rtol=1e-6, atol=1e-6)
    expected = svc.decision_function(X)
    expected = svc.classes_[(expected > 0).astype(int)] if n_classes == 2 else svc.classes_[expected.argmax(1)]
    np.testing.assert_array_equal(model.predict(X), expected)


def test_new_classes_add_pairs_and_keep_the_base_pairs():
    # Base classes 5, 6, 7; new classes 1 and 9 sort before and after them.
    X, y = _blobs([5, 6, 7])
    base = SVC(C=2.0).fit(X, y)
    X_new, y_new = _blobs([1, 9], n=6, seed=1)
    model = PairwiseSVC(FrozenEstimator(base)).fit(X_new, y_new)
    assert model.classes_.tolist() == [1, 5, 6, 7, 9] and model.C_ == 2.0
    assert model.gamma_ == pytest.approx(fitted_gamma(base))
    probe, _ = _blobs([1, 5, 6, 7, 9], n=8, seed=2)
    ovo = model._ovo(probe)
    pairs = class_pairs(5)
    old = [p for p, (i, j) in enumerate(pairs) if i > 0 and j < 4]
    np.testing.assert_allclose(ovo[:, old], _ovo(base, probe), rtol=1e-9, atol=1e-9)
    # The new pairs are those of an SVC refitted on the base's support vectors and the new examples.
    points = np.vstack([base.support_vectors_, X_new])
    labels = np.concatenate([np.repeat(base.classes_, base.n_support_), y_new])
    refit = SVC(C=2.0, gamma=fitted_gamma(base)).fit(points, labels)
    new = [p for p in range(len(pairs)) if p not in old]
    np.testing.assert_allclose(ovo[:, new], _ovo(refit, probe)[:, new], rtol=1e-6, atol=1e-8)
    assert (model.predict(X_new) == y_new).mean() > 0.9


def test_a_gram_svc_base_and_a_chain_of_additions_give_the_same_svm():
    X, y = _blobs([0, 1, 2])
    X_a, y_a = _blobs([3], n=5, seed=1)
    X_b, y_b = _blobs([4], n=5, seed=2)
    gram = GramSVC(C=2.0, gamma=0.2).fit(X, y)
    svc = SVC(C=2.0, gamma=0.2).fit(X, y)
    both = np.vstack([X_a, X_b]), np.concatenate([y_a, y_b])
    at_once = PairwiseSVC(FrozenEstimator(svc)).fit(*both)
    chained = PairwiseSVC(FrozenEstimator(PairwiseSVC(FrozenEstimator(gram)).fit(X_a, y_a))).fit(X_b, y_b)
    probe, _ = _blobs([0, 1, 2, 3, 4], n=4, seed=3)
    np.testing.assert_allclose(chained.decision_function(probe), at_once.decision_function(probe), atol=1e-6)


def test_a_chain_reads_one_kernel_at_prediction(monkeypatch):
    # Three classes taught one after another: the same decision values as the three added at once,
    # from one kernel evaluation over the merged support points instead of one per level.
    import cnnsvm.classifiers.pairwise as pairwise

    X, y = _blobs([0, 2, 4])
    svc = SVC(C=2.0).fit(X, y)
    taught = [_blobs([c], n=5, seed=c) for c in (1, 3, 5)]
    model = svc
    for X_c, y_c in taught:
        model = PairwiseSVC(FrozenEstimator(model)).fit(X_c, y_c)
    at_once = PairwiseSVC(FrozenEstimator(svc)).fit(
        np.vstack([t[0] for t in taught]), np.concatenate([t[1] for t in taught])
    )
    probe, _ = _blobs(list(range(6)), n=4, seed=9)
    calls = []
    real = pairwise.rbf_kernel
    monkeypatch.setattr(pairwise, "rbf_kernel", lambda *a, **k: calls.append(a[1].shape) or real(*a, **k))
    decision = model.decision_function(probe)
    assert len(calls) == 1
    # a point that several levels' pairs read (a base class's support vector) is in the kernel once
    levels, level = [], model
    while isinstance(level, PairwiseSVC):
        levels.append(len(level.pair_support_))
        level = level.base_
    assert len(np.unique(model._flat[3], axis=0)) == calls[0][0] < sum(levels)
    np.testing.assert_allclose(decision, at_once.decision_function(probe), atol=1e-6)
    # the merged form is not stored (it would copy every level's points) but rebuilt on loading
    assert "_flat" not in model.__getstate__()
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(loaded.decision_function(probe), decision, atol=1e-12)


def test_a_chain_without_a_first_svc_and_with_string_labels_between_the_old_ones():
    X, y = _blobs([0, 4, 8])
    names = np.array(["b", "d", "f", "h", "j", "l", "n", "p", "r", "t"])
    first = PairwiseSVC(C=2.0).fit(X, names[y])  # no base: every pair fitted by PairwiseSVC itself
    taught = [_blobs([c], n=6, seed=c) for c in (2, 6)]  # "f", then "n": between the old classes
    chained = PairwiseSVC(FrozenEstimator(PairwiseSVC(FrozenEstimator(first)).fit(taught[0][0], names[taught[0][1]])))
    chained.fit(taught[1][0], names[taught[1][1]])
    at_once = PairwiseSVC(FrozenEstimator(first)).fit(
        np.vstack([t[0] for t in taught]), names[np.concatenate([t[1] for t in taught])]
    )
    assert chained.classes_.tolist() == ["b", "f", "j", "n", "r"]
    probe, labels = _blobs([0, 2, 4, 6, 8], n=4, seed=9)
    np.testing.assert_allclose(chained.decision_function(probe), at_once.decision_function(probe), atol=1e-6)
    assert (chained.predict(probe) == names[labels]).mean() > 0.9


def test_probabilities_are_a_softmax_of_the_votes_at_the_given_temperature():
    X, y = _blobs([0, 1, 2])
    base = SVC().fit(X, y)
    X_new, y_new = _blobs([3], n=5, seed=1)
    assert not hasattr(PairwiseSVC(FrozenEstimator(base)).fit(X_new, y_new), "predict_proba")
    model = PairwiseSVC(FrozenEstimator(base), inverse_temperature=2.5).fit(X_new, y_new)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, softmax(2.5 * model.decision_function(X), axis=1))
    np.testing.assert_array_equal(model.classes_[proba.argmax(1)], model.predict(X))


def test_clone_keeps_the_frozen_base_and_pickling_keeps_the_answers():
    X, y = _blobs([0, 1, 2])
    base = SVC().fit(X, y)
    X_new, y_new = _blobs([3], n=5, seed=1)
    model = PairwiseSVC(FrozenEstimator(base), inverse_temperature=1.0).fit(X_new, y_new)
    refitted = clone(model).fit(X_new, y_new)
    np.testing.assert_array_equal(refitted.decision_function(X), model.decision_function(X))
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_bad_bases_and_labels_get_clear_errors():
    X, y = _blobs([0, 1, 2])
    X_new, y_new = _blobs([3], n=5, seed=1)
    base = SVC().fit(X, y)
    with pytest.raises(ValueError, match=r"classes the base SVM has already \(\[2\]\): give examples of new"):
        PairwiseSVC(FrozenEstimator(base)).fit(np.vstack([X_new, X[-2:]]), np.concatenate([y_new, y[-2:]]))
    with pytest.raises(ValueError, match="X has 4 features but the base SVM was fitted on 5"):
        PairwiseSVC(FrozenEstimator(base)).fit(X_new[:, :4], y_new)
    with pytest.raises(ValueError, match="kernel is 'linear': only an RBF SVM can be extended"):
        PairwiseSVC(FrozenEstimator(SVC(kernel="linear").fit(X, y))).fit(X_new, y_new)
    with pytest.raises(NotFittedError):
        PairwiseSVC(SVC()).fit(X_new, y_new)
    with pytest.raises(ValueError, match="base must be a fitted RBF SVC"):
        PairwiseSVC(FrozenEstimator(object())).fit(X_new, y_new)
    with pytest.raises(ValueError, match="number of classes has to be greater than one"):
        PairwiseSVC().fit(X_new, y_new)
    with pytest.raises(NotFittedError):
        PairwiseSVC().predict(X)


def test_parameters_are_checked_and_the_fitted_base_is_what_predicts():
    X, y = _blobs([0, 1, 2])
    X_new, y_new = _blobs([3], n=5, seed=1)
    base = SVC().fit(X, y)
    with pytest.raises(ValueError, match="with a base: the new pairs use the base's RBF width"):
        PairwiseSVC(FrozenEstimator(base), gamma=5.0).fit(X_new, y_new)
    for bad in ("abc", 0.0, -1.0, np.inf):
        with pytest.raises(ValueError, match="inverse_temperature must be a positive finite number"):
            PairwiseSVC(FrozenEstimator(base), inverse_temperature=bad).fit(X_new, y_new)
    with pytest.raises(ValueError, match="C must be a positive number"):
        PairwiseSVC(FrozenEstimator(base), C=0).fit(X_new, y_new)
    with pytest.raises(ValueError, match="must both be integers or both be strings"):
        PairwiseSVC(FrozenEstimator(base)).fit(X_new, np.array(["new"] * 5))
    model = PairwiseSVC(FrozenEstimator(base)).fit(X_new, y_new)
    expected = model.decision_function(X)
    model.set_params(base=FrozenEstimator(SVC(C=0.01).fit(X, y)))  # parameters change nothing until fit
    np.testing.assert_array_equal(model.decision_function(X), expected)
    assert model.base_ is base

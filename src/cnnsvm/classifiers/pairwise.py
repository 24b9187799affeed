"""An RBF SVM fitted one class pair at a time: new classes added to a fitted SVM without refitting it."""

from __future__ import annotations

import copy
import numbers

import numpy as np
from scipy.special import softmax
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.frozen import FrozenEstimator
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.svm import SVC
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from cnnsvm.classifiers._sklearn_fastpath import fitted_gamma, rbf_svc_ovo_decision
from cnnsvm.classifiers.blas_threads import one_blas_thread
from cnnsvm.classifiers.ovo import class_pairs, ovr_from_ovo
from cnnsvm.classifiers.svm import GramSVC, _check_gamma, _rbf_gamma


def _has_temperature(estimator):
    return estimator.inverse_temperature is not None


class PairwiseSVC(ClassifierMixin, BaseEstimator):
    """A one-vs-one RBF SVM fitted pair by pair, optionally adding classes to a fitted SVM.

    A multi-class :class:`~sklearn.svm.SVC` is one binary SVM per pair of classes, each
    fitted on the points of its two classes alone. Classes added to a fitted SVC therefore
    leave its pairs as they are: only the pairs with a new class need fitting. With a
    ``base``, ``fit`` keeps the base's pairs and fits one small SVM for each pair with a
    new class, on that class's examples and the other class's points (for a base class,
    its support vectors: a fitted SVC keeps no other training points, and its own pairs
    would not change if refitted on them alone). This is the SVM an ``SVC`` refitted on
    the base's support vectors plus the new examples would be, at a fraction of the cost:
    teaching a served model new classes (:mod:`cnnsvm.serve.teach`) keeps every old class
    as it was.

    Parameters
    ----------
    base : FrozenEstimator, default=None
        A fitted RBF :class:`~sklearn.svm.SVC`, :class:`~cnnsvm.classifiers.svm.GramSVC`
        or PairwiseSVC, wrapped in :class:`~sklearn.frozen.FrozenEstimator` so that
        ``clone`` keeps it fitted. ``None``: every pair is fitted on ``X, y``.
    C : float, default=None
        Penalty of the new pairs; ``None``: the base's, or 1.0 without a base.
    gamma : float, "scale" or "auto", default=None
        RBF width without a base (``None``: ``"scale"``). With a base it must stay ``None``:
        the new pairs use the base's width, so that every pair reads one kernel.
    inverse_temperature : float, default=None
        With it, :meth:`predict_proba` is ``softmax(inverse_temperature * decision_function)``:
        temperature scaling with a given temperature, such as the base model's own.

    Attributes
    ----------
    base_ : estimator or None
        The fitted SVM of ``base`` (unwrapped), whose pairs are kept.
    classes_ : ndarray of shape (n_classes,)
        Sorted: the base's classes and the new ones.
    new_classes_ : ndarray
        The classes of ``y``.
    C_ : float
    gamma_ : float
    examples_ : ndarray of shape (n_samples, n_features)
        The training points of the new classes (``X``), kept for a later PairwiseSVC on this one.
    example_labels_ : ndarray of shape (n_samples,)
        Their classes (``y``).
    pair_support_ : ndarray of shape (n_rows, n_features)
        The points the new pairs' decision values read.
    pair_coef_ : ndarray of shape (n_rows, n_new_pairs)
    pair_intercept_ : ndarray of shape (n_new_pairs,)
    base_pairs_, new_pairs_ : ndarray of int
        Positions of the base's pairs and of the fitted ones among all pairs
        (:func:`~cnnsvm.classifiers.ovo.class_pairs` order).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.svm import SVC
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = rng.normal(size=(60, 2)) + 3 * y[:, None]
    >>> base = SVC().fit(X, y)
    >>> model = PairwiseSVC(FrozenEstimator(base)).fit(rng.normal(size=(5, 2)) + 9, [3] * 5)
    >>> model.classes_.tolist(), model.predict([[0, 0], [9, 9]]).tolist()
    ([0, 1, 2, 3], [0, 3])
    """

    def __init__(self, base=None, C=None, gamma=None, inverse_temperature=None):
        self.base = base
        self.C = C
        self.gamma = gamma
        self.inverse_temperature = inverse_temperature

    def fit(self, X, y):
        """Fit the pairs that involve a class of ``y``; keep the base's.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Examples of the new classes.
        y : array-like of shape (n_samples,)
            Their classes, none of them a class of the base.

        Returns
        -------
        self : PairwiseSVC
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self._check_params()
        base = self.base_ = self._fitted_base()
        new = np.unique(y)
        if base is None:
            if len(new) < 2:
                raise ValueError(f"The number of classes has to be greater than one; got {len(new)} class")
            base_classes, base_points = new[:0], []
            self.C_ = 1.0 if self.C is None else float(self.C)
            self.gamma_ = _rbf_gamma("scale" if self.gamma is None else self.gamma, X)
        else:
            base_classes, base_points = base.classes_, _class_points(base)
            if base_points[0].shape[1] != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} features but the base SVM was fitted on {base_points[0].shape[1]}"
                )
            clash = np.intersect1d(new, base_classes)
            if len(clash):
                raise ValueError(
                    f"y holds classes the base SVM has already ({clash[:5].tolist()}): give examples of new "
                    "classes only (refit the whole SVM to change an existing class)"
                )
            if (new.dtype.kind in "iu") != (base_classes.dtype.kind in "iu"):
                raise ValueError(
                    f"the new classes ({new.dtype}) and the base's ({base_classes.dtype}) must both be integers "
                    "or both be strings"
                )
            self.C_ = _base_C(base) if self.C is None else float(self.C)
            self.gamma_ = _base_gamma(base)
        classes = np.concatenate([base_classes, new])
        order = np.argsort(classes, kind="stable")
        self.classes_ = classes[order]
        self.new_classes_ = new
        self.examples_ = X
        self.example_labels_ = y
        points = [base_points[i] if i < len(base_classes) else X[y == classes[i]] for i in order]
        is_new = order >= len(base_classes)
        self._fit_new_pairs(points, is_new)
        self._flatten()
        return self

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns the live __dict__
        # The merged form copies every earlier level's support points: rebuilt on loading, not stored,
        # so that a chain's model file grows with its levels, not with their square.
        state.pop("_flat", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "pair_coef_" in self.__dict__:
            self._flatten()

    def _flatten(self):
        """Merge the pairs fitted at every level of a chain into one kernel expansion.

        A PairwiseSVC on a PairwiseSVC (a class taught after another) would evaluate one
        RBF kernel per level at prediction, on support sets that share most of their
        points. The merged form keeps the chain's first SVC (the ``root``) for its own
        pairs and reads every other pair from one kernel over the union of the levels'
        support points: the same decision values, one kernel evaluation.
        """
        base = self.base_
        if isinstance(base, PairwiseSVC):
            root, (root_pairs, flat_pairs, support, coef, intercept) = base._flat[0], base._flat[1:]
            # Base classes keep their order among ours, so a base pair (i, j) is our (pos[i], pos[j]).
            pos = np.searchsorted(self.classes_, base.classes_)
            index = {pair: k for k, pair in enumerate(class_pairs(len(self.classes_)))}
            remap = np.array([index[(pos[i], pos[j])] for i, j in class_pairs(len(base.classes_))], dtype=int)
            root_pairs = remap[root_pairs]
            flat_pairs = np.concatenate([remap[flat_pairs], self.new_pairs_])
            points, inverse = np.unique(np.vstack([support, self.pair_support_]), axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)  # numpy 2.0.0 returns it as a column
            merged = np.zeros((len(points), coef.shape[1] + self.pair_coef_.shape[1]))
            np.add.at(merged[:, : coef.shape[1]], inverse[: len(support)], coef)
            np.add.at(merged[:, coef.shape[1] :], inverse[len(support) :], self.pair_coef_)
            self._flat = (
                root,
                root_pairs,
                flat_pairs,
                points,
                merged,
                np.concatenate([intercept, self.pair_intercept_]),
            )
        else:
            self._flat = (
                base,
                self.base_pairs_,
                self.new_pairs_,
                self.pair_support_,
                self.pair_coef_,
                self.pair_intercept_,
            )

    def _check_params(self):
        if self.C is not None and not (isinstance(self.C, numbers.Real) and self.C > 0):
            raise ValueError(f"C must be a positive number or None; got {self.C!r}")
        if self.gamma is not None:
            if self.base is not None:
                raise ValueError(
                    f"gamma={self.gamma!r} with a base: the new pairs use the base's RBF width (one kernel for "
                    "every pair); leave gamma=None"
                )
            _check_gamma(self.gamma)
        beta = self.inverse_temperature
        if beta is not None and not (isinstance(beta, numbers.Real) and np.isfinite(beta) and beta > 0):
            raise ValueError(f"inverse_temperature must be a positive finite number or None; got {beta!r}")

    def _fitted_base(self):
        if self.base is None:
            return None
        base = self.base.estimator if isinstance(self.base, FrozenEstimator) else self.base
        if not isinstance(base, (SVC, GramSVC, PairwiseSVC)):
            raise ValueError(f"base must be a fitted RBF SVC, GramSVC or PairwiseSVC; got {type(base).__name__}")
        if isinstance(base, SVC) and base.kernel != "rbf":
            raise ValueError(f"the base SVC's kernel is {base.kernel!r}: only an RBF SVM can be extended")
        check_is_fitted(base)
        return base

    def _fit_new_pairs(self, points, is_new):
        pairs = class_pairs(len(points))
        start = np.concatenate([[0], np.cumsum([len(p) for p in points])])
        self.base_pairs_ = np.array([p for p, (i, j) in enumerate(pairs) if not (is_new[i] or is_new[j])], dtype=int)
        self.new_pairs_ = np.array([p for p, (i, j) in enumerate(pairs) if is_new[i] or is_new[j]], dtype=int)
        rows, coefs, intercepts = [], [], []
        # Hundreds of small fits of checked data: scikit-learn's per-call checks would cost more than libsvm.
        with config_context(assume_finite=True, skip_parameter_validation=True):
            for p in self.new_pairs_:
                i, j = pairs[p]
                svc = SVC(C=self.C_, kernel="rbf", gamma=self.gamma_).fit(
                    np.vstack([points[i], points[j]]), np.repeat([0, 1], [len(points[i]), len(points[j])])
                )
                local = svc.support_
                rows.append(np.where(local < len(points[i]), start[i] + local, start[j] + local - len(points[i])))
                # A binary SVC's decision is positive for its second class; a pair's is positive for its first.
                coefs.append(-svc.dual_coef_[0])
                intercepts.append(-svc.intercept_[0])
        used = np.unique(np.concatenate(rows))
        self.pair_support_ = np.vstack(points)[used]
        self.pair_coef_ = np.zeros((len(used), len(self.new_pairs_)))
        for column, (r, c) in enumerate(zip(rows, coefs, strict=True)):
            self.pair_coef_[np.searchsorted(used, r), column] = c
        self.pair_intercept_ = np.asarray(intercepts)

    def _ovo(self, X):
        """One-vs-one decision values of every pair (:func:`~cnnsvm.classifiers.ovo.class_pairs` order)."""
        root, root_pairs, flat_pairs, support, coef, intercept = self._flat
        n_classes = len(self.classes_)
        decision = np.empty((len(X), n_classes * (n_classes - 1) // 2))
        if len(root_pairs):
            decision[:, root_pairs] = _base_ovo(root, X)
        with one_blas_thread():
            kernel = rbf_kernel(X, support, gamma=self.gamma_)
        decision[:, flat_pairs] = kernel @ coef + intercept
        return decision

    def decision_function(self, X):
        """Decision values, shaped as :meth:`sklearn.svm.SVC.decision_function`'s (one-vs-rest vote).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) for two classes (positive for ``classes_[1]``), else (n_samples, n_classes)
        """
        check_is_fitted(self, "pair_coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        decision = self._ovo(X)
        if len(self.classes_) == 2:
            return -decision[:, 0]
        return ovr_from_ovo(decision, len(self.classes_))

    def predict(self, X):
        """The class with the most one-vs-one wins (ties broken by the summed decision values).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        decision = self.decision_function(X)
        if decision.ndim == 1:
            return self.classes_[(decision > 0).astype(int)]
        return self.classes_[decision.argmax(axis=1)]

    @available_if(_has_temperature)
    def predict_proba(self, X):
        """``softmax(inverse_temperature * decision values)``, as a temperature calibration computes it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        decision = self.decision_function(X)
        logits = np.column_stack([-decision, decision]) if decision.ndim == 1 else decision
        return softmax(float(self.inverse_temperature) * logits, axis=1)


def _class_points(svm):
    """The training points of each class of a fitted SVM, in ``classes_`` order (for an SVC: its support vectors)."""
    if isinstance(svm, PairwiseSVC):
        base = svm.base_
        known = dict(zip(base.classes_.tolist(), _class_points(base), strict=True)) if base is not None else {}
        for label in svm.new_classes_:
            known[label.item()] = svm.examples_[svm.example_labels_ == label]
        return [known[label.item()] for label in svm.classes_]
    return np.split(np.asarray(svm.support_vectors_, dtype=np.float64), np.cumsum(svm.n_support_)[:-1])


def _base_ovo(svm, X):
    """A fitted SVM's one-vs-one decision values (positive where a pair's first class wins)."""
    if isinstance(svm, PairwiseSVC):
        return svm._ovo(X)
    if isinstance(svm, GramSVC):
        svc, X = svm.svc_, svm._kernel(X, svm.X_fit_)
    else:
        svc = svm
        fast = rbf_svc_ovo_decision(svc, X)
        if fast is not None:
            return fast
    svc = copy.copy(svc)
    svc.set_params(decision_function_shape="ovo")
    decision = svc.decision_function(X)
    return -decision[:, None] if decision.ndim == 1 else decision


def _base_C(svm):
    return float(svm.C_ if isinstance(svm, PairwiseSVC) else svm.C)


def _base_gamma(svm):
    if isinstance(svm, (PairwiseSVC, GramSVC)):
        return float(svm.gamma_)
    gamma = fitted_gamma(svm)
    if gamma is None:
        raise ValueError("the base SVC's RBF width cannot be read on this scikit-learn release")
    return gamma

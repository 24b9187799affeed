"""The hybrid's pipeline: CNN features -> scaler -> SVM, its probabilities blended with the CNN's own softmax.

The SVM answers; how sure it is decides what the reject option keeps. The
SVM's calibrated probabilities rank its own errors less well than the CNN's
softmax ranks the CNN's (on features of images the network was trained on, the
SVM is rarely unsure). The network that produced the features carries a second
opinion for free: its softmax head, one matrix product away from the features.
:class:`HybridPipeline` averages the two (weight ``softmax_weight`` on the
softmax): on validation data carved from the NHCD training parts the mean
ranked the errors best on every set at the SVM's accuracy
(``benchmarks/results/selection.md``).

The softmax covers the classes the CNN was trained on. A CNN trained by the
pipeline itself has the pipeline's classes; a generic CNN trained on several
datasets holds each dataset's classes at an offset (``label_offset``); a CNN
trained on other symbols altogether (a new set learned on a frozen extractor)
has no head for them, and the SVM answers alone.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from cnnsvm.classifiers.generic_softmax import label_columns, softmax_block
from cnnsvm.exceptions import ConfigError
from cnnsvm.features.views import is_frozen, unwrap_extractor

#: Weight of the softmax in the blend when ``softmax_weight="auto"`` and the head covers the classes.
AUTO_SOFTMAX_WEIGHT = 0.5


class HybridPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` whose probabilities blend the SVM's with the extractor's softmax.

    The steps are those of :func:`cnnsvm.pipeline.make_hybrid`: an image
    preprocessor, the CNN feature extractor (step ``extractor_step``), any
    feature transformers (the scaler) and a classifier with ``predict_proba``.
    ``predict_proba`` returns ``(1 - w) * p_classifier + w * p_softmax``, where
    ``p_softmax`` is the extractor's softmax restricted to the classifier's
    classes and renormalised; ``predict`` is its most probable class,
    ``predict_log_proba`` its logarithm and ``score`` the accuracy of ``predict``
    (``decision_function`` stays the classifier's own). With ``w = 0`` it is a
    plain :class:`~sklearn.pipeline.Pipeline`.

    Parameters
    ----------
    steps : list of (str, estimator)
        As for :class:`~sklearn.pipeline.Pipeline`.
    softmax_weight : float in [0, 1] or "auto", default="auto"
        Weight ``w`` of the softmax. ``"auto"``: :data:`AUTO_SOFTMAX_WEIGHT`
        where the softmax is known to cover the classifier's classes (a CNN
        trained by this pipeline, or a frozen one with ``label_offset`` given),
        else 0. A number above 0 where the head cannot be matched is an error.
    label_offset : int or None, default=None
        For a frozen extractor trained on several datasets: the extractor's label
        of this pipeline's class ``c`` is ``c + label_offset``. ``None``: a frozen
        extractor's head is not used (its labels may mean other symbols).
    extractor_step : str, default="cnn"
        Name of the step holding the CNN.
    transform_input, memory, verbose :
        As for :class:`~sklearn.pipeline.Pipeline`.

    Attributes
    ----------
    softmax_weight_ : float
        The weight resolved by ``fit`` (``softmax_weight`` resolved).
    head_columns_ : ndarray of int or None
        The softmax columns read, in the order of ``classes_`` (``None`` when
        ``softmax_weight_`` is 0). Predictions resolve both again from the steps
        as they are, so a classifier refitted on other classes (a taught class)
        is never blended with a stale block.
    """

    def __init__(
        self,
        steps,
        *,
        softmax_weight="auto",
        label_offset=None,
        extractor_step="cnn",
        transform_input=None,
        memory=None,
        verbose=False,
    ):
        super().__init__(steps, transform_input=transform_input, memory=memory, verbose=verbose)
        self.softmax_weight = softmax_weight
        self.label_offset = label_offset
        self.extractor_step = extractor_step

    def fit(self, X, y=None, **params):
        """Fit the steps as :meth:`Pipeline.fit` does, then match the softmax to the classes.

        Parameters
        ----------
        X : array-like of images
        y : array-like of shape (n_samples,)
        **params : passed to :meth:`Pipeline.fit`.

        Returns
        -------
        self : HybridPipeline
        """
        self._check_blend_params()  # before an expensive fit, not after
        super().fit(X, y, **params)
        self.softmax_weight_, self.head_columns_ = self._match_head()
        return self

    def _check_blend_params(self):
        w = self.softmax_weight
        if not (w == "auto" or (isinstance(w, numbers.Real) and not isinstance(w, bool) and 0.0 <= w <= 1.0)):
            raise ConfigError(f'softmax_weight must be "auto" or a number in [0, 1]; got {w!r}')
        offset = self.label_offset
        if offset is not None and (not isinstance(offset, numbers.Integral) or isinstance(offset, bool)):
            raise ConfigError(f"label_offset must be an integer or None; got {offset!r}")
        if self.extractor_step not in self.named_steps:
            raise ConfigError(f"no step named {self.extractor_step!r} (steps: {', '.join(self.named_steps)})")

    def _match_head(self):
        """``(weight, columns)`` of the blend for the steps as they are now.

        Read again at every prediction (a few comparisons), so that a pipeline
        assembled from fitted steps, or whose classifier was refitted on more
        classes, blends what its steps hold now, never a stale matching.
        """
        step = self.named_steps[self.extractor_step]
        extractor = unwrap_extractor(step)
        classes = np.asarray(self.steps[-1][1].classes_)
        frozen = is_frozen(step)
        columns = None
        if not (frozen and self.label_offset is None):
            columns = _head_columns(np.asarray(extractor.classes_), classes, self.label_offset or 0)
        if self.softmax_weight == "auto":
            weight = AUTO_SOFTMAX_WEIGHT if columns is not None else 0.0
        else:
            weight = float(self.softmax_weight)
            if weight > 0 and columns is None:
                raise ConfigError(
                    "softmax_weight > 0, but the extractor's softmax cannot be matched to this pipeline's classes: "
                    + (
                        "give label_offset (the extractor's label of class 0) for a frozen extractor trained on "
                        "several datasets"
                        if frozen and self.label_offset is None
                        else f"the extractor was trained on labels {_span(extractor.classes_)}, which do not include "
                        f"the classifier's {_span(classes)}"
                        + (f" + label_offset {self.label_offset}" if self.label_offset else "")
                    )
                    + ", or set softmax_weight=0 (the SVM alone)"
                )
        if weight > 0 and not hasattr(self.steps[-1][1], "predict_proba"):
            raise ConfigError("softmax_weight > 0 needs a classifier with probabilities (probability=True)")
        return weight, (columns if weight > 0 else None)

    def predict_proba(self, X, **params):
        """Blended class probabilities, columns ordered as ``classes_``.

        Parameters
        ----------
        X : array-like of images
        **params : passed to the classifier's ``predict_proba``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        w, columns = self._blend()
        if not w:
            return super().predict_proba(X, **params)
        return self._blended_proba(X, w, columns, **params)

    def predict(self, X, **params):
        """The most probable class of the blend (the classifier's own answer when it does not blend).

        Parameters
        ----------
        X : array-like of images
        **params : passed to the classifier's ``predict`` (or ``predict_proba`` when blending).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        w, columns = self._blend()
        if not w:
            return super().predict(X, **params)
        return self.classes_[np.argmax(self._blended_proba(X, w, columns, **params), axis=1)]

    def predict_log_proba(self, X, **params):
        """Logarithm of :meth:`predict_proba` (the blend's, not the classifier's alone).

        Parameters
        ----------
        X : array-like of images
        **params : passed to the classifier's ``predict_proba``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            ``-inf`` where a probability is zero, as in :class:`~sklearn.svm.SVC`.
        """
        # Always the log of predict_proba: Pipeline's own predict_log_proba reads the
        # classifier alone, and the default calibrated SVM has none.
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X, **params))

    def score(self, X, y=None, sample_weight=None, **params):
        """Accuracy of :meth:`predict` on ``X`` against ``y``.

        :meth:`Pipeline.score <sklearn.pipeline.Pipeline.score>` would score the
        classifier alone, and so disagree with :meth:`predict` wherever the
        softmax changes an answer (``GridSearchCV``'s default scoring reads it).

        Parameters
        ----------
        X : array-like of images
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        **params : passed to :meth:`Pipeline.score` when the pipeline does not blend;
            a blending pipeline takes none.

        Returns
        -------
        float
        """
        w, _ = self._blend()
        if not w:
            return super().score(X, y, sample_weight=sample_weight, **params)
        if params:
            raise TypeError(
                f"score() of a blending HybridPipeline takes no extra parameters (got {sorted(params)}); "
                "score model.predict(X) with the metric you need instead"
            )
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    def _blend(self):
        check_is_fitted(self)
        self._check_blend_params()
        return self._match_head()

    def _blended_proba(self, X, w, columns, **params):
        """``(1 - w) * p_classifier + w * p_softmax``, in one pass through the steps.

        The softmax is read from the features the extractor step hands on (one
        dense layer), not from a second pass through the network.
        """
        Xt, features = X, None
        for name, step in self.steps[:-1]:
            if step is None or step == "passthrough":
                continue
            Xt = step.transform(Xt)
            if name == self.extractor_step:
                features = Xt
        proba = np.asarray(self.steps[-1][1].predict_proba(Xt, **params), dtype=np.float64)
        extractor = unwrap_extractor(self.named_steps[self.extractor_step])
        return (1.0 - w) * proba + w * softmax_block(extractor.softmax_from_features(features), columns)

    def __getitem__(self, ind):
        """A step, or a sub-pipeline: a :class:`HybridPipeline` only while it keeps the CNN and the classifier.

        Any other slice (the feature steps alone, or the steps after the CNN that
        a study fits on cached features) is a plain :class:`~sklearn.pipeline.Pipeline`.
        """
        if not isinstance(ind, slice):
            return super().__getitem__(ind)
        plain = Pipeline(self.steps, memory=self.memory, verbose=self.verbose)[ind]  # checks the slice
        names = [name for name, _ in plain.steps]
        if self.extractor_step in names and plain.steps[-1] is self.steps[-1]:
            params = {k: v for k, v in self.get_params(deep=False).items() if k != "steps"}
            return type(self)(plain.steps, **params)
        return plain


def _head_columns(extractor_classes, classes, offset):
    """Positions of ``classes + offset`` among the extractor's classes, or None if any is missing."""
    if offset and not (np.issubdtype(classes.dtype, np.integer) and np.issubdtype(extractor_classes.dtype, np.integer)):
        return None
    return label_columns(extractor_classes, classes + offset if offset else classes)


def _span(labels):
    labels = np.asarray(labels)
    if len(labels) > 6:
        return f"[{', '.join(map(str, labels[:3]))}, ..., {labels[-1]}] ({len(labels)} classes)"
    return f"[{', '.join(map(str, labels))}]"

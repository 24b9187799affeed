"""What a model is made of: whether it is fitted, its image preprocessor, which method it is."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from cnnsvm.classifiers.cnn import CNNClassifier
from cnnsvm.data.preprocessing import ImagePreprocessor
from cnnsvm.features.cnn_extractor import CNNFeatureExtractor
from cnnsvm.features.ensemble import ExtractorEnsemble
from cnnsvm.features.views import unwrap_extractor


def is_fitted(estimator):
    """Whether ``estimator`` passes :func:`sklearn.utils.validation.check_is_fitted`."""
    try:
        check_is_fitted(estimator)
        return True
    except NotFittedError:
        return False


def find_preprocessor(model):
    """The :class:`ImagePreprocessor` step of a pipeline, or ``None``."""
    steps = model.steps if isinstance(model, Pipeline) else []
    for _, step in steps:
        if isinstance(step, ImagePreprocessor):
            return step
    return None


def describe_method(model):
    """Guess ``"hybrid"``, ``"pca-svc"`` or ``"cnn"`` from a pipeline's steps (else the class name)."""
    if isinstance(model, Pipeline):
        names = dict(model.steps)
        inner = unwrap_extractor(names.get("cnn"))
        if isinstance(inner, (CNNFeatureExtractor, ExtractorEnsemble)):
            return "hybrid"
        if isinstance(inner, CNNClassifier):
            return "cnn"
        if "pca" in names:
            return "pca-svc"
        if "mlp" in names:
            return "mlp"
    return type(model).__name__

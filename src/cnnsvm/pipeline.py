"""Assembly of the methods as scikit-learn pipelines.

- :func:`make_hybrid`: images -> CNN embedding -> scaler -> SVC (the product);
- :func:`make_pca_svc`: images -> PCA of raw pixels -> SVC (the article's baseline);
- :func:`make_cnn`: images -> CNN with its softmax head (the "from scratch" baseline);
- :func:`make_mlp`: images -> fully connected network on raw pixels (the tutorials' first baseline).

Saving and loading models is :mod:`cnnsvm.persistence`; its functions (:func:`save`,
:func:`load`, :func:`read_metadata`, :func:`sign_model`, ...) are re-exported here, where
earlier versions defined them.
"""

from __future__ import annotations

from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from cnnsvm.classifiers.cnn import CNNClassifier
from cnnsvm.classifiers.svm import make_svm
from cnnsvm.data.preprocessing import ImagePreprocessor
from cnnsvm.exceptions import ConfigError
from cnnsvm.features.cnn_extractor import CNNFeatureExtractor
from cnnsvm.features.ensemble import ExtractorEnsemble
from cnnsvm.features.spatial import check_features
from cnnsvm.features.views import FrozenExtractor, check_train_views, unwrap_extractor
from cnnsvm.hybrid import HybridPipeline
from cnnsvm.model_structure import describe_method, find_preprocessor
from cnnsvm.model_structure import is_fitted as _is_fitted
from cnnsvm.persistence import (
    FORMAT,
    FORMAT_VERSION,
    MODEL_KEY_ENV,
    SIDECAR_SUFFIX,
    SIGNATURE_ALGORITHM,
    library_versions,
    load,
    model_key,
    read_metadata,
    save,
    sidecar_path,
    sign_model,
    verify_signature,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "METHODS",
    "MODEL_KEY_ENV",
    "SIDECAR_SUFFIX",
    "SIGNATURE_ALGORITHM",
    "describe_method",
    "find_preprocessor",
    "library_versions",
    "load",
    "make_cnn",
    "make_hybrid",
    "make_method",
    "make_mlp",
    "make_pca_svc",
    "model_key",
    "read_metadata",
    "save",
    "sidecar_path",
    "sign_model",
    "verify_signature",
]

METHODS = ("hybrid", "pca-svc", "cnn", "mlp")


def make_hybrid(
    extractor=None,
    *,
    image_size=28,
    C=10.0,
    gamma="scale",
    kernel="rbf",
    svm="exact",
    probability=True,
    calibration="temperature",
    softmax_weight="auto",
    label_offset=None,
    train_views=None,
    features="embedding",
    random_state=0,
    calibration_split="folds",
    n_jobs=None,
    **extractor_params,
):
    """CNN features + standardisation + SVM, its probabilities blended with the CNN's softmax.

    Parameters
    ----------
    extractor : CNNFeatureExtractor or ExtractorEnsemble, optional
        A fitted extractor is wrapped in :class:`~cnnsvm.features.FrozenExtractor`
        and not retrained when the pipeline is fitted; an unfitted one (or
        ``None``: a new one from ``extractor_params``) is trained by ``fit``. An
        ensemble (of fitted members) is always frozen.
    image_size : int, default=28
        Side of the network's square input.
    C, gamma, kernel : SVC parameters.
    svm : {"exact", "approx", "auto"}, default="exact"
        See :func:`cnnsvm.classifiers.svm.make_svm`.
    probability : bool, default=True
        Fit the SVC's probability calibration (needed by ``predict_proba`` and the reject option).
    calibration : {"temperature", "sigmoid"}, default="temperature"
        How the SVM's decision values become probabilities (see
        :func:`cnnsvm.classifiers.svm.make_svm`). Temperature scaling keeps the
        SVM's ranking of its own answers, which the reject option relies on;
        chosen on validation data (docs/experiments.md, "How the hybrid's
        settings were chosen").
    softmax_weight : float in [0, 1] or "auto", default="auto"
        Weight of the extractor's own softmax in the probabilities (see
        :class:`cnnsvm.hybrid.HybridPipeline`): ``"auto"`` averages the SVM's
        probabilities with the softmax wherever the softmax covers the classes
        (the reject option's best ranking on validation data), and uses the SVM
        alone elsewhere; 0 always uses the SVM alone.
    label_offset : int or None, default=None
        For a fitted extractor trained on several datasets: its label of this
        dataset's class ``c`` is ``c + label_offset``. ``None`` with a fitted
        extractor: its softmax is not used.
    train_views : {"images", "augmented"} or None, default=None
        What the scaler, the SVM and its calibration are fitted on: the features
        of the training images, or of fresh random augmented views of them (see
        :mod:`cnnsvm.features.views`; it cost accuracy on validation data).
        ``None``: ``"images"`` for a fitted extractor, the extractor's own
        ``train_views`` for one the pipeline trains.
    features : {"embedding", "spatial"}, default="embedding"
        For a fitted extractor (or ensemble): what the SVM sees, the
        embedding or the embedding with the last convolutional blocks' grid
        means (see :mod:`cnnsvm.features.spatial`; better from a few examples
        of a set the extractor never saw, the default of
        :func:`cnnsvm.experiments.fewshot.run_fewshot`).
    random_state : int, default=0
    calibration_split : {"folds", "auto"}, default="folds"
        ``"auto"``: on large sets (from 5,000 training images) the SVM is fitted
        once on 90 % and calibrated on the held-out 10 % instead of 3 folds (2.7x
        faster at 10,000 images, tied on validation data; see
        :func:`cnnsvm.classifiers.svm.make_svm`). The default of
        :func:`cnnsvm.experiments.transfer.hybrid_for_extractor`.
    n_jobs : int or None, default=None
        Threads for the SVM's calibration folds (see
        :func:`cnnsvm.classifiers.svm.make_svm`); the results do not depend on it.
    **extractor_params
        Parameters of a new :class:`CNNFeatureExtractor`.

    Returns
    -------
    cnnsvm.hybrid.HybridPipeline
        A :class:`~sklearn.pipeline.Pipeline` with steps ``preprocess``, ``cnn``,
        ``scale`` and ``svm``.
    """
    if train_views is not None:
        check_train_views(train_views)
    check_features(features)
    if not probability:
        if softmax_weight != "auto" and softmax_weight != 0:
            raise ConfigError("softmax_weight > 0 blends probabilities: it needs probability=True")
        softmax_weight = 0.0
    if extractor is None:
        extractor = CNNFeatureExtractor(random_state=random_state, **extractor_params)
    elif extractor_params:
        raise ConfigError("pass either a ready extractor or extractor parameters, not both")
    extractor = unwrap_extractor(extractor)
    if isinstance(extractor, ExtractorEnsemble) and not _is_fitted(extractor):
        extractor = clone(extractor).fit()  # checks its fitted members; trains nothing
    if _is_fitted(extractor):
        extractor = FrozenExtractor(
            extractor, train_views=train_views or "images", random_state=random_state, features=features
        )
        extractor.fit()  # checks that the extractor has the features asked for
    elif features != "embedding":
        raise ConfigError(
            f'features="{features}" reads a fitted extractor frozen in the pipeline; an extractor the pipeline '
            'trains hands on its embedding (features="embedding")'
        )
    elif train_views is not None:
        extractor = clone(extractor).set_params(train_views=train_views)
    return HybridPipeline(
        [
            ("preprocess", ImagePreprocessor(image_size=image_size)),
            ("cnn", extractor),
            ("scale", StandardScaler()),
            (
                "svm",
                make_svm(
                    svm,
                    C=C,
                    gamma=gamma,
                    kernel=kernel,
                    probability=probability,
                    calibration=calibration,
                    random_state=random_state,
                    calibration_split=calibration_split,
                    n_jobs=n_jobs,
                ),
            ),
        ],
        softmax_weight=softmax_weight,
        label_offset=label_offset,
    )


def make_pca_svc(
    *,
    image_size=28,
    n_components=50,
    C=10.0,
    gamma="scale",
    probability=True,
    calibration="temperature",
    random_state=0,
    calibration_split="folds",
    n_jobs=None,
):
    """SVC on PCA of raw pixels: the article's baseline.

    Parameters
    ----------
    image_size : int, default=28
    n_components : int or float, default=50
        PCA components (a float in (0, 1) keeps that share of the variance).
    C, gamma : SVC parameters.
    probability : bool, default=True
    calibration : {"temperature", "sigmoid"}, default="temperature"
    random_state : int, default=0
    calibration_split : {"folds", "auto"}, default="folds"
        See :func:`make_hybrid`.
    n_jobs : int or None, default=None
        Threads for the SVM's calibration folds (see :func:`cnnsvm.classifiers.svm.make_svm`).

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    return Pipeline(
        [
            ("preprocess", ImagePreprocessor(image_size=image_size)),
            ("pca", PCA(n_components=n_components, random_state=random_state)),
            (
                "svm",
                make_svm(
                    "exact",
                    C=C,
                    gamma=gamma,
                    probability=probability,
                    calibration=calibration,
                    random_state=random_state,
                    calibration_split=calibration_split,
                    n_jobs=n_jobs,
                ),
            ),
        ]
    )


def make_cnn(*, image_size=28, architecture="default", random_state=0, **cnn_params):
    """A CNN trained from scratch with a softmax head (``architecture="article"`` for the article's).

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    return Pipeline(
        [
            ("preprocess", ImagePreprocessor(image_size=image_size)),
            ("cnn", CNNClassifier(architecture=architecture, random_state=random_state, **cnn_params)),
        ]
    )


def make_mlp(*, image_size=28, hidden_layer_sizes=(512, 256), alpha=1e-4, max_iter=60, random_state=0, verbose=0):
    """A fully connected network on raw pixels: where the MNIST tutorials start.

    scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` (ReLU, Adam)
    on the preprocessed pixels, stopping early when the score on a held-out
    10 % of the training data stops improving.

    Parameters
    ----------
    image_size : int, default=28
    hidden_layer_sizes : tuple of int, default=(512, 256)
    alpha : float, default=1e-4
        L2 penalty.
    max_iter : int, default=60
        Maximum epochs.
    random_state : int, default=0
    verbose : int, default=0

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    return Pipeline(
        [
            ("preprocess", ImagePreprocessor(image_size=image_size)),
            (
                "mlp",
                MLPClassifier(
                    hidden_layer_sizes=tuple(hidden_layer_sizes),
                    alpha=alpha,
                    max_iter=max_iter,
                    early_stopping=True,
                    validation_fraction=0.1,
                    n_iter_no_change=8,
                    random_state=random_state,
                    verbose=bool(verbose),
                ),
            ),
        ]
    )


def make_method(method, **params):
    """Build one of :data:`METHODS` with ``params``."""
    factories = {"hybrid": make_hybrid, "pca-svc": make_pca_svc, "cnn": make_cnn, "mlp": make_mlp}
    if method not in factories:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return factories[method](**params)

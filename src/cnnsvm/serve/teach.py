"""Teaching a served model new classes: fit only the SVM pairs of the new class, on frozen features.

A served hybrid is images -> preprocessing -> frozen CNN -> scaler -> SVM (a
pca-svc model has PCA in place of the CNN). Every step before the SVM stays as
it is. The SVM is one-vs-one: one binary SVM per pair of classes, each fitted on
the points of its two classes alone. A new class adds the pairs between it and
every other class and changes no other pair, so the taught SVM is a
:class:`~cnnsvm.classifiers.pairwise.PairwiseSVC`: the model's own SVM, whose
pairs are kept, plus one small RBF SVM per new pair, fitted on the new class's
examples and the other class's support vectors (the file keeps no other training
data) with the model's C and kernel width. That is the SVM an SVC refitted on the
model's support vectors plus the examples would be. The old classes' pairs are
untouched; an answer can still move from one old class to another through their
votes against the new class (on the consonants of benchmarks/results/teach.md
none did).

The probabilities keep the model's temperature (``softmax(beta * votes)``, with the
``beta`` its calibration fitted on out-of-sample decision values): a few examples
could not calibrate it again. So only an RBF SVM with temperature calibration (the
default) of at least 3 classes can be taught (a 2-class model's temperature scales
one margin, not votes). A hybrid whose probabilities blend in its CNN's softmax
(:class:`~cnnsvm.hybrid.HybridPipeline`) answers with its SVM alone once taught:
the softmax has no output for the new class.

Each example of a hybrid's new class brings the features of a few random
augmented views of itself (the transforms its CNN was trained with, new draws;
:data:`DEFAULT_VIEWS`), as the few-shot hybrid of
:func:`cnnsvm.experiments.fewshot.run_fewshot` does: a few drawings then stand
for more of the ways the symbol is drawn (benchmarks/results/teach.md measures
what they change). A pca-svc model, with no CNN, is taught on the examples alone.

What can be taught is bounded (:class:`TeachLimits`); teaching is off unless the
server is started with ``--allow-teach``.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV as SklearnCalibrated
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from cnnsvm.classifiers._sklearn_fastpath import inverse_temperature
from cnnsvm.classifiers._sklearn_fastpath import supported as fastpath_supported
from cnnsvm.classifiers.pairwise import PairwiseSVC
from cnnsvm.classifiers.svm import GramSVC, KernelSVC
from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.features import CNNFeatureExtractor, ExtractorEnsemble
from cnnsvm.features.views import FrozenExtractor, makes_views, unwrap_extractor, views_features
from cnnsvm.pipeline import find_preprocessor

#: Fewest examples of a new class: a symbol is drawn in more than one way.
MIN_EXAMPLES = 3
#: Characters a class name may hold besides letters, combining marks and digits.
NAME_PUNCTUATION = " -_.'()"
#: Augmented views of each example of a taught class whose features join the SVM's rows (a hybrid's).
DEFAULT_VIEWS = 9


@dataclass(frozen=True)
class TeachLimits:
    """Bounds of what one server can be taught.

    Parameters
    ----------
    max_examples : int, default=20
        Examples per taught class (all requests together).
    max_classes : int, default=10
        Classes taught.
    max_name_length : int, default=32
        Characters of a class name.
    """

    max_examples: int = 20
    max_classes: int = 10
    max_name_length: int = 32

    def __post_init__(self):
        for field in ("max_examples", "max_classes", "max_name_length"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{field} must be a positive integer; got {value!r}")
        if self.max_examples < MIN_EXAMPLES:
            raise ConfigError(f"max_examples must be at least {MIN_EXAMPLES} (a class needs {MIN_EXAMPLES})")

    def as_dict(self):
        return {
            "max_examples": self.max_examples,
            "max_classes": self.max_classes,
            "max_name_length": self.max_name_length,
            "min_examples": MIN_EXAMPLES,
        }


def _calibrated_of(step):
    """A model's last step as the calibrated classifier it holds (a KernelSVC's fitted one)."""
    return getattr(step, "estimator_", None) if isinstance(step, KernelSVC) else step


def _svc_of(step):
    """The fitted SVM of a model's last step: an :class:`~sklearn.svm.SVC`, a :class:`GramSVC` or a taught model's
    :class:`PairwiseSVC`; ``None`` for any other."""
    if isinstance(step, PairwiseSVC):
        return step if hasattr(step, "pair_coef_") else None
    step = _calibrated_of(step)
    if isinstance(step, SklearnCalibrated):
        calibrated = getattr(step, "calibrated_classifiers_", [])
        step = calibrated[0].estimator if len(calibrated) == 1 else None
    if isinstance(step, FrozenEstimator):  # calibrated on a held-out part (calibration_split="auto")
        step = step.estimator
    return step if isinstance(step, (SVC, GramSVC)) and hasattr(step, "support_vectors_") else None


def _temperature_of(step):
    """The inverse temperature of a model's last step, or ``None`` where its SVM is not temperature-calibrated."""
    if isinstance(step, PairwiseSVC):
        return step.inverse_temperature
    step = _calibrated_of(step)
    return inverse_temperature(step) if isinstance(step, SklearnCalibrated) else None


def teachable(model):
    """Why ``model`` cannot be taught new classes (a sentence), or ``None`` when it can."""
    if not isinstance(model, Pipeline) or len(model.steps) < 2 or find_preprocessor(model) is None:
        return "it is not a cnnsvm pipeline with an image preprocessing step"
    step = model.steps[-1][1]
    svc = _svc_of(step)
    if svc is None or not hasattr(step, "predict_proba"):
        return (
            "its classifier is not an exact kernel SVM with one calibrated SVC (export a hybrid or pca-svc "
            "model trained with the exact SVM and probabilities)"
        )
    if getattr(svc, "kernel", "rbf") != "rbf":
        return f"its SVM's kernel is {svc.kernel!r}; teaching extends an RBF SVM"
    if len(model.classes_) < 3:
        return (
            f"it has {len(model.classes_)} classes: a 2-class model's temperature scales one margin, not the "
            "votes of 3 or more classes, so a new class could not keep it"
        )
    if getattr(_calibrated_of(step), "method", None) == "temperature" and not fastpath_supported():
        return (
            f"its SVM's temperature cannot be read on scikit-learn {sklearn.__version__} (cnnsvm's check of "
            "scikit-learn's calibration failed: see the RuntimeWarning)"
        )
    if _temperature_of(step) is None:
        return (
            "its SVM's probabilities are not temperature-calibrated (a new class keeps the model's temperature): "
            "train it with calibration='temperature', the default"
        )
    if not np.issubdtype(np.asarray(model.classes_).dtype, np.integer):
        return "its classes are not integer labels"
    return None


def check_name(name, limits, existing):
    """A valid, stripped class name, or :class:`DataError` saying what is wrong."""
    if not isinstance(name, str):
        raise DataError(f'"name" must be a string, not {type(name).__name__}')
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise DataError('"name" is empty: give the new class a name, e.g. "alpha"')
    if len(name) > limits.max_name_length:
        raise DataError(f"the name is {len(name)} characters long; at most {limits.max_name_length} are allowed")
    bad = sorted({c for c in name if not (unicodedata.category(c)[0] in "LMN" or c in NAME_PUNCTUATION)})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise DataError(
            f"the name holds characters that are not allowed ({shown}); use letters, digits, "
            f"spaces and {NAME_PUNCTUATION.strip()!r}"
        )
    if name.casefold() in {n.casefold() for n in existing}:
        raise NameClash(f"{name!r} is already a class of the served model; choose another name")
    return name


def check_views(views):
    """A valid number of augmented views per taught example, or :class:`ConfigError`."""
    if not isinstance(views, int) or isinstance(views, bool) or views < 0:
        raise ConfigError(f"views per taught example must be a non-negative integer (--teach-views); got {views!r}")
    return views


def _cnn_step(model):
    """``(index, FrozenExtractor)`` of the model's CNN step where its views differ from the images, else None."""
    for index, (_, step) in enumerate(model.steps[:-1]):
        extractor = unwrap_extractor(step)
        if not isinstance(extractor, (CNNFeatureExtractor, ExtractorEnsemble)):
            continue  # the preprocessor, a scaler, PCA
        frozen = step if isinstance(step, FrozenExtractor) else FrozenExtractor(extractor)
        return (index, frozen) if makes_views(extractor, frozen.view_strength()) else None
    return None


class NameClash(DataError):
    """A taught name that is already one of the model's own classes."""


class Teacher:
    """Holds a served model and the classes taught to it; adds their SVM pairs on frozen features.

    Parameters
    ----------
    model : Pipeline
        A fitted model :func:`teachable` accepts.
    class_names : list of str
        Names ordered as ``model.classes_``.
    limits : TeachLimits, optional
    views : int, default=9
        Random augmented views of each example whose features join the SVM's
        rows; 0, or a model without a CNN (pca-svc), an extractor trained
        without augmentation or images under 8 pixels a side: the examples alone.
    random_state : int, default=0
        Seed of the views (each call of :meth:`features` draws new ones).

    Attributes
    ----------
    model : Pipeline
        The current model (the original one until something is taught).
    class_names : list of str
        Its class names.
    last_refit_seconds : float or None
        How long the last :meth:`teach` took to fit the SVM pairs.
    """

    def __init__(self, model, class_names, limits=None, views=DEFAULT_VIEWS, random_state=0):
        reason = teachable(model)
        if reason:
            raise ConfigError(f"this model cannot be taught new classes: {reason}")
        self.views = check_views(views)
        self.random_state = random_state
        self._cnn = _cnn_step(model)
        self._draws = 0
        self.base_model = model
        self.base_names = list(class_names)
        self.limits = limits or TeachLimits()
        self._base_svm = _svc_of(model.steps[-1][1])
        self._beta = float(_temperature_of(model.steps[-1][1]))
        self._taught = {}  # name -> (label, features list)
        self._lock = threading.Lock()
        # (model, names, SVM) swapped as one, so a reader never mixes two states
        self._current = (model, list(class_names), self._base_svm)
        self.last_refit_seconds = None

    @property
    def model(self):
        """The current model (the loaded one until something is taught)."""
        return self._current[0]

    @property
    def class_names(self):
        """Names of the current model's classes, ordered as its ``classes_``."""
        return list(self._current[1])

    def current(self):
        """``(model, class_names)`` of one and the same state."""
        model, names, _ = self._current
        return model, list(names)

    @property
    def taught(self):
        """``[{"name", "label", "n_examples"}]`` of the classes taught so far."""
        return [{"name": n, "label": int(label), "n_examples": len(rows)} for n, (label, rows) in self._taught.items()]

    @property
    def n_views(self):
        """Augmented views added per example: ``views``, or 0 where the model's CNN makes none."""
        return self.views if self._cnn is not None else 0

    def features(self, batch):
        """Features the SVM reads of a batch of model-input images, each followed by its views'.

        Parameters
        ----------
        batch : ndarray
            Model-input images (``cnnsvm.inference.prepare_for_model``).

        Returns
        -------
        ndarray of shape (n_images, 1 + n_views, n_features)
            Row ``[i, 0]``: image ``i``'s features through the frozen steps; ``[i, 1:]``: those of
            its random augmented views (see :attr:`n_views`).
        """
        model = self.base_model
        if not self.n_views:
            return np.asarray(model[:-1].transform(batch), dtype=np.float64)[:, None, :]
        index, frozen = self._cnn
        pixels = model[:index].transform(batch)
        self._draws += 1
        seed = (int(self.random_state), self._draws)
        views = views_features(
            frozen.extractor, pixels, self.views, strength=frozen.view_strength(), seed=seed, features=frozen.features
        )
        after = model.steps[index + 1 : -1]
        rows = []
        for X in [frozen.transform(pixels), *views]:
            for _, step in after:
                X = step.transform(X)
            rows.append(np.asarray(X, dtype=np.float64))
        return np.stack(rows, axis=1)

    def check(self, name, n_examples):
        """Validate a teach request before any image is decoded; returns the clean name."""
        name = check_name(name, self.limits, self.base_names)
        known = self._taught.get(name)
        if known is None and len(self._taught) >= self.limits.max_classes:
            raise DataError(
                f"{self.limits.max_classes} classes have been taught already, the most this server "
                "accepts; reset the taught classes (POST /api/teach/reset) to teach others"
            )
        have = 0 if known is None else len(known[1])
        if have + n_examples > self.limits.max_examples:
            raise DataError(
                f"{name!r} would have {have + n_examples} examples; at most "
                f"{self.limits.max_examples} per class are accepted"
            )
        if known is None and n_examples < MIN_EXAMPLES:
            raise DataError(f"a new class needs at least {MIN_EXAMPLES} examples; got {n_examples}")
        return name

    def teach(self, name, features):
        """Add examples (their features) of class ``name`` and fit its SVM pairs.

        A new name adds one class to the current SVM (only its pairs are fitted); more
        examples of a taught name fit the pairs of every taught class again, on the model's own SVM.

        Parameters
        ----------
        name : str
        features : array-like of shape (n_examples, n_features) or (n_examples, n_rows, n_features)
            One row per example, or each example's rows (its own and its views', as
            :meth:`features` gives them).

        Returns
        -------
        dict
            ``name``, ``label``, ``n_examples``, ``refit_ms``.
        """
        with self._lock:
            name = self.check(name, len(features))
            rows = [np.asarray(f, np.float64) for f in features]
            start = time.perf_counter()
            if name in self._taught:
                label, known = self._taught[name]
                candidate = {**self._taught, name: (label, known + rows)}
                X = np.vstack([np.vstack(r) for _, r in candidate.values()])
                y = np.concatenate([np.full(len(np.vstack(r)), lab) for lab, r in candidate.values()])
                svm = self._extend(self._base_svm, X, y)
            else:
                used = [int(c) for c in self.base_model.classes_] + [lab for lab, _ in self._taught.values()]
                label = max(used) + 1
                candidate = {**self._taught, name: (label, rows)}
                X = np.vstack(rows)
                svm = self._extend(self._current[2], X, np.full(len(X), label))
            self.last_refit_seconds = time.perf_counter() - start
            model = Pipeline(self.base_model.steps[:-1] + [(self.base_model.steps[-1][0], svm)])
            self._taught = candidate
            self._current = (model, self.base_names + list(candidate), svm)
            return {
                "name": name,
                "label": int(label),
                "n_examples": len(candidate[name][1]),
                "refit_ms": round(1000 * self.last_refit_seconds, 1),
            }

    def reset(self):
        """Forget every taught class: back to the model as it was loaded."""
        with self._lock:
            self._taught = {}
            self._current = (self.base_model, list(self.base_names), self._base_svm)

    def _extend(self, svm, X, y):
        # The base's C and kernel width (PairwiseSVC's defaults), the model's temperature.
        return PairwiseSVC(FrozenEstimator(svm), inverse_temperature=self._beta).fit(X, y)

    def export(self, base_file=None, base_sha256=None):
        """The taught model as a zip of its model file and sidecar (``cnnsvm.pipeline.save``).

        Returns
        -------
        bytes
        """
        from cnnsvm.pipeline import save

        with self._lock:
            if not self._taught:
                raise DataError("nothing has been taught yet: teach a class first (POST /api/teach)")
            (model, names), taught = self.current(), self.taught
        with tempfile.TemporaryDirectory(prefix="cnnsvm-teach-") as folder:
            path = Path(folder) / "taught.joblib"
            save(
                model,
                path,
                class_names=names,
                metadata={
                    "taught": {
                        "classes": taught,
                        "base_model": base_file,
                        "base_sha256": base_sha256,
                        "how": "the base model's SVM kept, plus one RBF SVM per pair of a taught class and "
                        "another class (on the taught examples' features and the other class's support "
                        "vectors); the base's temperature; every step before the SVM unchanged",
                    },
                },
            )
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for file in (path, path.with_name(path.name + ".json")):
                    archive.write(file, arcname=file.name)
        return buffer.getvalue()

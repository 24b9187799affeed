"""Teaching a served model new classes: refit its SVM on frozen features, in well under a second.

A served hybrid is images -> preprocessing -> frozen CNN -> scaler -> SVM (a
pca-svc model has PCA in place of the CNN). Every step before the SVM stays as
it is; only the SVM is fitted again, on

- the support vectors of the model's own SVM, with their classes: the training
  points that define its boundaries (the file keeps no other training data);
  at most :data:`MAX_BASE_POINTS` of them, the most influential of each class
  (largest dual coefficients), so that the refit stays well under a second even
  when most training points are support vectors;
- the features of the examples taught, each new name a new class.

The kernel width is the fitted SVM's (``gamma="scale"`` would be recomputed on
other data), C is the SVM's own; the refitted SVM is a
:class:`~cnnsvm.classifiers.svm.GramSVC` (the same RBF SVM, fitted on its kernel
matrix, faster at this size), so only RBF models can be taught. The probability
calibration is fitted again (3-fold, on those points), so each class needs at
least 3 points: a new class needs at least :data:`MIN_EXAMPLES` examples, and
a model class with fewer support vectors has them repeated.

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
from sklearn.calibration import CalibratedClassifierCV as SklearnCalibrated
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from cnnsvm.classifiers.svm import FastCalibratedClassifierCV, GramSVC, KernelSVC, calibrated_with_fallback
from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.pipeline import find_preprocessor

#: Fewest examples of a new class (the calibration's 3 folds need 3).
MIN_EXAMPLES = 3
#: Most support vectors of the model kept as the base of a refit (spread evenly over its classes).
MAX_BASE_POINTS = 1500
#: Characters a class name may hold besides letters, combining marks and digits.
NAME_PUNCTUATION = " -_.'()"


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


def _svc_of(step):
    """The fitted SVC (:class:`~sklearn.svm.SVC`, or a taught model's :class:`GramSVC`) of a model's last step."""
    if isinstance(step, KernelSVC):
        step = getattr(step, "estimator_", None)
    if isinstance(step, SklearnCalibrated):
        calibrated = getattr(step, "calibrated_classifiers_", [])
        step = calibrated[0].estimator if len(calibrated) == 1 else None
    if isinstance(step, FrozenEstimator):  # calibrated on a held-out part (calibration_split="auto")
        step = step.estimator
    return step if isinstance(step, (SVC, GramSVC)) and hasattr(step, "support_vectors_") else None


def _calibration_of(step):
    """The calibration method of a model's last step ("temperature", "sigmoid"), or ``None`` without one."""
    if isinstance(step, KernelSVC):
        return getattr(step, "calibration_", None)
    return step.method if isinstance(step, SklearnCalibrated) else None


def teachable(model):
    """Why ``model`` cannot be taught new classes (a sentence), or ``None`` when it can."""
    if not isinstance(model, Pipeline) or len(model.steps) < 2 or find_preprocessor(model) is None:
        return "it is not a cnnsvm pipeline with an image preprocessing step"
    svc = _svc_of(model.steps[-1][1])
    if svc is None or _calibration_of(model.steps[-1][1]) is None:
        return (
            "its classifier is not an exact kernel SVM with one calibrated SVC (export a hybrid or pca-svc "
            "model trained with the exact SVM and probabilities)"
        )
    if getattr(svc, "kernel", "rbf") != "rbf":
        return f"its SVM's kernel is {svc.kernel!r}; teaching refits an RBF SVM"
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


class NameClash(DataError):
    """A taught name that is already one of the model's own classes."""


class Teacher:
    """Holds a served model and the classes taught to it; refits its SVM on frozen features.

    Parameters
    ----------
    model : Pipeline
        A fitted model :func:`teachable` accepts.
    class_names : list of str
        Names ordered as ``model.classes_``.
    limits : TeachLimits, optional
    max_base : int, default=MAX_BASE_POINTS
        Most support vectors kept as the base of a refit.

    Attributes
    ----------
    model : Pipeline
        The current model (the original one until something is taught).
    class_names : list of str
        Its class names.
    """

    def __init__(self, model, class_names, limits=None, max_base=MAX_BASE_POINTS):
        reason = teachable(model)
        if reason:
            raise ConfigError(f"this model cannot be taught new classes: {reason}")
        self.base_model = model
        self.base_names = list(class_names)
        self.limits = limits or TeachLimits()
        svc = _svc_of(model.steps[-1][1])
        self._gamma = float(svc.gamma_ if isinstance(svc, GramSVC) else svc._gamma)
        self._C = float(svc.C)
        self._calibration = _calibration_of(model.steps[-1][1])
        keep = _strongest_support(svc, max_base)
        self._base_X = np.asarray(svc.support_vectors_, dtype=np.float64)[keep]
        self._base_y = np.repeat(np.asarray(svc.classes_), svc.n_support_)[keep]
        self._taught = {}  # name -> (label, features list)
        self._lock = threading.Lock()
        self._current = (model, list(class_names))  # swapped as one, so a reader never mixes two states
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
        model, names = self._current
        return model, list(names)

    @property
    def taught(self):
        """``[{"name", "label", "n_examples"}]`` of the classes taught so far."""
        return [{"name": n, "label": int(label), "n_examples": len(rows)} for n, (label, rows) in self._taught.items()]

    def features(self, batch):
        """Features the SVM reads of a batch of model-input images (the frozen steps)."""
        return np.asarray(self.base_model[:-1].transform(batch), dtype=np.float64)

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
        """Add examples (their features) of class ``name`` and refit the SVM.

        Returns
        -------
        dict
            ``name``, ``label``, ``n_examples``, ``refit_ms``.
        """
        with self._lock:
            name = self.check(name, len(features))
            if name in self._taught:
                label, rows = self._taught[name]
            else:
                classes = np.asarray(self.base_model.classes_)
                used = [int(c) for c in classes] + [lab for lab, _ in self._taught.values()]
                label, rows = max(used) + 1, []
            candidate = dict(self._taught)
            candidate[name] = (label, rows + [np.asarray(f, np.float64) for f in features])
            start = time.perf_counter()
            model = self._refit(candidate)
            self.last_refit_seconds = time.perf_counter() - start
            self._taught = candidate
            self._current = (model, self.base_names + list(candidate))
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
            self._current = (self.base_model, list(self.base_names))

    def _refit(self, taught):
        X = [self._base_X]
        y = [self._base_y]
        for label, rows in taught.values():
            X.append(np.vstack(rows))
            y.append(np.full(len(rows), label))
        X, y = np.vstack(X), np.concatenate(y)
        X, y = _at_least(X, y, MIN_EXAMPLES)
        # The same RBF SVM fitted on its kernel matrix (GramSVC, faster at this size), with the
        # model's calibration on 3 folds, in threads; Platt's sigmoids where temperature scaling
        # fails on a few points, as KernelSVC does.
        step = calibrated_with_fallback(
            lambda method: FastCalibratedClassifierCV(
                GramSVC(C=self._C, gamma=self._gamma), method=method, cv=MIN_EXAMPLES, ensemble=False, n_jobs=-1
            ).fit(X, y),
            self._calibration,
        )
        return Pipeline(self.base_model.steps[:-1] + [(self.base_model.steps[-1][0], step)])

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
                        "how": "SVM refitted on the base model's support vectors and the taught examples' "
                        "features; every step before the SVM unchanged",
                    },
                },
            )
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for file in (path, path.with_name(path.name + ".json")):
                    archive.write(file, arcname=file.name)
        return buffer.getvalue()


def _strongest_support(svc, max_points):
    """Indices of at most ``max_points`` support vectors: per class, those with the largest dual coefficients."""
    counts = np.asarray(svc.n_support_)
    per_class = max(MIN_EXAMPLES, int(max_points) // max(len(counts), 1))
    weight = np.abs(np.asarray(svc.dual_coef_)).sum(axis=0)
    keep, start = [], 0
    for count in counts:
        block = np.arange(start, start + count)
        if count > per_class:
            block = np.sort(block[np.argsort(-weight[block], kind="stable")[:per_class]])
        keep.append(block)
        start += count
    return np.concatenate(keep)


def _at_least(X, y, n):
    """Repeat the rows of classes with fewer than ``n`` rows until they have ``n``."""
    extra_X, extra_y = [], []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if len(rows) < n:
            picks = np.resize(rows, n - len(rows))
            extra_X.append(X[picks])
            extra_y.append(y[picks])
    if not extra_X:
        return X, y
    return np.vstack([X, *extra_X]), np.concatenate([y, *extra_y])

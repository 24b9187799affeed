"""The hyperparameter study: its TOML schema and validation.

A study file looks like this::

    name = "study-digits"          # run folder: runs/<name>
    method = "hybrid"              # hybrid (CNN + SVC trained together) | cnn | pca-svc
    image_size = 16
    test_size = 0.2                # the test split is set aside and never used
    split_seed = 0
    seed = 0                       # random_state of the models and of the validation split
    search = "curves"              # curves: one sweep per parameter; grid: every combination
    scoring = "accuracy"           # a scikit-learn scorer name

    [[datasets]]                   # several sets: their training parts are combined
    spec = "digits"

    [validation]
    kind = "holdout"               # holdout (one stratified split) | kfold (StratifiedKFold)
    fraction = 0.2                 # holdout: share of the training part used for validation
    folds = 3                      # kfold

    [params]                       # fixed settings: short names or pipeline parameter names
    architecture = "small"
    epochs = 5

    [sweep]                        # the values to try
    kernel_size = [3, 5]
    svm__estimator__C = [1.0, 10.0, 100.0]

Short names are resolved against the method's pipeline (steps ``preprocess``,
``cnn``, ``scale``, ``svm`` for the hybrid; ``preprocess``, ``pca``, ``svm``
for pca-svc; ``preprocess``, ``cnn`` for cnn): ``kernel_size`` ->
``cnn__kernel_size``, ``C`` -> ``svm__estimator__C``, ``n_components`` ->
``pca__n_components``, ``image_size`` -> ``preprocess__image_size``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

from cnnsvm.exceptions import ConfigError
from cnnsvm.experiments.config import _NAME, parse_datasets
from cnnsvm.experiments.params import (
    CNN_PARAMS,
    PCA_SVC_PARAMS,
    SVC_PARAMS,
    check_table,
)

STUDY_METHODS = ("hybrid", "cnn", "pca-svc")
SEARCHES = ("curves", "grid")
VALIDATION_KINDS = ("holdout", "kfold")
TOP_LEVEL = (
    "name",
    "description",
    "method",
    "image_size",
    "test_size",
    "split_seed",
    "seed",
    "search",
    "scoring",
    "datasets",
    "validation",
    "params",
    "sweep",
)
#: Pipeline step prefixes tried, in order, for a short parameter name.
PREFIXES = ("cnn__", "svm__estimator__", "svm__", "pca__", "preprocess__")
#: Checks of values by short name.
VALUE_CHECKS = {
    **CNN_PARAMS,
    **SVC_PARAMS,
    **PCA_SVC_PARAMS,
    "image_size": lambda v: (
        None if isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 4 else "an integer >= 4"
    ),
}


@dataclass
class StudyConfig:
    """A validated study; see the module docstring."""

    name: str
    method: str
    datasets: list
    image_size: int
    test_size: float
    split_seed: int
    seed: int
    search: str
    scoring: str
    validation: dict
    params: dict
    sweep: dict
    description: str = ""
    source: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    def to_dict(self):
        """The resolved study as plain data (the form written to ``config.toml``)."""
        return {
            "name": self.name,
            "description": self.description,
            "method": self.method,
            "image_size": self.image_size,
            "test_size": self.test_size,
            "split_seed": self.split_seed,
            "seed": self.seed,
            "search": self.search,
            "scoring": self.scoring,
            "datasets": [
                {k: v for k, v in (("name", d.name), ("spec", d.spec)) if v is not None} for d in self.datasets
            ],
            "validation": dict(self.validation),
            "params": dict(self.params),
            "sweep": dict(self.sweep),
        }


def short_name(name):
    """``"svm__estimator__C"`` -> ``"C"``."""
    return name.rsplit("__", 1)[-1]


def check_value(name, value, where):
    """Check one parameter value by its short name (unknown names pass: scikit-learn checks them)."""
    checker = VALUE_CHECKS.get(short_name(name))
    if checker is not None:
        problem = checker(value)
        if problem:
            raise ConfigError(f"{where} {name} must be {problem}; got {value!r}")


def _int(value, where, low):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{where} must be an integer >= {low}; got {value!r}")
    return int(value)


def parse_study(data, *, default_name="study", source=""):
    """Validate a study read from TOML and fill in the defaults.

    Returns
    -------
    StudyConfig

    Raises
    ------
    ConfigError
    """
    if not isinstance(data, dict):
        raise ConfigError("a study file must be a TOML table")
    unknown = set(data) - set(TOP_LEVEL)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {sorted(unknown)} in the study; valid: {', '.join(TOP_LEVEL)}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"name must be letters, digits, '_', '-' or '.' (it names the run folder); got {name!r}")
    method = data.get("method", "hybrid")
    if method not in STUDY_METHODS:
        raise ConfigError(f"unknown study method {method!r}; choose one of {', '.join(STUDY_METHODS)}")
    search = data.get("search", "curves")
    if search not in SEARCHES:
        raise ConfigError(
            f"search must be 'curves' (one sweep per parameter) or 'grid' (all combinations); got {search!r}"
        )
    scoring = data.get("scoring", "accuracy")
    from sklearn.metrics import get_scorer_names

    if scoring not in get_scorer_names():
        raise ConfigError(
            f"unknown scoring {scoring!r}; use a scikit-learn scorer name such as accuracy, "
            "balanced_accuracy or f1_macro"
        )
    test_size = data.get("test_size", 0.2)
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
        raise ConfigError(f"test_size must be a fraction strictly between 0 and 1; got {test_size!r}")

    validation = {
        "kind": "holdout",
        "fraction": 0.2,
        "folds": 3,
        **check_table(
            data.get("validation", {}),
            {
                "kind": lambda v: None if v in VALIDATION_KINDS else "holdout or kfold",
                "fraction": lambda v: (
                    None
                    if isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 < v < 1
                    else "a fraction in (0, 1)"
                ),
                "folds": lambda v: (
                    None
                    if isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 2
                    else "an integer >= 2"
                ),
            },
            "[validation]",
        ),
    }

    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"[params] must be a table of fixed settings; got {params!r}")
    for key, value in params.items():
        check_value(key, value, "[params]")
    sweep = data.get("sweep")
    if not isinstance(sweep, dict) or not sweep:
        raise ConfigError("the study sweeps nothing: add a [sweep] table, e.g. kernel_size = [3, 5]")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"[sweep] {key} must be a non-empty array of values to try; got {values!r}")
        for value in values:
            check_value(key, value, "[sweep]")
    overlap = sorted(set(params) & set(sweep))
    if overlap:
        raise ConfigError(f"{', '.join(overlap)} is both fixed in [params] and swept in [sweep]; keep one")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"description must be a string; got {description!r}")
    return StudyConfig(
        name=name,
        description=description,
        method=method,
        datasets=parse_datasets(data.get("datasets")),
        image_size=_int(data.get("image_size", 28), "image_size", 4),
        test_size=float(test_size),
        split_seed=_int(data.get("split_seed", 0), "split_seed", 0),
        seed=_int(data.get("seed", 0), "seed", 0),
        search=search,
        scoring=scoring,
        validation=validation,
        params=dict(params),
        sweep=dict(sweep),
        source=source,
        raw=data,
    )

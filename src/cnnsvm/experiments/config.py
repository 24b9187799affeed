"""The comparison experiment: its TOML schema, defaults and validation.

A comparison file looks like this (every key but ``datasets`` is optional)::

    name = "nhcd"                  # run folder: runs/<name>
    description = "..."
    methods = ["pca-svc", "cnn-article", "cnn", "hybrid", "hybrid-noaug", "generic-softmax"]
    seeds = [0]                    # one training run per seed; the split does not change
    image_size = 28                # side of every model's input
    test_size = 0.2                # test share where a set has no official split
    split_seed = 0                 # seed of that split

    [[datasets]]
    name = "numerals"              # row of the tables (default: the loader's name)
    spec = "npz:../shared/datasets/nhcd_numerals.npz"

    [training]                     # shared by every CNN that is trained
    epochs = 30
    batch_size = 128
    patience = 5
    augmentation = 1.0
    validation_fraction = 0.1

    [generic]                      # the generic extractor: [training] + any CNN parameter
    architecture = "default"       # default | article | small, plus overrides: filters, dense_units ...
    members = 1                    # >1: an ensemble of that many extractors trained alike from other
                                   #   seeds, read side by side (cnnsvm.features.ExtractorEnsemble)

    [svc]                          # the SVC on CNN features (every hybrid method)
    C = 10.0
    gamma = "scale"
    kernel = "rbf"
    solver = "exact"
    softmax_weight = "auto"        # blend of the SVM's probabilities with the CNN's softmax (0: SVM alone)
    features = "embedding"         # or "spatial": the embedding and the last conv blocks' grid means

    [method.pca-svc]               # per-method settings
    n_components = 50
    [method.cnn-article]           # any CNN parameter, over [training]
    augmentation = 0.0

Dataset spec paths that are relative are read from the current directory.
"""

from __future__ import annotations

import copy
import numbers
import re
from dataclasses import dataclass, field

from cnnsvm.exceptions import ConfigError
from cnnsvm.experiments.params import (
    CNN_PARAMS,
    MLP_PARAMS,
    PCA_SVC_PARAMS,
    SVC_PARAMS,
    TRAINING_PARAMS,
    check_table,
    int_at_least,
)

#: The methods a comparison can run, in table order.
METHODS = (
    "mlp",
    "pca-svc",
    "cnn-article",
    "cnn",
    "hybrid",
    "hybrid-single",
    "hybrid-embedding",
    "hybrid-svm",
    "hybrid-noaug",
    "hybrid-noelastic",
    "generic-softmax",
)

#: Methods that read the generic extractor, and which variant of it.
GENERIC_VARIANT = {
    "hybrid": "augmented",
    "hybrid-single": "augmented",
    "hybrid-embedding": "augmented",
    "hybrid-svm": "augmented",
    "generic-softmax": "augmented",
    "hybrid-noaug": "noaug",
    "hybrid-noelastic": "noelastic",
}

#: Methods that fit a scaler + SVM on the generic extractor's features. ``hybrid-svm`` is the
#: hybrid whose probabilities are the SVM's alone (no blend with the CNN's softmax): an ablation.
#: ``hybrid-single`` is the hybrid on the first member of an ensemble of extractors alone
#: (``[generic] members > 1``): the ablation of the ensemble. ``hybrid-embedding`` is the hybrid
#: whose SVM sees the extractor's embedding alone (``[svc] features = "spatial"``): the ablation of
#: the spatial features. ``hybrid-noelastic`` is the hybrid on an extractor trained without the elastic
#: distortion (``[generic] elastic``, or ``[training] elastic``, left out): the ablation of that distortion.
HYBRID_METHODS = ("hybrid", "hybrid-single", "hybrid-embedding", "hybrid-svm", "hybrid-noaug", "hybrid-noelastic")

#: Settings an ablation fixes, whatever ``[svc]`` says; a ``[method.NAME]`` table may not contradict them.
FIXED_SVC_PARAMS = {
    "hybrid-svm": {"softmax_weight": 0.0},
    "hybrid-embedding": {"features": "embedding"},
}

#: Methods that read only the first member of an ensemble of generic extractors.
SINGLE_MEMBER_METHODS = ("hybrid-single",)

#: Methods that train a CNN of their own, and the preset each starts from.
CNN_METHODS = {"cnn": "default", "cnn-article": "article"}

#: Settings each ``[method.NAME]`` table accepts.
METHOD_PARAMS = {
    "mlp": MLP_PARAMS,
    "pca-svc": PCA_SVC_PARAMS,
    "cnn": CNN_PARAMS,
    "cnn-article": CNN_PARAMS,
    "hybrid": SVC_PARAMS,
    "hybrid-single": SVC_PARAMS,
    "hybrid-embedding": SVC_PARAMS,
    "hybrid-svm": SVC_PARAMS,
    "hybrid-noaug": SVC_PARAMS,
    "hybrid-noelastic": SVC_PARAMS,
    "generic-softmax": {},
}

#: The methods a file without ``methods`` runs: all but the ablations ``hybrid-single``,
#: ``hybrid-embedding`` and ``hybrid-noelastic``, which differ from ``hybrid`` only with ``[generic]
#: members > 1``, ``[svc] features = "spatial"`` and an elastic distortion.
DEFAULT_METHODS = [m for m in METHODS if m not in ("hybrid-single", "hybrid-embedding", "hybrid-noelastic")]

DEFAULTS = {
    "description": "",
    "methods": DEFAULT_METHODS,
    "seeds": [0],
    "image_size": 28,
    "test_size": 0.2,
    "split_seed": 0,
    "training": {"epochs": 30, "batch_size": 128, "patience": 5, "augmentation": 1.0, "validation_fraction": 0.1},
    "generic": {"architecture": "default"},
    "svc": {"C": 10.0, "gamma": "scale", "kernel": "rbf", "solver": "exact", "softmax_weight": "auto"},
    "method": {"pca-svc": {"n_components": 50, "C": 10.0, "gamma": "scale"}},
}

TOP_LEVEL = (
    "name",
    "description",
    "methods",
    "seeds",
    "image_size",
    "test_size",
    "split_seed",
    "datasets",
    "training",
    "generic",
    "svc",
    "method",
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class DatasetConfig:
    """One ``[[datasets]]`` entry: a spec string and an optional display name."""

    spec: str
    name: str | None = None


@dataclass
class ExperimentConfig:
    """A validated comparison experiment; see the module docstring for the file format."""

    name: str
    datasets: list[DatasetConfig]
    methods: list[str]
    seeds: list[int]
    image_size: int
    test_size: float
    split_seed: int
    training: dict
    generic: dict
    svc: dict
    method: dict
    description: str = ""
    source: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    # -------------------------------------------------------------- resolved
    def generic_params(self, variant):
        """Parameters of the generic extractor, seed and ``members`` excluded.

        ``variant``: ``"augmented"`` (as configured), ``"noaug"`` (no augmentation at all) or
        ``"noelastic"`` (as configured, less the elastic distortion: the parameters of the same
        file without ``elastic``).
        """
        params = {**self.training, **{k: v for k, v in self.generic.items() if k != "members"}}
        if variant in ("noaug", "noelastic"):
            params.pop("elastic", None)  # off, as in a file without it (the same network and fingerprint)
        if variant == "noaug":
            params["augmentation"] = 0.0
        return params

    def cnn_params(self, method):
        """Parameters of the CNN that ``method`` ("cnn" or "cnn-article") trains, seed excluded."""
        return {**self.training, "architecture": CNN_METHODS[method], **self.method.get(method, {})}

    def svc_params(self, method):
        """SVC parameters of a hybrid method: ``[svc]``, its own table, then what an ablation fixes.

        ``hybrid-svm`` keeps the SVM's probabilities alone and ``hybrid-embedding`` the embedding
        features, whatever ``[svc]`` says (``FIXED_SVC_PARAMS``).
        """
        return {**self.svc, **self.method.get(method, {}), **FIXED_SVC_PARAMS.get(method, {})}

    def method_params(self, method):
        """Everything that defines ``method``'s per-dataset model (for records and fingerprints)."""
        if method in CNN_METHODS:
            return self.cnn_params(method)
        if method in HYBRID_METHODS:
            return self.svc_params(method)
        if method in ("pca-svc", "mlp"):
            return dict(self.method.get(method, {}))
        return {}

    @property
    def generic_members(self):
        """How many extractors the generic extractor is (``[generic] members``; 1: one network)."""
        return int(self.generic.get("members", 1))

    @property
    def generic_variants(self):
        """The generic extractor variants the methods need, in training order."""
        needed = {GENERIC_VARIANT[m] for m in self.methods if m in GENERIC_VARIANT}
        return [v for v in ("augmented", "noaug", "noelastic") if v in needed]

    def to_dict(self):
        """The resolved configuration as plain data (the form written to ``config.toml``)."""
        return {
            "name": self.name,
            "description": self.description,
            "methods": list(self.methods),
            "seeds": list(self.seeds),
            "image_size": self.image_size,
            "test_size": self.test_size,
            "split_seed": self.split_seed,
            "datasets": [
                {k: v for k, v in (("name", d.name), ("spec", d.spec)) if v is not None} for d in self.datasets
            ],
            "training": dict(self.training),
            "generic": dict(self.generic),
            "svc": dict(self.svc),
            "method": {m: dict(self.method.get(m, {})) for m in self.methods},
        }


def _check_int(value, where, low):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{where} must be an integer >= {low}; got {value!r}")
    return int(value)


def parse_datasets(entries, where="datasets"):
    """Validate a ``[[datasets]]`` array into :class:`DatasetConfig` objects.

    Entries may be tables with ``spec`` (and ``name``) or plain spec strings.
    """
    if entries is None:
        raise ConfigError(
            f'the experiment lists no datasets; add [[{where}]] tables with spec = "digits" '
            "(or npz:PATH, mnist:PATH, ...)"
        )
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"'{where}' must be a non-empty array of tables with a spec; got {entries!r}")
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"spec": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f'{where}[{i}] must be a table with spec = "..."; got {entry!r}')
        unknown = set(entry) - {"spec", "name"}
        if unknown:
            raise ConfigError(f"unknown setting(s) {sorted(unknown)} in {where}[{i}]; valid: name, spec")
        spec = entry.get("spec")
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(f'{where}[{i}] has no spec; give spec = "digits", "npz:PATH", "mnist:PATH" ...')
        name = entry.get("name")
        if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
            raise ConfigError(
                f"{where}[{i}] name must be letters, digits, '_', '-' or '.' (it names folders); got {name!r}"
            )
        out.append(DatasetConfig(spec=spec.strip(), name=name))
    names = [d.name for d in out if d.name]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"dataset name(s) {', '.join(duplicates)} are used twice; give each dataset its own name")
    return out


def parse_experiment(data, *, default_name="experiment", source=""):
    """Validate a comparison experiment read from TOML and fill in the defaults.

    Parameters
    ----------
    data : dict
        The file's tables (after ``extends`` and overrides).
    default_name : str
        Name used when the file sets none (usually the file's stem).
    source : str
        Where the configuration came from, for the records.

    Returns
    -------
    ExperimentConfig

    Raises
    ------
    ConfigError
        One line naming the bad key and what it should be.
    """
    if not isinstance(data, dict):
        raise ConfigError("an experiment file must be a TOML table")
    unknown = set(data) - set(TOP_LEVEL)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {sorted(unknown)}; valid: {', '.join(TOP_LEVEL)}")
    merged = copy.deepcopy(DEFAULTS)
    for key, value in data.items():
        if (
            key in ("training", "generic", "svc", "method")
            and isinstance(value, dict)
            and isinstance(merged.get(key), dict)
        ):
            if key == "method":
                for m, table in value.items():
                    merged["method"][m] = {**merged["method"].get(m, {}), **table} if isinstance(table, dict) else table
            else:
                merged[key] = {**merged[key], **value}
        else:
            merged[key] = value

    name = merged.get("name", default_name)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"name must be letters, digits, '_', '-' or '.' (it names the run folder); got {name!r}")
    description = merged.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"description must be a string; got {description!r}")

    methods = merged["methods"]
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, dict):
        raise ConfigError("methods must be an array of method names; per-method settings go in [method.NAME] tables")
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise ConfigError(f"methods must be a non-empty array of method names ({', '.join(METHODS)}); got {methods!r}")
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown method {m!r} in methods; choose among {', '.join(METHODS)}")
    if len(set(methods)) != len(methods):
        raise ConfigError(f"methods lists a method twice: {methods}; list each once")

    seeds = merged["seeds"]
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"seeds must be a non-empty array of integers, e.g. [0, 1, 2]; got {seeds!r}")
    seeds = [_check_int(s, "every seed", 0) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds lists a seed twice: {seeds}")

    image_size = _check_int(merged["image_size"], "image_size", 4)
    split_seed = _check_int(merged["split_seed"], "split_seed", 0)
    test_size = merged["test_size"]
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
        raise ConfigError(f"test_size must be a fraction strictly between 0 and 1; got {test_size!r}")

    datasets = parse_datasets(merged.get("datasets"))
    training = check_table(merged["training"], TRAINING_PARAMS, "[training]")
    generic = check_table(merged["generic"], {**CNN_PARAMS, "members": int_at_least(1)}, "[generic]")
    svc = check_table(merged["svc"], SVC_PARAMS, "[svc]")
    method_tables = merged["method"]
    if not isinstance(method_tables, dict):
        raise ConfigError(f"method must hold [method.NAME] tables; got {method_tables!r}")
    method = {}
    for m, table in method_tables.items():
        if m not in METHOD_PARAMS:
            raise ConfigError(f"[method.{m}] names an unknown method; choose among {', '.join(METHODS)}")
        method[m] = check_table(table, METHOD_PARAMS[m], f"[method.{m}]")
        for key, fixed in FIXED_SVC_PARAMS.get(m, {}).items():
            if key in method[m] and method[m][key] != fixed:
                raise ConfigError(
                    f"[method.{m}] sets {key} = {method[m][key]!r}, but {m} is the ablation with "
                    f"{key} = {fixed!r}; remove the setting (set it for the other hybrids in [svc])"
                )
    if "hybrid-noelastic" in methods and not {**training, **generic}.get("elastic"):
        raise ConfigError(
            "hybrid-noelastic is the ablation of the elastic distortion, but no elastic distortion is set: "
            "set [generic] elastic (or [training] elastic) above 0, or remove hybrid-noelastic from methods"
        )
    return ExperimentConfig(
        name=name,
        description=description,
        datasets=datasets,
        methods=list(methods),
        seeds=seeds,
        image_size=image_size,
        test_size=float(test_size),
        split_seed=split_seed,
        training=training,
        generic=generic,
        svc=svc,
        method=method,
        source=source,
        raw=data,
    )


def override_epochs(data, epochs):
    """Return config data in which every CNN trains for at most ``epochs`` epochs."""
    data = copy.deepcopy(data)
    data.setdefault("training", {})["epochs"] = int(epochs)
    if isinstance(data.get("generic"), dict):
        data["generic"].pop("epochs", None)
    for table in (data.get("method") or {}).values():
        if isinstance(table, dict):
            table.pop("epochs", None)
    return data

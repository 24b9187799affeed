"""Reusing a generic extractor on a new set: provenance, the leave-one-set-out guard, loading.

A generic extractor (:func:`train_extractor`, ``cnnsvm train-extractor``) is a
CNN trained once on the training parts of several sets; a new set is then
learned by fitting only the scaler and the SVM on its frozen features
(:func:`hybrid_for_extractor`, ``cnnsvm train --method hybrid --extractor FILE``).

Such a result is honest only if the new set never reached the extractor's
training. Every exported extractor therefore records, per training set, its
name, size, classes, a SHA-256 of its training part and the short hashes of a
seeded sample of its training images (:func:`describe_training_set`).
:func:`check_unseen` compares a set about to be learned with that record: the
same name, or images of the sample found in the new set, mean the extractor
has seen (part of) it, and it refuses unless told to go on.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from cnnsvm.data import load_split
from cnnsvm.data.dataset import ImageDataset
from cnnsvm.exceptions import ConfigError, DataError, ModelFileError

#: Format of the ``extractor`` section of an extractor file's metadata.
PROVENANCE_VERSION = 1

#: Training images per set whose short hashes are recorded (what :func:`check_unseen` looks for).
SAMPLE_HASHES = 256

#: Share of a training set's recorded sample found in a new set from which the new set counts as seen.
OVERLAP_SHARE = 0.05


def image_hashes(dataset):
    """Short hashes (16 hex digits of SHA-256) of each image of ``dataset`` in light ink.

    Light ink and the stored size make them independent of how a set declares its
    polarity; two copies of a set under different names or splits share them.
    """
    images = dataset.with_light_ink().images
    return [hashlib.sha256(img.tobytes()).hexdigest()[:16] for img in images]


def dataset_sha256(dataset):
    """SHA-256 of a set's light-ink images (with their shape), labels and class names."""
    light = dataset.with_light_ink()
    digest = hashlib.sha256()
    digest.update(repr(light.images.shape).encode())
    digest.update(np.ascontiguousarray(light.images).tobytes())
    digest.update(np.asarray(light.labels, np.int64).tobytes())
    digest.update("\x00".join(light.class_names).encode("utf-8"))
    return digest.hexdigest()


def describe_training_set(train, *, spec=None, official_split=None, n_available=None, random_state=0):
    """What an extractor file records about one of its training sets.

    Parameters
    ----------
    train : ImageDataset
        The training part the extractor saw (nothing else of the set).
    spec : str, optional
        The dataset spec it was loaded from.
    official_split : bool, optional
        Whether the set came with its split.
    n_available : int, optional
        Size of the set's whole training part, when ``train`` is a subset of it.
    random_state : int, default=0
        Seed of the sample of image hashes.

    Returns
    -------
    dict
        JSON-serialisable: ``name``, ``spec``, ``n_train``, ``n_available``,
        ``n_classes``, ``class_names``, ``image_shape``, ``ink``, ``official_split``,
        ``train_sha256``, ``sample_hashes``.
    """
    hashes = image_hashes(train)
    rng = np.random.default_rng(random_state)
    chosen = rng.choice(len(hashes), size=min(SAMPLE_HASHES, len(hashes)), replace=False)
    return {
        "name": train.name,
        "spec": spec,
        "n_train": len(train),
        "n_available": int(n_available if n_available is not None else len(train)),
        "n_classes": train.n_classes,
        "class_names": list(train.class_names),
        "image_shape": list(train.image_shape),
        "ink": train.ink,
        "official_split": official_split,
        "train_sha256": dataset_sha256(train),
        "sample_hashes": sorted(hashes[i] for i in chosen),
    }


def stratified_subset(dataset, max_samples, random_state=0):
    """At most ``max_samples`` images of ``dataset``, stratified by class and seeded."""
    if max_samples is None or len(dataset) <= max_samples:
        return dataset
    if max_samples < dataset.n_classes:
        raise DataError(
            f"{dataset.name}: cannot keep {max_samples} images of {dataset.n_classes} classes "
            "(at least one per class is needed)"
        )
    keep, _ = train_test_split(
        np.arange(len(dataset)), train_size=int(max_samples), stratify=dataset.labels, random_state=random_state
    )
    return dataset.subset(np.sort(keep))


def trained_sets(meta):
    """The training-set records of an extractor's metadata (``[]`` when it has none).

    A generic extractor's file lists them under ``metadata.extractor.datasets``; a
    comparison's generic extractor (``cnnsvm compare``) under ``metadata.fitted_on``
    (names and sizes, no sample hashes); a hybrid model trained by ``cnnsvm train``
    names its one set under ``metadata.dataset``.
    """
    extra = (meta or {}).get("metadata") or {}
    section = extra.get("extractor") if isinstance(extra.get("extractor"), dict) else {}
    if isinstance(section.get("datasets"), list):
        return [d for d in section["datasets"] if isinstance(d, dict)]
    if isinstance(extra.get("fitted_on"), list):
        return [
            {"name": d["dataset"], "n_train": d.get("n_train")}
            for d in extra["fitted_on"]
            if isinstance(d, dict) and d.get("dataset")
        ]
    dataset = extra.get("dataset")
    if isinstance(dataset, dict) and dataset.get("name"):
        return [{"name": dataset["name"], "spec": dataset.get("spec")}]
    if isinstance(dataset, str) and dataset:
        return [{"name": dataset}]
    return []


def overlaps(meta, dataset):
    """How a set relates to the sets an extractor was trained on.

    Parameters
    ----------
    meta : dict
        The extractor file's metadata (as ``load(..., return_metadata=True)`` gives it).
    dataset : ImageDataset or DatasetSplit
        The set about to be learned (both parts of a split are checked).

    Returns
    -------
    list of str
        One sentence per finding; empty when nothing suggests the extractor saw the set.
    """
    parts = [dataset.train, dataset.test] if hasattr(dataset, "train") else [dataset]
    name = parts[0].name
    hashes = set()
    for part in parts:
        hashes.update(image_hashes(part))
    findings = []
    for record in trained_sets(meta):
        seen = str(record.get("name", ""))
        if seen.strip().lower() == str(name).strip().lower():
            findings.append(f"the extractor was trained on a set named {seen!r}, the name of the set being learned")
        sample = record.get("sample_hashes") or []
        if sample:
            found = sum(h in hashes for h in sample)
            if found and found >= max(1, math.ceil(OVERLAP_SHARE * len(sample))):
                findings.append(
                    f"{found} of {len(sample)} sampled training images of the extractor's set {seen!r} "
                    f"are images of {name!r}"
                )
    return findings


def check_unseen(meta, dataset, *, allow_seen=False, warn=None):
    """Refuse to learn a set the extractor was trained on (leave-one-set-out), unless allowed.

    Parameters
    ----------
    meta : dict
        The extractor file's metadata.
    dataset : ImageDataset or DatasetSplit
    allow_seen : bool, default=False
        Go on anyway; the findings are returned (and passed to ``warn``) so that
        the results can say so.
    warn : callable, optional
        Called with a message when ``allow_seen`` lets a finding through.

    Returns
    -------
    list of str
        The findings (empty when the set is unseen).

    Raises
    ------
    ConfigError
        When the extractor has seen the set and ``allow_seen`` is false.
    """
    findings = overlaps(meta, dataset)
    if findings and not allow_seen:
        raise ConfigError(
            "the extractor was trained on the set being learned (" + "; ".join(findings) + "): its scores "
            "would not show how it carries over to a new set. Use an extractor trained without this set "
            "(cnnsvm train-extractor without it), or pass --allow-seen-data (allow_seen=True) to go on anyway"
        )
    if findings and warn is not None:
        warn(
            "warning: the extractor has seen this set (" + "; ".join(findings) + "); its scores are not "
            "those of a new set"
        )
    return findings


def load_training_parts(specs, *, test_size=0.2, random_state=0, max_per_set=None):
    """The training parts of several sets, by the project's protocol.

    Parameters
    ----------
    specs : list of str
        Dataset specs (see :mod:`cnnsvm.data.loaders`), distinct set names.
    test_size : float, default=0.2
        Test share of the sets without an official split (stratified, seeded).
    random_state : int, default=0
        Seed of those splits and of the subsets.
    max_per_set : int, optional
        Keep at most this many images of each training part (stratified).

    Returns
    -------
    parts : list of ImageDataset
        Training parts only: the test parts never leave this function.
    records : list of dict
        :func:`describe_training_set` of each.
    """
    if not specs:
        raise ConfigError("give at least one training set (--data SPEC, repeatable)")
    if max_per_set is not None and (not isinstance(max_per_set, int) or max_per_set < 2):
        raise ConfigError(f"max_per_set must be an integer >= 2; got {max_per_set!r}")
    parts, records = [], []
    for spec in specs:
        split = load_split(spec, test_size=test_size, random_state=random_state)
        train = stratified_subset(split.train, max_per_set, random_state)
        parts.append(train)
        records.append(
            describe_training_set(
                train,
                spec=str(spec),
                official_split=split.official,
                n_available=len(split.train),
                random_state=random_state,
            )
        )
    names = [p.name for p in parts]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(
            f"two training sets are named {', '.join(repeated)}; name them apart with the spec "
            "option ?name=... (e.g. npz:PATH?name=vowels)"
        )
    return parts, records


def train_extractor(specs, *, params=None, image_size=28, test_size=0.2, random_state=0, max_per_set=None, verbose=0):
    """Train a generic extractor on the training parts of several sets.

    Parameters
    ----------
    specs : list of str or ImageDataset
        Dataset specs; a loaded :class:`ImageDataset` is taken as a training part as it is.
    params : dict, optional
        :class:`~cnnsvm.features.CNNFeatureExtractor` parameters (architecture, epochs, ...).
    image_size : int, default=28
        Side of the network's input; sets of other sizes are resized to it.
    test_size, random_state, max_per_set
        See :func:`load_training_parts`.
    verbose : int, default=0
        1 prints a line per epoch.

    Returns
    -------
    model : sklearn.pipeline.Pipeline
        The exportable form (see :func:`cnnsvm.experiments.generic.train_generic_extractor`).
    metadata : dict
        The ``extractor`` section to record in its file: the sets it saw, the
        parameters, the image size and the training time.
    combined : ImageDataset
        What the network was trained on.
    """
    from cnnsvm.experiments.generic import train_generic_extractor

    loaded = [s for s in specs if isinstance(s, ImageDataset)]
    if loaded and len(loaded) != len(specs):
        raise ConfigError("give either dataset specs or loaded training parts, not a mix")
    if loaded:
        parts = [stratified_subset(p, max_per_set, random_state) for p in loaded]
        records = [
            describe_training_set(p, n_available=len(q), random_state=random_state)
            for p, q in zip(parts, loaded, strict=True)
        ]
    else:
        parts, records = load_training_parts(
            specs, test_size=test_size, random_state=random_state, max_per_set=max_per_set
        )
    params = dict(params or {})
    model, combined, seconds = train_generic_extractor(
        parts, params, image_size=image_size, random_state=random_state, verbose=verbose
    )
    metadata = {
        "version": PROVENANCE_VERSION,
        "datasets": records,
        "labels": [list(p) for p in combined.extra["parts"]],
        "image_size": int(image_size),
        "params": params,
        "test_size": test_size,
        "seed": random_state,
        "max_per_set": max_per_set,
        "n_train": len(combined),
        "fit_seconds": seconds,
    }
    return model, metadata, combined


def load_extractor(path, *, sha256=None, key=None):
    """The fitted :class:`~cnnsvm.features.CNNFeatureExtractor` of an extractor or hybrid model file.

    The file goes through :func:`cnnsvm.pipeline.load`'s checks (checksum,
    signature when a model key is set, pin, library versions).

    Returns
    -------
    extractor : CNNFeatureExtractor
    meta : dict
        The file's metadata (:func:`trained_sets` reads the sets it saw).
    """
    from cnnsvm.experiments.generic import extractor_of
    from cnnsvm.pipeline import load

    model, meta = load(path, return_metadata=True, sha256=sha256, key=key)
    try:
        extractor = extractor_of(model)
    except ConfigError:
        raise ModelFileError(
            f"{path} holds no CNN feature extractor (it is a {meta.get('method')} model); give a file written "
            "by cnnsvm train-extractor, or a hybrid model"
        ) from None
    return extractor, meta


def extractor_size(extractor):
    """Side of the square input of a fitted extractor."""
    height, width = extractor.input_shape_
    if height != width:
        raise ModelFileError(f"the extractor takes {height}x{width} images; cnnsvm extractors take square ones")
    return int(height)


def hybrid_for_extractor(extractor, *, image_size=None, **params):
    """:func:`cnnsvm.pipeline.make_hybrid` on a frozen extractor, at the extractor's input size.

    Parameters
    ----------
    extractor : CNNFeatureExtractor or str or Path
        Fitted, or the path of a file :func:`load_extractor` reads.
    image_size : int, optional
        Must be the extractor's input side if given (the network takes nothing else).
    **params
        Other :func:`make_hybrid` parameters (``C``, ``svm``, ``calibration``, ``probability``, ...).
        ``calibration_split`` defaults to ``"auto"`` here (a new set's fit in seconds: from 5,000
        images the SVM is calibrated on a held-out 10 % instead of 3 folds).
        ``features="spatial"`` carries over to a new set better
        from a few examples per class; its fit on 10,000 images is recorded in
        ``benchmarks/results/fewshot_timing_spatial.md`` (see :mod:`cnnsvm.features.spatial`).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted; ``fit`` fits the scaler and the SVM only.
    """
    from cnnsvm.pipeline import make_hybrid

    if isinstance(extractor, (str, Path)):
        extractor, _ = load_extractor(extractor)
    from cnnsvm.model_structure import is_fitted

    if not is_fitted(extractor):
        raise ConfigError("hybrid_for_extractor needs a fitted extractor")
    size = extractor_size(extractor)
    if image_size is not None and int(image_size) != size:
        raise ConfigError(
            f"the extractor takes {size}x{size} images, not {image_size}x{image_size}: leave the image size out "
            f"(it is taken from the extractor) or set it to {size}"
        )
    params.setdefault("calibration_split", "auto")
    return make_hybrid(extractor, image_size=size, **params)

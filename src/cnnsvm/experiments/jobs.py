"""The functions an executor runs: plain data and file bytes in, plain data and file bytes out.

A worker may not see the run folder (a remote cluster), so every job writes
its artefacts into a private temporary folder and returns them as
``{"result": dict, "files": {relative path: bytes}}``; the runner writes
them into the run folder (``result.json`` last, see :func:`store_files`).
A hybrid cell receives its generic extractor (each member of an ensemble) as
the bytes of the stored model file and loads it with :func:`cnnsvm.persistence.load` (checksum and
versions verified): no Keras object is pickled across processes.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from cnnsvm._io import atomic_write_bytes
from cnnsvm.experiments.executors import configure_tensorflow, configured_threads
from cnnsvm.experiments.store import MODEL, RESULT

#: The two files that make a stored model: the payload and its sidecar.
MODEL_FILES = (MODEL, MODEL + ".json")

_generic_cache = {}  # sha256 of the model bytes -> loaded pipeline (this process only)
_CACHE_SIZE = 4  # least recently used out first; an ensemble's members are loaded together


@contextmanager
def scratch_folder():
    """A temporary folder on the worker, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="cnnsvm-task-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def collect_files(folder):
    """``{relative POSIX path: bytes}`` of every file under ``folder``."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def store_files(folder, files):
    """Write a job's files under ``folder``, ``result.json`` last (so resume never sees half a task).

    Raises
    ------
    ValueError
        If a path would leave ``folder``.
    """
    folder = Path(folder)
    for name in files:
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
            raise ValueError(f"a task returned the file name {name!r}, which leaves its folder")
    for name, data in files.items():
        if name != RESULT:
            atomic_write_bytes(folder / name, data)
    if RESULT in files:
        atomic_write_bytes(folder / RESULT, files[RESULT])
    return folder


def model_files(files):
    """The model payload and sidecar out of a job's files (what a dependent task needs)."""
    return {name: files[name] for name in MODEL_FILES}


def load_model_files(files):
    """Load a model from ``{model.joblib: bytes, model.joblib.json: bytes}``, cached per process."""
    from cnnsvm.persistence import load

    digest = hashlib.sha256(files[MODEL]).hexdigest()
    if digest in _generic_cache:
        _generic_cache[digest] = _generic_cache.pop(digest)  # most recently used last: evicted last
    else:
        with scratch_folder() as folder:
            for name in MODEL_FILES:
                (folder / name).write_bytes(files[name])
            model = load(folder / MODEL)
        while len(_generic_cache) >= _CACHE_SIZE:
            _generic_cache.pop(next(iter(_generic_cache)))
        _generic_cache[digest] = model
    return _generic_cache[digest]


def _prepare_tensorflow(pipeline=None):
    """Set TensorFlow's pools before its first op, in a worker told how many threads to use.

    With ``pipeline``, only if it has a ``cnn`` step (a pca-svc fit never loads TensorFlow).
    """
    threads = configured_threads()
    if threads is not None and (pipeline is None or "cnn" in dict(getattr(pipeline, "steps", []))):
        configure_tensorflow(threads)


# ------------------------------------------------------------------ compare
def generic_job(config, variant, seed, member, fingerprint, verbose, *datasets):
    """Train one generic extractor (member ``member`` of an ensemble) on ``datasets`` (each its own
    argument, so that engines resolve shared handles); returns its result and files (model included)."""
    from cnnsvm.experiments.tasks import run_generic_task

    _prepare_tensorflow()
    with scratch_folder() as folder:
        _, result = run_generic_task(
            config, variant, seed, list(datasets), folder, fingerprint, member=member, verbose=verbose
        )
        files = collect_files(folder)
    return {"result": result, "files": files}


def cell_job(config, method, seed, dataset, fingerprint, params, extra=None, parts=None, verbose=0, *generic_files):
    """Fit, score and export one cell; ``generic_files``: the model files of each generic extractor
    it reads (hybrid methods; several for an ensemble), each its own argument."""
    from cnnsvm.experiments.tasks import build_model, run_cell

    _prepare_tensorflow()
    generic = [load_model_files(files) for files in generic_files] or None
    model = build_model(
        config, method, seed=seed, dataset_name=dataset.name, generic_model=generic, parts=parts, verbose=verbose
    )
    with scratch_folder() as folder:
        result = run_cell(
            model, dataset, folder, method=method, seed=seed, fingerprint=fingerprint, params=params, extra=extra
        )
        files = collect_files(folder)
    return {"result": result, "files": files}


# ------------------------------------------------------------------ study
def _fit_and_score(estimator, X_train, y_train, X_val, y_val, scoring):
    from sklearn.metrics import get_scorer

    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    scorer = get_scorer(scoring)
    start = time.perf_counter()
    val_score = scorer(estimator, X_val, y_val)
    score_seconds = time.perf_counter() - start
    return {
        "val_score": float(val_score),
        "train_score": float(scorer(estimator, X_train, y_train)),
        "fit_seconds": fit_seconds,
        "score_seconds": score_seconds,
    }


def study_fit_job(pipeline, params, images, labels, train_idx, val_idx, scoring):
    """Fit an unfitted pipeline with ``params`` on one fold; its validation and training scores."""
    from sklearn.base import clone

    _prepare_tensorflow(pipeline)
    estimator = clone(pipeline).set_params(**params)
    return _fit_and_score(estimator, images[train_idx], labels[train_idx], images[val_idx], labels[val_idx], scoring)


def study_features_job(head, params, images, labels, train_idx, val_idx):
    """Fit the feature steps ``head`` (with ``params``) on one fold's training part; the fold's features.

    Returns
    -------
    dict
        ``train``, ``val``: feature arrays; ``y_train``, ``y_val``; ``seconds``.
    """
    from sklearn.base import clone

    _prepare_tensorflow(head)
    start = time.perf_counter()
    steps = clone(head).set_params(**params)
    train = steps.fit_transform(images[train_idx], labels[train_idx])
    val = steps.transform(images[val_idx])
    return {
        "train": train,
        "val": val,
        "y_train": labels[train_idx],
        "y_val": labels[val_idx],
        "seconds": time.perf_counter() - start,
    }


def study_frozen_fit_job(tail, params, features, scoring):
    """Fit the steps after the features (``tail``, with ``params``) on a fold's frozen features."""
    from sklearn.base import clone

    estimator = clone(tail).set_params(**params)
    return _fit_and_score(
        estimator, features["train"], features["y_train"], features["val"], features["y_val"], scoring
    )

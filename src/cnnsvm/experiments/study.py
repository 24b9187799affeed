"""``cnnsvm study``: hyperparameter sweeps on a validation split of the training data.

The test split of every dataset is set aside when the data are loaded and
never used. The training part (the union of the training parts when several
datasets are listed) is split again for validation, by one stratified
hold-out split or by stratified k-fold, and :class:`~sklearn.model_selection.GridSearchCV`
scores the method's pipeline from :mod:`cnnsvm.pipeline` on it: one search per
swept parameter (``search = "curves"``: validation curves) or one over every
combination (``search = "grid"``).

Every (candidate, fold) fit is a task for an executor (:mod:`.executors`:
serial, a local process pool, Dask or Ray); the scores equal those of
:class:`~sklearn.model_selection.GridSearchCV` (mean and standard deviation
over the folds, rank by mean). When a search sweeps only the steps after the
feature step (the hybrid's ``scale`` and ``svm``, pca-svc's ``svm``), the
features are computed once per fold (and per value of any swept feature
parameter) and only those arrays travel to the SVC fits.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.model_selection import (
    ParameterGrid,
    StratifiedKFold,
    StratifiedShuffleSplit,
)

from cnnsvm.data import combine_datasets
from cnnsvm.exceptions import ConfigError
from cnnsvm.experiments import plots
from cnnsvm.experiments.config_files import (
    apply_overrides,
    config_stem,
    dump_toml,
    read_config_file,
)
from cnnsvm.experiments.datasets import (
    images_digest,
    load_experiment_datasets,
    safe_name,
)
from cnnsvm.experiments.environment import environment_record
from cnnsvm.experiments.executors import (
    ExecutorSettings,
    executor_settings,
    open_executor,
    split_executor_table,
)
from cnnsvm.experiments.jobs import study_features_job, study_fit_job, study_frozen_fit_job
from cnnsvm.experiments.reports import markdown_table
from cnnsvm.experiments.store import write_json, write_text
from cnnsvm.experiments.study_config import PREFIXES, parse_study
from cnnsvm.experiments.tracker import RunLog, TaskTracker
from cnnsvm.pipeline import make_cnn, make_hybrid, make_pca_svc
from cnnsvm.progress import Stage, format_seconds


@dataclass
class StudyRun:
    """What :func:`run_study` produced."""

    out: Path
    rows: list
    best: dict
    summary: str


def load_study(path, overrides=(), *, with_executor=False):
    """Read, override and validate a study file.

    Returns
    -------
    StudyConfig, or (StudyConfig, dict or None) with ``with_executor``
        (the file's ``[executor]`` table, see :func:`~cnnsvm.experiments.compare.load_experiment`).
    """
    data, executor = split_executor_table(apply_overrides(read_config_file(path), overrides))
    config = parse_study(data, default_name=config_stem(path), source=str(path))
    return (config, executor) if with_executor else config


def study_pipeline(config):
    """The method's unfitted pipeline with the study's fixed ``[params]`` applied.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
    fixed : dict
        The fixed parameters under their full pipeline names.
    """
    params = dict(config.params)
    solver = params.pop("solver", "exact")
    if config.method == "hybrid":
        pipe = make_hybrid(image_size=config.image_size, svm=solver, random_state=config.seed)
    elif config.method == "cnn":
        pipe = make_cnn(image_size=config.image_size, random_state=config.seed)
    else:
        pipe = make_pca_svc(image_size=config.image_size, random_state=config.seed)
    fixed = {resolve_param(pipe, k, config.method): v for k, v in params.items()}
    pipe.set_params(**{k: _as_param(v) for k, v in fixed.items()})
    return pipe, fixed


def resolve_param(pipe, name, method="hybrid"):
    """Full pipeline parameter name of ``name`` (a full name, or a short one like ``kernel_size``).

    Raises
    ------
    ConfigError
        If the pipeline has no such parameter.
    """
    valid = pipe.get_params(deep=True)
    if name in valid and "__" in name:
        return name
    for prefix in PREFIXES:
        if prefix + name in valid:
            return prefix + name
    shorts = sorted(
        {
            k.split("__", 1)[1] if k.startswith(("cnn__", "preprocess__")) else k.rsplit("__", 1)[-1]
            for k in valid
            if k.startswith(("cnn__", "svm__estimator__", "pca__", "preprocess__"))
        }
    )
    raise ConfigError(
        f"the {method} pipeline has no parameter {name!r}; use a short name ({', '.join(shorts)}) "
        "or a full step parameter name such as cnn__kernel_size or svm__estimator__C"
    )


def _as_param(value):
    return tuple(value) if isinstance(value, list) else value


def _splitter(config):
    v = config.validation
    if v["kind"] == "kfold":
        return StratifiedKFold(n_splits=int(v["folds"]), shuffle=True, random_state=config.seed)
    return StratifiedShuffleSplit(n_splits=1, test_size=float(v["fraction"]), random_state=config.seed)


def _display(value):
    return str(list(value)) if isinstance(value, tuple) else str(value)


def _searches(config, pipe):
    names = {k: resolve_param(pipe, k, config.method) for k in config.sweep}
    if config.search == "grid":
        return [("grid", {names[k]: [_as_param(v) for v in vals] for k, vals in config.sweep.items()})]
    return [(names[k], {names[k]: [_as_param(v) for v in vals]}) for k, vals in config.sweep.items()]


def _training_data(datasets):
    if len(datasets) == 1:
        return datasets[0].train
    return combine_datasets([d.train for d in datasets], name="combined")


#: Steps whose output the steps after them see as frozen features.
FEATURE_STEPS = ("cnn", "pca")


def _feature_split(pipe, grid):
    """Number of leading steps to fit once per fold and feature-parameter value (0: none).

    The split falls after the feature step (``cnn`` of the hybrid, ``pca`` of
    pca-svc) when steps after it are swept and at least two candidates share
    every swept feature parameter (otherwise nothing would be shared).
    """
    names = [name for name, _ in pipe.steps]
    feature = [i for i, name in enumerate(names) if name in FEATURE_STEPS]
    if not feature or feature[-1] == len(names) - 1:
        return 0
    k = feature[-1] + 1
    head = set(names[:k])
    swept_tail = [key for key in grid if key.split("__", 1)[0] not in head]
    if not swept_tail:
        return 0
    groups = {}
    for params in ParameterGrid(grid):
        key = _head_key(params, head)
        groups[key] = groups.get(key, 0) + 1
    return k if max(groups.values()) > 1 else 0


def _head_key(params, head):
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k.split("__", 1)[0] in head))


def _split_params(params, head):
    first = {k: v for k, v in params.items() if k.split("__", 1)[0] in head}
    return first, {k: v for k, v in params.items() if k not in first}


def _params_text(params):
    return ", ".join(f"{k.rsplit('__', 1)[-1]}={_display(v)}" for k, v in params.items()) or "fixed parameters"


def _run_searches(executor, pipe, searches, train, splits, scoring, say):
    """Run every (candidate, fold) fit of every search on ``executor``.

    Returns
    -------
    dict
        ``label -> (candidates, scores)``, ``scores[i][fold]`` the scores and times of one fit.
    """
    serial = executor.kind == "serial"
    images = executor.share(train.images)  # sent once; each task receives its fold's indices
    labels = train.labels
    n_folds = len(splits)
    # Task ids in submission order; a fit on frozen features waits for its features task.
    tasks, waiting, results, candidates_of = {}, {}, {}, {}
    for label, grid in searches:
        candidates = list(ParameterGrid(grid))
        candidates_of[label] = candidates
        results[label] = [[None] * n_folds for _ in candidates]
        k = _feature_split(pipe, grid)
        head = {name for name, _ in pipe.steps[:k]}
        for i, params in enumerate(candidates):
            first, rest = _split_params(params, head)
            for f in range(n_folds):
                fold = f"fold {f + 1}/{n_folds}"
                features = None
                if k:  # shared by every search with the same feature parameters (curves of C and gamma)
                    features = f"features/{k}/{_head_key(params, head)}/{f}"
                    if features not in tasks:
                        tasks[features] = {
                            "kind": "features",
                            "k": k,
                            "params": first,
                            "fold": f,
                            "name": f"features [{_params_text(first)}] {fold}",
                        }
                        waiting[features] = []
                    waiting[features].append(f"fit/{label}/{i}/{f}")
                tasks[f"fit/{label}/{i}/{f}"] = {
                    "kind": "fit",
                    "label": label,
                    "index": i,
                    "fold": f,
                    "k": k,
                    "features": features,
                    "params": rest if k else params,
                    "name": f"fit {label} [{_params_text(params)}] {fold}",
                }
    order = {task: n for n, task in enumerate(tasks)}
    tracker = TaskTracker([(t, spec["kind"]) for t, spec in tasks.items()], say, parallel=executor.slots)
    feature_seconds = {}

    def submit(task, fn, *args):
        executor.submit(task, fn, *args, priority=-order[task])

    if serial:
        executor.on_start = lambda task: tracker.started(task, name=tasks[task]["name"])
    for task, spec in tasks.items():
        train_idx, val_idx = splits[spec["fold"]]
        if spec["kind"] == "features":
            submit(task, study_features_job, pipe[: spec["k"]], spec["params"], images, labels, train_idx, val_idx)
        elif spec["features"] is None:
            submit(task, study_fit_job, pipe, spec["params"], images, labels, train_idx, val_idx, scoring)

    try:
        while executor.pending:
            outcome = executor.next_done()
            spec = tasks[outcome.key]
            if outcome.error is not None:
                say(
                    f"{spec['name']} failed{' on ' + outcome.worker if outcome.worker else ''}: "
                    f"{type(outcome.error).__name__}: {outcome.error}"
                )
                raise outcome.error
            tracker.finished(outcome.key, outcome.seconds, "" if serial else f" on {outcome.worker}", name=spec["name"])
            if spec["kind"] == "features":  # only these arrays travel on to the SVC fits
                feature_seconds[outcome.key] = outcome.value["seconds"]
                handle = executor.share(outcome.value)
                for fit in waiting.pop(outcome.key):
                    submit(fit, study_frozen_fit_job, pipe[spec["k"] :], tasks[fit]["params"], handle, scoring)
                continue
            value = dict(outcome.value)
            if spec["features"] is not None:  # the fit's share: the fold's feature extraction + the SVC
                value["feature_seconds"] = feature_seconds[spec["features"]]
                value["fit_seconds"] += value["feature_seconds"]
            results[spec["label"]][spec["index"]][spec["fold"]] = value
    except BaseException:
        say(f"study stopped with {tracker.total - len(tracker.done)} task(s) unfinished")
        raise
    return {label: (candidates_of[label], results[label]) for label, _ in searches}


def _summarise(candidates, scores):
    """GridSearchCV's ``cv_results_`` numbers: per candidate mean/std over folds, rank by mean."""
    val = np.array([[s["val_score"] for s in row] for row in scores], dtype=float)
    train = np.array([[s["train_score"] for s in row] for row in scores], dtype=float)
    fit = np.array([[s["fit_seconds"] for s in row] for row in scores], dtype=float)
    means = val.mean(axis=1)
    ranks = rankdata(-means, method="min").astype(int)
    return [
        {
            "params": params,
            "val_mean": float(means[i]),
            "val_std": float(val[i].std()),
            "train_mean": float(train[i].mean()),
            "train_std": float(train[i].std()),
            "fit_seconds": float(fit[i].mean()),
            "rank": int(ranks[i]),
        }
        for i, params in enumerate(candidates)
    ]


def run_study(config, out=None, *, verbose=True, executor=None):
    """Run a hyperparameter study and write its table and validation-curve plots.

    Parameters
    ----------
    config : StudyConfig
    out : str or Path, optional
        Output folder; default ``runs/<name>``.
    verbose : bool, default=True
    executor : ExecutorSettings or dict, optional
        Where the fits run (see :func:`~cnnsvm.experiments.executors.executor_settings`);
        default: serially, in this process.

    Returns
    -------
    StudyRun
    """
    began = time.perf_counter()
    settings = executor if isinstance(executor, ExecutorSettings) else executor_settings(executor)
    out = Path(out if out is not None else Path("runs") / config.name)
    out.mkdir(parents=True, exist_ok=True)
    say = RunLog(out / "run.log", verbose=verbose)
    write_text(out / "config.toml", dump_toml(config.to_dict()))
    write_json(out / "config.json", {**config.to_dict(), "source": config.source})
    write_json(out / "environment.json", {**environment_record([config.seed]), "executor": settings.to_dict()})
    with Stage(f"load {len(config.datasets)} dataset(s)", verbose=int(verbose)):
        datasets = load_experiment_datasets(config.datasets, test_size=config.test_size, split_seed=config.split_seed)
    train = _training_data(datasets)
    write_json(
        out / "data.json",
        {
            "datasets": [d.record for d in datasets],
            "study_training_set": {"n": len(train), "n_classes": train.n_classes, "sha256": images_digest(train)},
            "note": "the test splits were set aside and never used; validation comes from the training parts",
        },
    )
    pipe, fixed = study_pipeline(config)
    searches = _searches(config, pipe)
    splits = list(_splitter(config).split(np.zeros(len(train.labels)), train.labels))
    total = sum(int(np.prod([len(v) for v in grid.values()])) * len(splits) for _, grid in searches)
    frozen = [label for label, grid in searches if _feature_split(pipe, grid)]
    say(
        f"study {config.name!r}: {config.method} on {train.describe()}, {config.search} search, "
        f"{config.validation['kind']} validation, {total} fits"
        + (f" ({', '.join(frozen)} on features computed once per fold)" if frozen else "")
    )

    with open_executor(settings) as executor:
        say(f"running on {executor.describe()}")
        outcomes = _run_searches(executor, pipe, searches, train, splits, config.scoring, say)

    rows, best = [], {}
    for label, grid in searches:
        candidates, scores = outcomes[label]
        block = []
        for summary in _summarise(candidates, scores):
            params = summary.pop("params")
            block.append({"search": label, **{k: _display(v) for k, v in params.items()}, "values": params, **summary})
        rows += block
        top = min(block, key=lambda r: r["rank"])
        best[label] = {"params": {k: _display(v) for k, v in top["values"].items()}, "val_mean": top["val_mean"]}
        say(f"  best {label}: {best[label]['params']} ({config.scoring} {top['val_mean']:.4f})")
        _plot_search(label, grid, block, out, config.scoring)

    summary = _write_tables(out, config, rows, best, fixed, time.perf_counter() - began)
    say(f"finished study {config.name!r} in {format_seconds(time.perf_counter() - began)}; table in {out / 'study.md'}")
    if verbose:
        print(summary, file=sys.stdout, flush=True)
    return StudyRun(out=out, rows=rows, best=best, summary=summary)


def _plot_search(label, grid, block, out, scoring):
    """One validation-curve plot per swept parameter (in a grid: the best row for each value)."""
    for name, values in grid.items():
        picked = []
        for value in values:
            matching = [r for r in block if r["values"][name] == value]
            picked.append(max(matching, key=lambda r: r["val_mean"]))
        suffix = "" if len(grid) == 1 else " (best over the other parameters)"
        plots.plot_validation_curve(
            [_plot_value(v) for v in values],
            [r["train_mean"] for r in picked],
            [r["train_std"] for r in picked],
            [r["val_mean"] for r in picked],
            [r["val_std"] for r in picked],
            out / f"validation_curve_{safe_name(name)}.png",
            param=name,
            scoring=scoring,
            title=f"validation curve: {name}{suffix}",
        )


def _plot_value(value):
    return _display(value) if isinstance(value, (tuple, list, bool)) or value is None else value


def _write_tables(out, config, rows, best, fixed, seconds):
    swept = list(dict.fromkeys(k for r in rows for k in r["values"]))
    header = (
        ["search"]
        + swept
        + [f"val {config.scoring}", "val std", f"train {config.scoring}", "train std", "fit s", "rank"]
    )
    table = [
        [r["search"]]
        + [r.get(k, "") for k in swept]
        + [
            f"{r['val_mean']:.4f}",
            f"{r['val_std']:.4f}",
            f"{r['train_mean']:.4f}",
            f"{r['train_std']:.4f}",
            f"{r['fit_seconds']:.1f}",
            r["rank"],
        ]
        for r in rows
    ]
    v = config.validation
    how = (
        f"hold-out split of {v['fraction']:.0%} of the training data"
        if v["kind"] == "holdout"
        else f"stratified {v['folds']}-fold cross-validation"
    )
    fixed_text = ", ".join(f"{k}={_display(x)}" for k, x in fixed.items()) or "none"
    best_rows = [
        [label, ", ".join(f"{k}={x}" for k, x in b["params"].items()), f"{b['val_mean']:.4f}"]
        for label, b in best.items()
    ]
    summary = (
        f"## Study {config.name}: {config.method}, {how}, seed {config.seed}\n\n"
        f"Fixed parameters: {fixed_text}. The test split was never used.\n\n"
        + markdown_table(header, table)
        + "\n\n### Best\n\n"
        + markdown_table(["search", "parameters", f"val {config.scoring}"], best_rows)
        + f"\n\nRun time: {format_seconds(seconds)}.\n"
    )
    write_text(out / "study.md", summary)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["search"] + swept + ["val_mean", "val_std", "train_mean", "train_std", "fit_seconds", "rank"])
    for r in rows:
        writer.writerow(
            [r["search"]]
            + [r.get(k, "") for k in swept]
            + [r["val_mean"], r["val_std"], r["train_mean"], r["train_std"], r["fit_seconds"], r["rank"]]
        )
    write_text(out / "study.csv", buffer.getvalue())
    write_json(
        out / "study.json",
        {
            "study": config.name,
            "method": config.method,
            "scoring": config.scoring,
            "validation": config.validation,
            "fixed": {k: _display(x) if isinstance(x, tuple) else x for k, x in fixed.items()},
            "rows": [
                {k: x for k, x in r.items() if k != "values"}
                | {"params": {k: _display(x) for k, x in r["values"].items()}}
                for r in rows
            ],
            "best": best,
        },
    )
    return summary


def run_study_file(path, out=None, overrides=(), *, executor=None, workers=None, address=None):
    """Run the study described by a TOML file (``cnnsvm study``).

    Parameters
    ----------
    path : str or Path
    out : str or Path, optional
        Output folder (default ``runs/<name>``).
    overrides : iterable of str
        ``KEY=VALUE`` overrides (``--set``), e.g. ``params.epochs=2``.
    executor, workers, address : optional
        ``--executor``, ``--workers``, ``--address``, over the file's ``[executor]`` table.

    Returns
    -------
    StudyRun
    """
    config, table = load_study(path, overrides, with_executor=True)
    settings = executor_settings(table, kind=executor, workers=workers, address=address)
    return run_study(config, out=out, executor=settings)

"""``cnnsvm study``: hyperparameter sweeps on a validation split of the training data.

The test split of every dataset is set aside when the data are loaded and
never used. The training part (the union of the training parts when several
datasets are listed) is split again for validation, by one stratified
hold-out split or by stratified k-fold, and :class:`~sklearn.model_selection.GridSearchCV`
scores the method's pipeline from :mod:`cnnsvm.pipeline` on it: one search per
swept parameter (``search = "curves"``: validation curves) or one over every
combination (``search = "grid"``).
"""

from __future__ import annotations

import csv
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import get_scorer
from sklearn.model_selection import (
    GridSearchCV,
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
from cnnsvm.experiments.reports import markdown_table
from cnnsvm.experiments.store import write_json, write_text
from cnnsvm.experiments.study_config import PREFIXES, parse_study
from cnnsvm.experiments.tracker import RunLog
from cnnsvm.pipeline import make_cnn, make_hybrid, make_pca_svc
from cnnsvm.progress import Stage, format_seconds


@dataclass
class StudyRun:
    """What :func:`run_study` produced."""

    out: Path
    rows: list
    best: dict
    summary: str


def load_study(path, overrides=()):
    """Read, override and validate a study file.

    Returns
    -------
    StudyConfig
    """
    data = apply_overrides(read_config_file(path), overrides)
    return parse_study(data, default_name=config_stem(path), source=str(path))


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
    shorts = sorted({k.split("__", 1)[1] if k.startswith(("cnn__", "preprocess__"))
                     else k.rsplit("__", 1)[-1] for k in valid
                     if k.startswith(("cnn__", "svm__estimator__", "pca__", "preprocess__"))})
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


class _ProgressScorer:
    """A scorer that also logs each finished fit with the time left (GridSearchCV, one process)."""

    def __init__(self, scoring, total_fits, say, calls_per_fit=2):
        self.scorer = get_scorer(scoring)
        self.total = total_fits
        self.say = say
        self.calls_per_fit = calls_per_fit
        self.calls = 0
        self.start = time.perf_counter()

    def __call__(self, estimator, X, y):
        score = self.scorer(estimator, X, y)
        self.calls += 1
        if self.calls % self.calls_per_fit == 0:
            done = self.calls // self.calls_per_fit
            elapsed = time.perf_counter() - self.start
            eta = elapsed / done * (self.total - done)
            self.say(f"[{done}/{self.total} fits] elapsed {format_seconds(elapsed)}, ETA {format_seconds(eta)}")
        return score


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


def run_study(config, out=None, *, verbose=True):
    """Run a hyperparameter study and write its table and validation-curve plots.

    Parameters
    ----------
    config : StudyConfig
    out : str or Path, optional
        Output folder; default ``runs/<name>``.
    verbose : bool, default=True

    Returns
    -------
    StudyRun
    """
    began = time.perf_counter()
    out = Path(out if out is not None else Path("runs") / config.name)
    out.mkdir(parents=True, exist_ok=True)
    say = RunLog(out / "run.log", verbose=verbose)
    write_text(out / "config.toml", dump_toml(config.to_dict()))
    write_json(out / "config.json", {**config.to_dict(), "source": config.source})
    write_json(out / "environment.json", environment_record([config.seed]))
    with Stage(f"load {len(config.datasets)} dataset(s)", verbose=int(verbose)):
        datasets = load_experiment_datasets(config.datasets, test_size=config.test_size,
                                            split_seed=config.split_seed)
    train = _training_data(datasets)
    write_json(out / "data.json", {
        "datasets": [d.record for d in datasets],
        "study_training_set": {"n": len(train), "n_classes": train.n_classes, "sha256": images_digest(train)},
        "note": "the test splits were set aside and never used; validation comes from the training parts",
    })
    pipe, fixed = study_pipeline(config)
    searches = _searches(config, pipe)
    splitter = _splitter(config)
    n_splits = splitter.get_n_splits()
    total = sum(int(np.prod([len(v) for v in grid.values()])) * n_splits for _, grid in searches)
    say(f"study {config.name!r}: {config.method} on {train.describe()}, {config.search} search, "
        f"{config.validation['kind']} validation, {total} fits")
    scorer = _ProgressScorer(config.scoring, total, say)

    rows, best = [], {}
    for label, grid in searches:
        search = GridSearchCV(pipe, grid, scoring=scorer, cv=splitter, refit=False, return_train_score=True,
                              n_jobs=1, error_score="raise")
        search.fit(train.images, train.labels)
        res = search.cv_results_
        block = []
        for i, params in enumerate(res["params"]):
            block.append({
                "search": label,
                **{k: _display(v) for k, v in params.items()},
                "values": {k: v for k, v in params.items()},
                "val_mean": float(res["mean_test_score"][i]), "val_std": float(res["std_test_score"][i]),
                "train_mean": float(res["mean_train_score"][i]), "train_std": float(res["std_train_score"][i]),
                "fit_seconds": float(res["mean_fit_time"][i]), "rank": int(res["rank_test_score"][i]),
            })
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
            [_plot_value(v) for v in values], [r["train_mean"] for r in picked], [r["train_std"] for r in picked],
            [r["val_mean"] for r in picked], [r["val_std"] for r in picked],
            out / f"validation_curve_{safe_name(name)}.png", param=name, scoring=scoring,
            title=f"validation curve: {name}{suffix}",
        )


def _plot_value(value):
    return _display(value) if isinstance(value, (tuple, list, bool)) or value is None else value


def _write_tables(out, config, rows, best, fixed, seconds):
    swept = list(dict.fromkeys(k for r in rows for k in r["values"]))
    header = ["search"] + swept + [f"val {config.scoring}", "val std", f"train {config.scoring}", "train std",
                                   "fit s", "rank"]
    table = [[r["search"]] + [r.get(k, "") for k in swept] + [
        f"{r['val_mean']:.4f}", f"{r['val_std']:.4f}", f"{r['train_mean']:.4f}", f"{r['train_std']:.4f}",
        f"{r['fit_seconds']:.1f}", r["rank"]] for r in rows]
    v = config.validation
    how = (f"hold-out split of {v['fraction']:.0%} of the training data" if v["kind"] == "holdout"
           else f"stratified {v['folds']}-fold cross-validation")
    fixed_text = ", ".join(f"{k}={_display(x)}" for k, x in fixed.items()) or "none"
    best_rows = [[label, ", ".join(f"{k}={x}" for k, x in b["params"].items()), f"{b['val_mean']:.4f}"]
                 for label, b in best.items()]
    summary = (f"## Study {config.name}: {config.method}, {how}, seed {config.seed}\n\n"
               f"Fixed parameters: {fixed_text}. The test split was never used.\n\n"
               + markdown_table(header, table) + "\n\n### Best\n\n"
               + markdown_table(["search", "parameters", f"val {config.scoring}"], best_rows)
               + f"\n\nRun time: {format_seconds(seconds)}.\n")
    write_text(out / "study.md", summary)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["search"] + swept + ["val_mean", "val_std", "train_mean", "train_std", "fit_seconds", "rank"])
    for r in rows:
        writer.writerow([r["search"]] + [r.get(k, "") for k in swept] + [
            r["val_mean"], r["val_std"], r["train_mean"], r["train_std"], r["fit_seconds"], r["rank"]])
    write_text(out / "study.csv", buffer.getvalue())
    write_json(out / "study.json", {
        "study": config.name, "method": config.method, "scoring": config.scoring, "validation": config.validation,
        "fixed": {k: _display(x) if isinstance(x, tuple) else x for k, x in fixed.items()},
        "rows": [{k: x for k, x in r.items() if k != "values"} | {"params": {k: _display(x) for k, x in r["values"].items()}}
                 for r in rows],
        "best": best,
    })
    return summary


def run_study_file(path, out=None, overrides=()):
    """Run the study described by a TOML file (``cnnsvm study``).

    Parameters
    ----------
    path : str or Path
    out : str or Path, optional
        Output folder (default ``runs/<name>``).
    overrides : iterable of str
        ``KEY=VALUE`` overrides (``--set``), e.g. ``params.epochs=2``.

    Returns
    -------
    StudyRun
    """
    return run_study(load_study(path, overrides), out=out)

"""``cnnsvm compare`` and ``cnnsvm demo``: run a comparison experiment, resumably.

For each seed, the methods run in the order the file lists them; the
generic extractor a method needs is trained just before its first cell,
on the training parts of all datasets together. Every finished task leaves
a ``result.json`` and a model; a re-run with the same ``--out`` skips the
tasks whose configuration and data are unchanged (see :mod:`.store`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from cnnsvm.experiments.config import (
    CNN_METHODS,
    GENERIC_VARIANT,
    override_epochs,
    parse_experiment,
)
from cnnsvm.experiments.config_files import (
    apply_overrides,
    config_stem,
    dump_toml,
    read_config_file,
)
from cnnsvm.experiments.datasets import load_experiment_datasets
from cnnsvm.experiments.environment import environment_record
from cnnsvm.experiments.reports import write_reports
from cnnsvm.experiments.significance import mcnemar_exact
from cnnsvm.experiments.store import (
    RESULT,
    RunDirectory,
    fingerprint,
    read_json,
    write_json,
    write_text,
)
from cnnsvm.experiments.tasks import (
    build_model,
    load_generic,
    run_cell,
    run_generic_task,
)
from cnnsvm.experiments.tracker import RunLog, TaskTracker
from cnnsvm.features.architectures import ARCHITECTURE_PARAMS, resolve_architecture
from cnnsvm.progress import Stage, format_seconds

DEMO_CONFIG = "builtin:digits"


@dataclass
class ComparisonRun:
    """What :func:`run_comparison` did and produced."""

    out: Path
    results: list
    generic_results: list
    tests: list
    summary: str
    ran: list = field(default_factory=list)
    skipped: list = field(default_factory=list)


def load_experiment(path, overrides=()):
    """Read, override and validate a comparison file.

    Parameters
    ----------
    path : str or Path
        A TOML file, or ``"builtin:NAME"``.
    overrides : iterable of str
        ``KEY=VALUE`` strings (see :func:`~cnnsvm.experiments.config_files.apply_overrides`).

    Returns
    -------
    ExperimentConfig
    """
    data = apply_overrides(read_config_file(path), overrides)
    return parse_experiment(data, default_name=config_stem(path), source=str(path))


def _task_plan(config):
    """Ordered tasks: ``("generic", variant, seed)`` and ``("cell", method, seed)`` entries."""
    plan = []
    for seed in config.seeds:
        trained = set()
        for method in config.methods:
            variant = GENERIC_VARIANT.get(method)
            if variant and variant not in trained:
                plan.append(("generic", variant, seed))
                trained.add(variant)
            plan.append(("cell", method, seed))
    return plan


def _task_kind(method):
    if method in CNN_METHODS:
        return "cnn"
    if method == "mlp":
        return "mlp"
    return "svc" if method in ("pca-svc", "hybrid", "hybrid-noaug") else "softmax"


def _with_architecture(params):
    """``params`` plus the architecture they resolve to, so that a changed preset changes fingerprints."""
    overrides = {k: params[k] for k in ARCHITECTURE_PARAMS if k in params}
    return {**params, "resolved_architecture": resolve_architecture(params.get("architecture", "default"),
                                                                    **overrides)}


def _append_environment(rundir, config):
    path = rundir.root / "environment.json"
    previous = read_json(path) or {}
    invocations = previous.get("invocations", [])
    invocations.append(environment_record(config.seeds))
    write_json(path, {"invocations": invocations})


def _mcnemar_tests(rundir, config, datasets, results):
    """McNemar's exact test of the hybrid against every other method, per dataset and seed."""
    if "hybrid" not in config.methods:
        return []
    index = {(r["dataset"], r["method"], r["seed"]): r for r in results}
    tests = []
    for d in datasets:
        for other in config.methods:
            if other == "hybrid":
                continue
            for seed in config.seeds:
                a, b = index.get((d.name, "hybrid", seed)), index.get((d.name, other, seed))
                if a is None or b is None:
                    continue
                pa = np.load(rundir.cell(d.name, "hybrid", seed) / "predictions.npz")
                pb = np.load(rundir.cell(d.name, other, seed) / "predictions.npz")
                test = mcnemar_exact(pa["y_true"], pa["y_pred"], pb["y_pred"])
                tests.append({
                    "dataset": d.name, "other": other, "seed": seed,
                    "hybrid_accuracy": a["accuracy"], "other_accuracy": b["accuracy"],
                    "hybrid_only": test["a_only"], "other_only": test["b_only"],
                    "both_right": test["both_right"], "both_wrong": test["both_wrong"],
                    "n": test["n"], "p_value": test["p_value"],
                })
    return tests


def run_comparison(config, out=None, *, verbose=True):
    """Run (or resume) a comparison experiment.

    Parameters
    ----------
    config : ExperimentConfig
        See :func:`load_experiment`.
    out : str or Path, optional
        Run directory; default ``runs/<name>``. An existing one is resumed.
    verbose : bool, default=True
        Progress lines on stderr (they always go to ``run.log``) and the
        final tables on stdout.

    Returns
    -------
    ComparisonRun
    """
    began = time.perf_counter()
    rundir = RunDirectory(out if out is not None else Path("runs") / config.name)
    rundir.root.mkdir(parents=True, exist_ok=True)
    say = RunLog(rundir.root / "run.log", verbose=verbose)
    resumed = (rundir.root / "config.toml").exists()
    say(f"{'resuming' if resumed else 'starting'} experiment {config.name!r} in {rundir.root}")
    resolved = config.to_dict()
    write_text(rundir.root / "config.toml", dump_toml(resolved))
    write_json(rundir.root / "config.json", {**resolved, "source": config.source, "effective": {
        "generic": {v: config.generic_params(v) for v in config.generic_variants},
        "methods": {m: config.method_params(m) for m in config.methods},
    }})
    _append_environment(rundir, config)

    with Stage(f"load {len(config.datasets)} dataset(s)", verbose=int(verbose)):
        datasets = load_experiment_datasets(config.datasets, test_size=config.test_size,
                                            split_seed=config.split_seed)
    for d in datasets:
        kind = "official split" if d.record["official_split"] else f"{config.test_size:.0%} stratified test split"
        say(f"  {d.name}: {len(d.train)} train / {len(d.test)} test images, {d.train.n_classes} classes ({kind})")
    write_json(rundir.root / "data.json", {"datasets": [d.record for d in datasets]})
    data_key = [(d.name, d.record["train_sha256"], d.record["test_sha256"], d.train.n_classes) for d in datasets]

    plan = _task_plan(config)
    task_ids, generic_fp = [], {}
    for kind, what, seed in plan:
        if kind == "generic":
            task_ids.append((f"generic/{what}/seed{seed}", "generic"))
            generic_fp[(what, seed)] = fingerprint({
                "kind": "generic", "variant": what, "seed": seed, "image_size": config.image_size,
                "params": _with_architecture(config.generic_params(what)),
                "data": [(n, tr, k) for n, tr, _, k in data_key],
            })
        else:
            task_ids += [(f"{d.name}/{what}/seed{seed}", _task_kind(what)) for d in datasets]
    tracker = TaskTracker(task_ids, say, proxies={"generic": ("cnn", len(datasets))})
    cnn_verbose = 1 if verbose else 0

    generic_models, generic_results, ran, skipped = {}, {}, [], []

    def generic_model(variant, seed):
        key = (variant, seed)
        if key not in generic_models:
            folder = rundir.generic(variant, seed)
            say(f"  loading the stored generic extractor {folder}")
            generic_models[key] = load_generic(folder)
        return generic_models[key]

    for kind, what, seed in plan:
        if kind == "generic":
            task = f"generic/{what}/seed{seed}"
            folder = rundir.generic(what, seed)
            stored, reason = rundir.finished(folder, generic_fp[(what, seed)])
            if stored is not None:
                generic_results[(what, seed)] = stored
                skipped.append(task)
                tracker.skip(task, f"finished earlier (trained in {format_seconds(stored['fit_seconds'])})")
                continue
            with tracker.run(task, f"training on the training parts of {len(datasets)} dataset(s) "
                                   f"({'no augmentation' if what == 'noaug' else 'augmented'}); {reason}"):
                model, result = run_generic_task(config, what, seed, datasets, folder, generic_fp[(what, seed)],
                                                 verbose=cnn_verbose)
            generic_models[(what, seed)] = model
            generic_results[(what, seed)] = result
            ran.append(task)
            continue
        method = what
        variant = GENERIC_VARIANT.get(method)
        for d in datasets:
            task = f"{d.name}/{method}/seed{seed}"
            folder = rundir.cell(d.name, method, seed)
            params = config.method_params(method)
            fp = fingerprint({
                "kind": "cell", "dataset": data_key[datasets.index(d)], "method": method, "seed": seed,
                "image_size": config.image_size,
                "params": _with_architecture(params) if method in CNN_METHODS else params,
                "generic": generic_fp[(variant, seed)] if variant else None,
            })
            stored, reason = rundir.finished(folder, fp)
            if stored is not None:
                skipped.append(task)
                tracker.skip(task, f"finished earlier (accuracy {stored['accuracy']:.4f})")
                continue
            with tracker.run(task, reason):
                generic = generic_model(variant, seed) if variant else None
                parts = [tuple(p) for p in generic_results[(variant, seed)]["parts"]] if variant else None
                model = build_model(config, method, seed=seed, dataset_name=d.name, generic_model=generic,
                                    parts=parts, verbose=cnn_verbose)
                extra = {"generic": {"variant": variant, "fingerprint": generic_fp[(variant, seed)]}} if variant else {}
                result = run_cell(model, d, folder, method=method, seed=seed, fingerprint=fp,
                                  params={**params, "image_size": config.image_size, "random_state": seed},
                                  extra=extra)
            say(f"  {task}: test accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}")
            ran.append(task)

    results = [read_json(rundir.cell(d.name, m, s) / RESULT) for s in config.seeds for m in config.methods
               for d in datasets]
    tests = _mcnemar_tests(rundir, config, datasets, results)
    generic_list = [generic_results[k] for k in sorted(generic_results, key=lambda k: (k[1], k[0]))]
    summary = write_reports(rundir, name=config.name, results=results, generic_results=generic_list, tests=tests,
                            datasets=[d.name for d in datasets], methods=list(config.methods),
                            seeds=list(config.seeds), total_seconds=time.perf_counter() - began)
    say(f"finished {config.name!r}: {len(ran)} task(s) run, {len(skipped)} reused, "
        f"in {format_seconds(time.perf_counter() - began)}; tables in {rundir.root / 'results.md'}")
    if verbose:
        print(summary, file=sys.stdout, flush=True)
    return ComparisonRun(out=rundir.root, results=results, generic_results=generic_list, tests=tests,
                         summary=summary, ran=ran, skipped=skipped)


def run_comparison_file(path, out=None, overrides=()):
    """Run the comparison experiment described by a TOML file (``cnnsvm compare``).

    Parameters
    ----------
    path : str or Path
        The experiment file, or ``"builtin:NAME"``.
    out : str or Path, optional
        Run directory (default ``runs/<name>``); an existing one is resumed.
    overrides : iterable of str
        ``KEY=VALUE`` overrides with dotted keys (``--set``).

    Returns
    -------
    ComparisonRun
    """
    return run_comparison(load_experiment(path, overrides), out=out)


def run_demo(out=None, epochs=None):
    """Run the shipped digits experiment (``cnnsvm demo``): all methods on scikit-learn's digits.

    Parameters
    ----------
    out : str or Path, optional
        Run directory; default a new ``runs/demo-<timestamp>``.
    epochs : int, optional
        Maximum epochs of every CNN (overrides the file).

    Returns
    -------
    ComparisonRun
    """
    data = read_config_file(DEMO_CONFIG)
    if epochs is not None:
        data = override_epochs(data, epochs)
    config = parse_experiment(data, default_name="digits", source=DEMO_CONFIG)
    if out is None:
        out = Path("runs") / f"demo-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return run_comparison(config, out=out)

"""``cnnsvm compare`` and ``cnnsvm demo``: run a comparison experiment, resumably.

The run is a set of tasks: one per generic extractor (trained once per
variant, seed and ensemble member, on the training parts of all datasets
together) and one per dataset x method x seed cell. Cells are independent; a
cell of a method that reads generic extractors is submitted when the last of
their tasks has finished (or at once, when they are stored from an earlier run). The tasks run
on an executor (:mod:`.executors`: serial by default, a local process pool,
Dask or Ray); serially they run in the order the file lists the methods,
seed by seed. Workers return their results and files, which this process
writes into the run folder, so the workers need not share its file system.

Every finished task leaves a ``result.json`` and a model; a re-run with the
same ``--out`` skips the tasks whose configuration and data are unchanged
(see :mod:`.store`), whichever executor ran them.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cnnsvm.experiments.config import (
    CNN_METHODS,
    GENERIC_VARIANT,
    HYBRID_METHODS,
    SINGLE_MEMBER_METHODS,
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
from cnnsvm.experiments.executors import (
    ExecutorSettings,
    executor_settings,
    open_executor,
    split_executor_table,
)
from cnnsvm.experiments.jobs import MODEL_FILES, cell_job, generic_job, model_files, store_files
from cnnsvm.experiments.reports import write_reports
from cnnsvm.experiments.significance import mcnemar_exact
from cnnsvm.experiments.store import (
    RESULT,
    RunDirectory,
    fingerprint,
    generic_task_id,
    read_json,
    write_json,
    write_text,
)
from cnnsvm.experiments.tracker import RunLog, TaskTracker
from cnnsvm.features.architectures import ARCHITECTURE_PARAMS, resolve_architecture
from cnnsvm.progress import Stage, format_seconds

DEMO_CONFIG = "builtin:digits"
#: What a merged run keeps of a task's folder: its records and predictions, not its model or plots.
PORTABLE_SUFFIXES = (".json", ".npz", ".csv", ".txt")
#: The file that marks a merged run directory (and records where its tasks came from).
MERGED = "merged.json"


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


def load_experiment(path, overrides=(), *, with_executor=False):
    """Read, override and validate a comparison file.

    Parameters
    ----------
    path : str or Path
        A TOML file, or ``"builtin:NAME"``.
    overrides : iterable of str
        ``KEY=VALUE`` strings (see :func:`~cnnsvm.experiments.config_files.apply_overrides`).
    with_executor : bool, default=False
        Also return the file's ``[executor]`` table (how to run, not what:
        it is not part of the experiment's configuration or fingerprints).

    Returns
    -------
    ExperimentConfig, or (ExperimentConfig, dict or None)
    """
    data, executor = split_executor_table(apply_overrides(read_config_file(path), overrides))
    config = parse_experiment(data, default_name=config_stem(path), source=str(path))
    return (config, executor) if with_executor else config


def _task_plan(config):
    """Ordered tasks: ``("generic", (variant, member), seed)`` and ``("cell", method, seed)`` entries."""
    plan = []
    for seed in config.seeds:
        trained = set()
        for method in config.methods:
            variant = GENERIC_VARIANT.get(method)
            if variant and variant not in trained:
                # as many members as the methods on this variant read (hybrid-single alone: one)
                n = max(len(_members_of(config, m)) for m in config.methods if GENERIC_VARIANT.get(m) == variant)
                plan.extend(("generic", (variant, member), seed) for member in range(n))
                trained.add(variant)
            plan.append(("cell", method, seed))
    return plan


def _members_of(config, method):
    """Indices of the generic extractor's members that ``method`` reads."""
    return (0,) if method in SINGLE_MEMBER_METHODS else tuple(range(config.generic_members))


def _task_kind(method):
    if method in CNN_METHODS:
        return "cnn"
    if method == "mlp":
        return "mlp"
    return "svc" if method == "pca-svc" or method in HYBRID_METHODS else "softmax"


def _with_architecture(params):
    """``params`` plus the architecture they resolve to, so that a changed preset changes fingerprints."""
    overrides = {k: params[k] for k in ARCHITECTURE_PARAMS if k in params}
    return {**params, "resolved_architecture": resolve_architecture(params.get("architecture", "default"), **overrides)}


def _append_environment(rundir, config, settings):
    path = rundir.root / "environment.json"
    previous = read_json(path) or {}
    invocations = previous.get("invocations", [])
    invocations.append({**environment_record(config.seeds), "executor": settings.to_dict()})
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
                tests.append(
                    {
                        "dataset": d.name,
                        "other": other,
                        "seed": seed,
                        "hybrid_accuracy": a["accuracy"],
                        "other_accuracy": b["accuracy"],
                        "hybrid_only": test["a_only"],
                        "other_only": test["b_only"],
                        "both_right": test["both_right"],
                        "both_wrong": test["both_wrong"],
                        "n": test["n"],
                        "p_value": test["p_value"],
                    }
                )
    return tests


def _cell_fingerprint(config, dataset_key, method, seed, generic_fp):
    params = config.method_params(method)
    return fingerprint(
        {
            "kind": "cell",
            "dataset": dataset_key,
            "method": method,
            "seed": seed,
            "image_size": config.image_size,
            "params": _with_architecture(params) if method in CNN_METHODS else params,
            "generic": generic_fp,
        }
    )


def _plan_tasks(config, rundir, datasets, data_key):
    """Every task of the experiment, in the file's order, with its fingerprint and folder.

    Returns
    -------
    tasks : list of (str, str, dict)
        ``(task id, kind, spec)``; ``spec["folder"]`` and ``spec["fp"]`` say where its
        result lives and what it must have been computed from.
    generic_fp : dict
        ``(variant, seed, member) -> fingerprint`` of every generic extractor.
    """
    plan = _task_plan(config)
    generic_fp, tasks = {}, []
    for kind, what, seed in plan:
        if kind == "generic":
            variant, member = what
            key = (variant, seed, member)
            generic_fp[key] = fingerprint(
                {
                    "kind": "generic",
                    "variant": variant,
                    "seed": seed,
                    **({"member": member} if member else {}),  # member 0: the fingerprint of a lone extractor
                    "image_size": config.image_size,
                    "params": _with_architecture(config.generic_params(variant)),
                    "data": [(n, tr, k) for n, tr, _, k in data_key],
                }
            )
            tasks.append(
                (
                    generic_task_id(variant, seed, member),
                    "generic",
                    {
                        "kind": "generic",
                        "variant": variant,
                        "seed": seed,
                        "member": member,
                        "folder": rundir.generic(variant, seed, member),
                        "fp": generic_fp[key],
                    },
                )
            )
            continue
        variant = GENERIC_VARIANT.get(what)
        members = [(variant, seed, m) for m in _members_of(config, what)] if variant else []
        # the extractors' fingerprints: one string for a lone extractor (as before ensembles), else a list
        generic = [generic_fp[k] for k in members]
        generic = generic[0] if len(generic) == 1 else generic or None
        for i, d in enumerate(datasets):
            fp = _cell_fingerprint(config, data_key[i], what, seed, generic)
            tasks.append(
                (
                    f"{d.name}/{what}/seed{seed}",
                    _task_kind(what),
                    {
                        "kind": "cell",
                        "method": what,
                        "seed": seed,
                        "dataset": i,
                        "variant": variant,
                        "members": members,
                        "generic_fp": generic,
                        "folder": rundir.cell(d.name, what, seed),
                        "fp": fp,
                    },
                )
            )
    return tasks, generic_fp


def _run_tasks(config, rundir, datasets, data_key, settings, say, *, verbose):
    """Run every unfinished task on the executor ``settings`` names; write what workers return into ``rundir``.

    Returns
    -------
    ran, skipped : list of str
        Task ids, in the order they finished or were found finished.
    generic_results : dict
        ``(variant, seed, member) -> result`` of every generic extractor.
    """
    serial = settings.kind == "serial"
    job_verbose = 1 if verbose and serial else 0  # epoch lines of parallel workers would interleave
    tasks, generic_fp = _plan_tasks(config, rundir, datasets, data_key)
    order = {task: i for i, (task, _, _) in enumerate(tasks)}
    tracker = TaskTracker([(t, k) for t, k, _ in tasks], say, proxies={"generic": ("cnn", len(datasets))})

    generic_results, ran, skipped = {}, [], []
    to_run, reasons = [], {}
    for task, kind, spec in tasks:
        stored, reason = rundir.finished(spec["folder"], spec["fp"])
        if stored is None:
            to_run.append((task, kind, spec))
            reasons[task] = reason
            continue
        skipped.append(task)
        if kind == "generic":
            generic_results[(spec["variant"], spec["seed"], spec["member"])] = stored
            tracker.skip(task, f"finished earlier (trained in {format_seconds(stored['fit_seconds'])})")
        else:
            tracker.skip(task, f"finished earlier (accuracy {stored['accuracy']:.4f})")
    if not to_run:
        return ran, skipped, generic_results
    with open_executor(settings) as executor:  # started only when there is work for it
        _dispatch(
            executor,
            config,
            rundir,
            datasets,
            to_run,
            reasons,
            generic_fp,
            generic_results,
            tracker,
            ran,
            skipped,
            order,
            say,
            verbose=job_verbose,
        )
    return ran, skipped, generic_results


def _dispatch(
    executor,
    config,
    rundir,
    datasets,
    to_run,
    reasons,
    generic_fp,
    generic_results,
    tracker,
    ran,
    skipped,
    order,
    say,
    *,
    verbose,
):
    serial = executor.kind == "serial"
    job_verbose = verbose
    generic_files = {}
    tracker.parallel = executor.slots
    say(f"running {len(to_run)} task(s) on {executor.describe()}")

    shared = [executor.share(d) for d in datasets]  # sent once to the workers, where the engine can
    spec_of = {task: spec for task, _, spec in to_run}
    waiting = {}  # cell task -> the extractors (variant, seed, member) it still waits for

    def priority(task, kind):
        # serially: the file's order; in parallel, extractors first (they unlock cells), then the file's order
        return -order[task] + (0 if serial else (10**6 if kind == "generic" else 0))

    def submit(task, kind):
        spec = spec_of[task]
        if kind == "generic":
            executor.submit(
                task,
                generic_job,
                config,
                spec["variant"],
                spec["seed"],
                spec["member"],
                spec["fp"],
                job_verbose,
                *shared,
                priority=priority(task, kind),
            )
            return
        method, seed, variant, members = spec["method"], spec["seed"], spec["variant"], spec["members"]
        extra, parts = {}, None
        if variant:
            extra = {"generic": {"variant": variant, "fingerprint": spec["generic_fp"]}}
            parts = [tuple(p) for p in generic_results[members[0]]["parts"]]
        params = {**config.method_params(method), "image_size": config.image_size, "random_state": seed}
        executor.submit(
            task,
            cell_job,
            config,
            method,
            seed,
            shared[spec["dataset"]],
            spec["fp"],
            params,
            extra,
            parts,
            job_verbose,
            *[generic_files[k] for k in members],  # each its own argument, so that engines resolve them
            priority=priority(task, kind),
        )

    def share_generic(key):
        folder = rundir.generic(*key)
        generic_files[key] = executor.share({name: (folder / name).read_bytes() for name in MODEL_FILES})

    def queue(task, kind):
        missing = []
        for key in spec_of[task].get("members", []) if kind != "generic" else []:
            if key in generic_files:
                continue
            if key in generic_results:  # stored by an earlier run: read its model files once
                share_generic(key)
            else:
                missing.append(key)
        if missing:
            waiting[task] = (kind, set(missing))
            return
        if not serial:
            say(f"  queued {task}: {reasons[task]}")
        submit(task, kind)

    if serial:
        executor.on_start = lambda task: tracker.started(task, reasons[task])
    # in priority order: an engine may hand the first task it gets to an idle worker at once
    for task, kind, _ in sorted(to_run, key=lambda t: -priority(t[0], t[1])):
        queue(task, kind)

    try:
        while executor.pending:
            outcome = executor.next_done()
            task = outcome.key
            if outcome.error is not None:
                say(
                    f"task {task} failed{' on ' + outcome.worker if outcome.worker else ''}: "
                    f"{type(outcome.error).__name__}: {outcome.error}"
                )
                raise outcome.error
            spec = spec_of[task]
            store_files(spec["folder"], outcome.value["files"])
            result = outcome.value["result"]
            ran.append(task)
            where = "" if serial else f" on {outcome.worker}"
            tracker.finished(task, outcome.seconds, where)
            if spec["kind"] == "generic":  # release the cells that waited for this extractor alone
                key = (spec["variant"], spec["seed"], spec["member"])
                generic_results[key] = result
                generic_files[key] = executor.share(model_files(outcome.value["files"]))
                for waiting_task in [t for t, (_, keys) in waiting.items() if key in keys]:
                    kind, keys = waiting[waiting_task]
                    keys.discard(key)
                    if keys:
                        continue
                    del waiting[waiting_task]
                    if not serial:
                        say(f"  queued {waiting_task}: {reasons[waiting_task]}")
                    submit(waiting_task, kind)
            else:
                say(f"  {task}: test accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}")
    except BaseException:
        left = len(to_run) - len(ran)
        say(
            f"stopped with {left} task(s) unfinished; {len(ran) + len(skipped)} finished task(s) are stored: "
            "run the same command again to resume"
        )
        raise


def run_comparison(config, out=None, *, verbose=True, executor=None):
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
    executor : ExecutorSettings or dict, optional
        Where the tasks run (see :func:`~cnnsvm.experiments.executors.executor_settings`);
        default: serially, in this process.

    Returns
    -------
    ComparisonRun
    """
    began = time.perf_counter()
    settings = executor if isinstance(executor, ExecutorSettings) else executor_settings(executor)
    rundir = RunDirectory(out if out is not None else Path("runs") / config.name)
    if (rundir.root / MERGED).exists():
        raise ValueError(
            f"{rundir.root} is a merge of other runs ({MERGED}): it holds no models to resume from; run into a "
            "new --out, then merge that run with this one's sources (--merge)"
        )
    rundir.root.mkdir(parents=True, exist_ok=True)
    say = RunLog(rundir.root / "run.log", verbose=verbose)
    resumed = (rundir.root / "config.toml").exists()
    say(f"{'resuming' if resumed else 'starting'} experiment {config.name!r} in {rundir.root}")
    _write_config(rundir, config)
    _append_environment(rundir, config, settings)
    datasets, data_key = _load_datasets(config, say, verbose=verbose)
    _write_data(rundir, datasets)

    ran, skipped, generic_results = _run_tasks(config, rundir, datasets, data_key, settings, say, verbose=verbose)
    return _report(
        config, rundir, datasets, generic_results, say, began=began, ran=ran, skipped=skipped, verbose=verbose
    )


def _write_config(rundir, config):
    """``config.toml`` and ``config.json`` (with every method's effective parameters) of a run."""
    resolved = config.to_dict()
    write_text(rundir.root / "config.toml", dump_toml(resolved))
    write_json(
        rundir.root / "config.json",
        {
            **resolved,
            "source": config.source,
            "effective": {
                "generic": {v: config.generic_params(v) for v in config.generic_variants},
                "methods": {m: config.method_params(m) for m in config.methods},
            },
        },
    )


def _load_datasets(config, say, *, verbose):
    """The experiment's datasets (split as configured) and their keys for fingerprints."""
    with Stage(f"load {len(config.datasets)} dataset(s)", verbose=int(verbose)):
        datasets = load_experiment_datasets(config.datasets, test_size=config.test_size, split_seed=config.split_seed)
    for d in datasets:
        kind = "official split" if d.record["official_split"] else f"{config.test_size:.0%} stratified test split"
        say(f"  {d.name}: {len(d.train)} train / {len(d.test)} test images, {d.train.n_classes} classes ({kind})")
    data_key = [(d.name, d.record["train_sha256"], d.record["test_sha256"], d.train.n_classes) for d in datasets]
    return datasets, data_key


def _write_data(rundir, datasets):
    """``data.json``: where each dataset came from, its split and its digests."""
    write_json(rundir.root / "data.json", {"datasets": [d.record for d in datasets]})


def _report(config, rundir, datasets, generic_results, say, *, began, ran, skipped, verbose, shown_root=None):
    """McNemar's tests, the tables, ``results.md`` and ``results.json`` of the finished cells in ``rundir``
    (named ``shown_root`` in the log, where the tables will be)."""
    results = [
        read_json(rundir.cell(d.name, m, s) / RESULT) for s in config.seeds for m in config.methods for d in datasets
    ]
    tests = _mcnemar_tests(rundir, config, datasets, results)
    generic_list = [generic_results[k] for k in sorted(generic_results, key=lambda k: (k[1], k[0], k[2]))]
    summary = write_reports(
        rundir,
        name=config.name,
        results=results,
        generic_results=generic_list,
        tests=tests,
        datasets=[d.name for d in datasets],
        methods=list(config.methods),
        seeds=list(config.seeds),
        total_seconds=time.perf_counter() - began,
    )
    say(
        f"finished {config.name!r}: {len(ran)} task(s) run, {len(skipped)} reused, "
        f"in {format_seconds(time.perf_counter() - began)}; tables in {(shown_root or rundir.root) / 'results.md'}"
    )
    if verbose:
        print(summary, file=sys.stdout, flush=True)
    return ComparisonRun(
        out=rundir.root,
        results=results,
        generic_results=generic_list,
        tests=tests,
        summary=summary,
        ran=ran,
        skipped=skipped,
    )


class _Found(NamedTuple):
    """A task of the experiment and the run that finished it."""

    task: str
    kind: str
    spec: dict
    relative: Path  # the task's folder, relative to a run directory
    source: Path
    result: dict


def merge_runs(config, runs, out, *, verbose=True):
    """The tables of an experiment from the finished tasks of several run directories.

    Seeds run on different machines or in different sessions, each in its own run
    directory, make one experiment: the merged directory gets a copy of each task's
    records and predictions (not its model) from the run that finished it, and the
    tables over all of them. Nothing is trained: every task of ``config`` must be
    finished, with the fingerprint ``config`` and the data give it, in exactly one of
    ``runs``, and each cell in the same run as the generic extractors it read.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment, with every seed to merge (``--set 'seeds=[3,4,5]'``).
    runs : list of str or Path
        Run directories of ``cnnsvm compare``, or earlier merges.
    out : str or Path
        A new directory (or an empty one), outside the runs. The merge is built beside
        it and renamed into place, so ``out`` holds a whole merge or nothing.
    verbose : bool, default=True
        Progress lines on stderr and the tables on stdout.

    Returns
    -------
    ComparisonRun

    Raises
    ------
    ValueError
        If a run directory is missing or named twice, ``out`` is not new or lies in a
        run, or a task is unfinished, computed from another configuration or data, in
        two runs, or apart from its extractors; nothing is written then.
    """
    began = time.perf_counter()
    sources = _check_merge_paths([Path(r) for r in runs], Path(out))
    rundir = RunDirectory(out)
    lines, echo = [], RunLog(None, verbose=verbose)  # the merge's log, written into it once it holds

    def say(message):
        lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}")
        echo(message)

    say(f"merging {len(sources)} run(s) of {config.name!r} into {rundir.root}")
    datasets, data_key = _load_datasets(config, say, verbose=verbose)
    tasks, _ = _plan_tasks(config, rundir, datasets, data_key)
    found = _find_sources(config, tasks, sources, rundir.root)

    building = rundir.root.parent / f".{rundir.root.name}.merging-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        build = RunDirectory(building)
        generic_results = {}
        for f in found:
            _copy_portable(f.source / f.relative, building / f.relative)
            if f.kind == "generic":
                generic_results[(f.spec["variant"], f.spec["seed"], f.spec["member"])] = f.result
        _write_config(build, config)
        _write_data(build, datasets)
        write_json(building / MERGED, _merge_record(sources, found))
        say(f"merged {len(found)} task(s) of {config.name!r} from {len(sources)} run(s)")
        merged = _report(
            config,
            build,
            datasets,
            generic_results,
            say,
            began=began,
            ran=[],
            skipped=[f.task for f in found],
            verbose=verbose,
            shown_root=rundir.root,
        )
        (building / "run.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if rundir.root.exists():
            rundir.root.rmdir()  # empty (checked above)
        building.rename(rundir.root)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return replace(merged, out=rundir.root)


def _check_merge_paths(sources, out):
    """The run directories, checked (each a run or a merge, named once) and ``out``: new, outside them.

    Returns
    -------
    list of Path
    """
    if not sources:
        raise ValueError("no run to merge: name at least one run directory (--merge RUN)")
    seen = {}
    for source in sources:
        if not (source / "config.json").is_file():
            raise ValueError(
                f"{source} is not a run directory of `cnnsvm compare` (it has no config.json): check the path"
            )
        if source.resolve() in seen:
            raise ValueError(f"{source} is named twice (as {seen[source.resolve()]} too): name each run once")
        seen[source.resolve()] = source
    target = out.resolve()
    for source in sources:
        if target == source.resolve() or source.resolve() in target.parents:
            raise ValueError(f"--out {out} is in {source}, one of the runs being merged: name a directory outside them")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out} exists and is not empty: name a new directory (nothing in {out} is overwritten)")
    return sources


def _find_sources(config, tasks, sources, root):
    """The run that finished each task, or a ``ValueError`` naming every task without exactly one.

    A task counts as finished in a run when its ``result.json`` there has the task's
    fingerprint and, for a cell, its ``predictions.npz`` is there too; a cell must come
    from the run of the generic extractors it read.
    """
    found, problems = [], []
    for task, kind, spec in tasks:
        relative = Path(spec["folder"]).relative_to(root)
        matches, reasons = [], []
        for source in sources:
            result = read_json(source / relative / RESULT)
            if result is None:
                continue
            if result.get("fingerprint") != spec["fp"]:
                reasons.append(f"{source} ran it with another configuration or data")
            elif kind != "generic" and not (source / relative / "predictions.npz").is_file():
                reasons.append(f"{source} lacks its predictions.npz")
            else:
                matches.append((source, result))
        if len(matches) == 1:
            found.append(_Found(task, kind, spec, relative, *matches[0]))
        elif matches:
            problems.append(f"{task}: in {' and '.join(str(s) for s, _ in matches)} (merge each task from one run)")
        else:
            problems.append(f"{task}: " + ("; ".join(reasons) or "finished in none of the runs"))
    extractors = {(f.spec["variant"], f.spec["seed"], f.spec["member"]): f.source for f in found if f.kind == "generic"}
    for f in found:
        apart = [m for m in f.spec.get("members") or () if m in extractors and extractors[m] != f.source]
        if apart:
            problems.append(
                f"{f.task}: in {f.source}, but the generic extractor it read (seed {apart[0][1]}, member "
                f"{apart[0][2]}) is in {extractors[apart[0]]} (merge a cell from the run of its extractors)"
            )
    if problems:
        shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ValueError(
            f"cannot merge {config.name!r}: {len(problems)} of its {len(tasks)} task(s) cannot be taken from the "
            f"runs named; run or resume them with `cnnsvm compare` (or drop their seeds with --set):\n  {shown}"
        )
    return found


def _merge_record(sources, found):
    """``merged.json``: which run finished which task, and what ran each run (less its working directory).

    A run that is itself a merge brings its own record under ``merged_from``.
    """
    runs = []
    for source in sources:
        invocations = (read_json(source / "environment.json") or {}).get("invocations", [])
        record = {
            "run": str(source),
            "tasks": [f.task for f in found if f.source == source],
            "invocations": [{k: v for k, v in invocation.items() if k != "cwd"} for invocation in invocations],
        }
        earlier = read_json(source / MERGED)
        if earlier is not None:
            record["merged_from"] = earlier.get("runs", [])
        runs.append(record)
    return {"created": datetime.now().astimezone().isoformat(timespec="seconds"), "runs": runs}


def _copy_portable(source, target):
    """Copy a task folder's records and predictions (``result.json`` last, as :func:`store_files` writes them)."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(
        (f for f in source.iterdir() if f.is_file() and f.suffix in PORTABLE_SUFFIXES and f.name not in MODEL_FILES),
        key=lambda f: f.name == RESULT,
    )
    for file in files:
        shutil.copyfile(file, target / file.name)


def run_comparison_file(path, out=None, overrides=(), *, executor=None, workers=None, address=None):
    """Run the comparison experiment described by a TOML file (``cnnsvm compare``).

    Parameters
    ----------
    path : str or Path
        The experiment file, or ``"builtin:NAME"``.
    out : str or Path, optional
        Run directory (default ``runs/<name>``); an existing one is resumed.
    overrides : iterable of str
        ``KEY=VALUE`` overrides with dotted keys (``--set``).
    executor, workers, address : optional
        ``--executor``, ``--workers``, ``--address``, over the file's ``[executor]`` table.

    Returns
    -------
    ComparisonRun
    """
    config, table = load_experiment(path, overrides, with_executor=True)
    settings = executor_settings(table, kind=executor, workers=workers, address=address)
    return run_comparison(config, out=out, executor=settings)


def merge_runs_file(path, runs, out, overrides=()):
    """Merge run directories of the experiment a TOML file describes (``cnnsvm compare --merge``).

    Parameters
    ----------
    path : str or Path
        The experiment file, or ``"builtin:NAME"``.
    runs : list of str or Path
        The run directories (see :func:`merge_runs`).
    out : str or Path
        The merged directory.
    overrides : iterable of str
        ``KEY=VALUE`` overrides (``--set``), as the runs were started with.

    Returns
    -------
    ComparisonRun
    """
    return merge_runs(load_experiment(path, overrides), runs, out)


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

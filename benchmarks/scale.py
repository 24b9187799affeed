"""Scaling out: a multi-seed comparison grid serially and on local workers, and each engine's cost per task.

1. Grid: the shipped digits comparison with ``pca-svc`` and ``hybrid`` over
   several seeds (one generic extractor per seed, a small CNN trained for a few
   epochs), run by ``cnnsvm.experiments.compare.run_comparison`` once per
   executor into a fresh folder: wall time from the call to its return
   (engine start included), tasks, and the pca-svc accuracies, which must not
   depend on the executor.
2. Overhead: ``--tasks`` trivial tasks (``abs(i)``) submitted at once and
   drained (throughput cost per task), then ``--round-trips`` tasks one at a
   time (latency of one task), after the engine has started (its start time
   is reported apart).

Writes benchmarks/results/scale.md and scale.json.

Usage (from the repository root)::

    python benchmarks/scale.py [--seeds 4] [--epochs 5] [--workers 2]
        [--grid-executors serial,dask,processes,serial] [--overhead-executors serial,processes,dask,ray]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Spawned workers (the processes executor) import this script again: nothing here may load
# TensorFlow at import time, or its import would count as engine start-up.
from _perf_util import cores, cpu_model, cpu_shared, git_commit, load_average  # noqa: E402

from cnnsvm.experiments.executors import executor_settings, open_executor  # noqa: E402
from cnnsvm.experiments.store import to_jsonable  # noqa: E402
from cnnsvm.progress import log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def format_seconds(seconds):
    from cnnsvm.progress import format_seconds as fmt

    return fmt(seconds)


def grid_config(seeds, epochs):
    from cnnsvm.experiments.config import parse_experiment
    from cnnsvm.experiments.config_files import apply_overrides, read_config_file

    overrides = [
        f"seeds={list(range(seeds))}",
        'methods=["pca-svc", "hybrid"]',
        'generic.architecture="small"',
        f"training.epochs={epochs}",
        "training.patience=2",
        'name="digits-scale"',
    ]
    return parse_experiment(apply_overrides(read_config_file("builtin:digits"), overrides)), overrides


def run_grid(kind, workers, seeds, epochs, folder):
    """Run the grid on executor ``kind`` into the new run folder ``folder``."""
    from cnnsvm.experiments.compare import run_comparison

    config, overrides = grid_config(seeds, epochs)
    settings = executor_settings(kind=kind, workers=None if kind == "serial" else workers)
    load_before = load_average()
    start = time.perf_counter()
    run = run_comparison(config, out=Path(folder), verbose=False, executor=settings)
    seconds = time.perf_counter() - start
    acc = {(r["method"], r["seed"]): r["accuracy"] for r in run.results}
    generic = [g["fit_seconds"] for g in run.generic_results]
    return {
        "executor": kind,
        "workers": 1 if kind == "serial" else workers,
        "threads": settings.worker_threads(),
        "seconds": seconds,
        "tasks": len(run.ran),
        "overrides": overrides,
        "pca_svc": [acc[("pca-svc", s)] for s in config.seeds],
        "hybrid": [acc[("hybrid", s)] for s in config.seeds],
        "generic_fit_seconds": generic,
        "load_before": load_before,
        "load_after": load_average(),
    }


def run_overhead(kind, workers, n_tasks, round_trips):
    settings = executor_settings(kind=kind, workers=None if kind == "serial" else workers)
    start = time.perf_counter()
    with open_executor(settings) as ex:
        ex.submit("warm", abs, -1)  # first task: processes spawned, imports in the workers, connections
        ex.next_done()
        started = time.perf_counter() - start
        t0 = time.perf_counter()
        for i in range(n_tasks):
            ex.submit(f"t{i}", abs, -i)
        values = []
        while ex.pending:
            outcome = ex.next_done()
            values.append(outcome.value)
        batch = time.perf_counter() - t0
        assert sorted(values) == list(range(n_tasks)), "a trivial task returned a wrong value"
        latencies = []
        for i in range(round_trips):
            t1 = time.perf_counter()
            ex.submit(f"r{i}", abs, -i)
            ex.next_done()
            latencies.append(time.perf_counter() - t1)
        slots = ex.slots
    latencies.sort()
    return {
        "executor": kind,
        "workers": 1 if kind == "serial" else workers,
        "slots": slots,
        "start_seconds": started,
        "tasks": n_tasks,
        "batch_seconds": batch,
        "per_task_ms": 1000 * batch / n_tasks,
        "round_trip_ms_median": 1000 * latencies[len(latencies) // 2],
        "round_trips": round_trips,
        "load": load_average(),
    }


def _busy(meta):
    """Whether the 1-minute load at the start or end exceeded the usable cores (other work shared the CPU)."""
    return bool(cpu_shared(meta.get("load_start"), meta.get("load_end"), meta["cores"]["usable"]))


def write_report(out, meta, grid, overhead):
    lines = ["# Scaling out: serial against local workers, and the cost of each engine per task", ""]
    lines += [
        f"Command: `{meta['command']}` (from the repository root), started {meta['started']}, "
        f"finished {meta['finished']}.",
        f"Machine: {meta['cpu']}, {meta['cores']['logical']} logical cores ({meta['cores']['usable']} usable), "
        + (
            "**shared with other jobs during the run** (1-minute load above the core count): every time below "
            "is an upper bound of what these settings take on an otherwise idle machine, and the comparison "
            "between executors is only as fair as the load was even (load averages beside each row)."
            if _busy(meta)
            else "1-minute load at most the core count at start and end (load averages beside each row)."
        ),
        f"Load average (1, 5, 15 min) at start {meta['load_start']}, at end {meta['load_end']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + f". Commit: {meta['commit']}.",
        "",
    ]
    if grid:
        g0 = grid[0]
        lines += [
            "## A multi-seed grid",
            "",
            f"The shipped digits comparison (`builtin:digits`, 1437 training / 360 test images, 16x16 inputs) "
            f"with `{' '.join('--set ' + o for o in g0['overrides'])}`: per seed one generic extractor (small "
            f"CNN, at most {meta['epochs']} epochs) and 2 cells (pca-svc, hybrid), {g0['tasks']} tasks in all. "
            "Each row ran the whole grid into a fresh run folder, in the order shown (serial first and last, "
            "to bracket the load); wall time is from the call of "
            "`run_comparison` to its return, engine start included. Workers: one task and "
            "cores // workers threads each.",
            "",
            "| executor | workers x threads | wall time | speed-up (mean serial / this) | tasks | "
            "pca-svc accuracy per seed | "
            "hybrid accuracy per seed | generic extractor fit, s (per seed) | load before / after |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        serials = [g["seconds"] for g in grid if g["executor"] == "serial"]
        serial = sum(serials) / len(serials) if serials else None  # mean of the serial runs
        for g in grid:
            ratio = f"{serial / g['seconds']:.2f}x" if serial and g["executor"] != "serial" else "-"
            lines.append(
                f"| {g['executor']} | {g['workers']} x {g['threads'] or 'all'} | {format_seconds(g['seconds'])} "
                f"({g['seconds']:.1f} s) | {ratio} | {g['tasks']} | "
                f"{', '.join(f'{a:.4f}' for a in g['pca_svc'])} | {', '.join(f'{a:.4f}' for a in g['hybrid'])} | "
                f"{', '.join(f'{s:.1f}' for s in g['generic_fit_seconds'])} | {g['load_before']} / {g['load_after']} |"
            )
        fits = {}
        for g in grid:
            fits.setdefault(g["executor"], []).extend(g["generic_fit_seconds"])
        mean_fit = ", ".join(f"{k} {sum(v) / len(v):.1f} s" for k, v in fits.items())
        pooled = [g for g in grid if g["executor"] != "serial"] if serial else []
        parallel = [serial / g["seconds"] for g in pooled]
        if parallel:
            best = pooled[parallel.index(max(parallel))]
            verdict = (
                f"no executor with {best['workers']} workers beat the serial run"
                if max(parallel) < 1
                else f"the best executor, {best['executor']} with {best['workers']} workers, ran "
                f"{max(parallel):.2f}x as fast as serial"
            )
            spread = max(serials) / min(serials) - 1 if serials else 0.0
            why = (
                "On 2 cores there is no idle core for a second worker to use"
                + (" (other jobs kept them busy)" if _busy(meta) else "")
                + "; the executors pay off where workers bring cores of their own (a larger machine, a "
                "cluster), which this machine cannot show."
                if max(parallel) < 1
                else "Two single-thread trainings side by side can use 2 cores better than one two-thread training."
            )
            if len(serials) > 1:
                why += (
                    f" The two serial runs differ by {100 * spread:.0f} %: a difference between executors "
                    "smaller than that is within this machine's run-to-run noise."
                )
            lines += [
                "",
                f"Reading: {verdict}. Mean generic-extractor training (the bulk of each seed): {mean_fit}. "
                "A serial run trains one network at a time with every core; two workers train two networks "
                "side by side with one thread each, and each worker first imports TensorFlow. " + why,
            ]
        same = all(g["pca_svc"] == grid[0]["pca_svc"] for g in grid)
        lines += [
            "",
            f"pca-svc accuracies identical across executors: **{'yes' if same else 'NO'}**. The hybrid's "
            "CNN is trained with multithreaded float reductions (and fewer threads per worker), so its "
            "accuracies may differ in the last digits between executors.",
            "",
        ]
    if overhead:
        lines += [
            "## Engine overhead per task",
            "",
            f"{overhead[0]['tasks']} trivial tasks (`abs(i)`) submitted at once and drained, after one warm-up "
            f"task; then {overhead[0]['round_trips']} tasks one at a time (submit, wait for the result). "
            "Engine start (processes spawned, cluster up, until the warm-up task's result is back) is "
            "reported apart; it is paid once per command. Closing a Dask LocalCluster whose workers loaded "
            "TensorFlow adds about 4 s more (the nanny waits, then kills them), counted in the grid times.",
            "",
            "| executor | workers (slots) | engine start + first task, s | per task, batch of many (ms) | "
            "one task's round trip, "
            "median (ms) | load |",
            "|---|---|---|---|---|---|",
        ]
        for o in overhead:
            lines.append(
                f"| {o['executor']} | {o['workers']} ({o['slots']}) | {o['start_seconds']:.2f} | "
                f"{o['per_task_ms']:.3f} | {o['round_trip_ms_median']:.2f} | {o['load']} |"
            )
        lines += [
            "",
            "A comparison's cells take seconds (digits) to tens of minutes (NHCD, MNIST), so an engine's "
            "per-task cost of milliseconds is negligible beside them; what counts is the engine's start and "
            "each worker's first TensorFlow import (seconds, once per worker process).",
            "",
        ]
    (out / "scale.md").write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--grid-executors",
        default="serial,dask,processes,serial",
        help="executors of the grid runs, in order; repeat one to bracket a changing load",
    )
    parser.add_argument("--overhead-executors", default="serial,processes,dask,ray")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--round-trips", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    from cnnsvm.pipeline import library_versions

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": shlex.join(["python", "benchmarks/scale.py"] + list(argv if argv is not None else sys.argv[1:])),
        "started": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "load_start": load_average(),
        "cpu": cpu_model(),
        "cores": cores(),
        "versions": library_versions(),
        "commit": git_commit(ROOT),
        "epochs": args.epochs,
    }
    try:
        import distributed

        meta["versions"]["distributed"] = distributed.__version__
    except ImportError:
        pass
    try:
        import ray

        meta["versions"]["ray"] = ray.__version__
    except ImportError:
        pass
    overhead, grid = [], []
    for kind in [k for k in args.overhead_executors.split(",") if k]:
        log(f"== overhead: {kind}")
        try:
            overhead.append(run_overhead(kind, args.workers, args.tasks, args.round_trips))
        except Exception as exc:  # noqa: BLE001 - an engine that cannot start is reported, not fatal
            log(f"   {kind} failed: {type(exc).__name__}: {exc}")
            continue
        log(f"   {overhead[-1]['per_task_ms']:.3f} ms per task, start {overhead[-1]['start_seconds']:.1f} s")
    with tempfile.TemporaryDirectory(prefix="cnnsvm-scale-") as folder:
        for i, kind in enumerate(k for k in args.grid_executors.split(",") if k):  # repeats allowed
            log(f"== grid: {kind}")
            grid.append(run_grid(kind, args.workers, args.seeds, args.epochs, Path(folder) / f"{i}-{kind}"))
            log(f"   {format_seconds(grid[-1]['seconds'])}")
    meta.update(finished=datetime.now().strftime("%Y-%m-%d %H:%M:%S"), load_end=load_average())
    (out / "scale.json").write_text(
        json.dumps(to_jsonable({"meta": meta, "grid": grid, "overhead": overhead}), indent=2) + "\n"
    )
    write_report(out, meta, grid, overhead)
    log(f"wrote {out / 'scale.md'}")


if __name__ == "__main__":
    main()

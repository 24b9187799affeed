"""The report's CNN hyperparameter study through `cnnsvm study`, serial and on local Dask workers.

Runs one study configuration twice, into fresh run folders: with ``--executor serial``
(one fit after the other, TensorFlow on every core) and with ``--executor dask
--workers N`` (a local Dask cluster, one fit per worker, cores // N threads each). Each
run's wall time is taken around the whole command (engine start included). Writes
``benchmarks/results/study.md`` and ``study.json``: both wall times, whether the two runs
agree, the validation table of the Dask run (``cnnsvm study``'s own), and its validation
curves, copied to ``benchmarks/results/study/``.

The default workload is ``experiments/study_nhcd.toml`` cut to what two cores finish in
about 45 minutes: NHCD vowels alone (2,121 training images, 12 classes), 8 epochs per fit,
the full sweep (kernel size, optimizer, learning rate, batch size, pooling, depth, filters,
dropout, batch norm, activation, augmentation; 31 fits), validation on a stratified
hold-out of 20 % of the training part. The test split is never read.

Usage (from the repository root, with ``../shared/datasets`` beside it)::

    python benchmarks/study.py [--workers 2] [--set KEY=VALUE ...] [--runs runs/study-bench]
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf_util import cores, cpu_model, cpu_shared, git_commit, load_average  # noqa: E402

from cnnsvm.pipeline import library_versions  # noqa: E402
from cnnsvm.progress import log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "experiments/study_nhcd.toml"
VOWELS = '[{name="vowels", spec="npz:../shared/datasets/nhcd_vowels.npz?name=vowels"}]'
DEFAULT_SETS = (f"datasets={VOWELS}", "params.epochs=8")


def run_study(label, extra, out, sets):
    """Run ``cnnsvm study`` once; returns its wall time, load averages and results."""
    command = ["cnnsvm", "study", CONFIG, *(a for s in sets for a in ("--set", s)), *extra, "--out", _shown(out)]
    log(f"{label}: {shlex.join(command)}")
    load_before = load_average()
    start = time.perf_counter()
    # The console script installed beside this interpreter (the same environment).
    argv = [str(Path(sys.executable).parent / "cnnsvm"), *command[1:-1], str(out)]
    subprocess.run(argv, cwd=ROOT, check=True)
    wall = time.perf_counter() - start
    log(f"{label}: finished in {wall / 60:.1f} min")
    return {
        "label": label,
        "command": shlex.join(command),
        "wall_seconds": wall,
        "load_before": load_before,
        "load_after": load_average(),
        "study": json.loads((out / "study.json").read_text(encoding="utf-8")),
        "report": (out / "study.md").read_text(encoding="utf-8"),
        "folder": out,
    }


def _shown(folder):
    """A run folder as a path relative to the repository, or its name (no machine's absolute path)."""
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else folder.name


def _scores(run):
    return {(r["search"], json.dumps(r["params"], sort_keys=True)): r["val_mean"] for r in run["study"]["rows"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--set", action="append", default=None, help="overrides of the study file (default: vowels, 8 epochs)"
    )
    p.add_argument("--runs", default="runs/study-bench", help="parent of the two fresh run folders")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    sets = tuple(args.set) if args.set else DEFAULT_SETS
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    parent = (ROOT / args.runs).resolve()
    context = {
        "command": "python benchmarks/study.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "commit": git_commit(ROOT),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": cores()},
    }
    runs = [
        run_study("serial", ["--executor", "serial"], parent / f"{stamp}-serial", sets),
        run_study(
            f"dask x {args.workers}",
            ["--executor", "dask", "--workers", str(args.workers)],
            parent / f"{stamp}-dask",
            sets,
        ),
    ]
    serial, dask = _scores(runs[0]), _scores(runs[1])
    differences = [abs(serial[k] - dask[k]) for k in serial if k in dask]
    out = Path(args.out)
    plots = out / "study"
    plots.mkdir(parents=True, exist_ok=True)
    for png in sorted(runs[1]["folder"].glob("validation_curve_*.png")):
        shutil.copyfile(png, plots / png.name)
    data = json.loads((runs[1]["folder"] / "data.json").read_text(encoding="utf-8"))["datasets"]
    n_train = sum(d["n_train"] for d in data)
    fraction = runs[1]["study"]["validation"]["fraction"]
    rows = runs[1]["study"]["rows"]
    mean_accuracy = sum(r["val_mean"] for r in rows) / len(rows)
    n_val = math.ceil(n_train * fraction)  # what StratifiedShuffleSplit holds out
    noise = (mean_accuracy * (1 - mean_accuracy) / n_val) ** 0.5
    result = {
        "context": context,
        "versions": library_versions(),
        "sets": list(sets),
        "runs": [
            {**{k: v for k, v in r.items() if k not in ("report", "folder")}, "folder": _shown(r["folder"])}
            for r in runs
        ],
        "fits": len(rows),
        "validation_images": n_val,
        "binomial_std_at_mean_accuracy": noise,
        "max_abs_difference_serial_vs_dask": max(differences) if differences else None,
    }
    (out / "study.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    shared = any(cpu_shared(r["load_before"], r["load_after"], context["machine"]["cores"]["usable"]) for r in runs)
    busy = "other jobs shared the CPU (times are upper bounds)" if shared else "1-minute load at most the core count"
    table = "\n".join(
        f"| {r['label']} | {r['wall_seconds'] / 60:.1f} min | "
        f"{sum(x['fit_seconds'] for x in r['study']['rows']) / len(r['study']['rows']):.1f} s | "
        f"{r['load_before']} / {r['load_after']} |"
        for r in runs
    )
    speedup = runs[0]["wall_seconds"] / runs[1]["wall_seconds"]
    largest = result["max_abs_difference_serial_vs_dask"]
    agreement = (
        "The two runs have no candidate in common to compare."
        if largest is None
        else f"Validation accuracies of the two runs differ by at most {100 * largest:.2f} points (same seed and "
        "split; the trainings run on other thread counts, whose float reductions differ)."
    )
    cut = (
        " The study file's own workload (the three NHCD sets together, 15 epochs) is hours of CPU on this "
        "machine: this cut keeps every swept parameter."
        if sets == DEFAULT_SETS
        else ""
    )
    report = runs[1]["report"].replace("validation_curve_", "study/validation_curve_")
    report = "\n".join(("#" + line) if line.startswith("#") else line for line in report.splitlines())
    text = f"""# The report's CNN hyperparameter study, serial and on Dask workers

Command: `{context["command"]}` (from the repository root) — commit `{context["commit"]}` — machine:
{context["machine"]["cpu"]}, {context["machine"]["cores"]["usable"]} usable cores, {busy} — started
{context["started"]}. Versions: {", ".join(f"{k} {v}" for k, v in result["versions"].items())}.

Workload: `{CONFIG}` with {", ".join(f"`--set {s}`" for s in sets)}: {len(rows)} CNN fits (one parameter
at a time around the default network), each scored on a stratified hold-out of {100 * fraction:.0f} % of the
training part ({n_val} of {n_train} images); the test split is never read.{cut}

## Wall time

| executor | wall time | mean fit time | load average before / after |
|---|---|---|---|
{table}

Each row is the whole `cnnsvm study` command (`{runs[0]["command"]}`, and the same with
`--executor dask --workers {args.workers}`), engine start included.
Serial wall time / Dask wall time: **{speedup:.2f}**.
A serial fit trains one network with every core; each Dask worker trains one network with
cores // workers threads. {agreement}

How much a difference in the table below means: with {n_val} validation images, one image is
{100 / n_val:.2f} points and the binomial standard deviation at the mean accuracy ({100 * mean_accuracy:.1f} %)
is {100 * noise:.2f} points; differences smaller than about twice that are not evidence.

## Validation accuracy (the Dask run)

{report}
"""
    (out / "study.md").write_text(text, encoding="utf-8")
    log(f"wrote {out / 'study.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

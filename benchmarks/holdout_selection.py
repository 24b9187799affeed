"""Compare what the hybrid's SVM sees, and which SVM, on each generic extractor's own held-out images.

Never reads a test part. A comparison run's generic extractor holds out a
stratified share (``validation_fraction``, 10 %) of the training parts it is
given, for early stopping; those images never reach a gradient step. This
script rebuilds that split from the run's configuration and each extractor's
seed (checked: the extractor's softmax must score on the rebuilt hold-out what
its history recorded at the epoch it kept), fits the default hybrid on the
features of each set's other training images and scores it on the set's
held-out ones. One row per extractor (every member of every seed of every run
given, or of the seeds ``--seeds`` names), one column block per kind of features
(and SVM). Written for the NHCD runs, it reads any comparison run (MNIST's too).

The held-out images guided early stopping (which epoch's weights were kept), so
they are not as clean as a split no training saw; they are the same for every
kind of features compared, which is what a choice between them needs.

``--solvers exact,approx`` repeats each kind of features with the scalable SVM
(Nystroem + linear SVM, what ``solver = "auto"`` uses from 20,000 training
samples on) beside the exact SVC; its cells are keyed ``KIND+approx``. Each cell
records the seconds its SVM took to fit and predict.

    python benchmarks/holdout_selection.py ../runs/nhcd-seed3 ../runs/nhcd-seed4 --out results.json
    python benchmarks/holdout_selection.py ../runs/mnist-fresh --solvers exact,approx --seeds 3 --out results.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ensemble_selection import SOLVERS, hybrid_proba, summary  # benchmarks/ensemble_selection.py, beside this script
from selection import comma_list, holdout_mask

from cnnsvm.data import combine_datasets
from cnnsvm.experiments.compare import load_experiment
from cnnsvm.experiments.datasets import load_experiment_datasets
from cnnsvm.experiments.generic import extractor_of
from cnnsvm.pipeline import load

KINDS = ("embedding", "spatial")


def variant_key(kind, solver):
    """A cell's key: the kind of features, with ``+approx`` for the scalable SVM."""
    return kind if solver == "exact" else f"{kind}+{solver}"


def kept_epoch_accuracy(ext):
    """Validation accuracy the history recorded at the epoch whose weights were kept (lowest val_loss)."""
    history = ext.history_
    return float(history["val_accuracy"][int(np.argmin(history["val_loss"]))])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="comparison run folders (cnnsvm compare --out)")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--solvers",
        default=["exact"],
        type=lambda t: comma_list(t, SOLVERS, "--solvers"),
        help="comma-separated: exact, approx (default exact)",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="only these seeds of each run (default: all)")
    args = ap.parse_args()
    variants = [(kind, solver) for kind in KINDS for solver in args.solvers]

    rows = []
    for run in map(Path, args.runs):
        config = load_experiment(run / "config.toml")
        unknown = sorted(set(args.seeds or ()) - set(config.seeds))
        if unknown:
            ap.error(f"{run} has no seed {unknown} (its seeds: {config.seeds}); name seeds of its config.toml")
        datasets = load_experiment_datasets(config.datasets, test_size=config.test_size, split_seed=config.split_seed)
        union = combine_datasets([d.train for d in datasets], name="generic")
        for seed in config.seeds if args.seeds is None else [s for s in config.seeds if s in args.seeds]:
            for folder in sorted((run / "generic" / f"seed{seed}").glob("augmented*")):
                model = load(folder / "model.joblib")
                ext = extractor_of(model)
                X = model.named_steps["preprocess"].transform(union.images)
                held = holdout_mask(ext, union.labels)
                n_held = int(held.sum())
                correct = int(np.sum(ext.classes_[ext.softmax(X[held]).argmax(1)] == union.labels[held]))
                row = {"run": run.name, "seed": seed, "member": folder.name, "n_holdout": n_held}
                row["holdout_accuracy"], row["history_accuracy"] = correct / n_held, kept_epoch_accuracy(ext)
                if correct != round(row["history_accuracy"] * n_held):  # the same images, the same answers
                    raise SystemExit(f"{folder}: the rebuilt hold-out does not score what the history recorded: {row}")
                spatial = ext.spatial_features(X)
                n_embedding = len(ext.get_feature_names_out())
                for name, offset, n in union.extra["parts"]:
                    start = time.perf_counter()
                    part = (union.labels >= offset) & (union.labels < offset + n)
                    fit, val = part & ~held, part & held
                    y_fit, y_val = union.labels[fit] - offset, union.labels[val] - offset
                    soft_val = ext.softmax_from_features(spatial[val])[:, offset : offset + n]
                    cells, scores = {"n_fit": int(fit.sum()), "n_val": int(val.sum())}, {}
                    for kind, solver in variants:
                        cols = slice(None) if kind == "spatial" else slice(0, n_embedding)
                        tic = time.perf_counter()
                        classes, p = hybrid_proba(
                            spatial[fit][:, cols], y_fit, spatial[val][:, cols], soft_val, solver, random_state=seed
                        )
                        key = variant_key(kind, solver)
                        cell = {**summary(y_val, classes, p), "seconds": time.perf_counter() - tic}
                        cell["errors"] = int(round((1 - cell["accuracy"]) * cells["n_val"]))
                        cells[key] = cell
                        scores[key] = (cell["errors"], round(100 * cell["aurc"], 4), round(cell["seconds"]))
                    cells["seconds"] = time.perf_counter() - start
                    row[name] = cells
                    print(run.name, seed, folder.name, name, cells["n_val"], scores, flush=True)
                rows.append(row)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"runs": args.runs, "solvers": args.solvers, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()

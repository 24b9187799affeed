"""Compare what the hybrid's SVM sees on each generic extractor's own held-out images (NHCD runs).

Never reads a test part. A comparison run's generic extractor holds out a
stratified share (``validation_fraction``, 10 %) of the training parts it is
given, for early stopping; those images never reach a gradient step. This
script rebuilds that split from the run's configuration and each extractor's
seed (checked: the extractor's softmax must score on the rebuilt hold-out what
its history recorded at the epoch it kept), fits the default hybrid on the
features of each set's other training images and scores it on the set's
held-out ones. One row per extractor (every member of every seed of every run
given), one column block per kind of features.

The held-out images guided early stopping (which epoch's weights were kept), so
they are not as clean as a split no training saw; they are the same for every
kind of features compared, which is what a choice between them needs.

    python benchmarks/holdout_selection.py ../runs/nhcd-seed3 ../runs/nhcd-seed4 --out results.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ensemble_selection import hybrid_proba, summary  # benchmarks/ensemble_selection.py, beside this script
from selection import holdout_mask

from cnnsvm.data import combine_datasets
from cnnsvm.experiments.compare import load_experiment
from cnnsvm.experiments.datasets import load_experiment_datasets
from cnnsvm.experiments.generic import extractor_of
from cnnsvm.pipeline import load

KINDS = ("embedding", "spatial")


def kept_epoch_accuracy(ext):
    """Validation accuracy the history recorded at the epoch whose weights were kept (lowest val_loss)."""
    history = ext.history_
    return float(history["val_accuracy"][int(np.argmin(history["val_loss"]))])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="comparison run folders (cnnsvm compare --out)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    rows = []
    for run in map(Path, args.runs):
        config = load_experiment(run / "config.toml")
        datasets = load_experiment_datasets(config.datasets, test_size=config.test_size, split_seed=config.split_seed)
        union = combine_datasets([d.train for d in datasets], name="generic")
        for seed in config.seeds:
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
                    cells = {"n_fit": int(fit.sum()), "n_val": int(val.sum())}
                    for kind in KINDS:
                        cols = slice(None) if kind == "spatial" else slice(0, n_embedding)
                        classes, p = hybrid_proba(spatial[fit][:, cols], y_fit, spatial[val][:, cols], soft_val)
                        cells[kind] = summary(y_val, classes, p)
                    cells["seconds"] = time.perf_counter() - start
                    row[name] = cells
                    scores = {
                        k: (round(100 * cells[k]["accuracy"], 2), round(100 * cells[k]["aurc"], 3)) for k in KINDS
                    }
                    print(run.name, seed, folder.name, name, cells["n_val"], scores, flush=True)
                rows.append(row)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"runs": args.runs, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()

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
from ensemble_selection import hybrid_proba  # benchmarks/ensemble_selection.py, beside this script
from sklearn.model_selection import train_test_split

from cnnsvm.classifiers.selective import confidence_score, selective_summary
from cnnsvm.data import combine_datasets
from cnnsvm.experiments.compare import load_experiment
from cnnsvm.experiments.datasets import load_experiment_datasets
from cnnsvm.experiments.generic import extractor_of
from cnnsvm.pipeline import load

KINDS = ("embedding", "spatial")


def holdout_rows(ext, labels):
    """The rows ``CNNFeatureExtractor._validation_split`` held out (the same draw, on indices)."""
    n_val = int(round(float(ext.validation_fraction) * len(labels)))
    stratify = labels if n_val >= len(ext.classes_) and np.bincount(labels).min() >= 2 else None
    _, rows = train_test_split(
        np.arange(len(labels)), test_size=n_val, stratify=stratify, random_state=ext.random_seed_
    )
    held = np.zeros(len(labels), bool)
    held[rows] = True
    return held


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
                held = holdout_rows(ext, union.labels)
                soft = ext.softmax(X[held])
                check = float(np.mean(ext.classes_[soft.argmax(1)] == union.labels[held]))
                row = {"run": run.name, "seed": seed, "member": folder.name, "n_holdout": int(held.sum())}
                row["holdout_accuracy"], row["history_accuracy"] = check, kept_epoch_accuracy(ext)
                if abs(check - row["history_accuracy"]) > 0.003:
                    raise SystemExit(f"{folder}: the rebuilt hold-out scores {check:.4f}, the history {row}")
                spatial = ext.spatial_features(X)
                n_embedding = ext.transform(X[:1]).shape[1]
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
                        cells[kind] = selective_summary(y_val, classes[p.argmax(1)], confidence_score(p))
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

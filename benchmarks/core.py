"""Test accuracy and time of the three methods on each NHCD set (issue 2's benchmark).

Each method is trained on one set alone (the hybrid's extractor included), on the
documented split: stratified 80/20 with random_state=0, validation carved from the
training part. Writes benchmarks/results/core.md and core.json.

Usage (from the repository root)::

    python benchmarks/core.py [--datasets ../shared/datasets] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from cnnsvm.data import load_split
from cnnsvm.experiments.environment import cpu_model
from cnnsvm.experiments.metrics import evaluate_model
from cnnsvm.pipeline import library_versions, make_method
from cnnsvm.progress import format_seconds, log

SETS = ("numerals", "vowels", "consonants")
METHODS = ("pca-svc", "cnn", "hybrid")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="../shared/datasets")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    params = {
        "pca-svc": dict(n_components=50, C=10.0),
        "cnn": dict(epochs=args.epochs, patience=8, verbose=1),
        "hybrid": dict(epochs=args.epochs, patience=8, verbose=1),
    }
    rows = []
    start = time.perf_counter()
    for name in SETS:
        spec = f"npz:{args.datasets}/nhcd_{name}.npz?name={name}"
        split = load_split(spec, test_size=0.2, random_state=0)
        train, test = split.train.with_light_ink(), split.test.with_light_ink()
        for method in METHODS:
            log(f"== {name} / {method} ({len(train)} train, {len(test)} test images)")
            model = make_method(method, random_state=0, **params[method])
            t0 = time.perf_counter()
            model.fit(train.images, train.labels)
            fit_s = time.perf_counter() - t0
            scores = evaluate_model(model, test)
            rows.append(
                {
                    "dataset": name,
                    "method": method,
                    "accuracy": scores["accuracy"],
                    "macro_f1": scores["macro_f1"],
                    "fit_seconds": fit_s,
                    "predict_ms_per_image": scores["predict_ms_per_image"],
                    "n_train": len(train),
                    "n_test": len(test),
                }
            )
            log(f"   accuracy {scores['accuracy']:.4f}, fit {format_seconds(fit_s)}")
    total = time.perf_counter() - start
    facts = {
        "command": "python benchmarks/core.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "split": "stratified 80/20, random_state=0; CNN validation 10% of the training part",
        "params": {k: {kk: vv for kk, vv in v.items() if kk != "verbose"} for k, v in params.items()},
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "versions": library_versions(),
        "total_seconds": total,
        "rows": rows,
    }
    (out / "core.json").write_text(json.dumps(facts, indent=2))
    (out / "core.md").write_text(render(facts))
    print(render(facts))


def render(facts):
    rows = facts["rows"]
    lines = [
        "# Core benchmark: the three methods on each NHCD set",
        "",
        f"Command: `{facts['command']}` (from the repository root; datasets from `../shared/datasets`).",
        f"Split: {facts['split']}. Each method is trained on the set alone (the hybrid's CNN too).",
        f"Machine: {facts['cpu']}, {facts['cores']} cores. Versions: "
        + ", ".join(f"{k} {v}" for k, v in facts["versions"].items())
        + ".",
        f"Parameters: {json.dumps(facts['params'])}. Total time {format_seconds(facts['total_seconds'])}.",
        "",
        "Test accuracy (%) and fit time:",
        "",
        "| dataset | " + " | ".join(METHODS) + " | " + " | ".join(f"{m} fit" for m in METHODS) + " |",
        "|---" * (1 + 2 * len(METHODS)) + "|",
    ]
    for name in SETS:
        cells = {r["method"]: r for r in rows if r["dataset"] == name}
        if not cells:
            continue
        acc = " | ".join(f"{100 * cells[m]['accuracy']:.2f}" for m in METHODS)
        fit = " | ".join(format_seconds(cells[m]["fit_seconds"]) for m in METHODS)
        lines.append(f"| {name} | {acc} | {fit} |")
    lines += [
        "",
        "Macro-F1 and prediction time per image:",
        "",
        "| dataset | method | macro-F1 | predict ms/image | train | test |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['macro_f1']:.4f} | "
            f"{r['predict_ms_per_image']:.3f} | {r['n_train']} | {r['n_test']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

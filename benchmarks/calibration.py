"""How a new set's SVM gets its calibration: 3 folds or a held-out 10 %, chosen on validation data.

A hybrid on a frozen extractor fits only the scaler and the SVM, and with 3-fold calibration that is
four SVC fits. ``calibration_split="auto"`` fits the SVC once on 90 % and calibrates it on the held-out
10 % instead, from ``cnnsvm.classifiers.svm.HOLDOUT_FROM`` training samples on. This script shows
where that threshold comes from: on CNN features of sets the extractor never saw, at several training
sizes, it fits both (the held-out variant at every size, whatever the threshold) and scores them on a
validation part drawn from the same training part (never the test split): accuracy, log loss (how good
the probabilities are) and AURC (how well the reject option ranks the errors), with the fit time.

Usage (from the repository root; the extractor must not have seen MNIST)::

    python benchmarks/calibration.py --extractor ../runs/nhcd/generic/seed0/augmented/model.joblib

Writes benchmarks/results/calibration.md and calibration.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf_util import cores, cpu_model, cpu_shared, git_commit, load_average, saw_sets  # noqa: E402

from cnnsvm.progress import log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("folds", "held-out")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--extractor", required=True, help="an extractor file that never saw MNIST")
    p.add_argument("--data-dir", default="../shared/datasets")
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[2000, 5000, 10000],
        help="MNIST training sizes (from 2000: the held-out part needs 20 images per class)",
    )
    p.add_argument("--draws", type=int, default=3, help="random training/validation draws per size")
    p.add_argument(
        "--first-draw",
        type=int,
        default=3,
        help="seed of the first draw (default 3: draws 0-2 were the exploratory run that set the threshold)",
    )
    p.add_argument("--jobs", type=int, default=-1, help="threads for the folds (as cnnsvm train)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    return p.parse_args(argv)


def fit_variant(variant, Z, y, seed, n_jobs):
    """The SVM of a hybrid on frozen features, calibrated on folds or on a held-out 10 %."""
    from cnnsvm.classifiers import svm

    if variant == "folds":
        return svm.make_svm("exact", random_state=seed, n_jobs=n_jobs).fit(Z, y)
    # the library's own held-out calibration, at every size (the threshold is what is being chosen)
    with mock.patch.object(svm, "HOLDOUT_FROM", 0):
        model = svm.make_svm("exact", calibration_split="auto", random_state=seed, n_jobs=n_jobs).fit(Z, y)
    if not hasattr(model.estimator_.calibrated_classifiers_[0].estimator, "estimator"):
        raise SystemExit(f"{len(y)} samples are too few to hold out 20 per class: drop that size")
    return model


def main(argv=None):
    args = parse_args(argv)
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from cnnsvm.classifiers.selective import aurc, confidence_score
    from cnnsvm.data import load_split
    from cnnsvm.experiments.transfer import hybrid_for_extractor, load_extractor
    from cnnsvm.pipeline import library_versions

    context = {
        "command": "python benchmarks/calibration.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "commit": git_commit(ROOT),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": cores()},
        "versions": library_versions(),
        "load_average_start": load_average(),
        "draws": list(range(args.first_draw, args.first_draw + args.draws)),
    }
    data_dir = Path(args.data_dir)
    if not data_dir.is_absolute():
        data_dir = (ROOT / data_dir).resolve()
    extractor, meta = load_extractor(args.extractor)
    saw = saw_sets(meta)
    if not saw or any("mnist" in s.lower() for s in saw):
        raise SystemExit(f"the extractor saw {', '.join(saw) or 'unrecorded sets'}: pass one that never saw MNIST")
    front = hybrid_for_extractor(extractor)[:2]  # preprocessing + frozen CNN: the features the SVM reads

    mnist = load_split(f"mnist:{data_dir / 'mnist.npz'}").train
    rows = []
    for n in args.sizes:
        name, part = "mnist", mnist
        for seed in range(args.first_draw, args.first_draw + args.draws):
            train_idx, val_idx = train_test_split(
                np.arange(len(part.labels)), train_size=n, test_size=n, stratify=part.labels, random_state=seed
            )
            front.fit(part.images[train_idx], part.labels[train_idx])
            scaler = StandardScaler().fit(front.transform(part.images[train_idx]))
            Z_train = scaler.transform(front.transform(part.images[train_idx]))
            Z_val = scaler.transform(front.transform(part.images[val_idx]))
            y_train, y_val = part.labels[train_idx], part.labels[val_idx]
            for variant in VARIANTS:
                start = time.perf_counter()
                model = fit_variant(variant, Z_train, y_train, seed, args.jobs)
                seconds = time.perf_counter() - start
                proba = model.predict_proba(Z_val)
                correct = model.classes_[proba.argmax(1)] == y_val
                rows.append(
                    {
                        "set": name,
                        "n_train": int(n),
                        "n_validation": len(val_idx),
                        "draw": seed,
                        "variant": variant,
                        "fit_seconds": seconds,
                        "accuracy": float(correct.mean()),
                        "log_loss": float(log_loss(y_val, proba, labels=model.classes_)),
                        "aurc": float(aurc(correct, confidence_score(proba))),
                    }
                )
                log(
                    f"{name} n={n} draw {seed} {variant}: {seconds:.2f}s, accuracy {correct.mean():.4f}, "
                    f"log loss {rows[-1]['log_loss']:.4f}, AURC {rows[-1]['aurc']:.5f}"
                )
    context["load_average_end"] = load_average()
    write(Path(args.out), rows, context, Path(args.extractor), saw)
    return 0


def summarise(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["set"], r["n_train"], r["variant"]), []).append(r)
    out = []
    for (name, n, variant), group in groups.items():

        def mean_std(key, scale=1.0, group=group):
            values = [scale * g[key] for g in group]
            return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

        out.append(
            {
                "set": name,
                "n_train": n,
                "variant": variant,
                "draws": len(group),
                "accuracy": mean_std("accuracy", 100),
                "log_loss": mean_std("log_loss"),
                "aurc": mean_std("aurc", 100),
                "fit_seconds": mean_std("fit_seconds"),
            }
        )
    return out


def write(out, rows, context, extractor, saw):
    summary = summarise(rows)
    out.mkdir(parents=True, exist_ok=True)
    result = {"context": context, "extractor": extractor.name, "extractor_saw": saw, "rows": rows, "summary": summary}
    (out / "calibration.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    c = context
    usable = c["machine"]["cores"]["usable"]
    shared = cpu_shared(c["load_average_start"], c["load_average_end"], usable)
    busy = "other jobs shared the cores (times are upper bounds)" if shared else "1-minute load at most the core count"
    table = "\n".join(
        f"| {s['set']} | {s['n_train']:,} | {s['variant']} | {s['draws']} "
        f"| {s['accuracy'][0]:.2f} ± {s['accuracy'][1]:.2f} "
        f"| {s['log_loss'][0]:.4f} ± {s['log_loss'][1]:.4f} | {s['aurc'][0]:.3f} ± {s['aurc'][1]:.3f} "
        f"| {s['fit_seconds'][0]:.2f} |"
        for s in summary
    )
    text = f"""# Calibrating a new set's SVM: 3 folds or a held-out 10 %

Command: `{c["command"]}` — commit `{c["commit"]}` — machine: {c["machine"]["cpu"]}, {usable} usable cores,
{busy} — load average {c["load_average_start"]} at start, {c["load_average_end"]} at the end — {c["started"]}.
Versions: {", ".join(f"{k} {v}" for k, v in c["versions"].items())}.

Features of MNIST images through the frozen extractor `{extractor.name}` (it saw {", ".join(saw)}, never
MNIST), standardised; an exact RBF SVC (C=10, gamma='scale') with temperature calibration, fitted either
with 3-fold calibration (`folds`: three fold SVCs, then one on all the data; the folds in threads) or on 90 %
and calibrated on a stratified held-out 10 % (`held-out`: one SVC; `calibration_split="auto"`, forced at
every size here). Training and validation images are disjoint stratified draws of the same size from
MNIST's **training part** (60,000 images); the test split is not read. Mean ± std over
the draws; accuracy in %, log loss of the validation labels, AURC in % (lower ranks the errors better),
fit time of the SVM stage in seconds. The draws are seeded {c["draws"]}; draws 0-2 (3,000 and 10,000 images)
were the exploratory run from which `HOLDOUT_FROM` = 10,000 was set, so the default run uses others.

| set | training images | calibration | draws | accuracy (%) | log loss | AURC (%) | fit (s) |
|---|---|---|---|---|---|---|---|
{table}
"""
    (out / "calibration.md").write_text(text, encoding="utf-8")
    log(f"wrote {out / 'calibration.md'}")


if __name__ == "__main__":
    raise SystemExit(main())

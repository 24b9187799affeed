"""Few-shot transfer: NHCD consonants learned from k examples per class on an extractor that never saw them.

1. A generic extractor is trained on the training parts of MNIST (a stratified
   subset, ``--mnist-subset`` images, to keep training within ``--max-minutes``
   on a shared 2-core machine), NHCD numerals and NHCD vowels only
   (:func:`cnnsvm.experiments.transfer.train_extractor`, the library's defaults,
   the learning-rate schedule shortened to the time budget). It is saved under
   ``--work`` and reused by later runs with the same settings (``--retrain`` to
   train it again).
2. The leave-one-set-out guard checks that the consonants are not among its sets.
3. :func:`cnnsvm.experiments.fewshot.run_fewshot` on the consonants (stratified
   80/20 split, seed 0): k = 1, 2, 5, 10, 20, 50 and all examples per class,
   ``--draws`` seeded draws per k; the hybrid on the frozen extractor, a CNN from
   scratch and SVC+PCA on the same draws, scored on the whole test part. The
   report is rewritten after each k, so a cut-short run keeps what it measured.
4. Fit time of a hybrid on the frozen extractor for 10,000 images: MNIST
   training images outside the extractor's subset; features + scaler + SVM
   (``make_hybrid``'s defaults: exact RBF SVC with temperature calibration).

Writes benchmarks/results/fewshot.md, fewshot.json, fewshot.png.

Usage (from the repository root, on a clean tree)::

    nice -n 10 python benchmarks/fewshot.py [--data-dir ../shared/datasets] [--draws 3]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf_util import cores, cpu_model, cpu_shared, git_commit, load_average, saw_sets  # noqa: E402

from cnnsvm.progress import format_seconds, log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Order of the runs: k = 20 (the bar) first, then the ends and middle of the curve, so that a run cut
#: short (the CNN from scratch takes minutes per draw on 2 shared cores) still spans the curve.
ORDER = (20, 1, 5, "all", 50, 2, 10)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default="../shared/datasets", help="folder of mnist.npz and nhcd_*.npz")
    p.add_argument("--work", default="runs/fewshot-bench", help="where the extractor file is kept")
    p.add_argument("--mnist-subset", type=int, default=12000, help="MNIST training images the extractor sees")
    p.add_argument("--epochs", type=int, default=30, help="extractor epochs (the train command's default)")
    p.add_argument("--max-minutes", type=float, default=15.0, help="time budget of the extractor's training")
    p.add_argument("--draws", type=int, default=3)
    p.add_argument("--ks", default=",".join(str(k) for k in ORDER))
    p.add_argument("--timing-images", type=int, default=10000)
    p.add_argument("--retrain", action="store_true", help="train the extractor again even if its file exists")
    p.add_argument(
        "--timing-only",
        action="store_true",
        help="only measure the 10,000-image hybrid fit on the saved extractor (--repeats times) and "
        "write fewshot_timing.md/json",
    )
    p.add_argument("--repeats", type=int, default=3, help="fits measured with --timing-only")
    p.add_argument(
        "--jobs",
        type=int,
        default=-1,
        help="threads for the SVM's calibration folds in the timed fit (default -1, all cores: what "
        "`cnnsvm train --extractor` uses)",
    )
    p.add_argument(
        "--extractor",
        help="with --timing-only: time the fit on this saved extractor (a train-extractor file, or a compare "
        "run's generic/<variant>/model.joblib) instead of the few-shot one; it must not have seen MNIST",
    )
    p.add_argument(
        "--features",
        choices=["embedding", "spatial"],
        default="embedding",
        help="with --timing-only: the features the timed hybrid reads (as `cnnsvm train --features`); "
        "spatial writes fewshot_timing_spatial.md/json",
    )
    p.add_argument("--methods", default="hybrid,cnn,pca-svc", help="comma-separated among hybrid, cnn, pca-svc")
    p.add_argument("--name", default="fewshot", help="stem of the result files (default fewshot)")
    p.add_argument("--skip-timing", action="store_true", help="do not measure the 10,000-image fit")
    p.add_argument("--out", default=str(RESULTS), help="results folder")
    return p.parse_args(argv)


def get_extractor(args, data_dir, work):
    from cnnsvm.experiments.generic import extractor_of
    from cnnsvm.experiments.transfer import load_extractor, train_extractor
    from cnnsvm.pipeline import save

    specs = [
        f"mnist:{data_dir / 'mnist.npz'}?name=mnist",
        f"npz:{data_dir / 'nhcd_numerals.npz'}?name=nhcd_numerals",
        f"npz:{data_dir / 'nhcd_vowels.npz'}?name=nhcd_vowels",
    ]
    path = work / f"generic-mnist{args.mnist_subset}-numerals-vowels-e{args.epochs}-m{args.max_minutes:g}.joblib"
    if path.exists() and not args.retrain:
        log(f"reusing {path}")
        extractor, meta = load_extractor(path)
        return extractor, meta, path, False
    # MNIST is subset; the NHCD sets are smaller than the subset and are used whole (max_per_set
    # applies to every set, so it is the MNIST subset size).
    params = {"epochs": args.epochs, "max_minutes": args.max_minutes}
    log(f"training the extractor on {', '.join(s.split('?name=')[1] for s in specs)} ...")
    model, record, combined = train_extractor(
        specs, params=params, image_size=28, random_state=0, max_per_set=args.mnist_subset, verbose=1
    )
    work.mkdir(parents=True, exist_ok=True)
    history = extractor_of(model).history_
    save(
        model,
        path,
        class_names=combined.class_names,
        overwrite=True,
        metadata={
            "kind": "extractor",
            "extractor": record,
            "dataset": {"name": combined.name},
            "command": "benchmarks/fewshot.py",
            "best_val_accuracy": max(history.get("val_accuracy", [0])),
        },
    )
    extractor, meta = load_extractor(path)
    return extractor, meta, path, True


def time_hybrid_fit(extractor, meta, data_dir, n_images, n_jobs=-1, features="embedding"):
    """Fit a hybrid on ``n_images`` MNIST training images the extractor did not see; time its stages."""
    import numpy as np

    from cnnsvm.classifiers.svm import HOLDOUT_FROM
    from cnnsvm.data import load_split
    from cnnsvm.experiments.transfer import hybrid_for_extractor, image_hashes, stratified_subset, trained_sets

    mnist = load_split(f"mnist:{data_dir / 'mnist.npz'}?name=mnist-unseen").train
    seen, used_hashes = set(), set()
    for record in trained_sets(meta):
        if record["name"] == "mnist":
            seen = set(record["sample_hashes"])
            # The extractor's MNIST subset is the stratified subset of seed 0: take the other images.
            used = stratified_subset(
                load_split(f"mnist:{data_dir / 'mnist.npz'}?name=mnist").train,
                meta["metadata"]["extractor"]["max_per_set"],
                0,
            )
            used_hashes = set(image_hashes(used))
    hashes = image_hashes(mnist)
    free = np.array([i for i, h in enumerate(hashes) if h not in used_hashes])
    rest = stratified_subset(mnist.subset(free), n_images, random_state=1)
    assert not (set(image_hashes(rest)) & (seen | used_hashes))
    model = hybrid_for_extractor(extractor, n_jobs=n_jobs, features=features)
    start = time.perf_counter()
    model.fit(rest.images, rest.labels)
    total = time.perf_counter() - start
    # the stages apart, on a second fit of the same pipeline (features, then scaler + SVM)
    start = time.perf_counter()
    transformed = model[:2].transform(rest.images)
    feature_seconds = time.perf_counter() - start
    back = model[2:]
    start = time.perf_counter()
    back.fit(transformed, rest.labels)
    svm_seconds = time.perf_counter() - start
    return {
        "n_images": len(rest),
        "n_classes": int(len(np.unique(rest.labels))),
        "fit_seconds": total,
        "feature_seconds": feature_seconds,
        "scaler_svm_seconds": svm_seconds,
        "n_jobs": n_jobs,
        "features": features,
        "calibration_split": model.get_params()["svm__calibration_split"],
        "settings": "exact RBF SVC (C=10, gamma='scale'), temperature calibration "
        + (
            f"on a held-out 10 % from {HOLDOUT_FROM:,} training images on (calibration_split='auto'; 3 folds below, "
            f"in n_jobs={n_jobs} threads)"
            if model.get_params()["svm__calibration_split"] == "auto"
            else f"on 3 folds (in n_jobs={n_jobs} threads)"
        )
        + f", {features} features of the images as they are",
    }


def main(argv=None):
    args = parse_args(argv)
    if args.extractor and not args.timing_only:
        raise SystemExit("--extractor is for --timing-only runs (the few-shot curve trains its own extractor)")
    from cnnsvm.data import load_split
    from cnnsvm.experiments import fewshot
    from cnnsvm.experiments.transfer import check_unseen
    from cnnsvm.pipeline import library_versions

    data_dir = Path(args.data_dir)
    if not data_dir.is_absolute():
        data_dir = (ROOT / data_dir).resolve()
    work = Path(args.work) if Path(args.work).is_absolute() else ROOT / args.work
    out = Path(args.out)
    commit = git_commit(ROOT)
    command = "python benchmarks/fewshot.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    context = {
        "command": command.strip(),
        "commit": commit,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": cores()},
        "load_average_start": load_average(),
        "versions": library_versions(),
    }
    log(f"commit {commit}, load {context['load_average_start']}")

    if args.timing_only:
        return timing_only(args, data_dir, work, out, context)
    start = time.perf_counter()
    extractor, meta, path, trained = get_extractor(args, data_dir, work)
    record = meta["metadata"]["extractor"]
    context["extractor"] = {
        "trained_here": trained,
        "train_seconds": record.get("fit_seconds"),
        "epochs_run": len(extractor.history_.get("loss", [])),
        "best_val_accuracy": max(extractor.history_.get("val_accuracy", [float("nan")])),
        "params": record.get("params"),
        "max_per_set": record.get("max_per_set"),
    }
    log(f"extractor ready in {time.perf_counter() - start:.0f}s")

    split = load_split(f"npz:{data_dir / 'nhcd_consonants.npz'}?name=nhcd_consonants", test_size=0.2, random_state=0)
    findings = check_unseen(meta, split)  # raises if the consonants reached the extractor

    context["timing"] = None
    if not args.skip_timing:
        context["timing"] = time_hybrid_fit(extractor, meta, data_dir, args.timing_images, args.jobs)
        log(f"hybrid fit on {context['timing']['n_images']} images: {context['timing']['fit_seconds']:.2f}s")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    ks = fewshot.parse_ks(args.ks)
    order = [k for k in ORDER if k in ks] + [k for k in ks if k not in ORDER]
    rows, feature_seconds, config = [], 0.0, None
    for k in order:
        part = fewshot.run_fewshot(
            extractor, split.train, split.test, ks=[k], draws=args.draws, methods=methods, random_state=0, verbose=1
        )
        rows += part["rows"]
        feature_seconds = part["feature_seconds"]
        config = part["config"]
        config["ks"] = [k for k in ks if any(r["k"] == k for r in rows)]
        write(
            out,
            rows,
            feature_seconds,
            config,
            context,
            split,
            path,
            meta,
            findings,
            done=k == order[-1],
            name=args.name,
        )
    return 0


def timing_only(args, data_dir, work, out, context):
    """Re-measure the bar's fit time on the saved extractor, ``--repeats`` times, apart from the few-shot runs."""
    import statistics

    if args.extractor:
        from cnnsvm.experiments.transfer import load_extractor

        path, trained = Path(args.extractor), False
        extractor, meta = load_extractor(path)
        saw = saw_sets(meta)
        if not saw:
            raise SystemExit(f"{path} records no training sets: cannot show that it never saw MNIST")
        if any("mnist" in name.lower() for name in saw):
            raise SystemExit(f"{path} saw MNIST ({', '.join(saw)}); --extractor takes one that never did")
    else:
        extractor, meta, path, trained = get_extractor(args, data_dir, work)
        saw = ["a 12,000-image stratified subset of MNIST's training part", "NHCD numerals", "vowels"]
    if trained:
        log("note: the extractor was trained by this run")
    runs = []
    for i in range(args.repeats):
        runs.append(time_hybrid_fit(extractor, meta, data_dir, args.timing_images, args.jobs, args.features))
        log(
            f"fit {i + 1}/{args.repeats}: {runs[-1]['fit_seconds']:.2f}s (features {runs[-1]['feature_seconds']:.2f}s, "
            f"scaler + SVM {runs[-1]['scaler_svm_seconds']:.2f}s)"
        )
    fits = [r["fit_seconds"] for r in runs]
    context["load_average_end"] = load_average()
    result = {
        "context": context,
        "extractor": path.name,
        "extractor_saw": saw,
        "runs": runs,
        "median_fit_seconds": statistics.median(fits),
        "min_fit_seconds": min(fits),
        "bar_met": statistics.median(fits) < 10.0 and runs[0]["n_images"] >= 10000,
    }
    out.mkdir(parents=True, exist_ok=True)
    stem = "fewshot_timing" + ("" if args.features == "embedding" else f"_{args.features}")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    rows = "\n".join(
        f"| {i + 1} | {r['fit_seconds']:.2f} | {r['feature_seconds']:.2f} | {r['scaler_svm_seconds']:.2f} |"
        for i, r in enumerate(runs)
    )
    c = context
    shown = path.name if path.is_absolute() or not args.extractor else args.extractor  # no machine paths
    busy = load_note(c["load_average_start"], c["load_average_end"], c["machine"]["cores"]["usable"])
    n_images = runs[0]["n_images"]
    verdict = "met" if result["bar_met"] else "missed"
    if n_images < 10000:
        verdict = f"n/a: {n_images:,} images measured"
    features = "" if args.features == "embedding" else f", features={args.features!r}"
    cli_features = "" if args.features == "embedding" else f" --features {args.features}"
    text = f"""# Hybrid fit on a frozen extractor: {n_images:,} images

Command: `{c["command"]}` — commit `{c["commit"]}` — machine: {c["machine"]["cpu"]}, {c["machine"]["cores"]["usable"]}
usable cores, {busy} — load average {c["load_average_start"]} at start, {c["load_average_end"]} at the end —
{c["started"]}.

`hybrid_for_extractor(extractor, n_jobs={runs[0]["n_jobs"]}{features}).fit(images, labels)` (its defaults, as
`cnnsvm train --extractor{cli_features}` fits a new set: {runs[0]["settings"]}) on
{runs[0]["n_images"]:,} MNIST training images ({runs[0]["n_classes"]} classes) that the extractor
`{shown}` never saw (it saw {", ".join(saw)}).
Total = one fit of the pipeline (features + scaler + SVM); the stages apart come from a second fit of the same
pipeline.

| fit | total (s) | features (s) | scaler + SVM with calibration (s) |
|---|---|---|---|
{rows}

Median **{statistics.median(fits):.1f} s** (bar: under 10 s for 10,000 images:
**{verdict}**).
"""
    (out / f"{stem}.md").write_text(text, encoding="utf-8")
    log(f"wrote {out / f'{stem}.md'}")
    return 0


def load_note(start, end, usable_cores):
    """What the 1-minute load averages at the start and end say about other work on the CPU."""
    shared = cpu_shared(start, end, usable_cores)
    if shared is None:
        return "load average unknown on this platform"
    if shared:
        return "shared with other jobs (times are upper bounds)"
    return "1-minute load at most the core count at start and end"


def write(out, rows, feature_seconds, config, context, split, path, meta, findings, done, name="fewshot"):
    from cnnsvm.experiments import fewshot

    key = {k: i for i, k in enumerate(config["ks"])}
    rows = sorted(rows, key=lambda r: (key[r["k"]], r["draw"]))
    context = {
        **context,
        "load_average_now": load_average(),
        "finished": datetime.now(UTC).isoformat(timespec="seconds") if done else None,
    }
    result = {
        "rows": rows,
        "feature_seconds": feature_seconds,
        "config": config,
        "dataset": {
            "name": split.name,
            "spec": "npz:../shared/datasets/nhcd_consonants.npz",
            "official_split": split.official,
            "seed": 0,
            "test_size": 0.2,
        },
        "extractor": fewshot.extractor_summary(path, meta, findings),
        "context": context,
    }
    summary = fewshot.summarise(rows)
    result["bars"] = bars(summary, context["timing"])
    preamble = preamble_text(result, done)
    fewshot.write_report(
        result,
        out,
        overwrite=True,
        name=name,
        title="Few-shot: NHCD consonants on an extractor that never saw them",
        preamble=preamble,
    )
    log(f"wrote {out / (name + '.md')}")


def bars(summary, timing):
    at20 = next((e for e in summary if e["k"] == 20), None)
    out = {}
    if at20:
        margins = {m: at20["differences"].get(f"hybrid-minus-{m}") for m in ("cnn", "pca-svc")}
        mean_margin = {m: (None if d is None else d["mean"]) for m, d in margins.items()}
        out["k20"] = {
            "hybrid_mean": at20["scores"]["hybrid"]["mean"],
            "cnn_mean": at20["scores"].get("cnn", {}).get("mean"),
            "pca_svc_mean": at20["scores"].get("pca-svc", {}).get("mean"),
            "margin_over_cnn": mean_margin["cnn"],
            "margin_over_pca_svc": mean_margin["pca-svc"],
            "n_draws": at20["n_draws"],
            "met": all(v is not None and v >= 0.10 for v in mean_margin.values()) and at20["n_draws"] >= 3,
        }
    if timing:
        out["fit_10000"] = {"seconds": timing["fit_seconds"], "met": timing["fit_seconds"] < 10.0}
    return out


def _took(seconds):
    """`` in 5m31s`` for the extractor's recorded training time, nothing where it was not recorded."""
    return "" if seconds is None else f" in {format_seconds(seconds)}"


def preamble_text(result, done):
    c = result["context"]
    b = result["bars"]
    t = c.get("timing")
    e = c["extractor"]
    lines = []
    if not done:
        lines += ["**Partial: the run is still going (or was cut short); the table holds the k measured so far.**", ""]
    lines += [
        f"Command: `{c['command']}` — commit `{c['commit']}` — machine: {c['machine']['cpu']}, "
        f"{c['machine']['cores']['usable']} usable cores, "
        f"{load_note(c['load_average_start'], c['load_average_now'], c['machine']['cores']['usable'])} — "
        f"load average at start {c['load_average_start']}, at this write {c['load_average_now']} — "
        f"started {c['started']}" + (f", finished {c['finished']}" if c.get("finished") else "") + ".",
        "",
        "Settings are the library's defaults, fixed before any run and never chosen on a test score. The "
        f"extractor: the `default` architecture, {e['params'].get('epochs')} epochs of the cosine schedule "
        f"within a {e['params'].get('max_minutes')}-minute budget that shortens it where needed ({e['epochs_run']} "
        f"epochs run{_took(e.get('train_seconds'))}, best validation accuracy {e['best_val_accuracy']:.4f} "
        "on its own held-out 10 %), trained on a stratified "
        f"subset of {e['max_per_set']} of MNIST's 60,000 training images (to keep its training near 15 minutes on "
        "these busy cores) plus the whole training parts of NHCD numerals and vowels; never on consonants.",
        "",
        "## Bars",
        "",
    ]
    k20 = b.get("k20")
    if k20 and k20["cnn_mean"] is not None and k20["pca_svc_mean"] is not None:
        lines.append(
            f"- With 20 examples per class ({k20['n_draws']} draws): hybrid {100 * k20['hybrid_mean']:.1f} %, "
            f"CNN from scratch {100 * (k20['cnn_mean'] or 0):.1f} %, SVC+PCA {100 * (k20['pca_svc_mean'] or 0):.1f} %; "
            f"the hybrid's mean paired margin is {100 * (k20['margin_over_cnn'] or 0):+.1f} points over the CNN and "
            f"{100 * (k20['margin_over_pca_svc'] or 0):+.1f} over SVC+PCA (bar: at least +10 over both, "
            f"averaged over at least 3 draws): **{'met' if k20['met'] else 'missed'}**."
        )
    if t:
        lines.append(
            f"- Hybrid fit on the frozen extractor for {t['n_images']:,} MNIST training images it never saw "
            f"({t['n_classes']} classes; features + scaler + SVM, {t['settings']}): **{t['fit_seconds']:.1f} s** "
            f"(bar: under 10 s: **{'met' if b['fit_10000']['met'] else 'missed'}**). Apart, on a second fit: features "
            f"{t['feature_seconds']:.1f} s, scaler + SVM with its calibration {t['scaler_svm_seconds']:.1f} s."
        )
    if lines[-1] == "":
        lines.append(
            f"- This run checks no bar (methods: {', '.join(result['config']['methods'])}; no timing); "
            "the bars are in fewshot.md and fewshot_timing.md."
        )
    lines += ["", "## Learning curve", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""The two kinds of work in a comparison: training a generic extractor, and one cell.

A cell is one dataset x method x seed: fit the method on the dataset's
training part, score it on the test part, and write its artefacts (model,
report, plots, predictions) and, last, its ``result.json``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from cnnsvm.classifiers.selective import (
    confidence_score,
    rejection_on_curve,
    risk_coverage_curve,
    summarize_curve,
)
from cnnsvm.experiments import plots
from cnnsvm.experiments.config import CNN_METHODS, HYBRID_METHODS
from cnnsvm.experiments.curves import curve_summary, one_vs_rest_curves
from cnnsvm.experiments.datasets import images_digest
from cnnsvm.experiments.environment import cpu_shares, cpu_times
from cnnsvm.experiments.generic import (
    extractor_of,
    make_generic_softmax,
    member_seed,
    part_of,
    train_generic_extractor,
)
from cnnsvm.experiments.metrics import evaluate_model, format_confusion
from cnnsvm.experiments.store import MODEL, RESULT, generic_task_id, write_json, write_text
from cnnsvm.features.ensemble import ExtractorEnsemble
from cnnsvm.features.views import is_frozen, unwrap_extractor
from cnnsvm.pipeline import load, make_cnn, make_hybrid, make_mlp, make_pca_svc, save


def _now():
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------- models
def build_model(config, method, *, seed, dataset_name, generic_model=None, parts=None, verbose=0):
    """The unfitted per-dataset estimator of ``method``.

    Parameters
    ----------
    config : ExperimentConfig
    method : str
        One of :data:`cnnsvm.experiments.config.METHODS`.
    seed : int
        ``random_state`` of every random step.
    dataset_name : str
        The dataset the model is for (selects its softmax block for ``generic-softmax``).
    generic_model : Pipeline or list of Pipeline, optional
        The fitted generic extractor (see :func:`train_generic_extractor`), for
        ``hybrid``, ``hybrid-noaug`` and ``generic-softmax``; several: the members
        of an ensemble (:class:`~cnnsvm.features.ExtractorEnsemble`).
    parts : list, optional
        ``extra["parts"]`` of the generic extractor's training set.
    verbose : int
        1 prints a line per CNN epoch.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    size = config.image_size
    if method == "pca-svc":
        return make_pca_svc(image_size=size, random_state=seed, **config.method_params(method))
    if method == "mlp":
        return make_mlp(image_size=size, random_state=seed, **config.method_params(method))
    if method in CNN_METHODS:
        return make_cnn(image_size=size, random_state=seed, verbose=verbose, **config.cnn_params(method))
    members = [extractor_of(m) for m in (generic_model if isinstance(generic_model, list) else [generic_model])]
    extractor = members[0] if len(members) == 1 else ExtractorEnsemble(members).fit()
    if method in HYBRID_METHODS:
        p = config.svc_params(method)
        options = {k: p[k] for k in ("train_views", "calibration", "softmax_weight", "features") if k in p}
        offset, _ = part_of(parts, dataset_name)
        return make_hybrid(
            extractor,
            image_size=size,
            C=p["C"],
            gamma=p["gamma"],
            kernel=p["kernel"],
            svm=p["solver"],
            label_offset=offset,
            random_state=seed,
            **options,
        )
    offset, n_classes = part_of(parts, dataset_name)
    return make_generic_softmax(extractor, image_size=size, label_offset=offset, n_classes=n_classes)


def history_of(model):
    """``history_`` of the CNN a pipeline trained itself, or ``None``."""
    steps = dict(getattr(model, "steps", []))
    cnn = steps.get("cnn")
    return getattr(cnn, "history_", None) if cnn is not None and not is_frozen(cnn) else None


def precision_of(model):
    """The dtype policy the CNN of a pipeline trained with (``None`` without a CNN)."""
    cnn = unwrap_extractor(dict(getattr(model, "steps", [])).get("cnn"))
    return getattr(cnn, "precision_", None)


def write_history(history, folder, title):
    """``history.csv`` and ``training_curves.png`` of a CNN's training."""
    keys = list(history)
    n = max((len(v) for v in history.values()), default=0)
    lines = [",".join(["epoch"] + keys)]
    for i in range(n):
        lines.append(",".join([str(i + 1)] + [repr(float(history[k][i])) if i < len(history[k]) else "" for k in keys]))
    write_text(Path(folder) / "history.csv", "\n".join(lines) + "\n")
    plots.plot_training_history(history, Path(folder) / "training_curves.png", title=title)


def history_summary(history):
    """Epochs run and the last/best values of a training history."""
    if not history:
        return None
    summary = {"epochs_run": len(next(iter(history.values())))}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if history.get(key):
            summary[f"final_{key}"] = history[key][-1]
    if history.get("val_accuracy"):
        summary["best_val_accuracy"] = max(history["val_accuracy"])
    return summary


# ---------------------------------------------------------------- generic
def run_generic_task(config, variant, seed, datasets, folder, fingerprint, *, member=0, verbose=0):
    """Train a generic extractor on the training parts of ``datasets`` and store it.

    Parameters
    ----------
    config : ExperimentConfig
    variant : {"augmented", "noaug", "noelastic"}
    seed : int
    datasets : list of LoadedDataset
        Only their ``train`` parts are used.
    folder : Path
    fingerprint : str
    member : int, default=0
        Which member of an ensemble (``[generic] members``): its network's seed is
        :func:`~cnnsvm.experiments.generic.member_seed` of ``seed`` (``seed`` itself for member 0).

    Returns
    -------
    model : Pipeline
        The fitted generic-softmax pipeline over all classes.
    result : dict
        What was written to ``result.json``.
    """
    folder = Path(folder)
    params = config.generic_params(variant)
    random_state = member_seed(seed, member)
    cpu_before = cpu_times()
    model, combined, seconds = train_generic_extractor(
        [d.train for d in datasets], params, image_size=config.image_size, random_state=random_state, verbose=verbose
    )
    cpu = cpu_shares(cpu_before, cpu_times())
    extractor = extractor_of(model)
    history = extractor.history_
    title = f"generic extractor ({variant}), seed {seed}" + (f", member {member}" if member else "")
    write_history(history, folder, title)
    parts = [list(p) for p in combined.extra["parts"]]
    result = {
        "task": generic_task_id(variant, seed, member),
        "variant": variant,
        "seed": seed,
        "member": member,
        "fingerprint": fingerprint,
        "params": {**params, "image_size": config.image_size, "random_state": random_state},
        "fit_seconds": seconds,
        "network_fit_seconds": extractor.fit_time_,
        "fit_cpu": cpu,
        "precision": extractor.precision_,
        "training": history_summary(history),
        "n_train": len(combined),
        "n_classes": combined.n_classes,
        "parts": parts,
        "fitted_on": [
            {"dataset": d.name, "n_train": len(d.train), "train_sha256": d.record["train_sha256"]} for d in datasets
        ],
        "combined_train_sha256": images_digest(combined),
        "finished": _now(),
    }
    save(
        model,
        folder / MODEL,
        class_names=combined.class_names,
        overwrite=True,
        metadata={"kind": "generic extractor", **{k: v for k, v in result.items() if k != "finished"}},
    )
    write_json(folder / RESULT, result)
    return model, result


def load_generic(folder):
    """The stored generic-softmax pipeline of a finished generic task."""
    return load(Path(folder) / MODEL)


# ---------------------------------------------------------------- cells
def run_cell(model, dataset, folder, *, method, seed, fingerprint, params, extra=None):
    """Fit ``model`` on the dataset's training part, score it on its test part, write the artefacts.

    Parameters
    ----------
    model : unfitted estimator (from :func:`build_model`)
    dataset : LoadedDataset
    folder : Path
        The cell's folder.
    method : str
    seed : int
    fingerprint : str
    params : dict
        The method's parameters, for the records.
    extra : dict, optional
        More facts for ``result.json`` (the generic extractor used).

    Returns
    -------
    dict
        The cell's result, as written to ``result.json``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    train, test = dataset.train, dataset.test
    start, cpu_before = time.perf_counter(), cpu_times()
    model.fit(train.images, train.labels)
    fit_seconds = time.perf_counter() - start
    cpu = cpu_shares(cpu_before, cpu_times())
    scores = evaluate_model(model, test)
    classes = np.asarray(model.classes_)
    class_names = [test.class_names[int(c)] for c in classes]
    title = f"{method} on {dataset.name} (seed {seed})"

    proba = np.asarray(model.predict_proba(test.images), dtype=np.float64)
    np.savez_compressed(
        folder / "predictions.npz", y_true=scores["y_true"], y_pred=scores["y_pred"], proba=proba, classes=classes
    )

    write_text(
        folder / "report.txt",
        (
            f"{title}\n"
            f"test accuracy {scores['accuracy']:.4f}, macro-F1 {scores['macro_f1']:.4f}, "
            f"{scores['n_samples']} test images, fit {fit_seconds:.2f} s, "
            f"predict {scores['predict_ms_per_image']:.3f} ms/image\n\n"
            f"{scores['report']}\nconfusion matrix (rows: true class, columns: predicted):\n"
            f"{format_confusion(scores['confusion'], test.class_names)}\n"
        ),
    )
    plots.plot_confusion(scores["confusion"], test.class_names, folder / "confusion.png", title=title)

    curves = one_vs_rest_curves(scores["y_true"], proba, classes, class_names)
    plots.plot_roc(curves, folder / "roc.png", title=f"ROC, one-vs-rest: {title}")
    plots.plot_precision_recall(curves, folder / "precision_recall.png", title=f"precision-recall: {title}")

    # The reject option's confidence: the top probability, read without rounding to 1.0.
    score = confidence_score(proba)
    correct = scores["y_true"] == scores["y_pred"]
    curve = risk_coverage_curve(correct, score)
    coverage, risk, threshold = curve
    selective = {"accuracy": float(correct.mean()), **summarize_curve(curve)}
    full_rate, full_threshold = rejection_on_curve(curve, 1.0)
    # The threshold as the largest residual probability (1 - top) kept: exact near 1.0.
    full_threshold = None if full_threshold is None else -full_threshold
    rows = ["max_residual_probability,coverage,risk"] + [
        f"{-t!r},{c!r},{r!r}" for t, c, r in zip(threshold.tolist(), coverage.tolist(), risk.tolist(), strict=True)
    ]
    write_text(folder / "risk_coverage.csv", "\n".join(rows) + "\n")
    plots.plot_risk_coverage(
        {method: (coverage, risk)}, folder / "risk_coverage.png", title=f"risk vs coverage: {title}"
    )

    history = history_of(model)
    if history:
        write_history(history, folder, title)

    result = {
        "cell": f"{dataset.name}/{method}/seed{seed}",
        "dataset": dataset.name,
        "method": method,
        "seed": seed,
        "fingerprint": fingerprint,
        "params": params,
        "accuracy": scores["accuracy"],
        "macro_f1": scores["macro_f1"],
        "fit_seconds": fit_seconds,
        "fit_cpu": cpu,
        "predict_ms_per_image": scores["predict_ms_per_image"],
        "predict_seconds": scores["predict_seconds"],
        "n_train": len(train),
        "n_test": len(test),
        "train_sha256": dataset.record["train_sha256"],
        "test_sha256": dataset.record["test_sha256"],
        "rejection_for_full_reliability": {"rejection_rate": full_rate, "max_residual_probability": full_threshold},
        "selective": selective,
        **curve_summary(curves),
        "training": history_summary(history),
        "precision": precision_of(model),
        **(extra or {}),
        "finished": _now(),
    }
    save(
        model,
        folder / MODEL,
        class_names=class_names,
        overwrite=True,
        metadata={
            "dataset": {
                "name": dataset.name,
                "seed": dataset.record["split_seed"],
                **{
                    k: dataset.record[k]
                    for k in (
                        "spec",
                        "official_split",
                        "test_size",
                        "split_seed",
                        "n_train",
                        "n_test",
                        "train_sha256",
                        "test_sha256",
                    )
                },
            },
            "method": method,
            "seed": seed,
            "params": params,
            "test_accuracy": scores["accuracy"],
            "test_macro_f1": scores["macro_f1"],
            "fit_seconds": fit_seconds,
            "fingerprint": fingerprint,
        },
    )
    write_json(folder / RESULT, result)
    return result

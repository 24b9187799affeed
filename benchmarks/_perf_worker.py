"""Measurements that benchmarks/perf.py runs in a fresh process each (peak memory needs one).

    python benchmarks/_perf_worker.py fit-hybrid --data D --result R.json --model M.joblib ...
    python benchmarks/_perf_worker.py extract --data D --result R.json [--model M.joblib] --n 60000
    python benchmarks/_perf_worker.py fit-reference --data D --result R.json --n 60000 --epochs 30 --patience 5

Each job imports the libraries, loads the model (if any) and the dataset, notes
the resident memory (RSS), resets the peak-RSS counter (VmHWM) and only then does
the measured work; it reports the peak minus that baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _perf_util as U
import numpy as np


def stand_in_hybrid(x, y):
    """A hybrid fitted in seconds (1 epoch, 512 images): same network, for speed and memory only."""
    from cnnsvm.pipeline import make_hybrid

    return make_hybrid(epochs=1, random_state=0).fit(x[:512], y[:512])


def fit_hybrid(args):
    import keras  # noqa: F401 - imported before the baseline

    from cnnsvm.pipeline import make_hybrid, save

    data = np.load(args.data)
    x, y = data["x_train"][: args.n], data["y_train"][: args.n]
    x_test, y_test = data["x_test"][: args.n_test], data["y_test"][: args.n_test]
    baseline = U.rss_mib()
    reset = U.reset_peak_rss()
    model = make_hybrid(
        max_minutes=args.max_minutes,
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.patience,
        augmentation=args.augmentation,
        svm=args.svm,
        C=args.C,
        random_state=0,
        verbose=1,
    )
    start = time.perf_counter()
    model.fit(x, y)
    fit_seconds = time.perf_counter() - start
    peak = U.peak_rss_mib()
    from cnnsvm.features import unwrap_extractor

    ext = unwrap_extractor(model.named_steps["cnn"])
    t0 = time.perf_counter()
    pred = model.predict(x_test)
    predict_seconds = time.perf_counter() - t0
    softmax = ext.softmax(model.named_steps["preprocess"].transform(x_test))
    svm = model.named_steps["svm"]
    inner = getattr(svm, "calibrated_classifiers_", None)
    n_sv = None
    if inner:
        n_sv = int(getattr(inner[0].estimator, "support_vectors_", np.zeros((0,))).shape[0]) or None
    save(model, args.model, overwrite=True, metadata={"benchmark": "perf.py mnist"})
    result = {
        "n_train": len(x),
        "n_test": len(x_test),
        "params": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "patience": args.patience,
            "augmentation": args.augmentation,
            "svm": args.svm,
            "C": args.C,
            "max_minutes": args.max_minutes,
            "schedule": ext.schedule,
            "precision": getattr(ext, "precision_", None),
            "architecture": ext.architecture,
            "validation_fraction": ext.validation_fraction,
        },
        "fit_seconds": fit_seconds,
        "cnn_train_seconds": ext.fit_time_,
        "other_fit_seconds": fit_seconds - ext.fit_time_,
        "epochs_run": ext.n_epochs_,
        "epoch_times": getattr(ext, "epoch_times_", []),
        "val_accuracy": ext.history_.get("val_accuracy"),
        "test_accuracy": float((pred == y_test).mean()),
        "cnn_softmax_test_accuracy": float((ext.classes_[softmax.argmax(1)] == y_test).mean()),
        "predict_seconds_test": predict_seconds,
        "n_support_vectors": n_sv,
        "rss_after_load_mib": baseline,
        "peak_rss_mib": peak,
        "peak_above_load_mib": peak - baseline,
        "peak_reset": reset,
        "model": str(args.model),
    }
    Path(args.result).write_text(json.dumps(result, indent=2))


def fit_reference(args):
    """The plain-Keras reference trained as the tutorials do, its test accuracy scored after every epoch."""
    import keras
    import reference_keras

    data = np.load(args.data)
    x, y = data["x_train"][: args.n], data["y_train"][: args.n]
    x_test, y_test = reference_keras.scale(data["x_test"][: args.n_test]), data["y_test"][: args.n_test]
    test_accuracy = []

    class ScoreTest(keras.callbacks.Callback):  # after the epoch timer: not counted in the epoch's time
        def on_epoch_end(self, epoch, logs=None):
            proba = self.model.layers[-1].predict(x_test, batch_size=1024, verbose=0)
            test_accuracy.append(float((proba.argmax(1) == y_test).mean()))
            print(
                f"[reference] epoch {epoch + 1}/{args.epochs}: test accuracy {100 * test_accuracy[-1]:.2f} %",
                file=sys.stderr,
                flush=True,
            )

    result = reference_keras.train(
        x, y, epochs=args.epochs, batch_size=args.batch_size, patience=args.patience, seed=0, callbacks=[ScoreTest()]
    )
    history = result["history"]
    Path(args.result).write_text(
        json.dumps(
            {
                "n_train": len(x),
                "n_test": len(x_test),
                "params": {
                    "epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "patience": args.patience,
                    "schedule": "Adam 1e-3, halved on a validation-loss plateau; early stopping",
                    "precision": "float32",
                },
                "epoch_times": result["epoch_times"],
                "val_accuracy": history.get("val_accuracy"),
                "test_accuracy_per_epoch": test_accuracy,
                "fit_seconds": result["fit_seconds"],
            },
            indent=2,
        )
    )


def extract(args):
    import keras  # noqa: F401

    from cnnsvm.pipeline import load

    data = np.load(args.data)
    stand_in = not (args.model and Path(args.model).exists())
    model = stand_in_hybrid(data["x_train"], data["y_train"]) if stand_in else load(args.model)
    x = np.ascontiguousarray(data["x_train"][: args.n])
    del data
    features = model[:2]  # ImagePreprocessor -> CNNFeatureExtractor, as in the fitted hybrid
    baseline = U.rss_mib()
    reset = U.reset_peak_rss()
    start = time.perf_counter()
    out = features.transform(x)
    seconds = time.perf_counter() - start
    peak = U.peak_rss_mib()
    result = {
        "n": len(x),
        "features_shape": list(out.shape),
        "seconds": seconds,
        "images_per_second": len(x) / seconds,
        "dataset_mib": x.nbytes / 2**20,
        "features_mib": out.nbytes / 2**20,
        "rss_after_load_mib": baseline,
        "peak_rss_mib": peak,
        "peak_above_load_mib": peak - baseline,
        "peak_reset": reset,
        "model": "stand-in (1 epoch on 512 images)" if stand_in else str(args.model),
    }
    Path(args.result).write_text(json.dumps(result, indent=2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", choices=["fit-hybrid", "fit-reference", "extract"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--model")
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--augmentation", type=float, default=1.0)
    parser.add_argument("--svm", default="exact")
    parser.add_argument("--C", type=float, default=10.0)
    parser.add_argument("--max-minutes", type=float, help="the CNN's time budget (make_hybrid(max_minutes=))")
    args = parser.parse_args(argv)
    {"fit-hybrid": fit_hybrid, "fit-reference": fit_reference, "extract": extract}[args.job](args)


if __name__ == "__main__":
    main()

"""Speed and memory of cnnsvm, each figure measured in the same run as a plain reference.

Full run (from the repository root; about 50 minutes on 2 idle cores, longer when other work
shares the CPU; it prints its estimate, and the projected MNIST fit time once it has measured an epoch)::

    python benchmarks/perf.py --data ../shared/datasets/mnist.npz

Development run on small subsets (under 5 minutes)::

    python benchmarks/perf.py --data ../shared/datasets/mnist.npz --quick

Sections (``--only train,inference`` runs some of them; the others keep their
previous results in the JSON file when the mode matches):

- ``train``: seconds per epoch of the CNN inside cnnsvm (CNNFeatureExtractor)
  against benchmarks/reference_keras.py (the same network written out in plain
  Keras), same images, batch size, epochs and validation split, fits interleaved;
  the first epoch (graph tracing) is reported apart.
- ``mnist``: the full MNIST hybrid fit (60000 training images) in a fresh process:
  total training time, test accuracy, peak memory; the model is kept for the
  sections below.
- ``reference``: time to accuracy of benchmarks/reference_keras.py on the same
  60000 images, trained as the tutorials this project grew from do (float32,
  Adam 1e-3 halved on plateaus, early stopping, up to 30 epochs), its test
  accuracy scored after every epoch (not timed): seconds until it first reaches
  99.6 % and the hybrid's own test accuracy, or never.
- ``memory``: peak memory of extracting the features of the 60000 MNIST training
  images (fresh process), above the RSS after loading model and data.
- ``inference``: images per second at batch 1, 32 and 1024 of the hybrid, the CNN
  classifier and the PCA+SVC baseline, and of the bare Keras forward pass of the
  same network (``model(x, training=False)`` and ``model.predict_on_batch``; the
  faster is the reference); single-image latency of ``predict``.
- ``svc``: fit and predict time and test accuracy of the SVM on CNN features for
  1k-60k training samples, exact SVC against the scalable Nystroem + LinearSVC path.
- ``totals``: training time of each method per dataset (MNIST from this run, the
  NHCD sets from benchmarks/results/core.json and nhcd.json when present).

Writes benchmarks/results/perf.md and perf.json (a --quick run after a full one
writes perf-quick.md/json instead, so it never replaces full results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import _perf_report  # noqa: E402 - after the sys.path line above
import _perf_util as U  # noqa: E402
import numpy as np  # noqa: E402

SECTIONS = ("train", "mnist", "reference", "memory", "inference", "svc", "totals")

FULL = dict(
    train_n=12000,
    train_epochs=4,
    train_repeats=4,
    mnist_n=60000,
    mnist_test=10000,
    mnist_epochs=15,
    mnist_patience=3,
    reference_epochs=30,
    reference_patience=6,
    memory_n=60000,
    inference_rounds={1: 300, 32: 40, 1024: 6},
    inference_pool=1024,
    cnn_stand_in_n=2000,
    pca_train=10000,
    svc_sizes=(1000, 5000, 20000, 60000),
    svc_repeats={1000: 3, 5000: 3, 20000: 2, 60000: 1},
    svc_test=10000,
)
QUICK = dict(
    train_n=1500,
    train_epochs=4,
    train_repeats=2,
    mnist_n=5000,
    mnist_test=2000,
    mnist_epochs=2,
    mnist_patience=3,
    reference_epochs=3,
    reference_patience=3,
    memory_n=10000,
    inference_rounds={1: 100, 32: 15, 1024: 3},
    inference_pool=1024,
    cnn_stand_in_n=1000,
    pca_train=2000,
    svc_sizes=(500, 2000, 5000),
    svc_repeats={500: 3, 2000: 3, 5000: 3},
    svc_test=2000,
)

#: Guesses for the duration estimate on 2 idle cores (refined once the train section has run).
TRAIN_MS_PER_IMAGE = 0.8
EXACT_SVC_60K_SECONDS = 45.0


def log(msg):
    print(f"[perf {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------- estimate
def estimate(cfg, ms_per_image=TRAIN_MS_PER_IMAGE, sections=SECTIONS):
    """Seconds each section should take on this machine, roughly."""
    ms = ms_per_image / 1000
    n_tr = cfg["train_n"] * 0.9
    est = {
        "train": cfg["train_repeats"] * 2 * (cfg["train_epochs"] * n_tr * ms * 1.05 + 8),
        "mnist": 25
        + cfg["mnist_epochs"] * cfg["mnist_n"] * 0.9 * ms * 1.05
        + (cfg["mnist_n"] + cfg["mnist_test"]) * 0.35 * ms
        + EXACT_SVC_60K_SECONDS * (cfg["mnist_n"] / 60000) ** 1.5,
        "reference": 20 + cfg["reference_epochs"] * (cfg["mnist_n"] * 0.9 * ms * 1.05 + cfg["mnist_test"] * 0.35 * ms),
        "memory": 20 + cfg["memory_n"] * 0.35 * ms,
        "inference": 30
        + cfg["cnn_stand_in_n"] * ms
        + 60 * (cfg["pca_train"] / 10000) ** 1.5
        + sum(r * (b * 6 * 0.35 * ms + 0.03) for b, r in cfg["inference_rounds"].items()),
        "svc": (max(cfg["svc_sizes"]) + cfg["svc_test"]) * 0.35 * ms
        + sum(
            cfg["svc_repeats"][n] * (EXACT_SVC_60K_SECONDS * (n / 60000) ** 1.5 + 8 * n / 60000 + 3)
            for n in cfg["svc_sizes"]
        ),
        "totals": 0,
    }
    return {k: v for k, v in est.items() if k in sections}


# ------------------------------------------------------------------------ helpers
def load_mnist(path):
    data = np.load(path)
    return {k: data[k] for k in ("x_train", "y_train", "x_test", "y_test")}


def section_meta(start, cpu_before):
    return {
        "seconds": time.perf_counter() - start,
        "load_after": U.load_average(),
        "cpu_time": U.cpu_shares(cpu_before, U.cpu_times()),
    }


def run_worker(job, args, result_path):
    cmd = [sys.executable, str(HERE / "_perf_worker.py"), job, *map(str, args), "--result", str(result_path)]
    log("running " + " ".join(cmd[1:]))
    if result_path.exists():
        result_path.unlink()
    proc = subprocess.run(cmd, cwd=ROOT)
    if proc.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"{job} worker failed with exit status {proc.returncode}")
    return json.loads(result_path.read_text())


def hybrid_for(ctx, data):
    """The MNIST hybrid of the mnist section, or a stand-in fitted in seconds."""
    from cnnsvm.pipeline import load, make_hybrid

    path = ctx["model_path"]
    if path.exists():
        return load(path), str(path)
    log(f"{path} not found (run the mnist section first); using a stand-in hybrid (1 epoch on 1000 images)")
    model = make_hybrid(epochs=1, random_state=0).fit(data["x_train"][:1000], data["y_train"][:1000])
    return model, "stand-in (1 epoch on 1000 images)"


def extractor_of(model):
    from cnnsvm.features import unwrap_extractor

    return unwrap_extractor(model.named_steps["cnn"])


# ----------------------------------------------------------------------- sections
def section_train(ctx, data):
    import keras
    import reference_keras

    from cnnsvm.data.preprocessing import ImagePreprocessor
    from cnnsvm.features import CNNFeatureExtractor

    cfg = ctx["cfg"]
    n, epochs = cfg["train_n"], cfg["train_epochs"]
    x, y = data["x_train"][:n], data["y_train"][:n]
    prep = ImagePreprocessor().fit(x)
    flat = prep.transform(x)  # what the hybrid pipeline hands its extractor
    runs = []
    for r in range(cfg["train_repeats"]):
        sides = ["cnnsvm", "reference"] if r % 2 == 0 else ["reference", "cnnsvm"]
        for side in sides:
            keras.backend.clear_session()
            log(f"train: repeat {r + 1}/{cfg['train_repeats']}, {side}, {n} images, {epochs} epochs")
            if side == "cnnsvm":
                ext = CNNFeatureExtractor(epochs=epochs, batch_size=128, patience=epochs, random_state=r)
                t0 = time.perf_counter()
                ext.fit(flat, y)
                total = time.perf_counter() - t0
                times = ext.epoch_times_
                precision = ext.precision_
            else:
                t0 = time.perf_counter()
                res = reference_keras.train(x, y, epochs=epochs, batch_size=128, patience=epochs, seed=r)
                total = time.perf_counter() - t0
                times = res["epoch_times"]
            runs.append({"repeat": r, "side": side, "epoch_times": times, "call_seconds": total})
            log(f"   epochs: {' '.join(f'{t:.2f}' for t in times)} s")
    out = {
        "n_images": n,
        "n_train_per_epoch": int(round(n * 0.9)),
        "epochs": epochs,
        "batch_size": 128,
        "validation_fraction": 0.1,
        "precision": precision,  # cnnsvm's, detected from the hardware (the reference: float32)
        "runs": runs,
    }
    for side in ("cnnsvm", "reference"):
        side_runs = [r for r in runs if r["side"] == side]
        out[side] = {
            "first_epoch": U.summary([r["epoch_times"][0] for r in side_runs]),
            "later_epochs": U.summary([t for r in side_runs for t in r["epoch_times"][1:]]),
        }
    ratios = []
    for r in range(cfg["train_repeats"]):
        a = [x for x in runs if x["repeat"] == r and x["side"] == "cnnsvm"][0]["epoch_times"][1:]
        b = [x for x in runs if x["repeat"] == r and x["side"] == "reference"][0]["epoch_times"][1:]
        ratios.append(float(np.median(a) / np.median(b)))
    out["ratio"] = out["cnnsvm"]["later_epochs"]["median"] / out["reference"]["later_epochs"]["median"]
    # The fastest epochs are the least disturbed by other work on a shared machine.
    out["ratio_of_minima"] = out["cnnsvm"]["later_epochs"]["min"] / out["reference"]["later_epochs"]["min"]
    out["ratio_per_repeat"] = ratios
    out["ms_per_image"] = 1000 * out["cnnsvm"]["later_epochs"]["median"] / out["n_train_per_epoch"]
    return out


def section_mnist(ctx, data):
    cfg = ctx["cfg"]
    args = [
        "--data",
        ctx["data_path"],
        "--model",
        ctx["model_path"],
        "--n",
        cfg["mnist_n"],
        "--n-test",
        cfg["mnist_test"],
        "--epochs",
        ctx["epochs"],
        "--patience",
        cfg["mnist_patience"],
        "--batch-size",
        128,
        "--svm",
        ctx["svm"],
    ]
    if ctx["max_minutes"] is not None:
        args += ["--max-minutes", ctx["max_minutes"]]
    return run_worker("fit-hybrid", args, ctx["work"] / "mnist-fit.json")


def section_reference(ctx, data):
    """Time to accuracy of the plain-Keras reference on the mnist section's images, trained as the tutorials do."""
    cfg = ctx["cfg"]
    args = ["--data", ctx["data_path"], "--n", cfg["mnist_n"], "--n-test", cfg["mnist_test"]]
    args += ["--epochs", cfg["reference_epochs"], "--patience", cfg["reference_patience"], "--batch-size", 128]
    # the report reads the times to 99.6 % and to the mnist section's accuracy from the per-epoch scores
    return run_worker("fit-reference", args, ctx["work"] / "reference-fit.json")


def section_memory(ctx, data):
    cfg = ctx["cfg"]
    args = ["--data", ctx["data_path"], "--n", cfg["memory_n"]]
    if ctx["model_path"].exists():
        args += ["--model", ctx["model_path"]]
    return {"extract": run_worker("extract", args, ctx["work"] / "memory-extract.json")}


def section_inference(ctx, data):
    import keras

    from cnnsvm.pipeline import make_cnn, make_pca_svc

    cfg = ctx["cfg"]
    hybrid, hybrid_source = hybrid_for(ctx, data)
    ext = extractor_of(hybrid)
    log(
        f"inference: fitting the CNN classifier stand-in ({cfg['cnn_stand_in_n']} images, 1 epoch) "
        f"and PCA+SVC ({cfg['pca_train']} images)"
    )
    x_tr, y_tr = data["x_train"], data["y_train"]
    cnn = make_cnn(epochs=1, random_state=0).fit(x_tr[: cfg["cnn_stand_in_n"]], y_tr[: cfg["cnn_stand_in_n"]])
    t0 = time.perf_counter()
    pca = make_pca_svc().fit(x_tr[: cfg["pca_train"]], y_tr[: cfg["pca_train"]])
    pca_fit = time.perf_counter() - t0
    cnn_net = extractor_of(cnn).network_

    pool_n = cfg["inference_pool"]
    raw = data["x_test"][:pool_n]
    if len(raw) < pool_n:
        raw = np.resize(raw, (pool_n, *raw.shape[1:]))
    net_in = (raw.astype(np.float32) / 255.0)[..., None]  # what the network sees (28x28 already)
    bare_emb = keras.Model(ext.network_.input, ext.network_.get_layer("embedding").output)

    funcs = {
        "hybrid": lambda b: hybrid.predict(raw[b]),
        "cnn": lambda b: cnn.predict(raw[b]),
        "pca-svc": lambda b: pca.predict(raw[b]),
        "keras embedding: model(x)": lambda b: np.asarray(bare_emb(net_in[b], training=False)),
        "keras embedding: predict_on_batch": lambda b: bare_emb.predict_on_batch(net_in[b]),
        "keras softmax: model(x)": lambda b: np.asarray(cnn_net(net_in[b], training=False)),
        "keras softmax: predict_on_batch": lambda b: cnn_net.predict_on_batch(net_in[b]),
    }
    out = {
        "hybrid_model": hybrid_source,
        "cnn_model": f"stand-in: make_cnn() trained 1 epoch on "
        f"{cfg['cnn_stand_in_n']} images (speed does not depend on training)",
        "pca_model": f"make_pca_svc() fitted on {cfg['pca_train']} images in {pca_fit:.1f} s",
        "batches": {},
    }
    try:
        out["pca_n_support_vectors"] = int(
            pca.named_steps["svm"].calibrated_classifiers_[0].estimator.support_vectors_.shape[0]
        )
    except (AttributeError, KeyError, IndexError):
        pass
    for bsize, rounds in cfg["inference_rounds"].items():
        log(f"inference: batch {bsize}, {rounds} rounds of {len(funcs)} methods")

        def batch(r, bsize=bsize):
            start = (r * bsize) % (pool_n - bsize + 1)
            return slice(start, start + bsize)

        times = U.interleaved(funcs, rounds, inputs=batch)
        out["batches"][str(bsize)] = {
            name: {"seconds": U.summary(t), "images_per_second": U.summary([bsize / s for s in t])}
            for name, t in times.items()
        }
    res = out["batches"]

    def ips(name, b):
        return res[str(b)][name]["images_per_second"]["median"]

    def best(prefix, b):
        cands = [k for k in res[str(b)] if k.startswith(prefix)]
        return max(cands, key=lambda k: ips(k, b))

    out["ratios"] = {}
    for b in cfg["inference_rounds"]:
        e, s = best("keras embedding", b), best("keras softmax", b)
        out["ratios"][str(b)] = {
            "hybrid_vs_bare": ips("hybrid", b) / ips(e, b),
            "bare_embedding_reference": e,
            "cnn_vs_bare": ips("cnn", b) / ips(s, b),
            "bare_softmax_reference": s,
        }
    one = res["1"]
    ref = min((k for k in one if k.startswith("keras embedding")), key=lambda k: one[k]["seconds"]["median"])
    out["latency"] = {
        "hybrid_ms": {k: v * 1000 for k, v in one["hybrid"]["seconds"].items() if k != "n"},
        "bare_ms": {k: v * 1000 for k, v in one[ref]["seconds"].items() if k != "n"},
        "bare_reference": ref,
        "n": one["hybrid"]["seconds"]["n"],
    }
    out["latency"]["ratio_median"] = out["latency"]["hybrid_ms"]["median"] / out["latency"]["bare_ms"]["median"]
    return out


def section_svc(ctx, data):
    from sklearn.preprocessing import StandardScaler

    from cnnsvm.classifiers.svm import KernelSVC, make_svm

    cfg = ctx["cfg"]
    hybrid, source = hybrid_for(ctx, data)
    n_max, n_test = max(cfg["svc_sizes"]), cfg["svc_test"]
    log(f"svc: extracting features of {n_max} training and {n_test} test images")
    features = hybrid[:2]
    t0 = time.perf_counter()
    f_train = features.transform(data["x_train"][:n_max])
    f_test = features.transform(data["x_test"][:n_test])
    extract_s = time.perf_counter() - t0
    y_train, y_test = data["y_train"][:n_max], data["y_test"][:n_test]
    order = np.random.default_rng(0).permutation(n_max)
    rows = []
    for n in cfg["svc_sizes"]:
        idx = np.sort(order[:n])
        scaler = StandardScaler().fit(f_train[idx])
        X, Xt, y = scaler.transform(f_train[idx]), scaler.transform(f_test), y_train[idx]
        for r in range(cfg["svc_repeats"][n]):
            kinds = ["exact", "approx"] if r % 2 == 0 else ["approx", "exact"]
            for kind in kinds:
                est = (
                    make_svm("exact", C=10.0, random_state=0)
                    if kind == "exact"
                    else KernelSVC(solver="approx", C=10.0, random_state=0)
                )
                t0 = time.perf_counter()
                est.fit(X, y)
                fit_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                pred = est.predict(Xt)
                pred_s = time.perf_counter() - t0
                row = {
                    "n_train": n,
                    "solver": kind,
                    "repeat": r,
                    "fit_seconds": fit_s,
                    "predict_seconds": pred_s,
                    "accuracy": float((pred == y_test).mean()),
                }
                if kind == "exact":
                    row["n_support_vectors"] = int(est.calibrated_classifiers_[0].estimator.support_vectors_.shape[0])
                rows.append(row)
                log(
                    f"svc: n={n} {kind}: fit {fit_s:.2f} s, predict {pred_s:.2f} s, "
                    f"accuracy {100 * row['accuracy']:.2f} %"
                )
    table = []
    for n in cfg["svc_sizes"]:
        entry = {"n_train": n, "auto_picks": "approx" if n >= KernelSVC().auto_threshold else "exact"}
        for kind in ("exact", "approx"):
            rs = [r for r in rows if r["n_train"] == n and r["solver"] == kind]
            entry[kind] = {
                "fit": U.summary([r["fit_seconds"] for r in rs]),
                "predict": U.summary([r["predict_seconds"] for r in rs]),
                "accuracy": rs[0]["accuracy"],
                "n_support_vectors": rs[0].get("n_support_vectors"),
            }
        entry["fit_speedup"] = entry["exact"]["fit"]["median"] / entry["approx"]["fit"]["median"]
        entry["accuracy_loss_points"] = 100 * (entry["exact"]["accuracy"] - entry["approx"]["accuracy"])
        table.append(entry)
    approx_defaults = KernelSVC()
    return {
        "features_from": source,
        "n_test": n_test,
        "extract_seconds": extract_s,
        "rows": rows,
        "table": table,
        "exact": "make_svm('exact', C=10): SVC(rbf, gamma='scale') + sigmoid calibration (3 folds, ensemble=False)",
        "approx": f"KernelSVC(solver='approx', C=10): Nystroem(n_components={approx_defaults.n_components}) + "
        "LinearSVC(C=1), sigmoid calibration on a held-out 10 % (at most 10000)",
    }


def section_totals(ctx, data):
    out = {"mnist": None, "nhcd": [], "sources": []}
    mnist = ctx["results"].get("mnist")
    if mnist and "fit_seconds" in mnist:
        out["mnist"] = {
            "method": "hybrid",
            "fit_seconds": mnist["fit_seconds"],
            "accuracy": mnist["test_accuracy"],
            "n_train": mnist["n_train"],
        }
    for name in ("core.json", "nhcd.json"):
        path = ctx["out"] / name
        out["sources"].append({"file": name, "present": path.exists()})
        if ctx["skip_totals"] or not path.exists():
            continue
        try:
            facts = json.loads(path.read_text())
        except ValueError:
            continue
        for row in facts.get("rows", []):
            if "fit_seconds" in row:
                out["nhcd"].append(
                    {
                        "source": name,
                        "dataset": row.get("dataset"),
                        "method": row.get("method"),
                        "fit_seconds": row["fit_seconds"],
                        "accuracy": row.get("accuracy"),
                        "n_train": row.get("n_train"),
                    }
                )
    out["skipped"] = bool(ctx["skip_totals"])
    return out


RUNNERS = {
    "train": section_train,
    "mnist": section_mnist,
    "reference": section_reference,
    "memory": section_memory,
    "inference": section_inference,
    "svc": section_svc,
    "totals": section_totals,
}


# --------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        default=str(ROOT.parent / "shared" / "datasets" / "mnist.npz"),
        help="MNIST .npz (x_train, y_train, x_test, y_test)",
    )
    parser.add_argument("--quick", action="store_true", help="small subsets and 2-3 epochs: a check in minutes")
    parser.add_argument("--only", help=f"comma-separated sections among {', '.join(SECTIONS)}")
    parser.add_argument(
        "--skip-totals", action="store_true", help="do not read core.json/nhcd.json; the report points to those files"
    )
    parser.add_argument("--epochs", type=int, help="epochs of the MNIST hybrid (default 15; --quick 2)")
    parser.add_argument(
        "--max-minutes",
        type=float,
        help="time budget of the MNIST hybrid's CNN training (cnnsvm train --max-minutes); default none",
    )
    parser.add_argument(
        "--svm", default="exact", choices=["exact", "approx", "auto"], help="SVM of the MNIST hybrid (default exact)"
    )
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument(
        "--work",
        help="where models and worker results go (default: cnnsvm-perf[-quick] in the system's temporary folder)",
    )
    args = parser.parse_args(argv)

    data_arg, args.data = args.data, str(Path(args.data).resolve())  # the workers run from the repository root
    if not Path(args.data).exists():
        parser.error(f"{data_arg} not found: pass the MNIST .npz with --data")
    cfg = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    sections = SECTIONS if not args.only else tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose among {', '.join(SECTIONS)}")
    sections = tuple(s for s in SECTIONS if s in sections)  # always in dependency order
    out = Path(args.out)
    stem = "perf"
    if args.quick and (out / "perf.json").exists():
        try:
            if json.loads((out / "perf.json").read_text()).get("meta", {}).get("mode") == "full":
                stem = "perf-quick"
        except ValueError:
            pass
    work = Path(args.work or Path(tempfile.gettempdir()) / f"cnnsvm-perf{'-quick' if args.quick else ''}")
    work.mkdir(parents=True, exist_ok=True)

    from cnnsvm.pipeline import library_versions

    meta = {
        "mode": mode,
        "command": "python benchmarks/perf.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu": U.cpu_model(),
        "cores": U.cores(),
        "load_at_start": U.load_average(),
        "versions": library_versions(),
        "commit": U.git_commit(ROOT),
        "config": {
            k: (v if not isinstance(v, dict) else {str(kk): vv for kk, vv in v.items()}) for k, v in cfg.items()
        },
        "data": data_arg,
    }
    results = U.Results(out / f"{stem}.json", meta)
    epochs = args.epochs or cfg["mnist_epochs"]
    ctx = {
        "cfg": cfg,
        "work": work,
        "model_path": work / "mnist-hybrid.joblib",
        "data_path": args.data,
        "results": results,
        "out": out,
        "skip_totals": args.skip_totals,
        "epochs": epochs,
        "svm": args.svm,
        "max_minutes": args.max_minutes,
    }
    meta["mnist_hybrid"] = {
        "epochs": epochs,
        "svm": args.svm,
        "batch_size": 128,
        "patience": cfg["mnist_patience"],
        "max_minutes": args.max_minutes,
        "architecture": "default",
        "augmentation": 1.0,
    }

    est = estimate(cfg, sections=sections)
    log(
        f"{mode} run of sections {', '.join(sections)}; expected duration on 2 idle cores: about "
        f"{U.fmt_s(sum(est.values()))} (" + ", ".join(f"{k} {U.fmt_s(v)}" for k, v in est.items()) + ")"
    )
    log(f"results go to {out / stem}.md and .json, after every section")

    data = load_mnist(args.data)
    t_all, cpu_all = time.perf_counter(), U.cpu_times()
    failed = []
    for name in sections:
        start, load_before, cpu_before = time.perf_counter(), U.load_average(), U.cpu_times()
        log(f"== {name} (load average {load_before})")
        try:
            value = RUNNERS[name](ctx, data)
        except Exception as exc:  # noqa: BLE001 - record the failure, keep the other sections
            import traceback

            traceback.print_exc()
            value = {"error": f"{type(exc).__name__}: {exc}"}
            failed.append(name)
        value["_meta"] = {**section_meta(start, cpu_before), "load_before": load_before}
        results.put(name, value)
        (out / f"{stem}.md").write_text(_perf_report.render(results.public()))
        log(f"== {name} done in {U.fmt_s(time.perf_counter() - start)}")
        if name == "train" and "ms_per_image" in value:
            projected = estimate(cfg, value["ms_per_image"], sections=("mnist",))["mnist"]
            per_epoch = value["ms_per_image"] / 1000 * cfg["mnist_n"] * 0.9
            log(
                f"measured {value['ms_per_image']:.2f} ms per training image: MNIST hybrid fit projected at "
                f"{U.fmt_s(projected)} ({epochs} epochs of about {U.fmt_s(per_epoch)})"
            )
            if projected > 15 * 60 and not args.quick:
                log(f"WARNING: that is over the 15-minute bar; is the machine busy? (load average {U.load_average()})")
    results.data["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    results.data["meta"]["load_at_end"] = U.load_average()
    results.data["meta"]["run_seconds"] = time.perf_counter() - t_all
    results.data["meta"]["cpu_time"] = U.cpu_shares(cpu_all, U.cpu_times())
    results.save()
    text = _perf_report.render(results.public())
    (out / f"{stem}.md").write_text(text)
    print(text)
    if failed:
        log(f"sections that failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

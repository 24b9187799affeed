"""The ``cnnsvm`` command line: train, train-extractor, fewshot, evaluate, predict, demo, compare, study, serve,
sign."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cnnsvm.exceptions import CnnsvmError
from cnnsvm.ink import INK_CHOICES

EXIT_ERROR = 2


def _add_train(sub):
    p = sub.add_parser("train", help="train one method on a dataset, report its test accuracy and export it")
    p.add_argument(
        "--data", required=True, help="dataset spec: digits, mnist:PATH, idx:DIR, folder:DIR, csv:PATH, npz:PATH"
    )
    p.add_argument(
        "--method",
        required=True,
        choices=["hybrid", "pca-svc", "cnn", "mlp"],
        help="hybrid (CNN features + SVC), pca-svc, cnn (softmax CNN) or mlp (dense net on pixels)",
    )
    p.add_argument("--out", required=True, help="model file to write (a .json sidecar is written beside it)")
    p.add_argument("--force", action="store_true", help="overwrite an existing model file")
    _add_cnn_training_args(p)
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="side of the network's input (default 28; with --extractor, the extractor's)",
    )
    p.add_argument("--C", type=float, default=10.0, help="SVC regularisation (hybrid, pca-svc)")
    p.add_argument("--components", type=int, default=50, help="PCA components (pca-svc)")
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=-1,
        help="threads for the SVM's calibration folds (hybrid, pca-svc; default -1: all cores; "
        "the model does not depend on it)",
    )
    p.add_argument("--svm", choices=["exact", "approx", "auto"], default="exact", help="SVM solver (hybrid)")
    p.add_argument(
        "--calibration",
        choices=["temperature", "sigmoid"],
        default="temperature",
        help="how SVM decision values become probabilities (hybrid, pca-svc; default temperature)",
    )
    p.add_argument(
        "--softmax-weight",
        type=_softmax_weight,
        default="auto",
        help="hybrid: weight of the CNN's own softmax blended into the SVM's probabilities, 0..1 "
        "(default auto: 0.5, the mean; 0: the SVM alone)",
    )
    p.add_argument("--test-size", type=float, default=0.2, help="test share where the set has no official split")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the augmentation")
    p.add_argument(
        "--extractor",
        action="append",
        default=None,
        metavar="FILE",
        help="hybrid only: reuse the frozen CNN of this extractor file (cnnsvm train-extractor) or "
        "hybrid model, and fit only the scaler and the SVM (seconds); repeat it for an ensemble of "
        "extractors trained on the same sets with different seeds (features side by side)",
    )
    p.add_argument(
        "--extractor-sha256",
        action="append",
        default=None,
        metavar="HEX",
        help="refuse the extractor file unless its SHA-256 is this (one per --extractor, in the same order)",
    )
    p.add_argument(
        "--allow-seen-data",
        action="store_true",
        help="with --extractor: go on even if the extractor was trained on this set (its score then "
        "says nothing about new sets)",
    )
    _add_features_arg(
        p,
        "with --extractor: what the SVM sees, the embedding (default) or, from one extractor, the embedding "
        "with its last convolutional blocks' grid means (better from a few examples per class, slower to fit)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_cnn_training_args(p, epochs=30):
    p.add_argument(
        "--epochs",
        type=int,
        default=epochs,
        help=f"CNN epochs: the length of the learning-rate schedule (default {epochs})",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="time budget of CNN training: the schedule is shortened to end within it",
    )
    p.add_argument(
        "--precision",
        choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"],
        default="auto",
        help="CNN training precision; auto: mixed where the hardware has native 16-bit math (default)",
    )
    p.add_argument(
        "--schedule",
        choices=["cosine", "plateau"],
        default="cosine",
        help="learning-rate schedule: warm-up + cosine decay (default) or reduce on plateau",
    )
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--architecture", default=None, help="CNN preset: default, article, small")
    p.add_argument("--augmentation", type=float, default=1.0, help="augmentation strength, 0 turns it off")
    p.add_argument(
        "--elastic",
        type=float,
        default=0.0,
        help="strength of a random elastic distortion of half of the training images (0: off)",
    )


def _add_train_extractor(sub):
    p = sub.add_parser(
        "train-extractor", help="train one generic CNN feature extractor on the training parts of several sets"
    )
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="SPEC",
        help="a training set (repeatable): digits, mnist:PATH, npz:PATH?name=NAME, folder:DIR, ...; "
        "only its training part is used",
    )
    p.add_argument("--out", required=True, help="extractor file to write (a .json sidecar is written beside it)")
    p.add_argument(
        "--force", "--overwrite", dest="force", action="store_true", help="overwrite an existing extractor file"
    )
    _add_cnn_training_args(p)
    p.add_argument(
        "--image-size",
        type=int,
        default=28,
        help="side of the network's input; sets of other sizes are resized to it (default 28)",
    )
    p.add_argument(
        "--max-per-set",
        type=int,
        default=None,
        metavar="N",
        help="use at most N training images of each set (a stratified, seeded subset)",
    )
    p.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="test share (held out, never trained on) where a set has no official split",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the splits, subsets, weights and augmentation")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_fewshot(sub):
    p = sub.add_parser(
        "fewshot",
        help="learning curves from k examples per class: hybrid on a frozen extractor vs CNN from scratch vs SVC+PCA",
    )
    p.add_argument(
        "--extractor",
        required=True,
        metavar="FILE",
        help="extractor file (cnnsvm train-extractor) that has not seen --data",
    )
    p.add_argument("--data", required=True, metavar="SPEC", help="the set to learn")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for fewshot.md, fewshot.json, fewshot.png")
    p.add_argument("--force", action="store_true", help="overwrite existing result files in --out")
    p.add_argument(
        "--k",
        default="1,2,5,10,20,50,all",
        help="examples per class, comma-separated; 'all' is the whole training part (default 1,2,5,10,20,50,all)",
    )
    p.add_argument("--draws", type=int, default=3, help="random draws per k (default 3; 'all' has one)")
    p.add_argument(
        "--methods", default="hybrid,cnn,pca-svc", help="comma-separated among hybrid, cnn, pca-svc (default all three)"
    )
    p.add_argument(
        "--cnn-epochs",
        type=int,
        default=30,
        help="epochs of the CNN from scratch, at least (raised to give it 500 gradient steps; default 30)",
    )
    p.add_argument(
        "--cnn-min-steps",
        type=int,
        default=500,
        help="fewest gradient steps of the CNN from scratch, whatever k (default 500)",
    )
    p.add_argument("--architecture", default="default", help="CNN-from-scratch preset (default: default)")
    p.add_argument(
        "--components",
        type=int,
        default=50,
        help="PCA components of SVC+PCA, capped below the number of examples (default 50)",
    )
    p.add_argument("--test-size", type=float, default=0.2, help="test share where the set has no official split")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and of the draws")
    p.add_argument("--extractor-sha256", default=None, metavar="HEX")
    p.add_argument(
        "--allow-seen-data",
        action="store_true",
        help="go on even if the extractor was trained on this set (the results then say so)",
    )
    _add_features_arg(
        p,
        "what the hybrid's SVM sees (default spatial: the embedding with the last convolutional blocks' "
        "grid means; embedding: the embedding alone)",
    )
    p.add_argument(
        "--views",
        type=_non_negative_int,
        default=None,
        help="random augmented views of each drawn example added to the hybrid's training rows (default 9, "
        "fewer past 10,000 rows; 0: none)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_features_arg(p, help):
    # the choices are cnnsvm.features.spatial.FEATURES (not imported here: Keras is slow to load)
    p.add_argument("--features", choices=("embedding", "spatial"), default=None, help=help)


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0; got {text!r}")
    return value


def _jobs(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"expected a number of threads >= 1, or -1 for all cores; got {text!r}")
    return value


def _softmax_weight(text):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number between 0 and 1, got {text!r}")
    return value


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="accuracy, classification report and confusion matrix on a test split")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", choices=["test", "train", "all"], default="test")
    p.add_argument("--test-size", type=float, default=None, help="default: the one recorded with the model")
    p.add_argument("--seed", type=int, default=None, help="default: the one recorded with the model")
    p.add_argument(
        "--reject-threshold",
        type=float,
        default=None,
        help="also report accuracy and rejection rate with this reject threshold",
    )
    p.add_argument(
        "--classes",
        choices=["check", "by-name", "by-index"],
        default="check",
        help="how the data's classes relate to the model's: 'check' (default) refuses a set whose "
        "class names differ from the model's; 'by-name' matches classes by name; "
        "'by-index' scores by class index anyway, with a warning",
    )
    _add_model_sha256(p)


def _add_model_sha256(p):
    p.add_argument(
        "--model-sha256",
        default=None,
        metavar="HEX",
        help="refuse the model file unless its SHA-256 is this (pins one known file)",
    )


def _add_predict(sub):
    p = sub.add_parser("predict", help="predict image files or a Kaggle test CSV")
    p.add_argument("--model", required=True)
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image files (png, jpg, bmp, gif) or one Kaggle test .csv"
    )
    polarity = p.add_mutually_exclusive_group()
    polarity.add_argument(
        "--ink",
        choices=INK_CHOICES,
        default="auto",
        help="stroke polarity of the images (default: guess from the border)",
    )
    polarity.add_argument(
        "--invert", action="store_true", help="same as --ink dark: dark strokes on a light background"
    )
    p.add_argument(
        "--no-crop",
        action="store_true",
        help="do not crop image files to their ink (arrays of the trained size are never cropped)",
    )
    p.add_argument("--top-k", type=int, default=1, help="print the k most probable classes")
    p.add_argument(
        "--reject-threshold", type=float, default=0.0, help="flag answers whose probability is below this as rejected"
    )
    p.add_argument("--submission", default=None, help="with a Kaggle test CSV: write ImageId,Label here")
    p.add_argument("--force", action="store_true", help="overwrite an existing submission file")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    _add_model_sha256(p)


def _add_demo(sub):
    p = sub.add_parser(
        "demo", help="run every method (SVC+PCA, both CNNs, the hybrid and its ablations) on the embedded digits"
    )
    p.add_argument("--out", default=None, help="run directory (default: a new folder under ./runs)")
    p.add_argument("--epochs", type=int, default=None, help="override the CNN epochs of the demo")


def _add_executor_args(p):
    g = p.add_argument_group("where the tasks run (default: the file's [executor] table, else serial)")
    g.add_argument(
        "--executor",
        choices=["serial", "processes", "dask", "ray"],
        default=None,
        help="serial: this process; processes: a local pool; dask, ray: their engines (extras "
        "cnnsvm[dask], cnnsvm[ray])",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of a local pool or cluster (default: the cores); with --address "
        "(dask): wait for N workers",
    )
    g.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="join a running Dask scheduler (tcp://host:8786) or Ray cluster (ray://host:10001)",
    )


def _add_compare(sub):
    p = sub.add_parser("compare", help="run a comparison experiment file (TOML)")
    p.add_argument("config")
    p.add_argument("--out", default=None, help="run directory (default: runs/<name>); an existing one is resumed")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration value, e.g. --set datasets.0.spec=npz:other.npz",
    )
    p.add_argument(
        "--merge",
        action="append",
        default=[],
        metavar="RUN",
        help="train nothing: make the tables from the finished tasks of these run directories (repeat it; seeds "
        "run on other machines or in other sessions) into --out, a new directory; the models stay where they are",
    )
    _add_executor_args(p)


def _add_study(sub):
    p = sub.add_parser("study", help="run a hyperparameter study file (TOML)")
    p.add_argument("config")
    p.add_argument("--out", default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    _add_executor_args(p)


def _add_serve(sub):
    add_serve_arguments(sub.add_parser("serve", help="draw a character in the browser and see what the model reads"))


def add_serve_arguments(p):
    """The options of ``cnnsvm serve``, shared with ``python -m cnnsvm.serve``."""
    p.add_argument(
        "--model", required=True, metavar="FILE", help="model file exported by cnnsvm (with its .json sidecar)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-upload-mb", type=float, default=2.0, help="largest upload in MB (default 2)")
    p.add_argument(
        "--reject-threshold",
        type=float,
        default=0.5,
        help="below this top probability the answer is 'not sure' (default 0.5)",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host header is NAME (repeatable; default: loopback "
        "names and the --host address only, against DNS rebinding); '*' allows any",
    )
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=1,
        metavar="N",
        help="images decoded and classified at once (default 1); up to --max-queue more wait, "
        "beyond that requests get 503 at once",
    )
    p.add_argument("--max-queue", type=int, default=16, metavar="N", help="requests waiting for a slot (default 16)")
    p.add_argument(
        "--allow-teach",
        action="store_true",
        help="let the page teach the model new classes from a few drawings (refits the SVM on the "
        "frozen features; off by default)",
    )
    p.add_argument(
        "--teach-max-examples",
        type=int,
        default=20,
        metavar="N",
        help="with --allow-teach: examples per taught class (default 20)",
    )
    p.add_argument(
        "--teach-max-classes",
        type=int,
        default=10,
        metavar="N",
        help="with --allow-teach: classes that can be taught (default 10)",
    )
    p.add_argument(
        "--teach-views",
        type=int,
        default=9,
        metavar="N",
        help="with --allow-teach: random augmented views of each example a hybrid learns from besides the "
        "example itself (default 9; 0: the examples alone)",
    )
    _add_model_sha256(p)


def _add_sign(sub):
    p = sub.add_parser("sign", help="sign a model file you trust with the key in CNNSVM_MODEL_KEY (HMAC-SHA256)")
    p.add_argument("--model", required=True, metavar="FILE")
    p.add_argument(
        "--model-sha256",
        default=None,
        metavar="HEX",
        help="refuse to sign unless the model file has this SHA-256 (e.g. the one its author published)",
    )


def build_parser():
    """The argument parser of ``cnnsvm``."""
    parser = argparse.ArgumentParser(
        prog="cnnsvm",
        description="Handwritten character recognition: CNN features + SVM, with SVC+PCA and CNN baselines.",
    )
    from cnnsvm import __version__

    parser.add_argument("--version", action="version", version=f"cnnsvm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_train,
        _add_train_extractor,
        _add_fewshot,
        _add_evaluate,
        _add_predict,
        _add_demo,
        _add_compare,
        _add_study,
        _add_serve,
        _add_sign,
    ):
        add(sub)
    return parser


# --------------------------------------------------------------------- commands
def cmd_train(args):
    from cnnsvm.data import load_split
    from cnnsvm.experiments.metrics import evaluate_model
    from cnnsvm.experiments.tasks import precision_of
    from cnnsvm.pipeline import make_method, save, sidecar_path
    from cnnsvm.progress import Stage, format_seconds, log

    out = Path(args.out)
    _refuse_existing(out, args.force)
    if args.features and not args.extractor:
        raise CnnsvmError("--features chooses what a frozen extractor hands on: give it with --extractor")
    if args.extractor and args.method != "hybrid":
        raise CnnsvmError(
            f"--extractor reuses a CNN as the hybrid's feature extractor; it does not apply to "
            f"--method {args.method} (use --method hybrid)"
        )
    verbose = 0 if args.quiet else 1
    extractor = extractor_record = None
    paths, digests = args.extractor or [], args.extractor_sha256 or []
    if digests and len(digests) != len(paths):
        raise CnnsvmError(
            f"got {len(digests)} --extractor-sha256 for {len(paths)} --extractor: give one per extractor file, "
            "in the same order"
        )
    members, metas = [], []
    if paths:
        from cnnsvm.experiments.transfer import extractor_size, load_extractor, trained_sets
    for i, path in enumerate(paths):
        with Stage(f"load extractor {path}", verbose):
            member, meta = load_extractor(path, sha256=digests[i] if digests else None)
        size = extractor_size(member)
        if members and size != args.image_size:
            raise CnnsvmError(
                f"the extractor {path} takes {size}x{size} images, {paths[0]} takes {args.image_size}x"
                f"{args.image_size}: the extractors of an ensemble must read the same images"
            )
        if args.image_size is not None and args.image_size != size:
            raise CnnsvmError(
                f"the extractor {path} takes {size}x{size} images, not --image-size "
                f"{args.image_size}; leave --image-size out (it is taken from the extractor)"
            )
        args.image_size = size
        members.append(member)
        metas.append(meta)
    if members:
        from cnnsvm.features import ExtractorEnsemble

        extractor = members[0] if len(members) == 1 else ExtractorEnsemble(members).fit()
    with Stage(f"load {args.data}", verbose):
        split = load_split(args.data, test_size=args.test_size, random_state=args.seed)
    train, test = split.train.with_light_ink(), split.test.with_light_ink()
    if verbose:
        log(f"  train: {train.describe()}\n  test:  {test.describe()}")
    if extractor is not None:
        from cnnsvm.experiments.transfer import check_unseen

        records = []
        for path, meta in zip(paths, metas, strict=True):
            findings = check_unseen(
                meta,
                split,
                allow_seen=args.allow_seen_data,
                warn=lambda m: print(f"cnnsvm train: {m}", file=sys.stderr),
            )
            records.append(_extractor_record(path, meta, trained_sets, findings))
        extractor_record = records[0] if len(records) == 1 else _ensemble_record(records)
    image_size = args.image_size or 28
    params = {"image_size": image_size, "random_state": args.seed}
    if args.method == "hybrid":
        params.update(
            C=args.C, svm=args.svm, calibration=args.calibration, softmax_weight=args.softmax_weight, n_jobs=args.jobs
        )
    if extractor is not None:
        from cnnsvm.experiments.transfer import hybrid_for_extractor

        # explicit, so that the model's metadata records them (image_size is the extractor's own)
        params.update(calibration_split="auto", features=args.features or "embedding")
        model = hybrid_for_extractor(extractor, **params)
    elif args.method in ("hybrid", "cnn"):
        params.update(
            epochs=args.epochs,
            batch_size=args.batch_size,
            augmentation=args.augmentation,
            elastic=args.elastic,
            max_minutes=args.max_minutes,
            precision=args.precision,
            schedule=args.schedule,
            verbose=verbose,
        )
        if args.architecture:
            params["architecture"] = args.architecture
    if args.method == "pca-svc":
        params.update(C=args.C, n_components=args.components, calibration=args.calibration, n_jobs=args.jobs)
    if extractor is None:
        model = make_method(args.method, **params)
    with Stage(f"fit {args.method}", verbose) as fit_stage:
        model.fit(train.images, train.labels)
    with Stage("evaluate on the test split", verbose):
        scores = evaluate_model(model, test)
    print(
        f"{args.method} on {split.name}: test accuracy {scores['accuracy']:.4f} "
        f"(macro-F1 {scores['macro_f1']:.4f}, {len(test)} images), fit {format_seconds(fit_stage.elapsed)}"
    )
    recorded = {k: v for k, v in params.items() if k != "verbose"}
    save(
        model,
        out,
        class_names=[train.class_names[int(c)] for c in model.classes_],
        metadata={
            "dataset": {
                "spec": args.data,
                "name": split.name,
                "official_split": split.official,
                "test_size": args.test_size,
                "seed": args.seed,
                "n_train": len(train),
                "n_test": len(test),
            },
            "params": recorded,
            "precision": precision_of(model),
            "test_accuracy": scores["accuracy"],
            "test_macro_f1": scores["macro_f1"],
            "fit_seconds": fit_stage.elapsed,
            "command": "cnnsvm " + " ".join(sys.argv[1:]),
            **({"extractor": extractor_record} if extractor_record else {}),
        },
        overwrite=args.force,
    )
    print(f"saved {out} (+ {sidecar_path(out).name})")
    return 0


def _refuse_existing(out, force):
    from cnnsvm.pipeline import sidecar_path

    if not force and (out.exists() or sidecar_path(out).exists()):
        raise CnnsvmError(f"{out} already exists; choose another --out or pass --force to overwrite it")


def _extractor_record(path, meta, trained_sets, findings):
    """What a model fitted on a reused extractor records about it."""
    return {
        "file": Path(path).name,
        "sha256": (meta.get("payload") or {}).get("sha256"),
        "trained_on": [d.get("name") for d in trained_sets(meta)],
        "seen_data": list(findings),
    }


def _ensemble_record(records):
    """What a model fitted on several reused extractors records: each one, and the sets any of them saw."""
    trained_on = [name for r in records for name in r["trained_on"]]
    return {
        "members": records,
        "trained_on": list(dict.fromkeys(trained_on)),
        "seen_data": [finding for r in records for finding in r["seen_data"]],
    }


def cmd_train_extractor(args):
    from cnnsvm.experiments.transfer import train_extractor
    from cnnsvm.pipeline import save, sidecar_path
    from cnnsvm.progress import Stage, format_seconds, log

    out = Path(args.out)
    _refuse_existing(out, args.force)
    if args.epochs < 1:
        raise CnnsvmError(f"--epochs must be at least 1; got {args.epochs}")
    verbose = 0 if args.quiet else 1
    params = dict(
        epochs=args.epochs,
        batch_size=args.batch_size,
        augmentation=args.augmentation,
        elastic=args.elastic,
        max_minutes=args.max_minutes,
        precision=args.precision,
        schedule=args.schedule,
    )
    if args.architecture:
        params["architecture"] = args.architecture
    with Stage(f"train the extractor on the training parts of {len(args.data)} set(s)", verbose) as stage:
        model, record, combined = train_extractor(
            args.data,
            params=params,
            image_size=args.image_size,
            test_size=args.test_size,
            random_state=args.seed,
            max_per_set=args.max_per_set,
            verbose=verbose,
        )
    for d in record["datasets"]:
        subset = f" (a stratified subset of {d['n_available']})" if d["n_available"] != d["n_train"] else ""
        print(
            f"  {d['name']}: {d['n_train']} training images{subset}, {d['n_classes']} classes, "
            f"{d['image_shape'][0]}x{d['image_shape'][1]}"
        )
    from cnnsvm.experiments.generic import extractor_of

    history = extractor_of(model).history_
    val = history.get("val_accuracy")
    summary = f"best validation accuracy {max(val):.4f}, " if val else ""
    print(
        f"extractor: {len(combined)} images of {combined.n_classes} classes, {summary}"
        f"trained in {format_seconds(stage.elapsed)}"
    )
    save(
        model,
        out,
        class_names=combined.class_names,
        metadata={
            "kind": "extractor",
            "extractor": record,
            "dataset": {"name": combined.name},
            "command": "cnnsvm " + " ".join(sys.argv[1:]),
        },
        overwrite=args.force,
    )
    if verbose:
        log(f"  sets recorded in {sidecar_path(out).name}: {', '.join(d['name'] for d in record['datasets'])}")
    print(f"saved {out} (+ {sidecar_path(out).name})")
    return 0


def cmd_fewshot(args):
    from cnnsvm.experiments.fewshot import parse_ks, run_fewshot_cli

    ks = parse_ks(args.k)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    run_fewshot_cli(
        args.extractor,
        args.data,
        args.out,
        ks=ks,
        draws=args.draws,
        methods=methods,
        cnn_epochs=args.cnn_epochs,
        cnn_min_steps=args.cnn_min_steps,
        architecture=args.architecture,
        n_components=args.components,
        **({} if args.features is None else {"features": args.features}),
        **({} if args.views is None else {"views": args.views}),
        test_size=args.test_size,
        random_state=args.seed,
        extractor_sha256=args.extractor_sha256,
        allow_seen=args.allow_seen_data,
        overwrite=args.force,
        verbose=0 if args.quiet else 1,
        command="cnnsvm " + " ".join(sys.argv[1:]),
    )
    return 0


def cmd_evaluate(args):
    import numpy as np

    from cnnsvm.class_check import match_classes
    from cnnsvm.classifiers.reject import predict_with_reject
    from cnnsvm.data import load_split
    from cnnsvm.experiments.metrics import evaluate_model, format_confusion
    from cnnsvm.persistence import load

    model, meta = load(args.model, return_metadata=True, sha256=args.model_sha256)
    recorded = meta.get("metadata", {}).get("dataset", {})
    test_size = args.test_size if args.test_size is not None else recorded.get("test_size", 0.2)
    seed = args.seed if args.seed is not None else recorded.get("seed", 0)
    split = load_split(args.data, test_size=test_size, random_state=seed)
    if args.split == "all":
        from cnnsvm.data import ImageDataset

        data = ImageDataset(
            np.concatenate([split.train.images, split.test.images]),
            np.concatenate([split.train.labels, split.test.labels]),
            split.train.class_names,
            name=split.name,
            ink=split.train.ink,
        )
    else:
        data = split.test if args.split == "test" else split.train
    data, notes = match_classes(
        model.classes_,
        meta.get("class_names"),
        data,
        mode=args.classes,
        names_given=meta.get("class_names_given", True),
    )
    for note in notes:
        print(f"cnnsvm evaluate: {note}", file=sys.stderr)
    scores = evaluate_model(model, data)
    print(f"model: {args.model} ({meta.get('method')}), data: {data.describe()} [{args.split} split]")
    print(f"accuracy: {scores['accuracy']:.4f}   macro-F1: {scores['macro_f1']:.4f}")
    print("\nclassification report:\n" + scores["report"])
    print("confusion matrix:\n" + format_confusion(scores["confusion"], data.class_names))
    if args.reject_threshold is not None:
        labels, confidence, accepted = predict_with_reject(
            model, data.with_light_ink().images, args.reject_threshold, return_accepted=True
        )
        acc = float(np.mean(labels[accepted].astype(int) == data.labels[accepted])) if accepted.any() else float("nan")
        print(
            f"\nreject threshold {args.reject_threshold}: rejected {1 - accepted.mean():.2%}, "
            f"accuracy on accepted {acc:.4f}"
        )
    return 0


def cmd_predict(args):
    from cnnsvm.data import read_image_file, read_kaggle_test, write_kaggle_submission
    from cnnsvm.inference import is_model_shaped, predict_arrays, predict_images
    from cnnsvm.persistence import load

    model, meta = load(args.model, return_metadata=True, sha256=args.model_sha256)
    names = meta.get("class_names")
    csvs = [p for p in args.inputs if p.lower().endswith(".csv")]
    ink = "dark" if args.invert else args.ink
    options = dict(
        class_names=names, ink=ink, top_k=args.top_k, threshold=args.reject_threshold, include_model_input=False
    )
    if csvs:
        if len(args.inputs) != 1:
            raise CnnsvmError("give either one Kaggle test CSV or image files, not both")
        if args.submission and args.reject_threshold > 0:
            raise CnnsvmError(
                "--reject-threshold cannot be used with --submission: a Kaggle submission needs a digit for every image"
            )
        images = read_kaggle_test(csvs[0])
        sources = [f"{csvs[0]}:{i + 1}" for i in range(len(images))]
        if is_model_shaped(model, images):  # in-distribution arrays: exactly model.predict
            predict = predict_arrays
        else:
            h, w = meta.get("input", {}).get("image_shape") or ("?", "?")
            print(
                f"cnnsvm predict: note: the CSV's {images.shape[1]}x{images.shape[2]} images are not the "
                f"{h}x{w} images the model was trained on; each is cropped to its ink and re-framed",
                file=sys.stderr,
            )
            predict, images = predict_images, list(images)
            options["crop"] = not args.no_crop
    else:
        if args.submission:
            raise CnnsvmError("--submission needs a Kaggle test CSV as input")
        images = [read_image_file(p) for p in args.inputs]
        sources = list(args.inputs)
        predict = predict_images
        options["crop"] = not args.no_crop
    results = []
    batch = 4096
    for i in range(0, len(images), batch):
        results += predict(model, images[i : i + batch], **options)
    if args.submission:
        path = write_kaggle_submission([r["label"] for r in results], args.submission, overwrite=args.force)
        print(f"wrote {len(results)} predictions to {path}")
        return 0
    for source, r in zip(sources, results, strict=True):
        if args.json:
            print(json.dumps({"input": source, **r}, ensure_ascii=False))
            continue
        if r["rejected"]:
            best = r["top"][0]
            print(
                f"{source}\t-\t(not sure)\t{r['probability']:.4f}  (rejected; best guess {best['label']} "
                f"{best['class_name']})"
            )
        else:
            print(f"{source}\t{r['label']}\t{r['class_name']}\t{r['probability']:.4f}")
        for alt in r["top"][1:]:
            print(f"\t{alt['label']}\t{alt['class_name']}\t{alt['probability']:.4f}")
    return 0


def cmd_demo(args):
    from cnnsvm.experiments.compare import run_demo

    run_demo(out=args.out, epochs=args.epochs)
    return 0


def cmd_compare(args):
    from cnnsvm.experiments.compare import merge_runs_file, run_comparison_file

    if args.merge:
        if args.out is None:
            raise ValueError("--merge needs --out: the new directory that will hold the merged tables")
        given = [f"--{name}" for name in ("executor", "workers", "address") if getattr(args, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: nothing runs with --merge; leave them out")
        merge_runs_file(args.config, args.merge, args.out, overrides=args.set)
        return 0
    run_comparison_file(
        args.config,
        out=args.out,
        overrides=args.set,
        executor=args.executor,
        workers=args.workers,
        address=args.address,
    )
    return 0


def cmd_study(args):
    from cnnsvm.experiments.study import run_study_file

    run_study_file(
        args.config,
        out=args.out,
        overrides=args.set,
        executor=args.executor,
        workers=args.workers,
        address=args.address,
    )
    return 0


def cmd_serve(args):
    """Run the server with the options of :func:`add_serve_arguments`; returns 0 when it stops."""
    try:
        from cnnsvm.serve import run_server
    except ImportError as exc:
        raise CnnsvmError(str(exc)) from exc

    run_server(
        args.model,
        host=args.host,
        port=args.port,
        max_upload_bytes=int(args.max_upload_mb * 1_000_000),
        reject_threshold=args.reject_threshold,
        allowed_hosts=args.allowed_host,
        max_in_flight=args.max_in_flight,
        max_queue=args.max_queue,
        model_sha256=args.model_sha256,
        allow_teach=args.allow_teach,
        teach_limits=_teach_limits(args),
        teach_views=args.teach_views,
    )
    return 0


def _teach_limits(args):
    if not args.allow_teach:
        return None
    from cnnsvm.serve.teach import TeachLimits

    return TeachLimits(max_examples=args.teach_max_examples, max_classes=args.teach_max_classes)


def cmd_sign(args):
    from cnnsvm.persistence import sign_model

    sidecar = sign_model(args.model, sha256=args.model_sha256)
    print(f"signed {args.model}: {sidecar} now carries an HMAC-SHA256 signature made with CNNSVM_MODEL_KEY")
    return 0


COMMANDS = {
    "train": cmd_train,
    "train-extractor": cmd_train_extractor,
    "fewshot": cmd_fewshot,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "demo": cmd_demo,
    "compare": cmd_compare,
    "study": cmd_study,
    "serve": cmd_serve,
    "sign": cmd_sign,
}


def main(argv=None):
    """Run the ``cnnsvm`` command; returns the exit status.

    Run as a program (``argv`` is None), TensorFlow's C++ start-up log is silenced
    unless ``TF_CPP_MIN_LOG_LEVEL`` is set (see :mod:`cnnsvm._quiet`).
    """
    from cnnsvm._quiet import quiet_tensorflow

    args = build_parser().parse_args(argv)
    quiet = quiet_tensorflow(filter_stderr=argv is None)
    try:
        return _run(args)
    finally:
        if quiet is not None:
            quiet.stop()


def _run(args):
    start = time.perf_counter()
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("cnnsvm: interrupted", file=sys.stderr)
        return 130
    except (CnnsvmError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as exc:
        print(f"cnnsvm {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - no bare traceback for users; the type helps bug reports
        from sklearn.exceptions import NotFittedError

        kind = "error" if isinstance(exc, (ValueError, NotFittedError)) else f"unexpected error ({type(exc).__name__})"
        print(f"cnnsvm {args.command}: {kind}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if args.command not in ("serve",) and time.perf_counter() - start > 60:
            from cnnsvm.progress import format_seconds

            print(f"cnnsvm {args.command}: finished in {format_seconds(time.perf_counter() - start)}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

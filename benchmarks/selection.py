"""Choose the hybrid's SVM settings on validation data carved from training parts (NHCD, or MNIST).

Never reads a test part: each set's training part (the stratified 80 % of the
project's split) is split again, stratified 85/15 with ``random_state=seed``; one
generic extractor is trained on the three 85 % parts together, and every SVM
variant is fitted on a set's 85 % part and scored on its 15 % part.

``--dataset mnist --train-only`` trains and saves an extractor on 90 % of MNIST's
training images instead (the split :func:`validation_parts` gives), for
``ensemble_selection.py --dataset mnist`` to score; this script's SVM grid is
NHCD's (exact SVCs, hours at MNIST's size), so MNIST asks for ``--train-only``.

Compared, per set:

- how the SVM and its probability calibration see the training images: the
  clean images (features the CNN was trained on: "in-sample"), or fresh
  augmented views of them, or calibration on the extractor's own held-out
  validation images (never used for a gradient step);
- the reject score: the calibrated top probability, the SVC's one-vs-rest
  margin (top decision value minus the second), and the generic CNN's own
  softmax as the reference;
- C and gamma of the RBF SVC (gamma as a multiple of scikit-learn's "scale").

Metrics on the validation part: accuracy, AURC (area under the risk-coverage
curve, lower is better), rejection needed for 99.9 % and 100 % reliability.

    python benchmarks/selection.py --epochs 30 --seed 0 --out benchmarks/results/selection.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from cnnsvm.classifiers.selective import confidence_score, selective_summary
from cnnsvm.data import combine_datasets, load_split
from cnnsvm.data.preprocessing import ImagePreprocessor
from cnnsvm.features import CNNFeatureExtractor, build_augmentation
from cnnsvm.features.cnn_base import validation_rows

SETS = ("numerals", "vowels", "consonants")
#: Whose training parts :func:`validation_parts` splits.
DATASETS = ("nhcd", "mnist")


def print_candidates(name, results):
    """One progress line: each candidate's validation accuracy (%) and AURC (%) on set ``name``."""
    scores = {
        k: (round(100 * v["accuracy"], 2), round(100 * v["aurc"], 3)) for k, v in results.items() if isinstance(v, dict)
    }
    print(name, scores, flush=True)


def comma_list(text, allowed, what):
    """The comma-separated names of ``text``, each among ``allowed`` and none twice (else ``ArgumentTypeError``)."""
    items = [t.strip() for t in text.split(",")]
    if not set(items) <= set(allowed) or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"{what} takes a comma-separated subset of {', '.join(allowed)}; got {text!r}")
    return items


def validation_parts(data, split_seed, dataset="nhcd"):
    """Each set's training part split stratified: ``(fit parts, validation parts)``; no test image.

    ``"nhcd"``: the three NHCD sets' training parts (the project's stratified 80 %), each split 85/15.
    ``"mnist"``: MNIST's official 60,000 training images split 90/10 (6,000 validation images, the share a
    comparison's extractor holds out for itself).
    """
    if dataset == "mnist":
        train = load_split(f"mnist:{data}/mnist.npz").train  # the test part is not used below
        idx_fit, idx_val = train_test_split(
            np.arange(len(train)), test_size=0.1, stratify=train.labels, random_state=split_seed
        )
        return [train.subset(idx_fit)], [train.subset(idx_val)]
    fit_parts, val_parts = [], []
    for name in SETS:
        split = load_split(f"npz:{data}/nhcd_{name}.npz?name={name}", test_size=0.2, random_state=0)
        train = split.train.with_light_ink()  # the test part is not used below
        idx_fit, idx_val = train_test_split(
            np.arange(len(train)), test_size=0.15, stratify=train.labels, random_state=split_seed
        )
        fit_parts.append(train.subset(idx_fit))
        val_parts.append(train.subset(idx_val))
    return fit_parts, val_parts


def holdout_mask(ext, labels):
    """Which rows of its training data a fitted extractor held out for early stopping (never a gradient step)."""
    targets = np.searchsorted(ext.classes_, labels)  # the encoded labels the network trained on
    held = np.zeros(len(labels), bool)
    rows = validation_rows(targets, ext.validation_fraction, len(ext.classes_), ext.random_seed_)
    if rows is not None:
        held[rows[1]] = True
    return held


def margin(decision):
    top2 = np.sort(decision, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--dataset", choices=DATASETS, default="nhcd", help="whose training parts to split")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0, help="seed of the validation split (and of the extractor)")
    ap.add_argument("--extractor-seed", type=int, default=None, help="seed of the extractor's training, if not --seed")
    ap.add_argument("--schedule", default="cosine")
    ap.add_argument("--patience", type=int, default=5, help="early-stopping guard of the extractor's training")
    ap.add_argument(
        "--elastic", type=float, default=0.0, help="elastic distortion strength of the extractor's training (default 0)"
    )
    ap.add_argument("--out", default=None)
    ap.add_argument("--save-extractor", default=None, help="joblib file for the trained (preprocessor, extractor)")
    ap.add_argument("--train-only", action="store_true", help="stop once the extractor is trained (and saved)")
    ap.add_argument(
        "--only-default", action="store_true", help="C=10, gamma=scale only, with the extra confidence variants"
    )
    ap.add_argument("--load-extractor", default=None, help="reuse a saved (preprocessor, extractor)")
    ap.add_argument(
        "--tta",
        default=None,
        metavar="VIEWS",
        help="only the default hybrid (temperature SVM + softmax mean), with test-time augmentation: "
        "probabilities averaged over the image and VIEWS random views (comma-separated counts)",
    )
    args = ap.parse_args()

    if args.train_only and (not args.save_extractor or args.load_extractor):
        ap.error("--train-only trains an extractor and saves it: give --save-extractor, not --load-extractor")
    if args.dataset == "mnist" and not args.train_only:
        ap.error(
            "--dataset mnist trains an extractor only (--train-only --save-extractor FILE); score it with "
            "ensemble_selection.py --dataset mnist"
        )
    fit_parts, val_parts = validation_parts(args.data, args.seed, args.dataset)
    union = combine_datasets(fit_parts, name="generic")
    start = time.perf_counter()
    if args.load_extractor:
        import joblib

        prep, ext = joblib.load(args.load_extractor)
        X_union = prep.transform(union.images)
    else:
        prep = ImagePreprocessor(image_size=28).fit(union.images)
        X_union = prep.transform(union.images)
        ext_seed = args.seed if args.extractor_seed is None else args.extractor_seed
        ext = CNNFeatureExtractor(
            epochs=args.epochs,
            schedule=args.schedule,
            patience=args.patience,
            elastic=args.elastic,
            random_state=ext_seed,
            verbose=1,
        )
        ext.fit(X_union, union.labels)
    train_seconds = time.perf_counter() - start
    if args.save_extractor:
        from pathlib import Path

        import joblib

        Path(args.save_extractor).parent.mkdir(parents=True, exist_ok=True)
        joblib.dump((prep, ext), args.save_extractor)
    if args.train_only:
        print(f"extractor saved to {args.save_extractor} ({ext.n_epochs_} epochs, {train_seconds:.0f} s)")
        return
    holdout = holdout_mask(ext, union.labels)
    augment = build_augmentation(1.0, seed=args.seed + 1000)

    if args.tta:
        results = {"seed": args.seed, "tta": tta_study(args, ext, prep, X_union, fit_parts, val_parts, union)}
        if args.out:
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(results, f, indent=1)
        return

    results = {
        "epochs": args.epochs,
        "epochs_run": ext.n_epochs_,
        "schedule": args.schedule,
        "seed": args.seed,
        "train_seconds": train_seconds,
        "best_val_accuracy": max(ext.history_.get("val_accuracy", [0])),
        "sets": {},
    }
    offset = 0
    for part, val in zip(fit_parts, val_parts, strict=True):
        rows = slice(offset, offset + len(part))
        n_classes = part.n_classes
        X_fit = X_union[rows]
        y_fit, y_val = part.labels, val.labels
        F_fit = ext.transform(X_fit)
        F_aug = ext.transform(np.asarray(augment(X_fit.reshape(-1, 28, 28, 1), training=True)).reshape(len(X_fit), -1))
        X_val = prep.transform(val.images)
        F_val = ext.transform(X_val)
        soft = ext.softmax(X_val)[:, offset_labels(union, part.name)]
        h = holdout[rows]
        out = {"n_fit": len(part), "n_val": len(val), "n_holdout": int(h.sum())}
        out["generic-softmax"] = selective_summary(y_val, soft.argmax(1), confidence_score(soft))
        scaler = StandardScaler().fit(F_fit)
        Z_fit, Z_aug, Z_val = scaler.transform(F_fit), scaler.transform(F_aug), scaler.transform(F_val)
        scale_gamma = 1.0 / (Z_fit.shape[1] * Z_fit.var())
        grid = [(10.0, 1.0)] if args.only_default else [(C, g) for C in (1.0, 10.0, 100.0) for g in (0.5, 1.0, 2.0)]
        for C, g in grid:
            svc = SVC(C=C, gamma=g * scale_gamma).fit(Z_fit, y_fit)
            dec = svc.decision_function(Z_val)
            pred = svc.classes_[dec.argmax(1)]
            key = f"C={C:g},gamma={g:g}xscale"
            out[f"{key}/margin"] = selective_summary(y_val, pred, margin(dec))
            if C == 10.0 and g == 1.0:
                pred_cols = np.searchsorted(svc.classes_, pred)
                out[f"{key}/generic-softmax-of-answer"] = selective_summary(
                    y_val, pred, soft[np.arange(len(pred)), pred_cols]
                )
                for where, Z_cal in (("cv-clean", None), ("augmented", Z_aug)):
                    if Z_cal is None:
                        t = CalibratedClassifierCV(
                            SVC(C=C, gamma=g * scale_gamma), method="temperature", cv=3, ensemble=False
                        ).fit(Z_fit, y_fit)
                    else:
                        t = CalibratedClassifierCV(FrozenEstimator(svc), method="temperature").fit(Z_cal, y_fit)
                    p = t.predict_proba(Z_val)
                    out[f"{key}/temperature-{where}"] = selective_summary(
                        y_val, t.classes_[p.argmax(1)], confidence_score(p)
                    )
                    mixed = 0.5 * (p + soft)
                    out[f"{key}/temperature-{where}+softmax-mean"] = selective_summary(
                        y_val, t.classes_[mixed.argmax(1)], confidence_score(mixed)
                    )
            if g == 1.0:
                cv = CalibratedClassifierCV(
                    SVC(C=C, gamma=g * scale_gamma), method="sigmoid", cv=3, ensemble=False
                ).fit(Z_fit, y_fit)
                p = cv.predict_proba(Z_val)
                out[f"{key}/proba-cv-clean"] = selective_summary(y_val, cv.classes_[p.argmax(1)], confidence_score(p))
                cal = CalibratedClassifierCV(FrozenEstimator(svc), method="sigmoid").fit(Z_aug, y_fit)
                p = cal.predict_proba(Z_val)
                out[f"{key}/proba-augmented"] = selective_summary(y_val, cal.classes_[p.argmax(1)], confidence_score(p))
                if h.sum() >= 2 * n_classes:
                    svc_in = SVC(C=C, gamma=g * scale_gamma).fit(Z_fit[~h], y_fit[~h])
                    cal = CalibratedClassifierCV(FrozenEstimator(svc_in), method="sigmoid").fit(Z_fit[h], y_fit[h])
                    p = cal.predict_proba(Z_val)
                    out[f"{key}/proba-holdout"] = selective_summary(
                        y_val, cal.classes_[p.argmax(1)], confidence_score(p)
                    )
            if args.only_default:
                continue
            # The SVM and its calibration fitted on augmented views only (what a pipeline step
            # whose fit_transform returns augmented-view features gives).
            scaler_a = StandardScaler().fit(F_aug)
            Za_fit, Za_val = scaler_a.transform(F_aug), scaler_a.transform(F_val)
            gamma_a = g / (Za_fit.shape[1] * Za_fit.var())
            cal = CalibratedClassifierCV(SVC(C=C, gamma=gamma_a), method="sigmoid", cv=3, ensemble=False).fit(
                Za_fit, y_fit
            )
            p = cal.predict_proba(Za_val)
            dec = cal.calibrated_classifiers_[0].estimator.decision_function(Za_val)
            out[f"{key}/augfit/proba-cv"] = selective_summary(y_val, cal.classes_[p.argmax(1)], confidence_score(p))
            out[f"{key}/augfit/margin"] = selective_summary(y_val, cal.classes_[p.argmax(1)], margin(dec))
        results["sets"][part.name] = out
        offset += len(part)
        print(
            part.name, json.dumps({k: v for k, v in out.items() if isinstance(v, dict)}, indent=None)[:3000], flush=True
        )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


def tta_study(args, ext, prep, X_union, fit_parts, val_parts, union):
    """Default hybrid on each validation part, with probabilities averaged over random views of each image.

    Views at strength 0.5 and 1.0 of the training augmentation; the SVM and its
    temperature are fitted once on the clean fit-part features, as by default.
    """
    counts = [int(c) for c in args.tta.split(",")]
    out, offset = {}, 0
    for part, val in zip(fit_parts, val_parts, strict=True):
        rows = slice(offset, offset + len(part))
        offset += len(part)
        scaler = StandardScaler().fit(ext.transform(X_union[rows]))
        Z_fit = scaler.transform(ext.transform(X_union[rows]))
        svm = CalibratedClassifierCV(SVC(C=10.0, gamma="scale"), method="temperature", cv=3, ensemble=False).fit(
            Z_fit, part.labels
        )
        columns = offset_labels(union, part.name)
        X_val = prep.transform(val.images)

        clean = _blend(ext, scaler, svm, columns, X_val)
        res = {
            "n_val": len(val),
            "views=0": selective_summary(val.labels, svm.classes_[clean.argmax(1)], confidence_score(clean)),
        }
        images = X_val.reshape(-1, 28, 28, 1)
        for strength in (0.5, 1.0):
            augment = build_augmentation(strength, seed=args.seed + 2000)
            total, done = clean.copy(), 0
            for n in counts:
                while done < n:
                    view = np.asarray(augment(images, training=True)).reshape(len(images), -1)
                    total += _blend(ext, scaler, svm, columns, view)
                    done += 1
                p = total / (n + 1)
                res[f"views={n},strength={strength:g}"] = selective_summary(
                    val.labels, svm.classes_[p.argmax(1)], confidence_score(p)
                )
        out[part.name] = res
        print_candidates(part.name, res)
    return out


def _blend(ext, scaler, svm, columns, images):
    """What HybridPipeline.predict_proba computes: the mean of the SVM's probabilities and the softmax block."""
    F = ext.transform(images)
    soft = ext.softmax_from_features(F)[:, columns]
    soft /= soft.sum(axis=1, keepdims=True)
    return 0.5 * svm.predict_proba(scaler.transform(F)) + 0.5 * soft


def offset_labels(union, name):
    for part_name, offset, n in union.extra["parts"]:
        if part_name == name:
            return np.arange(offset, offset + n)
    raise KeyError(name)


if __name__ == "__main__":
    main()

"""Choose between one generic extractor and an ensemble of them, on validation data carved from training parts.

Never reads a test part. The validation split is the one of
``benchmarks/selection.py`` (NHCD: each set's training part split again,
stratified 85/15 with ``random_state=--split-seed``; ``--dataset mnist``: MNIST's
training images split 90/10); every extractor given was trained by that script
on the fit parts with that split seed (``--extractor-seed`` changes only the
network's own randomness), so no validation image reached any of them.

Compared, per set, with the default hybrid (StandardScaler, RBF SVC with C = 10
and gamma = "scale", temperature calibration by 3-fold CV, probabilities the mean
of the SVM's and the generic softmax restricted to the set's classes):

- each extractor alone;
- ``concat``: one SVM on the members' features side by side, blended with the
  mean of their softmaxes (what :class:`cnnsvm.features.ExtractorEnsemble` gives);
- ``mean``: one hybrid per member, their blended probabilities averaged.

``--features embedding,spatial`` repeats each of these on what the SVM sees: the
embedding (the default), or the embedding with the last convolutional blocks'
grid means (:mod:`cnnsvm.features.spatial`); rows are keyed ``spatial/...``.
``--solver approx`` fits the scalable SVM (Nystroem + linear SVM, what
``solver = "auto"`` uses from 20,000 training samples on; its landmarks drawn
with ``random_state=0`` in every row) instead of the exact SVC.

    python benchmarks/ensemble_selection.py A.joblib B.joblib [--features embedding,spatial] --out results.json
"""

from __future__ import annotations

import argparse
import json
import time

import joblib
import numpy as np
from selection import DATASETS, comma_list, print_candidates, validation_parts  # benchmarks/selection.py, beside it
from sklearn.calibration import CalibratedClassifierCV
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from cnnsvm.classifiers.generic_softmax import softmax_block
from cnnsvm.classifiers.selective import confidence_score, selective_summary
from cnnsvm.classifiers.svm import make_svm
from cnnsvm.data import combine_datasets


def summary(y_val, classes, proba):
    """Selective-classification summary of probabilities over ``classes`` (accuracy, AURC, ...) and the
    validation rows answered wrongly (``"wrong"``, for paired tests between runs)."""
    predicted = np.asarray(classes)[proba.argmax(1)]
    wrong = np.flatnonzero(predicted != np.asarray(y_val)).tolist()
    return {**selective_summary(y_val, predicted, confidence_score(proba)), "wrong": wrong}


def renormalised(soft):
    """A set's block of softmax columns, renormalised as the hybrid does (uniform where it is all 0)."""
    return softmax_block(soft, np.arange(soft.shape[1]))


#: The SVMs :func:`hybrid_proba` fits: the exact SVC, or the scalable one of ``solver = "auto"``.
SOLVERS = ("exact", "approx")


def hybrid_proba(F_fit, y_fit, F_val, soft_val, solver="exact", random_state=0):
    """The default hybrid's blended probabilities on validation features (``soft_val``: the set's softmax block).

    ``solver="exact"``: an RBF SVC (C = 10, gamma = "scale", temperature calibration
    on 3 folds); ``"approx"``: make_svm's scalable SVM with those settings, its
    landmarks drawn with ``random_state``.
    """
    scaler = StandardScaler().fit(F_fit)
    if solver == "exact":
        svm = CalibratedClassifierCV(SVC(C=10.0, gamma="scale"), method="temperature", cv=3, ensemble=False)
    else:
        svm = make_svm(solver, C=10.0, gamma="scale", random_state=random_state)
    svm.fit(scaler.transform(F_fit), y_fit)
    return svm.classes_, 0.5 * svm.predict_proba(scaler.transform(F_val)) + 0.5 * renormalised(soft_val)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("extractors", nargs="+", help="joblib files of (preprocessor, extractor) saved by selection.py")
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--dataset", choices=DATASETS, default="nhcd", help="whose validation split to read")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--solver", choices=SOLVERS, default="exact", help="the SVM (default: exact SVC)")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--features",
        default=["embedding"],
        type=lambda t: comma_list(t, ("embedding", "spatial"), "--features"),
        help="comma-separated: embedding, spatial (what the SVM sees; default embedding)",
    )
    args = ap.parse_args()
    kinds = args.features

    fit_parts, val_parts = validation_parts(args.data, args.split_seed, args.dataset)  # what selection.py trains on
    union = combine_datasets(fit_parts, name="generic")
    members = [joblib.load(path) for path in args.extractors]
    results = {
        "dataset": args.dataset,
        "solver": args.solver,
        "split_seed": args.split_seed,
        "extractors": args.extractors,
        "members": [],
        "sets": {},
    }
    for _, ext in members:
        results["members"].append(
            {
                "random_state": ext.random_state,
                "elastic": float(getattr(ext, "elastic", 0.0)),
                "epochs_run": ext.n_epochs_,
                "best_val_accuracy": max(ext.history_.get("val_accuracy", [0])),
            }
        )
    for part, val in zip(fit_parts, val_parts, strict=True):
        start = time.perf_counter()
        offset, n = next((o, k) for p, o, k in union.extra["parts"] if p == part.name)
        columns = np.arange(offset, offset + n)
        feats_fit, feats_val, softs = [], [], []
        for prep, ext in members:
            read = ext.spatial_features if "spatial" in kinds else ext.transform
            feats_fit.append(read(prep.transform(part.images)))
            F_val = read(prep.transform(val.images))
            feats_val.append(F_val)
            softs.append(ext.softmax_from_features(F_val)[:, columns])
        n_embedding = [len(ext.get_feature_names_out()) for _, ext in members]
        y_fit, y_val = part.labels, val.labels
        out = {"n_fit": len(part), "n_val": len(val)}
        soft_mean = np.mean(softs, axis=0)
        for kind in kinds:
            # the spatial features' first columns are the embedding (cnnsvm.features.spatial)
            cut = [slice(None) if kind == "spatial" else slice(0, n) for n in n_embedding]
            fit_k = [F[:, c] for F, c in zip(feats_fit, cut, strict=True)]
            val_k = [F[:, c] for F, c in zip(feats_val, cut, strict=True)]
            prefix = "" if kind == "embedding" else f"{kind}/"
            probas = []
            for i in range(len(members)):
                classes, p = hybrid_proba(fit_k[i], y_fit, val_k[i], softs[i], args.solver)
                probas.append(p)
                out[f"{prefix}member{i}"] = summary(y_val, classes, p)
            if len(members) > 1:
                classes, p = hybrid_proba(np.hstack(fit_k), y_fit, np.hstack(val_k), soft_mean, args.solver)
                out[f"{prefix}concat"] = summary(y_val, classes, p)
                p = np.mean(probas, axis=0)
                out[f"{prefix}mean"] = summary(y_val, classes, p)
        s = renormalised(soft_mean)
        out["softmax-mean"] = summary(y_val, np.arange(s.shape[1]), s)
        out["seconds"] = time.perf_counter() - start
        results["sets"][part.name] = out
        print_candidates(part.name, out)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

"""Recompute a saved extractor's batch-normalisation statistics on clean training images (a pilot).

A network trained on augmented images keeps, in each batch-normalisation layer, moving
statistics of augmented batches; it predicts clean images with them. This script replaces them
by the mean of the per-batch statistics over clean images of the extractor's own fit part
(``selection.py``'s split: no validation or test image), leaving every trained weight as it is,
and saves the result as a new extractor file for ``ensemble_selection.py`` to score. The batches
hold 1,024 images and count alike; the variance leaves out the spread of the batch means. Dropout
is off during the pass, so each layer sees what it sees at prediction time.

    python benchmarks/bn_recalibration.py ../runs/x/ext.joblib --dataset mnist --out ../runs/x/ext_bn.joblib
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import keras
import numpy as np
from selection import DATASETS, validation_parts  # benchmarks/selection.py, beside it

from cnnsvm.data import combine_datasets


def recalibrate(ext, images, batch_size=1024):
    """Set every BatchNormalization layer's moving mean and variance of ``ext.network_`` to the mean of
    its batch statistics over ``images`` (preprocessed, (n, h, w, 1)); returns the number of layers."""
    net = ext.network_
    norms = [layer for layer in net.layers if isinstance(layer, keras.layers.BatchNormalization)]
    drops = [layer for layer in net.layers if isinstance(layer, keras.layers.Dropout)]
    saved = [(layer, layer.momentum) for layer in norms], [(layer, layer.rate) for layer in drops]
    for layer in drops:
        layer.rate = 0.0
    try:
        for i, start in enumerate(range(0, len(images), batch_size)):
            for layer in norms:
                layer.momentum = i / (i + 1)  # moving value := running mean of the batches' statistics
            net(images[start : start + batch_size], training=True)
    finally:
        for layer, momentum in saved[0]:
            layer.momentum = momentum
        for layer, rate in saved[1]:
            layer.rate = rate
    ext._predict_fns = {}  # compiled forward passes are rebuilt from the new statistics
    return len(norms)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("extractor", help="joblib file of (preprocessor, extractor) saved by selection.py")
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--dataset", choices=DATASETS, default="mnist", help="whose fit part to read")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="joblib file for the recalibrated (preprocessor, extractor)")
    args = ap.parse_args()
    if Path(args.out).exists():
        ap.error(f"{args.out} exists; give another --out")
    prep, ext = joblib.load(args.extractor)
    fit_parts, _ = validation_parts(args.data, args.split_seed, args.dataset)  # the validation parts are not read
    union = combine_datasets(fit_parts, name="generic")
    height, width = ext.input_shape_
    images = prep.transform(union.images).astype(np.float32).reshape(-1, height, width, 1)
    n = recalibrate(ext, images)
    joblib.dump((prep, ext), args.out)
    print(f"{n} batch-normalisation layers recomputed on {len(images)} clean fit images; saved {args.out}")


if __name__ == "__main__":
    main()

"""Shared fixtures: small labelled images and small fitted models, built once per session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from cnnsvm.data.sklearn_digits import load_digits_dataset
from cnnsvm.data.splits import train_test_split_dataset

# Tiny CNN settings: enough to learn the digits, fast on 2 cores.
SMALL_CNN = dict(architecture="small", epochs=6, batch_size=64, patience=3)


@pytest.fixture(scope="session")
def digits_split():
    """The embedded digits, stratified 80/20 with seed 0."""
    return train_test_split_dataset(load_digits_dataset(), test_size=0.2, random_state=0)


@pytest.fixture(scope="session")
def fitted_hybrid(digits_split):
    from cnnsvm.pipeline import make_hybrid

    train = digits_split.train
    return make_hybrid(image_size=16, **SMALL_CNN).fit(train.images, train.labels)


@pytest.fixture(scope="session")
def fitted_pca_svc(digits_split):
    from cnnsvm.pipeline import make_pca_svc

    train = digits_split.train
    return make_pca_svc(image_size=8, n_components=20).fit(train.images, train.labels)


def blobs_images(n_per_class=30, n_classes=3, size=12, seed=0):
    """Synthetic light-ink images: class k is a bright bar at row k * size // n_classes."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k in range(n_classes):
        for _ in range(n_per_class):
            img = rng.integers(0, 40, size=(size, size))
            row = k * size // n_classes + rng.integers(0, 2)
            img[row : row + 2, 2 : size - 2] = 255
            images.append(img)
            labels.append(k)
    return np.asarray(images, np.uint8), np.asarray(labels)

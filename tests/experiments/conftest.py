"""Shared fixtures: two tiny synthetic datasets on disk and one full comparison run over them."""

import hashlib

import numpy as np
import pytest

from cnnsvm.data.preprocessing import ImagePreprocessor
from cnnsvm.experiments.config import METHODS

SIDE = 12


def make_images(n_classes, per_class, *, vertical, seed):
    """Noisy 12x12 images; class k has a bright bar at position 2 + 2k (rows or columns)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k in range(n_classes):
        block = rng.integers(0, 60, (per_class, SIDE, SIDE))
        pos = 2 + 2 * k
        if vertical:
            block[:, 2:-2, pos] = rng.integers(180, 256, (per_class, SIDE - 4))
        else:
            block[:, pos, 2:-2] = rng.integers(180, 256, (per_class, SIDE - 4))
        images.append(block)
        labels.append(np.full(per_class, k))
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """``alpha.npz`` (3 classes, light ink) and ``beta.npz`` (4 classes, dark ink)."""
    folder = tmp_path_factory.mktemp("data")
    x, y = make_images(3, 40, vertical=False, seed=1)
    np.savez(folder / "alpha.npz", x=x, y=y)
    x, y = make_images(4, 30, vertical=True, seed=2)
    np.savez(folder / "beta.npz", x=255 - x, y=y)
    return folder


def experiment_data(data_dir, **changes):
    """A comparison config (as read from TOML) over the two tiny sets; fast CNN settings."""
    data = {
        "name": "tiny",
        "methods": list(METHODS),
        "seeds": [0],
        "image_size": SIDE,
        "datasets": [
            {"name": "alpha", "spec": f"npz:{data_dir / 'alpha.npz'}?ink=light"},
            {"name": "beta", "spec": f"npz:{data_dir / 'beta.npz'}?ink=dark"},
        ],
        "training": {"epochs": 1, "batch_size": 32, "patience": 1, "augmentation": 0.5},
        "generic": {"architecture": "small", "elastic": 0.5},  # elastic: so that hybrid-noelastic has an ablation
        "svc": {"C": 10.0},
        "method": {
            "mlp": {"hidden_layer_sizes": [16], "max_iter": 30},
            "pca-svc": {"n_components": 10},
            "cnn": {"architecture": "small"},
            "cnn-article": {"dense_units": 16, "filters": [4, 8]},
        },
    }
    data.update(changes)
    return data


def image_digests(images):
    return {hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest() for img in np.asarray(images)}


@pytest.fixture(scope="session")
def full_run(data_dir, tmp_path_factory):
    """Every method, one seed, recording every image that reaches a preprocessor's ``fit``.

    Each pipeline (and the generic extractor) starts with ``ImagePreprocessor.fit``
    on exactly the images it is trained on, so the record covers every training step.
    """
    from cnnsvm.experiments.compare import run_comparison
    from cnnsvm.experiments.config import parse_experiment

    seen = []
    original = ImagePreprocessor.fit

    def recording_fit(self, X, y=None):
        seen.append(np.asarray(X).copy())
        return original(self, X, y)

    out = tmp_path_factory.mktemp("runs") / "tiny"
    config = parse_experiment(experiment_data(data_dir))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ImagePreprocessor, "fit", recording_fit)
        run = run_comparison(config, out=out, verbose=False)
    return {"run": run, "out": out, "config": config, "fitted_images": seen}

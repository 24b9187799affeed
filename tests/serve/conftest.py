"""Fixtures of the serve tests: a small model file that reads clearly drawn digits."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def digits_model_file(tmp_path_factory):
    """A pca-svc model of sklearn's digits, exported with its sidecar (fits in about a second)."""
    from sklearn.datasets import load_digits

    from cnnsvm.pipeline import make_pca_svc, save

    digits = load_digits()
    images = (digits.images * 255 / 16).round().astype(np.uint8)
    model = make_pca_svc(n_components=20).fit(images, digits.target)
    path = tmp_path_factory.mktemp("serve-model") / "m.joblib"
    return save(model, path, class_names=[str(d) for d in range(10)], metadata={"dataset": "digits"})

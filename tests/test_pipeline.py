import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score

from cnnsvm.exceptions import ConfigError, ModelFileError
from cnnsvm.features import CNNFeatureExtractor
from cnnsvm.pipeline import (
    describe_method,
    load,
    make_cnn,
    make_hybrid,
    make_method,
    make_pca_svc,
    read_metadata,
    save,
    sidecar_path,
)
from tests.conftest import SMALL_CNN


def test_hybrid_learns_the_digits(fitted_hybrid, digits_split):
    test = digits_split.test
    assert fitted_hybrid.score(test.images, test.labels) > 0.9
    proba = fitted_hybrid.predict_proba(test.images[:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(1), 1)


def test_pca_svc_baseline(fitted_pca_svc, digits_split):
    test = digits_split.test
    assert fitted_pca_svc.score(test.images, test.labels) > 0.95
    assert describe_method(fitted_pca_svc) == "pca-svc"


def test_frozen_extractor_is_not_retrained(digits_split):
    train = digits_split.train
    from cnnsvm.data.preprocessing import ImagePreprocessor

    X = ImagePreprocessor(image_size=16).fit_transform(train.images)
    ext = CNNFeatureExtractor(**{**SMALL_CNN, "epochs": 2}).fit(X, train.labels)
    before = [w.copy() for w in ext.network_.get_weights()]
    model = make_hybrid(ext, image_size=16)
    # Fit on a subset of classes: a retrained extractor would change its classes and weights.
    keep = train.labels < 5
    model.fit(train.images[keep], train.labels[keep])
    after = ext.network_.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert list(ext.classes_) == list(range(10))
    assert list(model.classes_) == [0, 1, 2, 3, 4]
    # clone keeps the frozen, fitted extractor (cross-validation reuses it)
    assert clone(model).named_steps["cnn"].extractor is ext
    scores = cross_val_score(model, train.images[keep][:300], train.labels[keep][:300], cv=2)
    assert len(scores) == 2 and scores.min() > 0.5


def test_pipelines_work_in_grid_search(digits_split):
    train = digits_split.train
    search = GridSearchCV(make_pca_svc(image_size=8, probability=False), {"pca__n_components": [5, 20]}, cv=2)
    search.fit(train.images[:400], train.labels[:400])
    assert search.best_params_["pca__n_components"] in (5, 20)
    cnn = make_cnn(image_size=8, **{**SMALL_CNN, "epochs": 1})
    assert clone(cnn).get_params()["cnn__architecture"] == "small"
    assert make_method("hybrid", C=3.0).get_params()["svm__estimator__C"] == 3.0
    with pytest.raises(ConfigError, match="unknown method"):
        make_method("knn")


def test_save_load_round_trip_gives_identical_predictions(tmp_path, fitted_hybrid, digits_split):
    test = digits_split.test
    path = save(
        fitted_hybrid, tmp_path / "m.joblib", class_names=[f"d{i}" for i in range(10)], metadata={"dataset": "digits"}
    )
    loaded, meta = load(path, return_metadata=True)
    assert np.array_equal(loaded.predict(test.images), fitted_hybrid.predict(test.images))
    assert np.array_equal(loaded.predict_proba(test.images), fitted_hybrid.predict_proba(test.images))
    assert meta["method"] == "hybrid"
    assert meta["class_names"][3] == "d3" and meta["classes"] == list(range(10))
    assert meta["input"]["image_shape"] == [8, 8] and meta["input"]["model_size"] == 16
    assert meta["versions"]["scikit-learn"] and meta["metadata"]["dataset"] == "digits"


def test_save_never_overwrites_without_permission(tmp_path, fitted_pca_svc):
    path = tmp_path / "m.joblib"
    save(fitted_pca_svc, path)
    original = path.read_bytes()
    with pytest.raises(ModelFileError, match="already exists"):
        save(fitted_pca_svc, path)
    assert path.read_bytes() == original
    save(fitted_pca_svc, path, overwrite=True)
    with pytest.raises(NotFittedError):
        save(make_pca_svc(), tmp_path / "unfitted.joblib")
    assert not (tmp_path / "unfitted.joblib").exists()


def test_tampered_truncated_and_incompatible_files_are_refused(tmp_path, fitted_pca_svc):
    path = save(fitted_pca_svc, tmp_path / "m.joblib")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256"):
        load(path)
    path.write_bytes(bytes(data[:-100]))
    with pytest.raises(ModelFileError, match="truncated"):
        load(path)

    path = save(fitted_pca_svc, tmp_path / "v.joblib")
    meta = json.loads(sidecar_path(path).read_text())
    meta["versions"]["scikit-learn"] = "0.24.2"
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="scikit-learn 0.24.2"):
        load(path)
    assert load(path, check_versions=False).predict(np.zeros((1, 8, 8), np.uint8)).shape == (1,)

    meta["format_version"] = 99
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="newer"):
        read_metadata(path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(path)
    sidecar_path(path).unlink()
    with pytest.raises(ModelFileError, match="missing"):
        load(path)
    with pytest.raises(ModelFileError, match="not found"):
        load(tmp_path / "nope.joblib")


def test_predicting_before_fitting_is_an_error():
    with pytest.raises(NotFittedError):
        make_hybrid().predict(np.zeros((1, 8, 8)))


def test_same_image_same_answer_alone_in_any_batch_and_as_unit_floats(fitted_hybrid, fitted_pca_svc, digits_split):
    test = digits_split.test
    X = test.images[:12]
    for model in (fitted_pca_svc, fitted_hybrid):
        reference = model.predict(X)
        assert np.array_equal(model.predict(X / 255.0), reference)
        assert np.array_equal(model.predict(X.astype(np.float32) / np.float32(255)), reference)
        alone = np.array([model.predict(X[i : i + 1] / 255.0)[0] for i in range(len(X))])
        assert np.array_equal(alone, reference)
        others = np.concatenate([255 - test.images[12:40], X, test.images[40:60]])  # other images, other ink
        assert np.array_equal(model.predict(others / 255.0)[28:40], reference)
    with pytest.raises(Exception, match=r"float pixels must lie in \[0, 1\]"):
        fitted_pca_svc.predict(np.concatenate([X[:10] / 255.0, X[10:11].astype(float)]))


def test_the_model_knows_its_ink_and_the_sidecar_says_it(tmp_path, digits_split):
    train, test = digits_split.train, digits_split.test
    dark_model = make_pca_svc(image_size=8, n_components=20).fit(255 - train.images, train.labels)
    light_model = make_pca_svc(image_size=8, n_components=20).fit(train.images, train.labels)
    for model, ink in ((dark_model, "dark"), (light_model, "light")):
        meta = read_metadata(save(model, tmp_path / f"{ink}.joblib"))
        assert meta["format_version"] == 2
        assert meta["input"]["ink"] == ink and meta["input"]["network_ink"] == "light"
        assert meta["input"]["ink_mode"] == "auto" and "[0, 1]" in meta["input"]["pixels"]
        assert 0 < meta["input"]["framing"]["fill_fraction"] <= 1
        # either polarity is read right by either model (ink="auto" tells each image's polarity)
        for images in (test.images, 255 - test.images):
            assert model.score(images, test.labels) > 0.95


def test_persistence_functions_are_still_importable_from_pipeline():
    import cnnsvm.persistence as persistence
    import cnnsvm.pipeline as pipeline

    for name in ("save", "load", "read_metadata", "sidecar_path", "sign_model", "library_versions", "MODEL_KEY_ENV"):
        assert getattr(pipeline, name) is getattr(persistence, name)

"""Teaching a served model a new class from a few drawings (``--allow-teach``), and its bounds."""

import copy
import io
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from cnnsvm.exceptions import ConfigError
from cnnsvm.features.views import unwrap_extractor
from cnnsvm.pipeline import load, save
from cnnsvm.serve import create_app
from cnnsvm.serve.teach import TeachLimits

from .helpers import data_url, draw_digit, encode

LOCAL = "http://127.0.0.1"


def cross(offset=0, width=22, size=280):
    """A drawn 'X' (no digit looks like it), shifted by ``offset`` pixels, as a data URL."""
    image = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(image)
    a, b = 60 + offset, 220 + offset
    pen.line([(a, a), (b, b)], fill=255, width=width)
    pen.line([(a, b), (b, a)], fill=255, width=width)
    return data_url(encode(image))


CROSSES = [cross(0), cross(-20, 18), cross(15, 26)]


def teach_client(path, **kwargs):
    return TestClient(base_url=LOCAL, app=create_app(path, allow_teach=True, **kwargs))


@pytest.fixture()
def client(digits_model_file):
    with teach_client(digits_model_file) as test_client:
        yield test_client


def predict(client, url):
    response = client.post("/api/predict", json={"image": url})
    assert response.status_code == 200, response.text
    return response.json()


def test_teach_three_examples_then_predict_the_new_class(client):
    before = predict(client, cross(5, 20))
    assert before["top"][0]["class_name"] != "cross"
    response = client.post("/api/teach", json={"name": "cross", "images": CROSSES})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["name"] == "cross" and answer["label"] == 10 and answer["n_examples"] == 3
    assert answer["n_classes"] == 11 and answer["class_names"][-1] == "cross"
    assert answer["refit_ms"] > 0
    after = predict(client, cross(5, 20))  # a fourth drawing, not one of the examples
    assert after["top"][0]["label"] == 10 and after["top"][0]["class_name"] == "cross"
    assert predict(client, data_url(encode(draw_digit("1"))))["top"][0]["class_name"] == "1"
    model = client.get("/api/model").json()
    assert model["n_classes"] == 11 and model["teach"]["taught"] == [{"name": "cross", "label": 10, "n_examples": 3}]
    # more examples of the same class are added to it
    more = client.post("/api/teach", json={"name": "cross", "images": [cross(-10, 24)]}).json()
    assert more["n_examples"] == 4 and more["n_classes"] == 11


def test_taught_model_exports_and_loads(client, tmp_path):
    assert client.get("/api/teach/export").status_code == 422  # nothing taught yet
    assert client.post("/api/teach", json={"name": "cross", "images": CROSSES}).status_code == 200
    response = client.get("/api/teach/export")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["taught.joblib", "taught.joblib.json"]
        archive.extractall(tmp_path)
    model, meta = load(tmp_path / "taught.joblib", return_metadata=True)
    assert meta["class_names"][-1] == "cross" and len(model.classes_) == 11
    assert meta["metadata"]["taught"]["classes"] == [{"name": "cross", "label": 10, "n_examples": 3}]
    with teach_client(tmp_path / "taught.joblib") as reloaded:
        assert predict(reloaded, cross(5, 20))["top"][0]["class_name"] == "cross"
        # the taught model (a PairwiseSVC on the model's SVC) can itself be taught another class
        circle = [data_url(encode(_circle(r))) for r in (70, 90, 110)]
        answer = reloaded.post("/api/teach", json={"name": "circle", "images": circle})
        assert answer.status_code == 200, answer.text
        assert answer.json()["class_names"][-2:] == ["cross", "circle"]


def _circle(radius, size=280, width=22):
    image = Image.new("L", (size, size), 0)
    c = size // 2
    ImageDraw.Draw(image).ellipse([c - radius, c - radius, c + radius, c + radius], outline=255, width=width)
    return image


def _support_of_class(svc, k):
    start = np.concatenate([[0], np.cumsum(svc.n_support_)])
    return svc.support_vectors_[start[k] : start[k + 1]]


def test_teaching_fits_only_the_new_class_pairs(fitted_pca_svc, digits_split):
    # The taught SVM is the one an RBF SVC with the model's C and kernel width, refitted on the
    # model's support vectors plus the examples, would be; the old pairs are the model's own;
    # the probabilities keep the model's temperature.
    from scipy.special import softmax
    from sklearn.svm import SVC

    from cnnsvm.classifiers._sklearn_fastpath import fitted_gamma
    from cnnsvm.classifiers.ovo import class_pairs
    from cnnsvm.classifiers.pairwise import PairwiseSVC
    from cnnsvm.serve.teach import Teacher, _svc_of, _temperature_of

    teacher = Teacher(fitted_pca_svc, [str(d) for d in range(10)])
    base = _svc_of(fitted_pca_svc.steps[-1][1])
    features = _support_of_class(base, 0)[:3] + 0.5  # three examples near class 0's support vectors
    answer = teacher.teach("near zero", features)
    assert answer["label"] == 10 and answer["refit_ms"] > 0
    step = teacher.model.steps[-1][1]
    assert isinstance(step, PairwiseSVC) and step.classes_.tolist() == list(range(11))
    pairs = class_pairs(11)
    new_pairs = [p for p, (i, j) in enumerate(pairs) if j == 10]
    old_pairs = [p for p, (i, j) in enumerate(pairs) if j < 10]  # in class_pairs(10)'s order
    X = np.vstack([base.support_vectors_, features])
    y = np.concatenate([np.repeat(base.classes_, base.n_support_), [10, 10, 10]])
    refit = SVC(C=base.C, gamma=fitted_gamma(base), decision_function_shape="ovo").fit(X, y)
    test = teacher.features(digits_split.test.images)[:, 0]  # a pca-svc: no views
    ovo = step._ovo(test)
    np.testing.assert_allclose(ovo[:, new_pairs], refit.decision_function(test)[:, new_pairs], rtol=1e-6, atol=1e-8)
    own = copy.copy(base).set_params(decision_function_shape="ovo")  # the model's own pairs
    np.testing.assert_allclose(ovo[:, old_pairs], own.decision_function(test), rtol=1e-9, atol=1e-9)
    beta = _temperature_of(fitted_pca_svc.steps[-1][1])
    np.testing.assert_allclose(step.predict_proba(test), softmax(beta * step.decision_function(test), axis=1))


def test_each_new_class_extends_the_current_svm_and_more_examples_refit_the_taught_pairs(fitted_pca_svc):
    # Classes taught one after the other give the SVM of all of them taught at once; more
    # examples of a taught class fit its pairs again, from the model's own SVM.
    from sklearn.frozen import FrozenEstimator

    from cnnsvm.classifiers.pairwise import PairwiseSVC
    from cnnsvm.serve.teach import Teacher, _svc_of

    base = _svc_of(fitted_pca_svc.steps[-1][1])
    near = [_support_of_class(base, k)[:4] + 0.5 for k in (0, 1)]
    teacher = Teacher(fitted_pca_svc, [str(d) for d in range(10)])
    teacher.teach("a", near[0][:3])
    teacher.teach("b", near[1][:3])
    chained = teacher.model.steps[-1][1]
    assert isinstance(chained.base.estimator, PairwiseSVC)  # b added to the SVM that had a
    at_once = PairwiseSVC(FrozenEstimator(base)).fit(np.vstack([near[0][:3], near[1][:3]]), [10] * 3 + [11] * 3)
    probe = np.vstack(near) + 0.1
    np.testing.assert_allclose(chained.decision_function(probe), at_once.decision_function(probe), atol=1e-9)
    answer = teacher.teach("a", near[0][3:])
    assert answer == {**answer, "label": 10, "n_examples": 4}
    again = teacher.model.steps[-1][1]
    assert again.base.estimator is base and sorted(again.new_classes_) == [10, 11]
    assert (again.example_labels_ == 10).sum() == 4 and teacher.class_names[-2:] == ["a", "b"]


def test_reset_forgets_taught_classes(client):
    client.post("/api/teach", json={"name": "cross", "images": CROSSES})
    state = client.post("/api/teach/reset").json()
    assert state["taught"] == [] and client.get("/api/model").json()["n_classes"] == 10
    assert predict(client, cross(5, 20))["top"][0]["label"] != 10


def test_teaching_is_off_unless_allowed(digits_model_file):
    with TestClient(base_url=LOCAL, app=create_app(digits_model_file)) as off:
        for method, path, body in (
            ("get", "/api/teach", None),
            ("post", "/api/teach", {"name": "x", "images": []}),
            ("post", "/api/teach/reset", None),
            ("get", "/api/teach/export", None),
        ):
            response = off.request(method.upper(), path, json=body)
            assert response.status_code == 403, path
            assert "--allow-teach" in response.json()["detail"]
        assert off.get("/api/model").json()["teach"]["enabled"] is False


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"name": "x" * 33, "images": CROSSES}, 422, "at most 32"),
        ({"name": "<b>", "images": CROSSES}, 422, "not allowed"),
        ({"name": " ", "images": CROSSES}, 422, "empty"),
        ({"name": 5, "images": CROSSES}, 422, "must be a string"),
        ({"name": "7", "images": CROSSES}, 409, "already a class"),
        ({"name": "cross", "images": CROSSES[:2]}, 422, "at least 3 examples"),
        ({"name": "cross", "images": CROSSES * 3}, 422, "at most 4 per class"),
        ({"name": "cross", "images": [CROSSES[0], CROSSES[1], "data:text/plain;base64,aGk="]}, 415, "not an image"),
        ({"name": "cross", "images": [CROSSES[0], CROSSES[1], 7]}, 422, "data URL string"),
        ({"name": "cross"}, 422, "images"),
    ],
)
def test_bad_teach_requests_get_a_clear_4xx(digits_model_file, body, status, message):
    with teach_client(digits_model_file, teach_limits=TeachLimits(max_examples=4, max_classes=1)) as client:
        response = client.post("/api/teach", json=body)
        assert response.status_code == status, response.text
        assert message in response.json()["detail"]


def test_teach_limits_classes_empty_drawings_and_bodies(digits_model_file):
    blank = data_url(encode(Image.new("L", (280, 280), 0)))
    with teach_client(digits_model_file, teach_limits=TeachLimits(max_examples=4, max_classes=1)) as client:
        response = client.post("/api/teach", json={"name": "cross", "images": [blank] + CROSSES[:2]})
        assert response.status_code == 422 and "example 1 is empty" in response.json()["detail"]
        assert client.post("/api/teach", json={"name": "cross", "images": CROSSES}).status_code == 200
        response = client.post("/api/teach", json={"name": "ring", "images": CROSSES})
        assert response.status_code == 422 and "1 classes have been taught" in response.json()["detail"]
        response = client.post("/api/teach", content=b"{not json", headers={"content-type": "application/json"})
        assert response.status_code == 400
        response = client.post("/api/teach", content=b"x", headers={"content-type": "text/plain"})
        assert response.status_code == 415


def test_teach_a_hybrid_on_its_frozen_cnn(fitted_hybrid, tmp_path):
    path = save(fitted_hybrid, tmp_path / "hybrid.joblib", class_names=[str(d) for d in range(10)])
    with teach_client(path) as client:
        cnn = unwrap_extractor(client.app.state.teacher.base_model.named_steps["cnn"])
        weights = [w.copy() for w in cnn.network_.get_weights()]
        assert client.post("/api/teach", json={"name": "cross", "images": CROSSES}).status_code == 200
        assert predict(client, cross(5, 20))["top"][0]["class_name"] == "cross"
        after = unwrap_extractor(client.app.state.teacher.model.named_steps["cnn"]).network_.get_weights()
        assert all((a == b).all() for a, b in zip(weights, after, strict=True))  # the CNN stays frozen


def test_a_hybrid_learns_each_example_with_its_augmented_views(fitted_hybrid, fitted_pca_svc):
    # Each example brings `views` rows of random augmented views of itself (new draws per call),
    # through the frozen CNN and the scaler; a pca-svc model, with no CNN, learns from the examples alone.
    from cnnsvm.inference import prepare_for_model
    from cnnsvm.serve.teach import Teacher

    names = [str(d) for d in range(10)]
    batch = prepare_for_model(fitted_hybrid, [draw_digit("7"), draw_digit("1"), draw_digit("0")])
    teacher = Teacher(fitted_hybrid, names, views=4)
    rows = teacher.features(batch)
    assert rows.shape[:2] == (3, 5) and teacher.n_views == 4
    np.testing.assert_allclose(rows[:, 0], fitted_hybrid[:-1].transform(batch), rtol=1e-6, atol=1e-6)
    assert not np.allclose(rows[:, 1], rows[:, 0]) and not np.allclose(rows[:, 1], rows[:, 2])
    assert not np.allclose(teacher.features(batch)[:, 1:], rows[:, 1:])  # new draws each call
    same = Teacher(fitted_hybrid, names, views=4).features(batch)
    np.testing.assert_allclose(same, rows)  # reproducible from the seed
    answer = teacher.teach("odd", rows)
    assert answer["n_examples"] == 3
    svm = teacher.model.steps[-1][1]
    assert (svm.example_labels_ == answer["label"]).sum() == 15  # 3 examples x (1 + 4 views)
    assert (teacher.model.predict(batch) == answer["label"]).all()

    plain = Teacher(fitted_hybrid, names, views=0)
    assert plain.features(batch).shape[:2] == (3, 1) and plain.n_views == 0
    assert Teacher(fitted_pca_svc, names, views=4).n_views == 0
    with pytest.raises(ConfigError, match="views per taught example must be a non-negative integer"):
        Teacher(fitted_hybrid, names, views=-1)


def test_teach_a_model_calibrated_on_a_held_out_part(tmp_path, digits_split, monkeypatch):
    # calibration_split="auto" (what a hybrid on a reused extractor gets from 10,000 images on):
    # a KernelSVC whose SVC was fitted on 90 % and frozen for its calibration; it can be taught.
    from sklearn.frozen import FrozenEstimator

    from cnnsvm.classifiers import svm
    from cnnsvm.pipeline import make_pca_svc
    from cnnsvm.serve.teach import _svc_of

    monkeypatch.setattr(svm, "HOLDOUT_FROM", 500)
    train = digits_split.train
    images, labels = np.concatenate([train.images] * 2), np.concatenate([train.labels] * 2)  # 20 per class held out
    model = make_pca_svc(image_size=8, n_components=20, calibration_split="auto").fit(images, labels)
    assert isinstance(model.steps[-1][1].estimator_.calibrated_classifiers_[0].estimator, FrozenEstimator)
    assert _svc_of(model.steps[-1][1]) is not None
    path = save(model, tmp_path / "held_out.joblib", class_names=[str(d) for d in range(10)])
    with teach_client(path) as client:
        assert client.post("/api/teach", json={"name": "cross", "images": CROSSES}).status_code == 200
        assert predict(client, cross(5, 20))["top"][0]["class_name"] == "cross"


@pytest.mark.parametrize(
    "svm, message",
    [
        ("approx", "cannot be taught new classes: its classifier is not an exact kernel SVM"),
        ("linear", "its SVM's kernel is 'linear'; teaching extends an RBF SVM"),
    ],
)
def test_a_model_without_an_exact_rbf_svm_cannot_be_taught(tmp_path, digits_split, svm, message):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    from cnnsvm.classifiers.svm import KernelSVC, make_svm
    from cnnsvm.data.preprocessing import ImagePreprocessor

    step = KernelSVC(solver="approx") if svm == "approx" else make_svm(kernel="linear")
    train = digits_split.train
    model = Pipeline([("preprocess", ImagePreprocessor(image_size=8)), ("pca", PCA(10)), ("svm", step)])
    path = save(model.fit(train.images, train.labels), tmp_path / "plain.joblib")
    with pytest.raises(ConfigError, match=message):
        create_app(path, allow_teach=True)


def test_a_model_without_probabilities_cannot_be_taught(digits_split):
    # The server refuses such a model before teaching; the library's Teacher says why too.
    from cnnsvm.pipeline import make_pca_svc
    from cnnsvm.serve.teach import Teacher, teachable

    train = digits_split.train
    model = make_pca_svc(image_size=8, n_components=20, probability=False).fit(train.images, train.labels)
    assert "not an exact kernel SVM with one calibrated SVC" in teachable(model)
    with pytest.raises(ConfigError, match="cannot be taught new classes"):
        Teacher(model, [str(d) for d in range(10)])


def test_a_platt_calibrated_model_cannot_be_taught(digits_split):
    # A new class keeps the model's temperature: a model with Platt's sigmoids has none to keep.
    from cnnsvm.pipeline import make_pca_svc
    from cnnsvm.serve.teach import Teacher, teachable

    train = digits_split.train
    model = make_pca_svc(image_size=8, n_components=20, calibration="sigmoid").fit(train.images, train.labels)
    assert "not temperature-calibrated" in teachable(model)
    with pytest.raises(ConfigError, match="calibration='temperature', the default"):
        Teacher(model, [str(d) for d in range(10)])


def test_a_two_class_model_cannot_be_taught_and_says_why(digits_split):
    from cnnsvm.pipeline import make_pca_svc
    from cnnsvm.serve.teach import teachable

    train = digits_split.train
    two = train.labels < 2
    model = make_pca_svc(image_size=8, n_components=10).fit(train.images[two], train.labels[two])
    assert "it has 2 classes: a 2-class model's temperature scales one margin" in teachable(model)


def test_a_model_whose_temperature_cannot_be_read_says_so(fitted_pca_svc, monkeypatch):
    # A scikit-learn release that fails the fast path's self-check: no guessed temperature.
    from cnnsvm.serve import teach as teach_module

    monkeypatch.setattr(teach_module, "fastpath_supported", lambda: False)
    assert "temperature cannot be read on scikit-learn" in teach_module.teachable(fitted_pca_svc)


def test_a_model_taught_by_the_previous_release_can_be_taught_again(fitted_pca_svc, digits_split):
    # Earlier releases refitted a GramSVC in a temperature calibration; such a model is a base too.
    from sklearn.pipeline import Pipeline

    from cnnsvm.classifiers.pairwise import PairwiseSVC
    from cnnsvm.classifiers.svm import FastCalibratedClassifierCV, GramSVC
    from cnnsvm.serve.teach import Teacher

    features = Pipeline(fitted_pca_svc.steps[:-1]).transform(digits_split.train.images)
    old = FastCalibratedClassifierCV(GramSVC(C=10.0), method="temperature", cv=3, ensemble=False)
    old_model = Pipeline(fitted_pca_svc.steps[:-1] + [("svm", old.fit(features, digits_split.train.labels))])
    teacher = Teacher(old_model, [str(d) for d in range(10)])
    teacher.teach("far", features[:3] + 40.0)
    step = teacher.model.steps[-1][1]
    assert isinstance(step, PairwiseSVC) and isinstance(step.base_, GramSVC)
    assert teacher.model.predict(digits_split.test.images[:1]).shape == (1,)
    np.testing.assert_array_equal(step.predict(features[:3] + 40.0), [10, 10, 10])

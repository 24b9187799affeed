"""Few-shot learning curves: draws, the CNN's step budget, the three methods on the same draws, the report."""

import json

import numpy as np
import pytest

from cnnsvm.exceptions import ConfigError
from cnnsvm.experiments import fewshot
from tests.conftest import SMALL_CNN
from tests.experiments.test_transfer import _digit_sets


def test_parse_ks_orders_and_refuses_nonsense():
    assert fewshot.parse_ks("5, 1,all,2") == [1, 2, 5, "all"]
    for bad in ("0", "x", "", "1,1"):
        with pytest.raises(ConfigError):
            fewshot.parse_ks(bad)


def test_draws_take_k_of_each_class_and_depend_on_the_seed():
    labels = np.repeat(np.arange(4), [10, 3, 10, 10])
    a = fewshot.draw_per_class(labels, 5, np.random.default_rng([0, 5, 0]))
    b = fewshot.draw_per_class(labels, 5, np.random.default_rng([0, 5, 1]))
    assert np.bincount(labels[a]).tolist() == [5, 3, 5, 5]  # a class smaller than k gives all it has
    assert len(set(a)) == len(a) and not np.array_equal(a, b)
    assert np.array_equal(fewshot.draw_per_class(labels, "all", None), np.arange(len(labels)))


def test_cnn_epochs_give_small_sets_enough_steps():
    assert fewshot.cnn_epochs(36, batch_size=128, epochs=30, min_steps=500) == 300  # capped
    assert fewshot.cnn_epochs(720, batch_size=128, epochs=30, min_steps=500) == 84  # 6 steps per epoch
    assert fewshot.cnn_epochs(6000, batch_size=128, epochs=30, min_steps=500) == 30


@pytest.fixture(scope="module")
def small_extractor():
    from cnnsvm.data import load_split
    from cnnsvm.experiments.generic import extractor_of
    from cnnsvm.experiments.transfer import train_extractor

    low, high = _digit_sets()
    model, _, _ = train_extractor([load_split(low).train], params=SMALL_CNN, image_size=16)
    return extractor_of(model), load_split(high, test_size=0.3, random_state=0)


@pytest.fixture(scope="module")
def curve(small_extractor):
    extractor, split = small_extractor
    cnn = {k: v for k, v in SMALL_CNN.items()}
    return fewshot.run_fewshot(
        extractor,
        split.train,
        split.test,
        ks=(1, "all"),
        draws=2,
        cnn_params=cnn,
        cnn_min_steps=20,
        verbose=1,
    ), split


def test_every_method_scores_the_same_draws_on_the_whole_test_part(curve, capsys):
    result, split = curve
    rows = result["rows"]
    assert len(rows) == (2 + 1) * 3
    for k, n in ((1, 5), ("all", len(split.train))):
        at_k = [r for r in rows if r["k"] == k]
        assert {r["n_train"] for r in at_k} == {n}
        assert {r["method"] for r in at_k} == {"hybrid", "cnn", "pca-svc"}
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    assert [r["n_components"] for r in rows if r["method"] == "pca-svc" and r["k"] == 1] == [4, 4]
    full = [r for r in rows if r["k"] == "all" and r["method"] == "hybrid"][0]
    assert full["accuracy"] > 0.7  # the frozen features of unseen digits carry the classes
    assert result["config"]["n_test"] == len(split.test)


def test_the_hybrid_learns_from_spatial_features_and_views_of_its_examples(curve):
    result, split = curve
    config = result["config"]
    assert config["hybrid_features"] == "spatial" and config["views"] == fewshot.DEFAULT_VIEWS
    hybrid = [r for r in result["rows"] if r["method"] == "hybrid"]
    assert [r["views"] for r in hybrid if r["k"] == 1] == [fewshot.DEFAULT_VIEWS] * 2
    assert [r["n_fit_rows"] for r in hybrid if r["k"] == 1] == [5 * (fewshot.DEFAULT_VIEWS + 1)] * 2  # 5 classes
    # the whole training part: as many views as keep its rows under MAX_VIEW_ROWS
    n = len(split.train)
    assert [r["views"] for r in hybrid if r["k"] == "all"] == [fewshot.view_count(n, fewshot.DEFAULT_VIEWS)]


def test_view_count_keeps_the_rows_under_the_cap():
    assert fewshot.view_count(720, 9) == 9  # 7,200 rows
    assert fewshot.view_count(1800, 9) == 4  # 9,000 rows: 5 copies
    assert fewshot.view_count(5904, 9) == 0
    assert fewshot.view_count(10, 9, max_rows=35) == 2
    assert fewshot.view_count(10, 0) == 0


def test_views_are_seeded_features_of_transformed_examples():
    from cnnsvm.features import CNNFeatureExtractor, FrozenExtractor
    from tests.conftest import blobs_images

    X, y = blobs_images(n_per_class=6)
    X = (X / 255.0).astype(np.float32).reshape(len(X), -1)
    frozen = FrozenExtractor(CNNFeatureExtractor(architecture="small", epochs=1, random_state=0).fit(X, y))
    features = frozen.fit(X, y).transform(X)
    rows, labels = fewshot._with_views(frozen, X, features, y, 3, [0, 5, 1])
    assert rows.shape == (4 * len(X), features.shape[1]) and np.array_equal(labels, np.tile(y, 4))
    assert np.array_equal(rows[: len(X)], features)
    assert not np.allclose(rows[len(X) : 2 * len(X)], features)
    assert not np.allclose(rows[len(X) : 2 * len(X)], rows[2 * len(X) : 3 * len(X)])  # each view its own draw
    again, _ = fewshot._with_views(frozen, X, features, y, 3, [0, 5, 1])
    assert np.allclose(again, rows)
    other, _ = fewshot._with_views(frozen, X, features, y, 3, [0, 5, 2])
    assert not np.allclose(other[len(X) :], rows[len(X) :])
    assert fewshot._with_views(frozen, X, features, y, 0, [0])[0] is features


def test_no_views_where_the_extractor_would_not_transform_the_examples(small_extractor):
    import copy

    extractor, split = small_extractor
    still = copy.deepcopy(extractor).set_params(augmentation=0.0)  # its views would be copies of the images
    result = fewshot.run_fewshot(still, split.train, split.test, ks=(2,), draws=1, methods=["hybrid"], verbose=0)
    (row,) = result["rows"]
    assert row["views"] == 0 and row["n_fit_rows"] == row["n_train"] == 10


def test_bad_views_are_refused(curve):
    result, split = curve
    with pytest.raises(ConfigError, match="views must be a non-negative integer"):
        fewshot.run_fewshot(None, split.train, split.test, ks=(1,), views=-1)
    with pytest.raises(ConfigError, match="svm_params may set C, gamma, kernel; got probability"):
        fewshot.run_fewshot(None, split.train, split.test, ks=(1,), svm_params={"C": 1, "probability": True})


def test_svm_params_reach_the_hybrids_svm(small_extractor):
    extractor, split = small_extractor
    kwargs = dict(ks=(5,), draws=1, methods=["hybrid"], views=0, verbose=0)
    default = fewshot.run_fewshot(extractor, split.train, split.test, **kwargs)
    assert default["config"]["svm"].startswith("make_svm defaults")
    # a kernel width far too narrow: every test image is far from every example, the SVM answers one class
    narrow = fewshot.run_fewshot(extractor, split.train, split.test, svm_params={"gamma": 1e3}, **kwargs)
    assert narrow["config"]["svm"].startswith("make_svm with gamma=1000.0")
    assert narrow["rows"][0]["accuracy"] < 0.4 < default["rows"][0]["accuracy"]


def test_report_has_table_json_and_plot_and_keeps_existing_files(curve, tmp_path):
    result, _ = curve
    result = {
        **result,
        "extractor": {
            "file": "g.joblib",
            "sha256": "ab" * 32,
            "trained_on": [{"name": "low", "n_train": 719}],
            "seen_data": [],
        },
    }
    paths = fewshot.write_report(result, tmp_path, title="digits 5-9")
    text = paths["md"].read_text()
    assert "| k per class | draws | hybrid (%) | cnn (%) | pca-svc (%) |" in text
    assert "trained on the training parts of: low (719 training images)" in text
    # no sample hashes recorded (as a comparison's extractor): the report says only names were compared
    assert "only the names could be compared" in text
    hashed = {**result, "extractor": {**result["extractor"], "trained_on": [{"name": "low", "n_sample_hashes": 256}]}}
    text = fewshot.write_report(hashed, tmp_path / "hashed", title="digits 5-9")["md"].read_text()
    assert "no image of the set learned among the extractor's recorded training samples" in text
    assert "± " in text and "hybrid − cnn" in text
    saved = json.loads(paths["json"].read_text())
    assert [e["k"] for e in saved["summary"]] == [1, "all"]
    assert saved["summary"][0]["scores"]["hybrid"]["n"] == 2
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ConfigError, match="already exist"):
        fewshot.write_report(result, tmp_path)


def test_summary_paired_differences():
    rows = [
        {"k": 5, "draw": d, "method": m, "accuracy": a}
        for d, (h, c) in enumerate([(0.9, 0.6), (0.8, 0.7)])
        for m, a in (("hybrid", h), ("cnn", c))
    ]
    (entry,) = fewshot.summarise(rows)
    assert entry["scores"]["hybrid"]["mean"] == pytest.approx(0.85)
    assert entry["scores"]["cnn"]["std"] == pytest.approx(np.std([0.6, 0.7], ddof=1))
    assert entry["differences"]["hybrid-minus-cnn"] == pytest.approx({"mean": 0.2, "min": 0.1, "n": 2})

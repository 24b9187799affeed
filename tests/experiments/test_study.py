"""Hyperparameter studies: validation from the training part only, tables and plots."""

import json
import math

import numpy as np
import pytest

from cnnsvm.data.preprocessing import ImagePreprocessor
from cnnsvm.exceptions import ConfigError
from cnnsvm.experiments.study import run_study, study_pipeline
from cnnsvm.experiments.study_config import parse_study

from .conftest import image_digests

PNG = b"\x89PNG\r\n\x1a\n"


def _study(data_dir, **changes):
    data = {
        "name": "tiny-study",
        "method": "pca-svc",
        "image_size": 12,
        "datasets": [{"name": "alpha", "spec": f"npz:{data_dir / 'alpha.npz'}?ink=light"}],
        "params": {"n_components": 8},
        "sweep": {"C": [0.1, 10.0], "svm__estimator__gamma": ["scale", 0.01]},
    }
    data.update(changes)
    return parse_study(data)


def test_curves_study_writes_table_and_plots(data_dir, tmp_path, monkeypatch):
    from cnnsvm.data import load_split

    seen = []
    original = ImagePreprocessor.fit
    monkeypatch.setattr(
        ImagePreprocessor, "fit", lambda self, X, y=None: seen.append(np.asarray(X)) or original(self, X, y)
    )
    run = run_study(_study(data_dir), out=tmp_path / "s", verbose=False)
    assert len(run.rows) == 4 and set(run.best) == {"svm__estimator__C", "svm__estimator__gamma"}
    table = (tmp_path / "s" / "study.md").read_text()
    assert "svm__estimator__C" in table and "The test split was never used" in table
    lines = (tmp_path / "s" / "study.csv").read_text().splitlines()
    assert lines[0].startswith("search,svm__estimator__C,svm__estimator__gamma,val_mean") and len(lines) == 5
    for name in ("svm__estimator__C", "svm__estimator__gamma"):
        assert (tmp_path / "s" / f"validation_curve_{name}.png").read_bytes()[:8] == PNG
    data = json.loads((tmp_path / "s" / "study.json").read_text())
    assert data["fixed"] == {"pca__n_components": 8}
    # one hold-out split: each fit sees 80 % of the training part, never a test image
    train_n = json.loads((tmp_path / "s" / "data.json").read_text())["datasets"][0]["n_train"]
    assert seen and all(len(x) == train_n - math.ceil(0.2 * train_n) for x in seen)
    test = load_split(f"npz:{data_dir / 'alpha.npz'}?ink=light", test_size=0.2, random_state=0).test
    assert not image_digests(test.images) & set().union(*(image_digests(x) for x in seen))


def test_grid_study_with_kfold(data_dir, tmp_path):
    config = _study(
        data_dir,
        search="grid",
        validation={"kind": "kfold", "folds": 2},
        sweep={"C": [1.0, 10.0], "n_components": [4, 8]},
        params={},
    )
    run = run_study(config, out=tmp_path / "g", verbose=False)
    assert len(run.rows) == 4 and set(run.best) == {"grid"}
    assert {(r["svm__estimator__C"], r["pca__n_components"]) for r in run.rows} == {
        ("1.0", "4"),
        ("1.0", "8"),
        ("10.0", "4"),
        ("10.0", "8"),
    }
    assert min(r["rank"] for r in run.rows) == 1
    assert max(r["val_mean"] for r in run.rows) >= 0.95  # the bars of alpha are plain to an SVC on 8 components
    for name in ("svm__estimator__C", "pca__n_components"):
        assert (tmp_path / "g" / f"validation_curve_{name}.png").exists()


def test_cnn_parameters_are_swept(data_dir, tmp_path):
    config = _study(
        data_dir,
        method="cnn",
        params={"architecture": "small", "epochs": 1, "batch_size": 32},
        sweep={"activation": ["relu", "leaky_relu"]},
    )
    run = run_study(config, out=tmp_path / "c", verbose=False)
    assert [r["cnn__activation"] for r in run.rows] == ["relu", "leaky_relu"]
    assert all(0.0 <= r["val_mean"] <= 1.0 and r["fit_seconds"] > 0 for r in run.rows)
    # The ranks order the validation means (rank 1: the best), as GridSearchCV's do.
    by_rank = sorted(run.rows, key=lambda r: r["rank"])
    assert by_rank[0]["rank"] == 1 and by_rank[0]["val_mean"] >= by_rank[-1]["val_mean"]
    assert (tmp_path / "c" / "validation_curve_cnn__activation.png").read_bytes()[:8] == PNG


def test_study_names_are_resolved_or_refused(data_dir):
    pipe, fixed = study_pipeline(
        _study(data_dir, method="hybrid", params={"kernel_size": 5, "C": 3.0}, sweep={"gamma": ["scale"]})
    )
    assert fixed == {"cnn__kernel_size": 5, "svm__estimator__C": 3.0}
    assert pipe.get_params()["cnn__kernel_size"] == 5
    with pytest.raises(ConfigError, match="no parameter 'kernel_sise'"):
        study_pipeline(_study(data_dir, method="hybrid", params={"kernel_sise": 5}))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"method": "svm"}, "unknown study method 'svm'"),
        ({"sweep": {}}, "the study sweeps nothing"),
        ({"sweep": {"C": 1.0}}, "[sweep] C must be a non-empty array"),
        ({"sweep": {"activation": ["relu", "tanh"]}}, "[sweep] activation must be one of"),
        ({"search": "random"}, "search must be 'curves'"),
        ({"validation": {"kind": "loo"}}, "[validation] kind must be holdout or kfold"),
        ({"params": {"C": 1.0}, "sweep": {"C": [1.0, 2.0]}}, "both fixed in [params] and swept"),
        ({"scoring": "acc"}, "unknown scoring 'acc'"),
    ],
)
def test_bad_studies_give_one_line_errors(data_dir, changes, message):
    with pytest.raises(ConfigError) as info:
        _study(data_dir, **changes)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_svc_sweep_of_the_hybrid_trains_one_cnn_per_fold(data_dir, tmp_path, monkeypatch):
    from cnnsvm.features.cnn_extractor import CNNFeatureExtractor

    trained = []
    original = CNNFeatureExtractor.fit
    monkeypatch.setattr(CNNFeatureExtractor, "fit", lambda self, X, y: trained.append(len(X)) or original(self, X, y))
    config = _study(
        data_dir,
        method="hybrid",
        search="grid",
        params={"architecture": "small", "epochs": 1, "batch_size": 32, "filters": [4]},
        sweep={"C": [0.1, 1.0, 10.0], "activation": ["relu", "elu"]},
    )
    run = run_study(config, out=tmp_path / "h", verbose=False)
    # 6 candidates on one hold-out split, but one CNN per activation: 2 trainings, not 6
    assert len(run.rows) == 6 and len(trained) == 2
    assert all(0.0 <= r["val_mean"] <= 1.0 and r["fit_seconds"] > 0 for r in run.rows)
    log = (tmp_path / "h" / "run.log").read_text()
    assert log.count("done features [activation=") == 2 and "[8/8]" in log


def test_curves_of_svc_parameters_share_the_features(data_dir, tmp_path):
    run = run_study(_study(data_dir), out=tmp_path / "c", verbose=False)  # curves of C and gamma, pca-svc
    log = (tmp_path / "c" / "run.log").read_text()
    # both searches sweep only the SVC: the PCA features of the hold-out split are computed once for both
    assert log.count("done features [fixed parameters] fold 1/1") == 1 and "[5/5]" in log
    assert len(run.rows) == 4

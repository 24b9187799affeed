"""Experiment files: schema, defaults, one-line errors, overrides, extends, TOML output."""

import tomllib
from pathlib import Path

import pytest

from cnnsvm.exceptions import ConfigError
from cnnsvm.experiments.compare import load_experiment
from cnnsvm.experiments.config import DEFAULT_METHODS, METHODS, override_epochs, parse_experiment
from cnnsvm.experiments.config_files import (
    apply_overrides,
    dump_toml,
    parse_value,
    read_config_file,
)
from cnnsvm.experiments.study import load_study

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {"datasets": [{"spec": "digits"}]}


def test_defaults_and_resolved_parameters():
    config = parse_experiment(
        dict(MINIMAL, generic={"epochs": 40, "filters": [16, 32]}, method={"cnn-article": {"augmentation": 0.0}}),
        default_name="x",
    )
    assert config.name == "x" and config.methods == DEFAULT_METHODS and config.seeds == [0]
    assert "hybrid-single" not in config.methods and "hybrid-embedding" not in config.methods
    assert len(config.methods) == len(METHODS) - 3 and "hybrid-noelastic" not in config.methods
    assert config.image_size == 28 and config.test_size == 0.2
    generic = config.generic_params("augmented")
    assert generic["epochs"] == 40 and generic["filters"] == [16, 32] and generic["augmentation"] == 1.0
    assert config.generic_params("noaug")["augmentation"] == 0.0
    article = config.cnn_params("cnn-article")
    assert article["architecture"] == "article" and article["augmentation"] == 0.0 and article["epochs"] == 30
    assert config.cnn_params("cnn")["architecture"] == "default"
    assert config.svc_params("hybrid") == {
        "C": 10.0,
        "gamma": "scale",
        "kernel": "rbf",
        "solver": "exact",
        "softmax_weight": "auto",
    }
    # the ablation: the same SVM, its probabilities alone, whatever [svc] says (its own table may agree)
    blended = parse_experiment(dict(MINIMAL, svc={"softmax_weight": 0.7}, method={"hybrid-svm": {"softmax_weight": 0}}))
    assert blended.svc_params("hybrid")["softmax_weight"] == 0.7
    assert blended.svc_params("hybrid-svm") == dict(blended.svc_params("hybrid"), softmax_weight=0.0)
    assert type(blended.svc_params("hybrid-svm")["softmax_weight"]) is float  # "0.0" in the fingerprint, as before
    assert "features" not in config.svc_params("hybrid")  # files without it keep their fingerprints
    # the spatial features' ablation: the embedding alone, whatever [svc] says
    spatial = parse_experiment(dict(MINIMAL, svc={"features": "spatial"}))
    assert spatial.svc_params("hybrid")["features"] == "spatial"
    assert spatial.svc_params("hybrid-embedding") == dict(spatial.svc_params("hybrid"), features="embedding")
    agreeing = parse_experiment(dict(MINIMAL, method={"hybrid-embedding": {"features": "embedding"}}))
    assert agreeing.svc_params("hybrid-embedding")["features"] == "embedding"
    # elastic distortion: a generic setting like any CNN's; the no-augmentation variant turns it off too
    elastic = parse_experiment(dict(MINIMAL, generic={"elastic": 1.0}))
    assert elastic.generic_params("augmented")["elastic"] == 1.0
    assert elastic.generic_params("noaug") == parse_experiment(MINIMAL).generic_params("noaug")
    assert "elastic" not in config.generic_params("noaug")  # files without it keep their fingerprints
    assert "elastic" not in config.cnn_params("cnn")
    # its ablation: the extractor of the same file without elastic (a variant of its own, trained once)
    assert elastic.generic_params("noelastic") == parse_experiment(MINIMAL).generic_params("augmented")
    ablation = parse_experiment(dict(MINIMAL, generic={"elastic": 1.0}, methods=["hybrid", "hybrid-noelastic"]))
    assert ablation.generic_variants == ["augmented", "noelastic"]
    from_training = parse_experiment(dict(MINIMAL, training={"elastic": 0.5}, methods=["hybrid-noelastic"]))
    assert from_training.generic_params("augmented")["elastic"] == 0.5
    assert "elastic" not in from_training.generic_params("noelastic")
    assert config.generic_variants == ["augmented", "noaug"]
    assert parse_experiment(dict(MINIMAL, methods=["pca-svc", "cnn"])).generic_variants == []


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "the experiment lists no datasets"),
        ({"datasets": [{"name": "a"}]}, "datasets[0] has no spec"),
        ({"datasets": [{"spec": "digits", "nmae": "x"}]}, "unknown setting(s) ['nmae'] in datasets[0]"),
        (dict(MINIMAL, methods=["hybrid", "svm"]), "unknown method 'svm' in methods"),
        (dict(MINIMAL, methods={"cnn": {}}), "per-method settings go in [method.NAME] tables"),
        (dict(MINIMAL, training={"epochs": "ten"}), "[training] epochs must be an integer >= 1; got 'ten'"),
        (dict(MINIMAL, training={"epochs": True}), "[training] epochs must be an integer >= 1"),
        (
            dict(MINIMAL, generic={"architecture": "huge"}),
            "[generic] architecture must be one of default, article, small",
        ),
        (dict(MINIMAL, generic={"kernel": 3}), "unknown setting 'kernel' in [generic]"),
        (dict(MINIMAL, generic={"elastic": 9}), "[generic] elastic must be a number in [0, 5]"),
        (dict(MINIMAL, methods=["hybrid-noelastic"]), "hybrid-noelastic is the ablation of the elastic distortion"),
        (
            dict(MINIMAL, methods=["hybrid-noelastic"], training={"elastic": 1.0}, generic={"elastic": 0.0}),
            "no elastic distortion is set",
        ),
        (dict(MINIMAL, svc={"C": -1}), "[svc] C must be a number > 0"),
        (dict(MINIMAL, svc={"softmax_weight": 2}), '[svc] softmax_weight must be "auto" or a number in [0, 1]'),
        (dict(MINIMAL, svc={"features": "pixels"}), "[svc] features must be one of"),
        (dict(MINIMAL, method={"hybrid": {"epochs": 3}}), "unknown setting 'epochs' in [method.hybrid]"),
        (dict(MINIMAL, method={"knn": {}}), "[method.knn] names an unknown method"),
        (
            dict(MINIMAL, method={"hybrid-svm": {"softmax_weight": 0.5}}),
            "[method.hybrid-svm] sets softmax_weight = 0.5, but hybrid-svm is the ablation with softmax_weight = 0.0",
        ),
        (
            dict(MINIMAL, method={"hybrid-embedding": {"features": "spatial"}}),
            "[method.hybrid-embedding] sets features = 'spatial', but hybrid-embedding is the ablation",
        ),
        (dict(MINIMAL, seeds=[0, "1"]), "every seed must be an integer >= 0"),
        (dict(MINIMAL, test_size=1.5), "test_size must be a fraction strictly between 0 and 1"),
        (dict(MINIMAL, epochs=3), "unknown top-level key(s) ['epochs']"),
        ({"datasets": [{"spec": "digits", "name": "a"}, {"spec": "digits", "name": "a"}]}, "used twice"),
    ],
)
def test_bad_configs_give_one_line_errors(data, message):
    with pytest.raises(ConfigError) as info:
        parse_experiment(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_overrides_use_dotted_keys_and_parse_values():
    data = {"datasets": [{"spec": "a"}, {"spec": "b"}], "training": {"epochs": 30}}
    out = apply_overrides(
        data,
        [
            "training.epochs=2",
            "datasets.1.spec=npz:x/y.npz?name=b",
            "generic.filters=[8, 16]",
            "method.cnn-article.augmentation=0",
            "svc.gamma=scale",
            "seeds=[0,1]",
        ],
    )
    assert out["training"]["epochs"] == 2 and out["datasets"][1]["spec"] == "npz:x/y.npz?name=b"
    assert out["generic"]["filters"] == [8, 16] and out["method"]["cnn-article"]["augmentation"] == 0
    assert out["svc"]["gamma"] == "scale" and out["seeds"] == [0, 1]
    assert data["training"]["epochs"] == 30  # the input is not modified
    assert parse_value("1e-3") == 0.001 and parse_value("true") is True and parse_value('"7"') == "7"
    with pytest.raises(ConfigError, match="must look like KEY=VALUE"):
        apply_overrides(data, ["training.epochs"])
    with pytest.raises(ConfigError, match="index it with 0..1"):
        apply_overrides(data, ["datasets.5.spec=x"])
    with pytest.raises(ConfigError, match="is a value, not a table"):
        apply_overrides(data, ["training.epochs.max=3"])


def test_dump_toml_round_trips():
    data = {
        "name": "x",
        "seeds": [0, 1],
        "image_size": 28,
        "test_size": 0.2,
        "flag": True,
        "datasets": [{"name": "a", "spec": "npz:../a b.npz?name=a"}, {"spec": "digits"}],
        "generic": {"filters": [32, 64], "learning_rate": 0.001},
        "method": {"cnn-article": {"augmentation": 0.0}, "hybrid": {}},
        "quoted key": "é",
    }
    assert tomllib.loads(dump_toml(data)) == data


def test_extends_merges_over_the_base(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text(
        'name = "base"\nseeds = [0]\n[[datasets]]\nspec = "digits"\n[training]\nepochs = 9\nbatch_size = 16\n'
    )
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "child.toml"
    child.write_text('extends = "../base.toml"\nname = "child"\n[training]\nepochs = 2\n')
    data = read_config_file(child)
    assert data["name"] == "child" and data["training"] == {"epochs": 2, "batch_size": 16}
    assert "extends" not in data


def test_shipped_digits_file_is_the_demo_config():
    shipped = load_experiment(REPO / "experiments" / "digits.toml")
    builtin = load_experiment("builtin:digits")
    assert shipped.to_dict() == builtin.to_dict()
    assert shipped.datasets[0].spec == "digits"


@pytest.mark.parametrize(
    "name, n_datasets, methods",
    [
        # hybrid-noaug (a second extractor per seed) left out of the three-seed runs for time
        ("nhcd", 3, [m for m in METHODS if m not in ("hybrid-noaug", "hybrid-noelastic")]),
        # MNIST alone: generic-softmax is the default CNN from scratch; cnn and hybrid-noaug left out for time
        ("mnist", 1, ["mlp", "pca-svc", "cnn-article", "hybrid", "hybrid-embedding", "hybrid-svm", "generic-softmax"]),
    ],
)
def test_shipped_experiment_files_are_valid(name, n_datasets, methods):
    config = load_experiment(REPO / "experiments" / f"{name}.toml")
    assert config.name == name and len(config.datasets) == n_datasets
    assert config.methods == methods
    # the hybrid reads the spatial features; no [method.*] table makes its ablation differ in anything else
    assert config.svc_params("hybrid")["features"] == "spatial"
    assert config.svc_params("hybrid-embedding") == {**config.svc_params("hybrid"), "features": "embedding"}
    moved = load_experiment(REPO / "experiments" / f"{name}.toml", ["datasets.0.spec=npz:/elsewhere/x.npz"])
    assert moved.datasets[0].spec == "npz:/elsewhere/x.npz"


def test_shipped_study_file_is_valid():
    study = load_study(REPO / "experiments" / "study_digits.toml")
    assert study.method == "hybrid" and study.search == "curves" and "kernel_size" in study.sweep


@pytest.mark.parametrize("path", sorted((REPO / "experiments").glob("study_*.toml")), ids=lambda p: p.stem)
def test_every_shipped_study_file_loads(path):
    study = load_study(path)
    assert study.sweep and study.validation["kind"] in ("holdout", "kfold")


def test_bad_files_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_experiment(broken)
    with pytest.raises(ConfigError, match="no built-in experiment 'nope'"):
        load_experiment("builtin:nope")


def test_override_epochs_reaches_every_cnn():
    data = override_epochs(
        {
            "training": {"epochs": 30},
            "generic": {"epochs": 50},
            "method": {"cnn": {"epochs": 40}},
            "datasets": ["digits"],
        },
        3,
    )
    config = parse_experiment(data)
    assert config.generic_params("augmented")["epochs"] == 3
    assert config.cnn_params("cnn")["epochs"] == 3 and config.cnn_params("cnn-article")["epochs"] == 3


def test_run_demo_reads_the_packaged_file(monkeypatch):
    from cnnsvm.experiments import compare

    calls = {}
    monkeypatch.setattr(compare, "run_comparison", lambda config, out=None: calls.update(config=config, out=out))
    compare.run_demo(epochs=2)
    assert calls["config"].name == "digits" and calls["config"].training["epochs"] == 2
    assert calls["config"].source == "builtin:digits"
    assert Path(calls["out"]).parent == Path("runs") and Path(calls["out"]).name.startswith("demo-")


def test_fingerprints_follow_the_resolved_architecture(monkeypatch):
    from cnnsvm.experiments.compare import _with_architecture
    from cnnsvm.experiments.store import fingerprint
    from cnnsvm.features import architectures

    params = {"architecture": "small", "epochs": 3, "dropout": 0.1}
    before = _with_architecture(params)
    assert before["resolved_architecture"]["dropout"] == 0.1
    monkeypatch.setitem(architectures.PRESETS, "small", {**architectures.PRESETS["small"], "dense_units": 7})
    after = _with_architecture(params)
    assert after["resolved_architecture"]["dense_units"] == 7
    assert fingerprint(before) != fingerprint(after)

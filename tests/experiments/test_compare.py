"""End-to-end comparison runs on tiny data: tables, artefacts, no test leakage, resume, seeds."""

import json
import os

import numpy as np
import pytest

from cnnsvm.data import load_split
from cnnsvm.experiments.compare import run_comparison
from cnnsvm.experiments.config import METHODS, parse_experiment
from cnnsvm.experiments.datasets import images_digest
from cnnsvm.pipeline import load

from .conftest import experiment_data, image_digests

DATASETS = ("alpha", "beta")
PNG = b"\x89PNG\r\n\x1a\n"


def _test_split(data_dir, name, ink):
    return load_split(f"npz:{data_dir / (name + '.npz')}?ink={ink}", test_size=0.2, random_state=0).test


def _assert_cpu_record(cpu):
    """A fit's CPU shares (busy, idle, taken by the host): none without /proc/stat or for a fit
    too short to say (the tiny fits here may be); else three shares summing to 1."""
    if not os.path.exists("/proc/stat"):
        assert cpu is None
        return
    if cpu is not None:
        assert set(cpu) == {"busy", "idle", "steal"} and all(0 <= v <= 1 for v in cpu.values())
        assert sum(cpu.values()) == pytest.approx(1, abs=0.002)


def test_run_fills_every_cell(full_run):
    out = full_run["out"]
    results = json.loads((out / "results.json").read_text())
    acc = results["metrics"]["accuracy"]
    for dataset in DATASETS:
        assert set(acc[dataset]) == set(METHODS)
        for method in METHODS:
            assert 0.0 <= acc[dataset][method]["mean"] <= 1.0
        # The bars are unmistakable: the SVC on PCA reads them all. A label or ink mix-up
        # between the two datasets (beta is dark ink) would not. (The tiny mlp and the
        # one-epoch CNNs are too short-trained here for a bound.)
        assert acc[dataset]["pca-svc"]["mean"] >= 0.95
    table = (out / "tables" / "accuracy.md").read_text().splitlines()
    assert table[2].startswith(
        "| dataset | mlp | pca-svc | cnn-article | cnn | hybrid | hybrid-single | hybrid-embedding | hybrid-svm "
        "| hybrid-noaug | hybrid-noelastic "
        "| generic-softmax |"
    )
    rows = [line for line in table if line.startswith(("| alpha", "| beta"))]
    assert len(rows) == 2 and all("-" not in row.split("|", 2)[2] for row in rows)
    csv_lines = (out / "tables" / "accuracy.csv").read_text().splitlines()
    assert csv_lines[0] == "dataset," + ",".join(METHODS)
    assert len(csv_lines) == 3
    for metric in (
        "macro_f1",
        "fit_seconds",
        "predict_ms_per_image",
        "rejection_for_full_reliability",
        "rejection_for_999",
        "aurc",
        "accuracy_at_95",
    ):
        assert (out / "tables" / f"{metric}.md").exists() and (out / "tables" / f"{metric}.csv").exists()
    for dataset in DATASETS:
        assert (out / "plots" / f"{dataset}_risk_coverage.png").read_bytes()[:8] == PNG
    summary = (out / "results.md").read_text()
    assert "Generic extractor" in summary and "McNemar" in summary
    if os.path.exists("/proc/stat"):  # the generic extractors' fits are long enough to state the shares
        generic = json.loads((out / "generic" / "seed0" / "augmented" / "result.json").read_text())
        assert generic["fit_cpu"] is not None
        assert "CPU taken by the host (%)" in (out / "tables" / "generic.md").read_text()
    # the hybrid blends the generic softmax block of its own dataset; its ablation hybrid-svm does not
    for dataset, offset in (("alpha", 0), ("beta", 3)):
        hybrid = load(out / "cells" / dataset / "hybrid" / "seed0" / "model.joblib")
        alone = load(out / "cells" / dataset / "hybrid-svm" / "seed0" / "model.joblib")
        assert hybrid.softmax_weight_ == 0.5 and alone.softmax_weight_ == 0.0
        assert list(hybrid.head_columns_) == list(range(offset, offset + len(hybrid.classes_)))
    assert len((out / "cells.csv").read_text().splitlines()) == 1 + len(DATASETS) * len(METHODS)


def test_no_test_image_reaches_training(full_run, data_dir):
    fitted = set().union(*(image_digests(x) for x in full_run["fitted_images"]))
    assert fitted, "the recorder saw no training call"
    for name, ink in (("alpha", "light"), ("beta", "dark")):
        test = _test_split(data_dir, name, ink).with_light_ink()
        assert not image_digests(test.images) & fitted, f"a {name} test image was used for training"
    # the generic extractor records what it was fitted on: exactly the training parts
    out = full_run["out"]
    data = {d["name"]: d for d in json.loads((out / "data.json").read_text())["datasets"]}
    generic = json.loads((out / "generic" / "seed0" / "augmented" / "result.json").read_text())
    assert [f["train_sha256"] for f in generic["fitted_on"]] == [data[n]["train_sha256"] for n in DATASETS]
    assert generic["n_train"] == sum(data[n]["n_train"] for n in DATASETS)
    assert generic["parts"] == [["alpha", 0, 3], ["beta", 3, 4]]
    # the largest preprocessor fit is the generic extractor's: every training image of both sets
    assert max(len(x) for x in full_run["fitted_images"]) == generic["n_train"]


def test_aurc_table_is_read_from_each_cells_own_answers(full_run):
    # The AURC of every cell equals the one recomputed from its stored predictions, ranked by the
    # lossless top probability: the table cannot silently read another score or another cell.
    from cnnsvm.classifiers.selective import aurc, confidence_score

    out = full_run["out"]
    metrics = json.loads((out / "results.json").read_text())["metrics"]
    for dataset in DATASETS:
        for method in METHODS:
            with np.load(out / "cells" / dataset / method / "seed0" / "predictions.npz") as p:
                expected = aurc(p["y_true"] == p["y_pred"], confidence_score(p["proba"]))
                wrong = aurc(p["y_true"] == p["y_pred"], -confidence_score(p["proba"]))
            assert metrics["aurc"][dataset][method]["mean"] == pytest.approx(expected)
            if expected != pytest.approx(wrong):
                assert metrics["aurc"][dataset][method]["mean"] != pytest.approx(wrong)


def test_cell_artefacts_are_written(full_run):
    out = full_run["out"]
    for dataset in DATASETS:
        for method in METHODS:
            cell = out / "cells" / dataset / method / "seed0"
            for name in ("confusion.png", "roc.png", "precision_recall.png", "risk_coverage.png"):
                assert (cell / name).read_bytes()[:8] == PNG, cell / name
            assert "precision" in (cell / "report.txt").read_text()
            assert (cell / "risk_coverage.csv").read_text().startswith("max_residual_probability,coverage,risk")
            result = json.loads((cell / "result.json").read_text())
            assert result["roc_auc_macro"] is not None and 0 <= result["roc_auc_macro"] <= 1
            assert 0 <= result["rejection_for_full_reliability"]["rejection_rate"] <= 1
            _assert_cpu_record(result["fit_cpu"])
            has_curves = method in ("cnn", "cnn-article")
            assert (cell / "training_curves.png").exists() == has_curves
            if has_curves:
                header = (cell / "history.csv").read_text().splitlines()[0]
                assert {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"} <= set(header.split(","))
    for variant in ("augmented", "noaug"):
        folder = out / "generic" / "seed0" / variant
        _assert_cpu_record(json.loads((folder / "result.json").read_text())["fit_cpu"])
        assert (folder / "training_curves.png").read_bytes()[:8] == PNG
        assert (folder / "model.joblib").exists()
    record = json.loads((out / "environment.json").read_text())["invocations"][0]
    assert record["machine"]["cpu_count"] >= 1 and "scikit-learn" in record["versions"]
    assert (out / "config.toml").read_text().startswith('name = "tiny"')


def test_exported_models_reload_and_rescore(full_run, data_dir):
    out = full_run["out"]
    test = _test_split(data_dir, "beta", "dark").with_light_ink()
    for method in ("hybrid", "generic-softmax", "pca-svc"):
        model, meta = load(out / "cells" / "beta" / method / "seed0" / "model.joblib", return_metadata=True)
        stored = json.loads((out / "cells" / "beta" / method / "seed0" / "result.json").read_text())
        accuracy = float(np.mean(model.predict(test.images) == test.labels))
        assert accuracy == pytest.approx(stored["accuracy"])
        assert meta["metadata"]["dataset"]["test_sha256"] == images_digest(test)
        assert len(meta["class_names"]) == 4


def test_generic_softmax_reads_its_own_block(full_run, data_dir):
    out = full_run["out"]
    generic = load(out / "generic" / "seed0" / "augmented" / "model.joblib")
    beta = load(out / "cells" / "beta" / "generic-softmax" / "seed0" / "model.joblib")
    test = _test_split(data_dir, "beta", "dark").with_light_ink()
    full = generic.predict_proba(test.images)  # over the 7 classes of both sets
    assert full.shape == (len(test), 7)
    restricted = beta.predict_proba(test.images)
    np.testing.assert_allclose(restricted.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(beta.predict(test.images), np.argmax(full[:, 3:7], axis=1))


def test_resume_skips_finished_cells(full_run):
    out = full_run["out"]
    models = sorted(out.glob("**/model.joblib"))
    before = {p: os.stat(p).st_mtime_ns for p in models}
    again = run_comparison(full_run["config"], out=out, verbose=False)
    assert again.ran == []
    assert len(again.skipped) == len(DATASETS) * len(METHODS) + 3  # and the three generic extractors
    assert {p: os.stat(p).st_mtime_ns for p in models} == before
    log = (out / "run.log").read_text()
    assert "resuming experiment 'tiny'" in log and "skip alpha/hybrid/seed0: finished earlier" in log
    assert [r["accuracy"] for r in again.results] == [r["accuracy"] for r in full_run["run"].results]


def test_changed_svc_redoes_only_the_hybrid_cells(full_run, data_dir, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(full_run["out"], out)
    config = parse_experiment(experiment_data(data_dir, svc={"C": 3.0}))
    again = run_comparison(config, out=out, verbose=False)
    hybrids = ("hybrid", "hybrid-single", "hybrid-embedding", "hybrid-svm", "hybrid-noaug", "hybrid-noelastic")
    assert sorted(again.ran) == sorted(f"{d}/{m}/seed0" for d in DATASETS for m in hybrids)
    assert "generic/augmented/seed0" in again.skipped
    hybrid = json.loads((out / "cells" / "alpha" / "hybrid" / "seed0" / "result.json").read_text())
    assert hybrid["params"]["C"] == 3.0


def test_spatial_features_in_svc_keep_the_embedding_hybrid_as_its_ablation(full_run, data_dir, tmp_path):
    import shutil

    out = tmp_path / "spatial"
    shutil.copytree(full_run["out"], out)
    refit, *kept = DATASETS  # one ablation cell is fitted again under the spatial file, to compare below
    shutil.rmtree(out / "cells" / refit / "hybrid-embedding")
    config = parse_experiment(experiment_data(data_dir, svc={"features": "spatial"}))
    again = run_comparison(config, out=out, verbose=False)
    assert "generic/augmented/seed0" in again.skipped  # no extractor is retrained
    # every hybrid reading [svc] is refitted; the ablation reads the embedding whatever [svc] says,
    # so the first run's cells (embedding features) are its own and are kept
    refitted = ("hybrid", "hybrid-single", "hybrid-svm", "hybrid-noaug", "hybrid-noelastic")
    expected = [f"{d}/{m}/seed0" for d in DATASETS for m in refitted] + [f"{refit}/hybrid-embedding/seed0"]
    assert sorted(again.ran) == sorted(expected)
    assert all(f"{d}/hybrid-embedding/seed0" in again.skipped for d in kept)
    for dataset in DATASETS:
        cells = out / "cells" / dataset
        spatial = load(cells / "hybrid" / "seed0" / "model.joblib").named_steps["cnn"]
        embedding = load(cells / "hybrid-embedding" / "seed0" / "model.joblib").named_steps["cnn"]
        assert spatial.features == "spatial" and embedding.features == "embedding"
        result = json.loads((cells / "hybrid" / "seed0" / "result.json").read_text())
        assert result["params"]["features"] == "spatial"
        # the ablation answers as the first run's hybrid (embedding features), refitted or kept
        first = np.load(full_run["out"] / "cells" / dataset / "hybrid" / "seed0" / "predictions.npz")
        np.testing.assert_array_equal(
            np.load(cells / "hybrid-embedding" / "seed0" / "predictions.npz")["y_pred"], first["y_pred"]
        )


def test_an_ensemble_of_generic_extractors_reuses_the_lone_one(full_run, data_dir, tmp_path):
    import shutil

    from cnnsvm.experiments.generic import member_seed
    from cnnsvm.features import CNNFeatureExtractor, ExtractorEnsemble
    from cnnsvm.features.views import unwrap_extractor

    out = tmp_path / "ensemble"
    shutil.copytree(full_run["out"], out)
    methods = ["hybrid", "hybrid-single", "generic-softmax"]
    config = parse_experiment(
        experiment_data(data_dir, methods=methods, generic={"architecture": "small", "elastic": 0.5, "members": 2})
    )
    run = run_comparison(config, out=out, verbose=False)
    # member 0 is the lone extractor of the first run (same fingerprint, kept); member 1 is new, and so is
    # every cell that reads it; the hybrid on member 0 alone is the first run's hybrid cell, kept
    assert "generic/augmented/seed0" in run.skipped
    expected = ["generic/augmented/seed0/member1"] + [
        f"{d}/{m}/seed0" for d in DATASETS for m in methods if m != "hybrid-single"
    ]
    assert sorted(run.ran) == sorted(expected)
    assert all(f"{d}/hybrid-single/seed0" in run.skipped for d in DATASETS)
    member1 = json.loads((out / "generic" / "seed0" / "augmented-member1" / "result.json").read_text())
    assert member1["member"] == 1 and member1["params"]["random_state"] == member_seed(0, 1) != 0
    for dataset in DATASETS:
        cells = out / "cells" / dataset
        ensemble = unwrap_extractor(load(cells / "hybrid" / "seed0" / "model.joblib").named_steps["cnn"])
        assert isinstance(ensemble, ExtractorEnsemble)
        assert [m.random_state for m in ensemble.extractors] == [0, member_seed(0, 1)]
        single = unwrap_extractor(load(cells / "hybrid-single" / "seed0" / "model.joblib").named_steps["cnn"])
        assert isinstance(single, CNNFeatureExtractor) and single.random_state == 0
        first = np.load(full_run["out"] / "cells" / dataset / "hybrid" / "seed0" / "predictions.npz")
        np.testing.assert_array_equal(
            np.load(cells / "hybrid-single" / "seed0" / "predictions.npz")["y_pred"], first["y_pred"]
        )
    assert "member" in (out / "tables" / "generic.md").read_text()


def test_several_seeds_give_mean_std_and_mcnemar(full_run, data_dir, tmp_path):
    import shutil

    # adding a seed to a finished run only trains what the new seed needs
    shutil.copytree(full_run["out"], tmp_path / "seeds")
    config = parse_experiment(experiment_data(data_dir, methods=["pca-svc", "hybrid"], seeds=[0, 1]))
    run = run_comparison(config, out=tmp_path / "seeds", verbose=False)
    assert sorted(run.ran) == sorted(
        ["generic/augmented/seed1"] + [f"{d}/{m}/seed1" for d in DATASETS for m in ("pca-svc", "hybrid")]
    )
    results = json.loads((tmp_path / "seeds" / "results.json").read_text())
    cell = results["metrics"]["accuracy"]["alpha"]["hybrid"]
    assert cell["n"] == 2 and cell["seeds"] == [0, 1] and cell["std"] is not None
    assert cell["mean"] == pytest.approx(np.mean(cell["values"]))
    assert cell["std"] == pytest.approx(np.std(cell["values"], ddof=1))
    tests = results["significance"]["tests"]
    assert {(t["dataset"], t["other"], t["seed"]) for t in tests} == {
        (d, "pca-svc", s) for d in DATASETS for s in (0, 1)
    }
    for t in tests:
        assert 0.0 < t["p_value"] <= 1.0
        assert t["hybrid_only"] + t["other_only"] + t["both_right"] + t["both_wrong"] == t["n"]
    assert "±" in (tmp_path / "seeds" / "tables" / "accuracy.md").read_text()
    header = (tmp_path / "seeds" / "tables" / "accuracy.csv").read_text().splitlines()[0]
    assert header == "dataset,pca-svc,pca-svc_std,hybrid,hybrid_std"
    summary = results["significance"]["summary"]
    assert all(len(s["p_values"]) == 2 for s in summary)
    # pooled over the seeds: the discordant counts added up, tested once
    from scipy.stats import binomtest

    for group in summary:
        mine = [t for t in tests if (t["dataset"], t["other"]) == (group["dataset"], group["other"])]
        a, b = sum(t["hybrid_only"] for t in mine), sum(t["other_only"] for t in mine)
        assert (group["pooled"]["hybrid_only"], group["pooled"]["other_only"]) == (a, b)
        assert group["pooled"]["p_value"] == (pytest.approx(binomtest(a, a + b, 0.5).pvalue) if a + b else 1.0)
    assert "### McNemar's test pooled over the seeds" in (tmp_path / "seeds" / "tables" / "significance.md").read_text()


def test_cli_compare_resumes_and_reports_errors(full_run, data_dir, tmp_path, capsys):
    from cnnsvm.cli import main
    from cnnsvm.experiments.config_files import dump_toml

    path = tmp_path / "tiny.toml"
    data = experiment_data(data_dir)
    data["datasets"][0]["spec"] = "npz:/nowhere/alpha.npz"
    path.write_text(dump_toml(data))
    good = f"datasets.0.spec=npz:{data_dir / 'alpha.npz'}?ink=light"
    assert main(["compare", str(path), "--out", str(full_run["out"]), "--set", good]) == 0
    captured = capsys.readouterr()
    assert "| alpha |" in captured.out and "skip beta/cnn/seed0" in captured.err
    assert main(["compare", str(path), "--out", str(tmp_path / "bad"), "--set", 'methods=["svm"]']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cnnsvm compare: error: unknown method 'svm' in methods; choose among " + ", ".join(METHODS)]


def test_only_the_members_some_method_reads_are_trained(data_dir):
    from cnnsvm.experiments.compare import _task_plan

    two = {"architecture": "small", "members": 2}
    single = parse_experiment(experiment_data(data_dir, methods=["hybrid-single", "pca-svc"], generic=two))
    assert [t for t in _task_plan(single) if t[0] == "generic"] == [("generic", ("augmented", 0), 0)]
    both = parse_experiment(experiment_data(data_dir, methods=["hybrid-single", "hybrid"], generic=two))
    assert [t[1] for t in _task_plan(both) if t[0] == "generic"] == [("augmented", 0), ("augmented", 1)]


def test_the_elastic_ablation_trains_its_own_extractor_without_the_distortion(full_run):
    # hybrid-noelastic reads an extractor of its own, trained as the file says less the elastic distortion
    out = full_run["out"]
    augmented = json.loads((out / "generic" / "seed0" / "augmented" / "result.json").read_text())
    plain = json.loads((out / "generic" / "seed0" / "noelastic" / "result.json").read_text())
    assert augmented["params"]["elastic"] == 0.5 and "elastic" not in plain["params"]
    from cnnsvm.experiments.generic import extractor_of

    assert extractor_of(load(out / "generic" / "seed0" / "noelastic" / "model.joblib")).elastic == 0.0


def _pca_hybrid(data_dir, seeds):
    return parse_experiment(experiment_data(data_dir, methods=["pca-svc", "hybrid"], seeds=seeds))


@pytest.fixture(scope="module")
def seed1_run(full_run, data_dir, tmp_path_factory):
    """Seed 1 of pca-svc and hybrid "on another machine": its own run directory, nothing of seed 0 in it."""
    out = tmp_path_factory.mktemp("apart") / "seed1"
    return run_comparison(_pca_hybrid(data_dir, [1]), out=out, verbose=False)


def test_seeds_run_apart_merge_into_one_table(full_run, seed1_run, data_dir, tmp_path):
    from cnnsvm.experiments.compare import MERGED, merge_runs

    runs = [full_run["out"], seed1_run.out]
    merged = merge_runs(_pca_hybrid(data_dir, [0, 1]), runs, tmp_path / "merged", verbose=False)
    assert merged.out == tmp_path / "merged"
    assert merged.ran == [] and len(merged.skipped) == 2 + 2 * 2 * len(DATASETS)  # 2 extractors, 8 cells

    out = tmp_path / "merged"
    results = json.loads((out / "results.json").read_text())
    for dataset in DATASETS:
        cell = results["metrics"]["accuracy"][dataset]["hybrid"]
        first = [r for r in full_run["run"].results if (r["dataset"], r["method"]) == (dataset, "hybrid")][0]
        second = [r for r in seed1_run.results if r["dataset"] == dataset and r["method"] == "hybrid"][0]
        assert cell["seeds"] == [0, 1] and cell["values"] == [first["accuracy"], second["accuracy"]]
    assert {(t["dataset"], t["seed"]) for t in results["significance"]["tests"]} == {
        (d, s) for d in DATASETS for s in (0, 1)
    }
    # records and predictions travel; models and plots stay in the runs; nothing is left beside --out
    assert not list(out.glob("**/model.joblib*")) and not list(out.glob("cells/**/*.png"))
    assert (out / "cells" / "beta" / "hybrid" / "seed1" / "predictions.npz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged"]
    assert "merged 10 task(s)" in (out / "run.log").read_text()
    record = json.loads((out / MERGED).read_text())
    assert [r["run"] for r in record["runs"]] == [str(r) for r in runs]
    assert "beta/hybrid/seed1" in record["runs"][1]["tasks"] and "beta/hybrid/seed1" not in record["runs"][0]["tasks"]
    assert all("cwd" not in i and i["source"] for r in record["runs"] for i in r["invocations"])

    # a merge merges again, keeping where its tasks came from
    again = merge_runs(_pca_hybrid(data_dir, [0, 1]), [out], tmp_path / "again", verbose=False)
    assert [r["accuracy"] for r in again.results] == [r["accuracy"] for r in merged.results]
    assert json.loads((tmp_path / "again" / MERGED).read_text())["runs"][0]["merged_from"] == record["runs"]

    # a merge holds no models: resuming it as a run would retrain everything into it, so it is refused
    with pytest.raises(ValueError, match="is a merge of other runs .* run into a new --out"):
        run_comparison(_pca_hybrid(data_dir, [0, 1]), out=out, verbose=False)


def test_merge_refuses_what_it_cannot_vouch_for(full_run, seed1_run, data_dir, tmp_path, monkeypatch):
    import shutil

    from cnnsvm.experiments import compare

    new = tmp_path / "new"
    both = _pca_hybrid(data_dir, [0, 1])
    with pytest.raises(ValueError, match=r"(?s)5 of its 10 task.*alpha/pca-svc/seed1: finished in none of the runs"):
        compare.merge_runs(both, [full_run["out"]], new, verbose=False)
    changed = parse_experiment(experiment_data(data_dir, methods=["hybrid"], svc={"C": 3.0}))
    with pytest.raises(ValueError, match=r"alpha/hybrid/seed0: \S+ ran it with another configuration or data"):
        compare.merge_runs(changed, [full_run["out"]], new, verbose=False)
    one = parse_experiment(experiment_data(data_dir, methods=["pca-svc"]))
    with pytest.raises(ValueError, match="named twice"):
        compare.merge_runs(one, [full_run["out"], full_run["out"] / ".." / full_run["out"].name], new, verbose=False)
    with pytest.raises(ValueError, match="is in .*one of the runs being merged"):
        compare.merge_runs(one, [full_run["out"]], full_run["out"] / "merged", verbose=False)
    assert not (full_run["out"] / "merged").exists()

    # a task in two runs, a cell without its predictions, a cell apart from its extractor
    copy = tmp_path / "copy"
    shutil.copytree(full_run["out"], copy, ignore=shutil.ignore_patterns("*.joblib*", "*.png"))
    with pytest.raises(ValueError, match=r"alpha/pca-svc/seed0: in \S+ and \S+copy"):
        compare.merge_runs(one, [full_run["out"], copy], new, verbose=False)
    (copy / "cells" / "alpha" / "pca-svc" / "seed0" / "predictions.npz").unlink()
    with pytest.raises(ValueError, match=r"alpha/pca-svc/seed0: \S+copy lacks its predictions.npz"):
        compare.merge_runs(one, [copy], new, verbose=False)
    shutil.rmtree(copy / "generic")
    shutil.copytree(seed1_run.out / "cells", copy / "cells", dirs_exist_ok=True)
    seed1_only = shutil.copytree(seed1_run.out, tmp_path / "seed1-extractor", ignore=shutil.ignore_patterns("cells"))
    with pytest.raises(ValueError, match=r"alpha/hybrid/seed1: in \S+copy, but the generic extractor it read"):
        compare.merge_runs(_pca_hybrid(data_dir, [1]), [copy, seed1_only], new, verbose=False)
    assert not new.exists()  # nothing written by any refusal

    # --out: never over a user's files; a failure part-way leaves nothing behind
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="exists and is not empty"):
        compare.merge_runs(one, [full_run["out"]], tmp_path / "mine", verbose=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    with pytest.raises(ValueError, match="not a run directory"):
        compare.merge_runs(one, [tmp_path / "mine"], new, verbose=False)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr(compare, "write_reports", broken)
    with pytest.raises(OSError, match="disk full"):
        compare.merge_runs(one, [full_run["out"]], new, verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_cli_compare_merge(full_run, data_dir, tmp_path, capsys):
    from cnnsvm.cli import main
    from cnnsvm.experiments.config_files import dump_toml

    path = tmp_path / "tiny.toml"
    path.write_text(dump_toml(experiment_data(data_dir, methods=["pca-svc", "hybrid"])))
    run = str(full_run["out"])
    assert main(["compare", str(path), "--merge", run, "--out", str(tmp_path / "merged")]) == 0
    captured = capsys.readouterr()
    assert "| alpha |" in captured.out and "merged 5 task(s)" in captured.err
    assert main(["compare", str(path), "--merge", run]) == 2
    assert capsys.readouterr().err.strip() == (
        "cnnsvm compare: error: --merge needs --out: the new directory that will hold the merged tables"
    )
    assert main(["compare", str(path), "--merge", run, "--out", str(tmp_path / "m2"), "--executor", "dask"]) == 2
    assert "--executor: nothing runs with --merge" in capsys.readouterr().err
    assert main(["compare", str(path), "--set", "seeds=[0,1]", "--merge", run, "--out", str(tmp_path / "m3")]) == 2
    err = capsys.readouterr().err
    assert "finished in none of the runs" in err and "Traceback" not in err

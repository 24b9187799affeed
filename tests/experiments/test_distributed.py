"""A comparison and a study on a local Dask cluster of two worker processes (and on Ray, when installed)."""

import json
import re

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="the Dask tests need dask[distributed] (the test extra)")

from cnnsvm.experiments import compare as compare_module  # noqa: E402
from cnnsvm.experiments.compare import run_comparison  # noqa: E402
from cnnsvm.experiments.config import parse_experiment  # noqa: E402
from cnnsvm.experiments.executors import executor_settings, thread_environment  # noqa: E402

METHODS = ("pca-svc", "hybrid")  # hybrid: the CNN method (its generic extractor is the CNN task)
TASKS = {"generic/augmented/seed0", "digits/pca-svc/seed0", "digits/hybrid/seed0"}


def digits_experiment(methods=METHODS):
    """The embedded digits, a small CNN for one epoch: a comparison of a few seconds per task."""
    return parse_experiment(
        {
            "name": "digits-dask",
            "methods": list(methods),
            "seeds": [0],
            "image_size": 12,
            "datasets": [{"name": "digits", "spec": "digits"}],
            "training": {"epochs": 1, "batch_size": 64, "patience": 1, "augmentation": 0.5},
            "generic": {"architecture": "small"},
            "method": {"pca-svc": {"n_components": 20}, "cnn": {"architecture": "small"}},
        }
    )


@pytest.fixture(scope="module")
def dask_address():
    """A local cluster: 2 worker processes, one task and one thread each."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, env=thread_environment(1)
    ) as cluster:
        yield cluster.scheduler_address


def _results(out):
    return {p.parent.relative_to(out).as_posix(): json.loads(p.read_text()) for p in out.glob("**/result.json")}


def test_interrupted_dask_run_resumes_and_matches_serial(dask_address, tmp_path, monkeypatch, capsys):
    out = tmp_path / "dask"
    settings = executor_settings(kind="dask", address=dask_address)
    stored = []
    original = compare_module.store_files

    def interrupt_after_the_second(folder, files):
        original(folder, files)
        stored.append(folder)
        if len(stored) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C once two tasks were written

    with monkeypatch.context() as mp:
        mp.setattr(compare_module, "store_files", interrupt_after_the_second)
        with pytest.raises(KeyboardInterrupt):
            run_comparison(digits_experiment(), out=out, verbose=False, executor=settings)
    first = {p.relative_to(out).as_posix() for p in stored}
    log = (out / "run.log").read_text()
    # the extractor goes to the engine first: it is the longest task and its cells wait for it
    assert log.index("queued generic/augmented/seed0") < log.index("queued digits/pca-svc/seed0")
    assert len(_results(out)) == 2 and set(_results(out)) == first
    assert "run the same command again to resume" in (out / "run.log").read_text()

    run = run_comparison(digits_experiment(), out=out, verbose=False, executor=settings)
    names = {"generic/seed0/augmented": "generic/augmented/seed0"} | {
        f"cells/digits/{m}/seed0": f"digits/{m}/seed0" for m in METHODS
    }
    assert set(run.skipped) == {names[f] for f in first}
    assert set(run.ran) | set(run.skipped) == TASKS and not set(run.ran) & set(run.skipped)
    # every cell finished, with its model, plots and result
    for m in METHODS:
        cell = out / "cells" / "digits" / m / "seed0"
        result = json.loads((cell / "result.json").read_text())
        assert 0.0 <= result["accuracy"] <= 1.0 and result["n_test"] == 360
        assert (cell / "model.joblib").exists() and (cell / "confusion.png").exists()
    hybrid = json.loads((out / "cells" / "digits" / "hybrid" / "seed0" / "result.json").read_text())
    generic = json.loads((out / "generic" / "seed0" / "augmented" / "result.json").read_text())
    assert hybrid["generic"]["fingerprint"] == generic["fingerprint"]
    log = (out / "run.log").read_text()
    assert "running 3 task(s) on dask at" in log and "running 1 task(s) on dask at" in log
    assert re.search(r"\[\d/3\] elapsed .* - done digits/\S+/seed0 in [\d.]+s on \S+:\d+", log)
    record = json.loads((out / "environment.json").read_text())["invocations"][-1]
    assert record["executor"]["kind"] == "dask"

    # the deterministic method gives the serial run's numbers exactly
    serial = run_comparison(digits_experiment(["pca-svc"]), out=tmp_path / "serial", verbose=False)
    for name in ("dask", "serial"):
        pred = np.load(tmp_path / name / "cells" / "digits" / "pca-svc" / "seed0" / "predictions.npz")
        if name == "dask":
            dask_pred = pred["y_pred"]
        else:
            np.testing.assert_array_equal(pred["y_pred"], dask_pred)
    assert serial.results[0]["accuracy"] == _results(out)["cells/digits/pca-svc/seed0"]["accuracy"]

    # the command line joins the same cluster; everything is finished already
    from cnnsvm.cli import main
    from cnnsvm.experiments.config_files import dump_toml

    path = tmp_path / "digits-dask.toml"
    path.write_text(dump_toml(digits_experiment().to_dict()))
    capsys.readouterr()
    assert main(["compare", str(path), "--out", str(out), "--executor", "dask", "--address", dask_address]) == 0
    captured = capsys.readouterr()
    assert "| digits |" in captured.out and "skip digits/hybrid/seed0: finished earlier" in captured.err


def test_study_on_dask_scores_like_grid_search_cv(dask_address, data_dir, tmp_path):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from cnnsvm.experiments.study import run_study, study_pipeline
    from cnnsvm.experiments.study_config import parse_study

    config = parse_study(
        {
            "name": "s",
            "method": "pca-svc",
            "image_size": 12,
            "search": "grid",
            "datasets": [{"name": "alpha", "spec": f"npz:{data_dir / 'alpha.npz'}?ink=light"}],
            "validation": {"kind": "kfold", "folds": 2},
            "params": {"n_components": 6},
            "sweep": {"C": [0.1, 10.0], "gamma": ["scale", 0.01]},
        }
    )
    run = run_study(
        config, out=tmp_path / "s", verbose=False, executor=executor_settings(kind="dask", address=dask_address)
    )
    log = (tmp_path / "s" / "run.log").read_text()
    assert "grid on features computed once per fold" in log and log.count("done features [fixed parameters]") == 2

    from cnnsvm.experiments.study import _training_data, load_experiment_datasets

    train = _training_data(load_experiment_datasets(config.datasets, test_size=0.2, split_seed=0))
    pipe, _ = study_pipeline(config)
    reference = GridSearchCV(
        pipe,
        {"svm__estimator__C": [0.1, 10.0], "svm__estimator__gamma": ["scale", 0.01]},
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
        return_train_score=True,
    )
    reference.fit(train.images, train.labels)
    res = reference.cv_results_
    for i, row in enumerate(run.rows):
        assert row["values"] == res["params"][i]
        assert row["val_mean"] == pytest.approx(res["mean_test_score"][i], abs=1e-12)
        assert row["val_std"] == pytest.approx(res["std_test_score"][i], abs=1e-12)
        assert row["train_mean"] == pytest.approx(res["mean_train_score"][i], abs=1e-12)
        assert row["rank"] == res["rank_test_score"][i]


def test_ray_runs_tasks_and_shares_data(tmp_path):
    pytest.importorskip("ray", reason="the Ray tests need ray (extra cnnsvm[ray])")
    import operator

    from cnnsvm.experiments.executors import open_executor

    with open_executor(executor_settings(kind="ray", workers=2)) as ex:
        handle = ex.share(np.arange(5))
        for i in range(4):
            ex.submit(f"t{i}", operator.add, handle, i)
        ex.submit("broken", operator.truediv, 1, 0)
        outcomes = {o.key: o for o in (ex.next_done(timeout=120) for _ in range(5))}
    assert all(np.array_equal(outcomes[f"t{i}"].value, np.arange(5) + i) for i in range(4))
    assert isinstance(outcomes["broken"].error, ZeroDivisionError)


def test_local_dask_workers_each_see_one_gpu(monkeypatch):
    # No GPU is needed: what is checked is the CUDA_VISIBLE_DEVICES each worker gets before TensorFlow loads.
    from cnnsvm.experiments import executors

    from .worker_probe import gpus_by_worker

    monkeypatch.setattr(executors, "local_gpus", lambda: ["3", "5"])
    with executors.open_executor(executor_settings(kind="dask", threads=1)) as ex:
        assert ex.slots == 2
        seen, facts = gpus_by_worker(ex)
    assert not any(f["tensorflow"] for f in facts)
    assert all(len(gpus) == 1 for gpus in seen.values())
    assert set().union(*seen.values()) == {"3", "5"}

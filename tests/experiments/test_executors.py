"""Executors: settings, the serial and process engines, thread limits and fork safety in workers."""

import io
import operator
import os
import pickle
import sys

import pytest

from cnnsvm.exceptions import ConfigError
from cnnsvm.experiments.executors import (
    ExecutorSettings,
    SerialExecutor,
    executor_settings,
    open_executor,
    usable_cores,
)
from cnnsvm.experiments.jobs import store_files
from cnnsvm.experiments.tracker import TaskTracker

from .worker_probe import gpus_by_worker, tensorflow_probe


def test_command_line_values_win_over_the_file():
    table = {"kind": "processes", "workers": 3, "threads": 2}
    s = executor_settings(table)
    assert (s.kind, s.workers, s.threads, s.worker_threads()) == ("processes", 3, 2, 2)
    s = executor_settings(table, kind="dask", workers=2)
    assert (s.kind, s.workers, s.threads) == ("dask", 2, 2)
    assert executor_settings(None) == ExecutorSettings()
    # default threads: this machine's cores shared among the workers, at least one
    assert executor_settings(kind="processes", workers=2).worker_threads() == max(1, usable_cores() // 2)
    assert executor_settings(kind="dask", address="tcp://h:8786").worker_threads() == 1
    assert executor_settings(kind="serial").worker_threads() is None  # the process is left as it is


@pytest.mark.parametrize(
    "table, cli, message",
    [
        ({"kind": "spark"}, {}, "unknown executor 'spark'; choose one of serial, processes, dask, ray"),
        ({}, {"kind": "serial", "workers": 4}, "the serial executor runs in this process"),
        ({}, {"kind": "processes", "address": "tcp://h:1"}, "an address joins a Dask scheduler or a Ray cluster"),
        ({"workers": 0}, {"kind": "dask"}, "the number of workers must be an integer >= 1; got 0"),
        ({"workers": "two"}, {"kind": "dask"}, "got 'two'"),
        ({"nodes": 2}, {}, "unknown setting(s) ['nodes'] in [executor]"),
        ({"kind": "ray", "address": "auto"}, {"workers": 2}, "drop --workers with --address"),
    ],
)
def test_bad_executor_settings_give_one_line_errors(table, cli, message):
    with pytest.raises(ConfigError) as info:
        executor_settings(table, **cli)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_engine_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask[distributed] were not installed
    with pytest.raises(ConfigError, match=r"pip install 'cnnsvm\[dask\]'"):
        open_executor(executor_settings(kind="dask", workers=1))


def test_serial_executor_runs_by_priority_and_reports_errors():
    started = []
    with SerialExecutor(ExecutorSettings()) as ex:
        ex.on_start = started.append
        ex.submit("late", operator.add, 1, 2, priority=-5)
        ex.submit("early", operator.mul, 3, 4, priority=3)
        ex.submit("broken", operator.truediv, 1, 0, priority=0)
        outcomes = [ex.next_done() for _ in range(3)]
        assert ex.next_done() is None
    assert started == ["early", "broken", "late"]
    assert [(o.key, o.value) for o in outcomes] == [("early", 12), ("broken", None), ("late", 3)]
    assert isinstance(outcomes[1].error, ZeroDivisionError) and outcomes[0].seconds >= 0


def test_process_workers_are_fresh_and_thread_limited_after_tensorflow_ran_here():
    import keras
    import numpy as np

    # TensorFlow has started its thread pools in this process: forking it now could deadlock a child
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    net.predict(np.zeros((1, 2)), verbose=0)
    settings = executor_settings(kind="processes", workers=1, threads=1)
    with open_executor(settings) as ex:
        ex.submit("probe", tensorflow_probe)
        outcomes = [ex.next_done(timeout=240)]
    for o in outcomes:
        assert o.error is None, o.error
        facts = o.value
        assert facts["fresh"], "the worker was forked from a process that had loaded TensorFlow"
        assert facts["pid"] != os.getpid()
        assert set(facts["env"].values()) == {"1"}
        assert facts["intra"] == 1 and facts["inter"] == 1
        assert o.worker.endswith(f":{facts['pid']}") and o.seconds > 0


def test_tracker_eta_with_workers_and_out_of_order_completion():
    lines = []
    tasks = [(f"cell{i}", "cnn") for i in range(6)]
    tracker = TaskTracker(tasks, lines.append, parallel=2)
    tracker.finished("cell4", 10.0, " on host:1")
    assert lines[-1].startswith("[1/6]") and "done cell4 in 10.0s on host:1" in lines[-1]
    tracker.finished("cell1", 20.0)
    # 4 left at a mean of 15 s on 2 workers
    assert tracker.eta() == pytest.approx(4 * 15.0 / 2)
    for t in ("cell0", "cell2", "cell3"):
        tracker.finished(t, 15.0)
    # one task left: it takes its own estimated time, whatever the number of workers
    assert tracker.eta() == pytest.approx(15.0)
    assert "[5/6]" in lines[-1] and "ETA 15.0s" in lines[-1]


def test_files_from_workers_stay_in_their_folder_and_result_comes_last(tmp_path, monkeypatch):
    import cnnsvm.experiments.jobs as jobs

    written = []
    original = jobs.atomic_write_bytes
    monkeypatch.setattr(
        jobs, "atomic_write_bytes", lambda path, data: written.append(path.name) or original(path, data)
    )
    store_files(tmp_path / "cell", {"result.json": b"{}", "a/plot.png": b"x", "model.joblib": b"m"})
    assert written[-1] == "result.json" and sorted(written) == ["model.joblib", "plot.png", "result.json"]
    assert (tmp_path / "cell" / "a" / "plot.png").read_bytes() == b"x"
    for bad in ("../evil.txt", "/etc/evil", "a/../../evil"):
        with pytest.raises(ValueError, match="leaves its folder"):
            store_files(tmp_path / "cell", {bad: b"x"})
    assert not (tmp_path / "evil.txt").exists()


class _RefusingPickler(pickle.Pickler):
    """A pickler that fails on any Keras model or fitted CNN: what must never travel between processes."""

    def reducer_override(self, obj):
        import keras

        from cnnsvm.features.cnn_base import BaseCNN

        if isinstance(obj, keras.Model) or (isinstance(obj, BaseCNN) and hasattr(obj, "network_")):
            raise pickle.PicklingError(f"a {type(obj).__name__} was about to be pickled")
        return NotImplemented


def _round_trip(obj):
    buffer = io.BytesIO()
    _RefusingPickler(buffer).dump(obj)
    return pickle.loads(buffer.getvalue())


class _PicklingExecutor(SerialExecutor):
    """Serial, but every task's arguments and value make the trip through pickle, as to another process."""

    trips = 0
    sent = []

    def submit(self, key, fn, *args, priority=0):
        type(self).trips += 1
        type(self).sent.append(pickle.dumps(args))
        super().submit(key, fn, *_round_trip(args), priority=priority)

    def next_done(self, timeout=None):
        outcome = super().next_done(timeout)
        if outcome is not None and outcome.error is None:
            outcome.value = _round_trip(outcome.value)
        return outcome


def test_no_keras_model_travels_between_processes(data_dir, tmp_path, monkeypatch):
    from cnnsvm.experiments import compare as compare_module
    from cnnsvm.experiments.compare import run_comparison
    from cnnsvm.experiments.config import parse_experiment
    from cnnsvm.pipeline import load

    from .conftest import experiment_data

    monkeypatch.setattr(compare_module, "open_executor", _PicklingExecutor)
    config = parse_experiment(experiment_data(data_dir, methods=["hybrid"]))
    run = run_comparison(config, out=tmp_path / "run", verbose=False)
    assert _PicklingExecutor.trips == 3 and len(run.ran) == 3  # 1 extractor + 2 datasets
    # no task is told where the run folder is: workers need not see it, the driver writes every file
    assert not any(str(tmp_path).encode() in sent for sent in _PicklingExecutor.sent)
    assert len(list((tmp_path / "run").glob("**/model.joblib"))) == 3
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in run.results)
    # the check bites: the fitted pipelines themselves could not have made the trip
    for folder in ("generic/seed0/augmented", "cells/alpha/hybrid/seed0"):
        with pytest.raises(pickle.PicklingError, match="was about to be pickled"):
            _round_trip(load(tmp_path / "run" / folder / "model.joblib"))


def test_cli_refuses_bad_executor_settings(data_dir, tmp_path, capsys):
    from cnnsvm.cli import main
    from cnnsvm.experiments.config_files import dump_toml

    from .conftest import experiment_data

    path = tmp_path / "tiny.toml"
    path.write_text(dump_toml({**experiment_data(data_dir), "executor": {"kind": "processes", "workers": 0}}))
    assert main(["compare", str(path), "--out", str(tmp_path / "a")]) == 2
    assert capsys.readouterr().err.strip() == (
        "cnnsvm compare: error: the number of workers must be an integer >= 1; got 0"
    )
    assert main(["compare", str(path), "--out", str(tmp_path / "b"), "--executor", "serial", "--workers", "3"]) == 2
    assert "the serial executor runs in this process" in capsys.readouterr().err
    study = tmp_path / "study.toml"
    study.write_text(
        dump_toml(
            {
                "method": "pca-svc",
                "datasets": [{"spec": "digits"}],
                "sweep": {"C": [1.0, 2.0]},
                "executor": {"kind": "dask"},
            }
        )
    )
    assert main(["study", str(study), "--executor", "processes", "--address", "tcp://x:1"]) == 2
    assert "an address joins a Dask scheduler or a Ray cluster" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before any work


def test_tasks_of_one_worker_process_never_overlap():
    import threading
    import time

    from cnnsvm.experiments.executors import run_task

    running, overlaps = [], []

    def task():
        running.append(1)
        overlaps.append(len(running))
        time.sleep(0.05)
        running.pop()

    threads = [threading.Thread(target=run_task, args=(task, None)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1, 1, 1, 1]  # as a Dask worker with 4 threads would call it: one at a time


def test_processes_workers_ignore_ctrl_c_and_report_their_pids():
    import signal

    with open_executor(executor_settings(kind="processes", workers=1)) as executor:
        executor.submit("sigint", signal.getsignal, signal.SIGINT)
        outcome = executor.next_done(timeout=120)
        assert outcome.error is None and outcome.value == signal.SIG_IGN  # the cnnsvm process handles Ctrl-C
        assert executor.worker_pids() == {int(outcome.worker.rsplit(":", 1)[1])}


def test_ctrl_c_stops_running_process_tasks_instead_of_waiting_for_them():
    import multiprocessing
    import time

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with open_executor(executor_settings(kind="processes", workers=1)) as executor:
            executor.submit("long", time.sleep, 300)  # stands for a long training
            while not executor.worker_pids():  # the worker has started (and is handed the task)
                time.sleep(0.1)
            pids = executor.worker_pids()
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C while the task runs
    assert time.monotonic() - start < 120  # did not wait out the 300-s task
    assert not {p.pid for p in multiprocessing.active_children()} & pids
    executor.close(stop_running=True)  # closing again is harmless


def test_local_gpus_come_from_cuda_visible_devices_or_nvidia_smi(monkeypatch):
    import subprocess

    from cnnsvm.experiments import executors

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0, 2")
    assert executors.local_gpus() == ["0", "2"]
    for none in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", none)
        assert executors.local_gpus() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,-1,0")  # CUDA stops at the first invalid id
    assert executors.local_gpus() == ["1"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    executors._nvidia_smi_gpus.cache_clear()
    monkeypatch.setattr(executors.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    listed = subprocess.CompletedProcess([], 0, stdout="0\n1\n")
    monkeypatch.setattr(executors.subprocess, "run", lambda *a, **k: listed)
    assert executors.local_gpus() == ["0", "1"]
    executors._nvidia_smi_gpus.cache_clear()
    monkeypatch.setattr(executors.shutil, "which", lambda name: None)
    assert executors.local_gpus() == []
    executors._nvidia_smi_gpus.cache_clear()


def test_with_gpus_a_local_pool_has_one_worker_per_gpu_and_each_worker_sees_one(monkeypatch):
    from cnnsvm.experiments import executors

    monkeypatch.setattr(executors, "local_gpus", lambda: ["3", "5"])
    assert executor_settings(kind="processes").n_workers() == 2  # one per GPU unless workers is given
    assert executor_settings(kind="processes", workers=3).n_workers() == 3
    assert executor_settings(kind="serial").gpus() == [] and executor_settings(kind="dask", address="x:1").gpus() == []
    assert "on GPU 3, 5" in executor_settings(kind="processes").describe()
    with open_executor(executor_settings(kind="processes", threads=1)) as ex:
        seen, facts = gpus_by_worker(ex)
    assert all(f["growth"] == "true" and not f["tensorflow"] for f in facts)
    assert all(len(gpus) == 1 for gpus in seen.values())  # a worker keeps its GPU
    assert set().union(*seen.values()) <= {"3", "5"} and len(seen) == 2
    assert len(set().union(*seen.values())) == 2  # the two workers were given the two GPUs


def test_pin_gpu_shows_one_gpu_and_refuses_once_tensorflow_is_loaded(monkeypatch):
    from cnnsvm.experiments import executors

    for name in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TF_FORCE_GPU_ALLOW_GROWTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert executors.pin_gpu([], 0) is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    assert executors.pin_gpu(["3", "5"], 3) == "5"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5" and os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    with pytest.raises(RuntimeError, match="loaded TensorFlow before it was given a GPU"):
        executors.pin_gpu(["3", "5"], 0)


@pytest.mark.parametrize(("workers", "gpus", "share"), [(2, 3, 1.0), (1, 2, 1.0), (3, 2, 0.5), (4, 2, 0.5), (4, 0, 0)])
def test_each_ray_task_reserves_a_share_that_lets_every_worker_run(workers, gpus, share):
    from cnnsvm.experiments.executors import gpu_share

    assert gpu_share(workers, gpus) == share

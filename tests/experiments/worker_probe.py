"""A task for worker processes; this module imports nothing heavy, so that importing it in a
fresh worker (to unpickle the task) leaves TensorFlow unloaded."""

import os
import sys

from cnnsvm.experiments.executors import THREAD_VARIABLES


def tensorflow_probe():
    """What a fresh worker looks like before and after its first TensorFlow training."""
    import numpy as np

    fresh = "tensorflow" not in sys.modules  # a forked child would have inherited the parent's TensorFlow
    from cnnsvm.experiments.jobs import _prepare_tensorflow

    _prepare_tensorflow()  # what every training job does first
    import keras
    import tensorflow as tf

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(64, 4)), rng.integers(0, 3, 64), epochs=2, verbose=0)
    return {
        "fresh": fresh,
        "pid": os.getpid(),
        "env": {k: os.environ.get(k) for k in THREAD_VARIABLES},
        "intra": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def gpu_probe(seconds=0.5):
    """Which GPU this worker was shown, and whether TensorFlow was loaded when it was."""
    import time

    time.sleep(seconds)  # long enough for every worker of a small pool to take a task
    return {
        "pid": os.getpid(),
        "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "growth": os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH"),
        "tensorflow": "tensorflow" in sys.modules,
    }


def gpus_by_worker(executor, n_tasks=6):
    """Run ``n_tasks`` :func:`gpu_probe` tasks; ``{pid: set of GPUs it was shown}`` and every probe's facts."""
    for i in range(n_tasks):
        executor.submit(f"probe{i}", gpu_probe)
    seen, facts = {}, []
    for _ in range(n_tasks):
        outcome = executor.next_done(timeout=120)
        assert outcome.error is None, outcome.error
        seen.setdefault(outcome.value["pid"], set()).add(outcome.value["gpu"])
        facts.append(outcome.value)
    return seen, facts

"""Where the tasks of an experiment run: in this process, a local process pool, Dask or Ray.

An experiment is a set of independent tasks (plus a few dependencies the
runner resolves itself: a hybrid cell is submitted once its generic
extractor exists). :func:`open_executor` starts an engine from
:class:`ExecutorSettings`; the runner then calls :meth:`Executor.submit` with
a key, a function and plain arguments, and :meth:`Executor.next_done` for
the outcomes in the order they finish.

- ``serial``: every task runs in this process, one after the other (the default).
- ``processes``: a :class:`concurrent.futures.ProcessPoolExecutor` of fresh
  (``spawn``) processes on this machine.
- ``dask``: futures of a :class:`distributed.Client`, on a
  :class:`~distributed.LocalCluster` of ``workers`` processes or on the
  scheduler at ``address`` (extra ``cnnsvm[dask]``).
- ``ray``: Ray remote functions, on a local Ray instance or the cluster at
  ``address`` (extra ``cnnsvm[ray]``).

What the engines share:

- Functions and arguments travel pickled; the runner passes arrays, plain
  data and the *bytes* of model files, never a live Keras model, and gets
  back plain data and file bytes (see :mod:`cnnsvm.experiments.jobs`).
- Every worker process runs one task at a time, in a fresh interpreter (no
  process forked from one that has loaded TensorFlow), and limits its
  thread pools (TensorFlow, OpenMP, BLAS) to its share of the cores:
  ``threads`` = usable cores // workers on a local machine.
- GPUs: where this machine has some (:func:`local_gpus`), a local pool has one
  worker per GPU unless ``workers`` says otherwise, and each worker sees one GPU
  (``CUDA_VISIBLE_DEVICES``, given out in turn when it starts, before any task
  can load TensorFlow; several workers on one GPU grow their memory as they need
  it). TensorFlow trains on the GPU it sees. The serial executor leaves the
  process as it is; a remote cluster's workers see what their own start gave them.

This module imports neither NumPy nor TensorFlow, so that a worker process
can set its thread counts before they load.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import numbers
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from cnnsvm.exceptions import ConfigError

#: The executors ``--executor`` accepts.
EXECUTORS = ("serial", "processes", "dask", "ray")

#: Environment variables that size the thread pools of TensorFlow, OpenMP and the BLAS libraries.
THREAD_VARIABLES = (
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)

#: Keys of an ``[executor]`` table.
EXECUTOR_KEYS = ("kind", "workers", "address", "threads")


def local_gpus():
    """Ids of this machine's GPUs as ``CUDA_VISIBLE_DEVICES`` names them, without loading TensorFlow.

    ``CUDA_VISIBLE_DEVICES`` when it is set (empty or ``-1``: none), else the GPUs
    ``nvidia-smi`` lists, else none.

    Returns
    -------
    list of str
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [g.strip() for g in visible.split(",")]
        return list(itertools.takewhile(lambda g: g not in ("", "-1"), ids))  # CUDA stops at the first invalid id
    return list(_nvidia_smi_gpus())


@functools.cache
def _nvidia_smi_gpus():
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in listed.splitlines() if line.strip().isdigit())


def usable_cores():
    """Cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ExecutorSettings:
    """How to run an experiment's tasks.

    Parameters
    ----------
    kind : {"serial", "processes", "dask", "ray"}
    workers : int or None
        Worker processes of a local pool or cluster (default: one per GPU where
        this machine has GPUs, else the usable cores). With ``address``, Dask
        waits until that many workers joined.
    address : str or None
        A running Dask scheduler (``tcp://host:8786``) or Ray cluster
        (``ray://host:10001``, ``host:6379`` or ``auto``) to join.
    threads : int or None
        Threads of each worker's TensorFlow and BLAS pools (default: usable
        cores // workers on a local machine; 1 on a remote cluster).
    """

    kind: str = "serial"
    workers: int | None = None
    address: str | None = None
    threads: int | None = None

    @property
    def local(self):
        """True when the workers run on this machine, started by cnnsvm."""
        return self.kind in ("processes", "dask", "ray") and self.address is None

    def n_workers(self):
        """Worker processes of a local pool (``workers``, else one per GPU, else the usable cores)."""
        if self.kind == "serial":
            return 1
        return self.workers or len(self.gpus()) or usable_cores()

    def gpus(self):
        """The GPUs the local workers share out, one each in turn (none for serial or a remote cluster)."""
        return local_gpus() if self.local else []

    def worker_threads(self):
        """Threads per worker process (``None``: serial, leave the process as it is)."""
        if self.kind == "serial":
            return self.threads
        if self.threads:
            return self.threads
        if self.address is not None:
            return 1
        return max(1, usable_cores() // self.n_workers())

    def describe(self):
        """One line for the log: ``"dask, 2 local workers x 1 thread"``."""
        if self.kind == "serial":
            return "serial (this process)"
        where = f"at {self.address}" if self.address else f"{self.n_workers()} local workers"
        threads = self.worker_threads()
        gpus = self.gpus()
        on = f" on GPU {', '.join(gpus)} (one each, in turn)" if gpus else ""
        return f"{self.kind}, {where} x {threads} thread{'s' if threads != 1 else ''}{on}"

    def to_dict(self):
        return {
            "kind": self.kind,
            "workers": self.workers,
            "address": self.address,
            "threads": self.threads,
            "gpus": self.gpus(),
        }


def _positive_int(value, where):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{where} must be an integer >= 1; got {value!r}")
    return int(value)


def executor_settings(table=None, *, kind=None, workers=None, address=None, threads=None):
    """Validate the ``[executor]`` table of a file, with command-line values over it.

    Parameters
    ----------
    table : dict, optional
        The file's ``[executor]`` table (``kind``, ``workers``, ``address``, ``threads``).
    kind, workers, address, threads : optional
        ``--executor``, ``--workers``, ``--address``: they win over the table.

    Returns
    -------
    ExecutorSettings

    Raises
    ------
    ConfigError
        One line naming the bad value and what to write instead.
    """
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise ConfigError(f'[executor] must be a table (kind = "dask", workers = 2, ...); got {table!r}')
    unknown = sorted(set(table) - set(EXECUTOR_KEYS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown} in [executor]; valid: {', '.join(EXECUTOR_KEYS)}")
    merged = {
        **table,
        **{
            k: v
            for k, v in (("kind", kind), ("workers", workers), ("address", address), ("threads", threads))
            if v is not None
        },
    }
    kind = merged.get("kind", "serial")
    if kind not in EXECUTORS:
        raise ConfigError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    workers = merged.get("workers")
    workers = None if workers is None else _positive_int(workers, "the number of workers")
    threads = merged.get("threads")
    threads = None if threads is None else _positive_int(threads, "[executor] threads")
    address = merged.get("address")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise ConfigError(f"the executor address must be a non-empty string such as tcp://host:8786; got {address!r}")
    address = address.strip() if address else None
    if kind == "serial" and workers not in (None, 1):
        raise ConfigError(
            f"the serial executor runs in this process; for {workers} workers choose --executor processes, dask or ray"
        )
    if address is not None and kind not in ("dask", "ray"):
        raise ConfigError(
            f"an address joins a Dask scheduler or a Ray cluster; add --executor dask or "
            f"--executor ray (the {kind} executor has no address)"
        )
    if kind == "ray" and address is not None and workers is not None:
        raise ConfigError(
            "a Ray cluster decides how many tasks run from its CPUs; drop --workers with "
            "--address (set [executor] threads to give each task more cores)"
        )
    return ExecutorSettings(kind=kind, workers=workers, address=address, threads=threads)


def split_executor_table(data):
    """``(data without "executor", the executor table or None)``: the table says how, not what, to run."""
    data = dict(data)
    return data, data.pop("executor", None)


# ------------------------------------------------------------------ inside a worker
_configured_threads = None
_one_task_at_a_time = threading.Lock()  # a worker with several threads still trains one network at a time


def worker_id():
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def configure_worker(threads):
    """Size this process's thread pools to ``threads`` (once per process; ``None`` leaves them).

    Sets the environment variables read by TensorFlow, OpenMP and BLAS
    libraries when they load, limits the BLAS/OpenMP pools already loaded
    (threadpoolctl), and, if TensorFlow is loaded but has not started its
    runtime, its intra- and inter-op pools.
    """
    global _configured_threads
    if threads is None or _configured_threads == threads:
        return
    for name in THREAD_VARIABLES:
        os.environ[name] = str(int(threads))
    if "numpy" in sys.modules:  # limit pools that are already loaded
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(int(threads))
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            pass
    configure_tensorflow(threads, import_it=False)
    _configured_threads = threads


def configure_tensorflow(threads, *, import_it=True):
    """Set TensorFlow's intra- and inter-op thread counts, if its runtime has not started yet.

    Returns
    -------
    bool
        Whether the counts were set (``False`` once TensorFlow has run an op:
        then the environment variables set at the process's start apply).
    """
    if threads is None or (not import_it and "tensorflow" not in sys.modules):
        return False
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    except RuntimeError:  # the runtime is initialised: the sizes are fixed now
        return False
    return True


def configured_threads():
    """The thread count :func:`configure_worker` set in this process, or ``None``."""
    return _configured_threads


def pin_gpu(gpus, slot):
    """Show this worker process one GPU: ``gpus[slot % len(gpus)]`` (nothing without ``gpus``).

    Must run before TensorFlow loads in the process: afterwards it would change nothing.

    Returns
    -------
    str or None
        The GPU shown.

    Raises
    ------
    RuntimeError
        If TensorFlow is loaded already.
    """
    if not gpus:
        return None
    if "tensorflow" in sys.modules:
        raise RuntimeError(f"worker {worker_id()} loaded TensorFlow before it was given a GPU")
    gpu = str(gpus[int(slot) % len(gpus)])
    os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # number the GPUs as nvidia-smi does
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # workers sharing a GPU each take what they use
    return gpu


def gpu_share(workers, n_gpus):
    """The share of one GPU each of ``workers`` tasks reserves so that they all run: 1/k, k tasks per GPU."""
    return 1 / math.ceil(workers / n_gpus) if n_gpus else 0


def _pin_dask_worker(gpus, dask_worker=None):
    """Run on every worker of a local Dask cluster at its start (``Client.run``): its GPU by its number."""
    return pin_gpu(gpus, dask_worker.name)


def run_task(fn, threads, *args):
    """What a worker runs: configure its threads, call ``fn(*args)``, time it.

    Tasks of one process run one after the other, even on a Dask worker
    started with several threads (Keras keeps global state, and concurrent
    trainings would compete for the same cores).

    Returns
    -------
    (value, seconds, worker) : (object, float, str)
    """
    with _one_task_at_a_time:
        configure_worker(threads)
        start = time.perf_counter()
        value = fn(*args)
        return value, time.perf_counter() - start, worker_id()


def _init_process(threads, started, gpus=(), counter=None):
    """Initializer of a ``processes`` worker: thread counts (and GPU) before NumPy or TensorFlow load.

    The worker ignores SIGINT (a Ctrl-C in the terminal reaches the whole
    process group): the ``cnnsvm`` process handles it and stops the workers
    itself, so an idle worker does not die printing a traceback. Its pid goes
    to ``started``, so that the pool's owner can stop it. With ``gpus``, the
    n-th worker started sees ``gpus[n % len(gpus)]``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if gpus:
        with counter.get_lock():
            slot, counter.value = counter.value, counter.value + 1
        pin_gpu(gpus, slot)
    configure_worker(threads)
    started.put(os.getpid())


def thread_environment(threads):
    """Environment variables that give a new worker process ``threads`` threads per pool."""
    return {name: str(int(threads)) for name in THREAD_VARIABLES} if threads else {}


# ------------------------------------------------------------------ the engines
@dataclass
class Outcome:
    """A finished task: its value (or the exception it raised), its run time and where it ran."""

    key: str
    value: object = None
    error: BaseException | None = None
    seconds: float | None = None
    worker: str | None = None


class Executor:
    """Common interface of the engines; use :func:`open_executor` as a context manager."""

    kind = "serial"

    def __init__(self, settings):
        self.settings = settings
        self.threads = settings.worker_threads()
        self.on_start = None  # serial only: called with a task's key just before it runs

    @property
    def slots(self):
        """How many tasks run at the same time."""
        return 1

    def share(self, obj):
        """A handle to pass ``obj`` to many tasks, sent to the workers once where the engine can."""
        return obj

    def submit(self, key, fn, *args, priority=0):
        """Queue ``fn(*args)`` under ``key``; higher ``priority`` starts earlier where the engine allows."""
        raise NotImplementedError

    @property
    def pending(self):
        """Number of tasks submitted and not yet returned by :meth:`next_done`."""
        raise NotImplementedError

    def next_done(self, timeout=None):
        """Block until a task finishes and return its :class:`Outcome` (``None`` when none is pending).

        Raises
        ------
        TimeoutError
            If no task finished within ``timeout`` seconds (engines other than serial).
        """
        raise NotImplementedError

    def describe(self):
        return self.settings.describe()

    def close(self, stop_running=False):
        """Cancel what is still queued and release the workers.

        Parameters
        ----------
        stop_running : bool, default=False
            Stop the tasks already running instead of waiting for them (on an
            error or a Ctrl-C in the runner); engines that cannot wait anyway
            ignore it.
        """

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # leaving on an error or a Ctrl-C: the running tasks' results would be dropped, so stop them now
        self.close(stop_running=exc_type is not None)
        return False


class SerialExecutor(Executor):
    """Runs each task in this process when :meth:`next_done` asks for the next result."""

    def __init__(self, settings):
        super().__init__(settings)
        self._queue = []
        self._counter = itertools.count()

    def submit(self, key, fn, *args, priority=0):
        heapq.heappush(self._queue, (-priority, next(self._counter), key, fn, args))

    @property
    def pending(self):
        return len(self._queue)

    def next_done(self, timeout=None):
        if not self._queue:
            return None
        _, _, key, fn, args = heapq.heappop(self._queue)
        if self.on_start is not None:
            self.on_start(key)
        try:
            value, seconds, worker = run_task(fn, self.threads, *args)
        except Exception as exc:  # noqa: BLE001 - handed to the runner, which names the task
            return Outcome(key, error=exc, worker=worker_id())
        return Outcome(key, value=value, seconds=seconds, worker=worker)

    def close(self, stop_running=False):
        self._queue.clear()


class ProcessExecutor(Executor):
    """A pool of fresh (spawned) processes on this machine."""

    kind = "processes"

    def __init__(self, settings):
        super().__init__(settings)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._workers = settings.n_workers()
        # spawn: each worker is a new interpreter; forking a process that has loaded
        # TensorFlow (or any library with thread pools) can leave the child deadlocked.
        context = multiprocessing.get_context("spawn")
        self._started = context.SimpleQueue()  # pids of the pool's workers, to stop them on Ctrl-C
        self._pids = set()
        self._closed = False
        self._pool = ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=context,
            initializer=_init_process,
            initargs=(self.threads, self._started, tuple(settings.gpus()), context.Value("i", 0)),
        )
        self._futures = {}

    @property
    def slots(self):
        return self._workers

    def submit(self, key, fn, *args, priority=0):
        self._futures[self._pool.submit(run_task, fn, self.threads, *args)] = key

    @property
    def pending(self):
        return len(self._futures)

    def next_done(self, timeout=None):
        from concurrent.futures import FIRST_COMPLETED, wait

        if not self._futures:
            return None
        done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:
            raise TimeoutError(f"no task finished within {timeout} s")
        future = next(iter(done))
        key = self._futures.pop(future)
        return _outcome(key, future.result)

    def worker_pids(self):
        """Process ids of the workers started so far (those that ran their initializer)."""
        while not self._closed and not self._started.empty():
            self._pids.add(self._started.get())
        return set(self._pids)

    def close(self, stop_running=False):
        if self._closed:
            return
        for future in self._futures:
            future.cancel()
        self._futures.clear()
        # a task may be a 40-minute training: end the workers rather than wait for it (a worker still starting,
        # which has not reported its pid yet, is not ended: it runs at most the task it is handed)
        if stop_running:
            import multiprocessing

            pids = self.worker_pids()
            for process in multiprocessing.active_children():
                if process.pid in pids:
                    process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._closed = True
        self._started.close()


def _outcome(key, get):
    try:
        value, seconds, worker = get()
    except Exception as exc:  # noqa: BLE001 - handed to the runner
        return Outcome(key, error=exc)
    return Outcome(key, value=value, seconds=seconds, worker=worker)


class DaskExecutor(Executor):
    """Futures of a Dask client: a :class:`~distributed.LocalCluster` or the scheduler at ``address``."""

    kind = "dask"

    def __init__(self, settings, *, connect_timeout=60):
        super().__init__(settings)
        try:
            import distributed
        except ImportError as exc:
            raise ConfigError(
                "the dask executor needs Dask's distributed scheduler: "
                "pip install 'cnnsvm[dask]' (or dask[distributed])"
            ) from exc
        self._distributed = distributed
        self._cluster = None
        if settings.address is None:
            # One thread per worker process: one training at a time in each; the nanny
            # starts every worker as a new interpreter with the thread variables set.
            self._cluster = distributed.LocalCluster(
                n_workers=settings.n_workers(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                env=thread_environment(self.threads),
            )
            self._client = distributed.Client(self._cluster)
            gpus = settings.gpus()
            if gpus:  # each worker its GPU, by its number (0, 1, ...), before any task reaches it
                self._client.run(_pin_dask_worker, gpus)
        else:
            try:
                self._client = distributed.Client(settings.address, timeout=connect_timeout)
            except OSError as exc:
                raise ConfigError(
                    f"no Dask scheduler answered at {settings.address} ({exc}); start one with "
                    "`dask scheduler` and workers with `dask worker ADDRESS --nthreads 1`"
                ) from exc
            if settings.workers:
                self._client.wait_for_workers(settings.workers, timeout=connect_timeout * 10)
        self._futures = {}
        self._done = distributed.as_completed()

    @property
    def client(self):
        return self._client

    def _workers(self):
        try:
            return self._client.scheduler_info(n_workers=-1)["workers"]
        except TypeError:  # distributed before 2025: every worker is listed
            return self._client.scheduler_info()["workers"]

    @property
    def slots(self):
        return max(1, sum(w.get("nthreads", 1) for w in self._workers().values()))

    def share(self, obj):
        return self._client.scatter([obj], hash=False)[0]  # in a list: a dict would become a dict of futures

    def submit(self, key, fn, *args, priority=0):
        future = self._client.submit(
            run_task, fn, self.threads, *args, key=f"cnnsvm-{key}-{os.urandom(4).hex()}", priority=priority, pure=False
        )
        self._futures[future] = key
        self._done.add(future)

    @property
    def pending(self):
        return len(self._futures)

    def next_done(self, timeout=None):
        if not self._futures:
            return None
        if timeout is not None:  # raises TimeoutError when nothing finishes in time
            self._distributed.wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        future = next(self._done)
        key = self._futures.pop(future)
        outcome = _outcome(key, future.result)
        future.release()
        return outcome

    def describe(self):
        if self.settings.address is None:
            return self.settings.describe()
        workers = self._workers()
        return f"dask at {self.settings.address}: {len(workers)} workers, {self.slots} slots x {self.threads} thread(s)"

    def close(self, stop_running=False):
        # a local cluster's workers end with it; a remote scheduler finishes what already runs
        if self._futures:
            self._client.cancel(list(self._futures))
            self._futures.clear()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


class RayExecutor(Executor):
    """Ray remote functions, on a local Ray instance or the cluster at ``address``."""

    kind = "ray"

    def __init__(self, settings):
        super().__init__(settings)
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("the ray executor needs Ray: pip install 'cnnsvm[ray]' (or ray)") from exc
        self._ray = ray
        self._own = not ray.is_initialized()
        gpus = settings.gpus()
        env_vars = thread_environment(self.threads)
        if gpus:  # tasks sharing a GPU each take the memory they use
            env_vars["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
        runtime_env = {"env_vars": env_vars}
        if self._own:
            if settings.address is None:
                ray.init(
                    num_gpus=len(gpus),
                    num_cpus=settings.n_workers() * self.threads,
                    include_dashboard=False,
                    runtime_env=runtime_env,
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                try:
                    ray.init(address=settings.address, runtime_env=runtime_env, log_to_driver=False)
                except ConnectionError as exc:
                    raise ConfigError(f"no Ray cluster answered at {settings.address} ({exc})") from exc
        # Each task asks for `threads` CPUs, so a node runs cores // threads tasks at once; with local GPUs,
        # a share of one GPU too (as many tasks per GPU as the workers need): Ray shows each task its GPU.
        share = gpu_share(settings.n_workers(), len(gpus))
        self._remote = ray.remote(num_cpus=self.threads, num_gpus=share, max_retries=0)(run_task)
        self._refs = {}

    @property
    def slots(self):
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)) // self.threads)

    def share(self, obj):
        return self._ray.put(obj)

    def submit(self, key, fn, *args, priority=0):
        self._refs[self._remote.remote(fn, self.threads, *args)] = key

    @property
    def pending(self):
        return len(self._refs)

    def next_done(self, timeout=None):
        if not self._refs:
            return None
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if not ready:
            raise TimeoutError(f"no task finished within {timeout} s")
        key = self._refs.pop(ready[0])
        return _outcome(key, lambda: self._ray.get(ready[0]))

    def close(self, stop_running=False):
        for ref in self._refs:  # force=True ends running tasks too
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._own:
            self._ray.shutdown()


def open_executor(settings):
    """Start the engine that ``settings`` names.

    Returns
    -------
    Executor
        Use it as a context manager: leaving it cancels what is queued and
        shuts down the workers cnnsvm started.
    """
    settings = settings if isinstance(settings, ExecutorSettings) else executor_settings(settings)
    engine = {"serial": SerialExecutor, "processes": ProcessExecutor, "dask": DaskExecutor, "ray": RayExecutor}[
        settings.kind
    ]
    return engine(settings)

"""Progress of a run made of tasks: done / total, elapsed time and an estimate of what remains.

Tasks may finish in any order (several workers): each finished task reports
the time it ran, and the estimate divides the remaining work by the number
of tasks that run at once.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from cnnsvm.progress import format_seconds, log


class RunLog:
    """Progress lines to stderr (when ``verbose``) and, always, to a log file.

    Parameters
    ----------
    path : Path or None
        File the lines are appended to.
    verbose : bool, default=True
    """

    def __init__(self, path=None, verbose=True):
        self.path = path
        self.verbose = verbose

    def __call__(self, message):
        """Write one line."""
        if self.verbose:
            log(message)
        if self.path is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(f"{stamp} {message}\n")


class TaskTracker:
    """Count finished tasks and estimate the time left.

    Each task has a ``kind``; the time left is the sum, over remaining tasks,
    of the mean duration of finished tasks of the same kind (or of all
    finished tasks while a kind has none), shared among ``parallel`` workers. Skipped tasks (resumed from disk)
    count as done but do not enter the estimate.

    Parameters
    ----------
    tasks : list of (task_id, kind)
    say : callable
        Receives each progress line.
    proxies : dict, optional
        ``{kind: (other_kind, factor)}``: while no task of ``kind`` has been
        timed, estimate it as ``factor`` times the mean of ``other_kind``
        (a generic extractor trains on all datasets: about the per-dataset
        CNNs' time times the number of datasets).
    parallel : int, default=1
        How many tasks run at the same time (the executor's workers).
    """

    def __init__(self, tasks, say, proxies=None, parallel=1):
        self.proxies = dict(proxies or {})
        self.parallel = parallel
        self.kinds = dict(tasks)
        self.order = [t for t, _ in tasks]
        self.done = set()
        self.durations = {}
        self.say = say
        self.start = time.perf_counter()

    @property
    def total(self):
        return len(self.order)

    def _mean(self, kind):
        same = [d for t, d in self.durations.items() if self.kinds[t] == kind]
        return sum(same) / len(same) if same else None

    def _estimate(self, kind):
        mean = self._mean(kind)
        if mean is None and kind in self.proxies:
            other, factor = self.proxies[kind]
            proxy = self._mean(other)
            mean = None if proxy is None else proxy * factor
        if mean is None and self.durations:
            mean = sum(self.durations.values()) / len(self.durations)
        return mean

    def eta(self):
        """Estimated seconds left, or ``None`` before any task was timed.

        The remaining tasks' estimated durations divided among ``parallel``
        workers, but never less than the longest of them.
        """
        remaining = [t for t in self.order if t not in self.done]
        if not remaining:
            return 0.0
        estimates = [self._estimate(self.kinds[t]) for t in remaining]
        if any(e is None for e in estimates):
            return None
        workers = max(1, min(int(self.parallel), len(estimates)))
        return float(max(sum(estimates) / workers, max(estimates)))

    def _status(self):
        eta = self.eta()
        left = "unknown until a task is timed" if eta is None else format_seconds(eta)
        return f"[{len(self.done)}/{self.total}] elapsed {format_seconds(time.perf_counter() - self.start)}, ETA {left}"

    def skip(self, task_id, reason):
        """Mark a task done without running it, and say why."""
        self.done.add(task_id)
        self.say(f"{self._status()} - skip {task_id}: {reason}")

    def started(self, task_id, what=None, *, name=None):
        """Log that a task starts (serial runs, where the start is known); ``name`` replaces its id."""
        self.say(f"{self._status()} - start {name or task_id}{': ' + what if what else ''}")

    def finished(self, task_id, seconds, where="", *, name=None):
        """Mark a task done that ran for ``seconds`` (measured where it ran, in any order), and log it."""
        if seconds is not None:
            self.durations[task_id] = float(seconds)
        self.done.add(task_id)
        took = "" if seconds is None else f" in {format_seconds(seconds)}"
        self.say(f"{self._status()} - done {name or task_id}{took}{where}")

    @contextmanager
    def run(self, task_id, what=None):
        """Context manager around one task: logs its start, its duration and the new ETA."""
        self.say(f"{self._status()} - start {task_id}{': ' + what if what else ''}")
        began = time.perf_counter()
        yield
        self.durations[task_id] = time.perf_counter() - began
        self.done.add(task_id)
        self.say(f"{self._status()} - done {task_id} in {format_seconds(self.durations[task_id])}")

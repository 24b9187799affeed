"""Progress lines for long work: stages with elapsed time, epochs with an ETA."""

from __future__ import annotations

import sys
import time

import keras


def format_seconds(seconds):
    """``75.2`` -> ``"1m15s"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def log(message, stream=None):
    """Print one progress line, flushed at once."""
    print(message, file=stream or sys.stderr, flush=True)


class EpochProgress(keras.callbacks.Callback):
    """Print one line per epoch: metrics, time per epoch and the ETA of the remaining epochs."""

    def __init__(self, label="cnn", stream=None):
        super().__init__()
        self.label = label
        self.stream = stream

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._epochs = self.params.get("epochs", 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        done = epoch + 1
        per_epoch = (now - self._start) / done
        metrics = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
        eta = per_epoch * (self._epochs - done)
        log(
            f"[{self.label}] epoch {done}/{self._epochs} {metrics} "
            f"({format_seconds(now - self._epoch_start)}/epoch, ETA {format_seconds(eta)} at most)",
            self.stream,
        )


class Stage:
    """Context manager that logs the start and the duration of a named stage.

    >>> with Stage("fit svc", verbose=0):
    ...     pass
    """

    def __init__(self, name, verbose=1, stream=None):
        self.name = name
        self.verbose = verbose
        self.stream = stream

    def __enter__(self):
        self.start = time.perf_counter()
        if self.verbose:
            log(f"- {self.name} ...", self.stream)
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start
        if self.verbose and exc[0] is None:
            log(f"  {self.name} done in {format_seconds(self.elapsed)}", self.stream)
        return False

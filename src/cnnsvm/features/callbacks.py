"""Keras callbacks of CNN training: progress lines, epoch timing, time budget, learning-rate schedule."""

from __future__ import annotations

import math
import time

import keras

from cnnsvm.progress import format_seconds, log


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


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch, training and validation included (``epoch_times_``)."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def epochs_affordable(start, epoch, max_seconds):
    """How many more epochs fit in ``max_seconds`` since ``start`` at the mean epoch time so far,
    after epoch ``epoch`` (0-based) has ended."""
    elapsed = time.perf_counter() - start
    return int((max_seconds - elapsed) // (elapsed / (epoch + 1)))


class TimeBudget(keras.callbacks.Callback):
    """Stop training when another epoch at the mean epoch time would exceed the budget."""

    def __init__(self, max_seconds):
        super().__init__()
        self.max_seconds = max_seconds

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if epochs_affordable(self._start, epoch, self.max_seconds) < 1:
            self.model.stop_training = True


class WarmupCosine(keras.callbacks.Callback):
    """One-cycle learning rate: linear warm-up to ``peak``, then cosine decay towards zero.

    The rate is set before every batch. With ``max_seconds`` the schedule is planned
    to end inside the budget: after each epoch the number of epochs still affordable
    at the mean epoch time so far shortens the schedule (never lengthens it), and
    training stops when it is done.
    """

    def __init__(self, peak, epochs, steps_per_epoch, max_seconds=None):
        super().__init__()
        self.peak = float(peak)
        self.epochs = int(epochs)
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.max_seconds = max_seconds
        self.planned_epochs = self.epochs

    def _rate(self, step):
        total = self.planned_epochs * self.steps_per_epoch
        warmup = min(self.steps_per_epoch, max(1, total // 10))
        if step < warmup:
            return self.peak * (0.1 + 0.9 * step / warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return self.peak * (1e-3 + (1 - 1e-3) * 0.5 * (1 + math.cos(math.pi * progress)))

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self._rate(self._epoch * self.steps_per_epoch + batch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self._rate((epoch + 1) * self.steps_per_epoch - 1)
        if self.max_seconds is None:
            return
        affordable = epochs_affordable(self._start, epoch, self.max_seconds)
        self.planned_epochs = max(epoch + 1, min(self.planned_epochs, epoch + 1 + affordable))
        if self.planned_epochs <= epoch + 1:
            self.model.stop_training = True

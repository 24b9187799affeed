"""Progress lines for long work: stages with their elapsed time.

The per-epoch lines of CNN training (with an ETA) come from
:class:`cnnsvm.features.callbacks.EpochProgress`; this module imports no TensorFlow.
"""

from __future__ import annotations

import sys
import time


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

"""Quiet start for the command line and the server.

TensorFlow prints C++ log lines when it loads: "oneDNN custom operations are on",
"Could not find cuda drivers", and on machines with a CUDA library but no GPU an
``E0000 ... failed call to cuInit`` line that reads like an error. Unless the user
set ``TF_CPP_MIN_LOG_LEVEL`` themselves, the command line and the server set it to
3 and drop, from the process's standard error, the log lines TensorFlow writes
before its logging is set up (those ignore the variable). Nothing else is dropped:
cnnsvm's own messages and warnings, and every line not in TensorFlow's log format,
pass through unchanged.
"""

from __future__ import annotations

import os
import re
import sys
import threading

import cnnsvm

#: Lines dropped from standard error: TensorFlow's (absl's) INFO and WARNING log lines and
#: the two banner lines that come with them. ERROR lines are silenced by the log level instead.
NOISE = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.\-]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)"
)


def user_set_tf_log_level():
    """Whether ``TF_CPP_MIN_LOG_LEVEL`` was set before cnnsvm was imported."""
    return cnnsvm.TF_LOG_LEVEL_FROM_USER is not None


def quiet_tensorflow(filter_stderr=False):
    """Silence TensorFlow's C++ logging, unless the user set ``TF_CPP_MIN_LOG_LEVEL``.

    Parameters
    ----------
    filter_stderr : bool, default=False
        Also drop TensorFlow's early log lines (see :data:`NOISE`) from file
        descriptor 2, through a pipe read by a background thread. Only for a whole
        process (the ``cnnsvm`` command, the server); call ``stop()`` on the result.

    Returns
    -------
    StderrFilter or None
        The running filter, if one was started.
    """
    if user_set_tf_log_level():
        return None
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if not filter_stderr or "tensorflow" in sys.modules:
        return None
    try:
        return StderrFilter().start()
    except OSError:  # no usable file descriptor 2: nothing to filter
        return None


class StderrFilter:
    """Pass file descriptor 2 through a filter that drops lines matching :data:`NOISE`."""

    def __init__(self, pattern=NOISE):
        self.pattern = pattern
        self._saved = self._read_end = self._thread = None

    def start(self):
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._saved, self._read_end = saved, read_end
        self._thread = threading.Thread(target=self._pump, name="cnnsvm-stderr-filter", daemon=True)
        self._thread.start()
        return self

    def _pump(self):
        pending = b""
        while True:
            try:
                chunk = os.read(self._read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            parts = re.split(rb"(?<=[\n\r])", pending + chunk)
            pending = parts.pop()  # an unfinished line waits for its end
            self._write(b"".join(p for p in parts if not self.pattern.match(p)))
        if pending and not self.pattern.match(pending):
            self._write(pending)

    def _write(self, data):
        while data:
            try:
                written = os.write(self._saved, data)
            except OSError:
                return
            data = data[written:]

    def stop(self):
        """Restore file descriptor 2 and let the filter pass on what is left."""
        if self._thread is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved, 2)  # drops the pipe's write end: the reader sees its end
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            os.close(self._read_end)
        os.close(self._saved)
        self._thread = None

"""Helpers of benchmarks/perf.py: statistics, timing, machine facts, memory, result files."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from cnnsvm.experiments.environment import (  # noqa: F401 - re-exported for the scripts
    cpu_model,
    cpu_shares,
    cpu_times,
    load_average,
    machine_info,
    source_commit,
)
from cnnsvm.experiments.store import to_jsonable


# ------------------------------------------------------------------ statistics
def summary(values):
    """Median, quartiles, min, max and count of a list of numbers (None when empty)."""
    v = np.asarray([x for x in values if x is not None], float)
    if not v.size:
        return None
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(v.min()),
        "max": float(v.max()),
        "p95": float(np.percentile(v, 95)),
        "n": int(v.size),
    }


def interleaved(funcs, rounds, *, warmup=2, inputs=None):
    """Time each callable ``rounds`` times, one call of each per round.

    Interleaving spreads the load of a shared machine evenly over the methods
    compared; the order rotates every round so no method always runs first.
    ``inputs(r)`` gives the argument of round ``r`` (the same for every method).
    Returns ``{name: [seconds, ...]}``.
    """
    names = list(funcs)
    for name in names:
        for w in range(warmup):
            funcs[name](inputs(w) if inputs else None)
    out = {name: [] for name in names}
    for r in range(rounds):
        arg = inputs(r) if inputs else None
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            funcs[name](arg)
            out[name].append(time.perf_counter() - t0)
    return out


# --------------------------------------------------------------- machine facts
def cores():
    info = machine_info()
    return {"logical": info["cpu_count"], "usable": info["usable_cores"]}


def cpu_shared(start, end, usable_cores):
    """Whether the 1-minute load at the start or end of a run exceeded the usable cores (None: load unknown)."""
    loads = [load[0] for load in (start, end) if load]
    return max(loads) > usable_cores if loads else None


def git_commit(root):
    """Short commit of the checkout at ``root``, "(with uncommitted changes)" when edited; None outside one."""
    return source_commit(root)


# ---------------------------------------------------------------------- memory
def _status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_mib():
    """Current resident memory of this process, MiB."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mib():
    """Peak resident memory of this process (VmHWM), MiB."""
    return _status_kib("VmHWM") / 1024


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------- result file
class Results:
    """perf.json kept up to date section by section, so a partial run keeps what it measured."""

    def __init__(self, path, meta):
        self.path = Path(path)
        self.data = {"meta": meta, "sections": {}}
        if self.path.exists():
            try:
                old = json.loads(self.path.read_text())
                if old.get("meta", {}).get("mode") == meta["mode"]:
                    self.data["sections"] = old.get("sections", {})
            except (OSError, ValueError):
                pass

    def put(self, name, value):
        self.data["sections"][name] = value
        self.save()

    def get(self, name):
        return self.data["sections"].get(name)

    def public(self):
        """The results as written: JSON types, the temporary folder written ``$TMPDIR``."""
        return without_temp_paths(to_jsonable(self.data))

    def save(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.public(), indent=2))
        os.replace(tmp, self.path)


def without_temp_paths(value, folder=None):
    """``value`` with the temporary folder written ``$TMPDIR`` wherever a path starts with it.

    Parameters
    ----------
    value : str, dict, list, tuple or other
        Walked recursively; other types are returned as they are.
    folder : str, optional
        The folder to hide (default: the system's temporary folder). The root
        folder or an empty name is never replaced.

    Returns
    -------
    The same structure: results name the work folder, never this machine's own path.
    """
    folder = (folder or tempfile.gettempdir()).rstrip("/")
    if not folder:
        return value
    # the folder itself or a path below it, and only where a path starts (not inside /var/tmp)
    pattern = re.compile(r"(?<![\w./-])" + re.escape(folder) + r"(?=/|$|[^\w.-])")
    return _replace_paths(value, pattern)


def _replace_paths(value, pattern):
    if isinstance(value, str):
        return pattern.sub("$TMPDIR", value)
    if isinstance(value, dict):
        return {k: _replace_paths(v, pattern) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_paths(v, pattern) for v in value]
    return value


def fmt_s(seconds):
    seconds = float(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


# ------------------------------------------------------------------ extractors
def saw_sets(meta):
    """Names of the sets a saved extractor was trained on (a train-extractor file or a compare run's generic model)."""
    from cnnsvm.experiments.transfer import trained_sets

    return [record["name"] for record in trained_sets(meta) if record.get("name")]

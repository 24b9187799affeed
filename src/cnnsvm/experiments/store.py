"""The run directory: where each artefact lives, atomic JSON files and resumable results.

A finished task (a cell, or a generic extractor) has a ``result.json`` that
is written last and holds the task's fingerprint: a hash of everything that
defines it (data digests, method, parameters, seed). On a re-run a task is
skipped when its ``result.json`` exists with the same fingerprint and its
model file is present; otherwise it is (re)computed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cnnsvm._io import atomic_write_bytes
from cnnsvm._json import to_jsonable

RESULT = "result.json"
MODEL = "model.joblib"


def write_text(path, text):
    """Write text atomically (a temporary file renamed over ``path``)."""
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def write_json(path, data):
    """Write ``data`` as indented JSON, atomically."""
    return write_text(path, json.dumps(to_jsonable(data), indent=2, ensure_ascii=False) + "\n")


def read_json(path):
    """Read a JSON file, or ``None`` if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


#: Raised when a default that shapes a task's result changes without showing in its parameters, so
#: that a resumed run does not mix old and new cells (2: warm-up + cosine schedule, detected precision,
#: temperature calibration, selective-classification metrics).
TASK_VERSION = 2


def fingerprint(data):
    """Short SHA-256 of a JSON-able description of a task (and of :data:`TASK_VERSION`)."""
    text = json.dumps(to_jsonable({"task_version": TASK_VERSION, "task": data}), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def generic_task_id(variant, seed, member=0):
    """Task id of a generic extractor (member ``member`` of an ensemble): ``generic/augmented/seed0/member1``."""
    return f"generic/{variant}/seed{seed}" + (f"/member{member}" if member else "")


class RunDirectory:
    """Paths of a run's artefacts.

    Layout::

        RUN/config.toml, config.json, environment.json, data.json, run.log
        RUN/results.md, results.json, cells.csv, tables/*.{md,csv}
        RUN/generic/seed<S>/<augmented|noaug|noelastic>[-member<M>]/   the generic extractors (members of an ensemble)
        RUN/cells/<dataset>/<method>/seed<S>/    one folder per cell
    """

    def __init__(self, root):
        self.root = Path(root)

    def cell(self, dataset, method, seed):
        """Folder of one dataset x method x seed cell."""
        return self.root / "cells" / dataset / method / f"seed{seed}"

    def generic(self, variant, seed, member=0):
        """Folder of one generic extractor (member ``member`` of an ensemble)."""
        return self.root / "generic" / f"seed{seed}" / (f"{variant}-member{member}" if member else variant)

    @property
    def tables(self):
        return self.root / "tables"

    def finished(self, folder, expected_fingerprint):
        """The stored result of a task if it finished with this fingerprint, else ``None``.

        Returns
        -------
        (result, reason) : (dict or None, str)
            ``reason`` says why a stored result is not reused (empty when it is).
        """
        folder = Path(folder)
        result = read_json(folder / RESULT)
        if result is None:
            return None, "not run yet" if not (folder / RESULT).exists() else "unreadable result.json"
        if result.get("fingerprint") != expected_fingerprint:
            return None, "its configuration or data changed since it was run"
        if not (folder / MODEL).exists():
            return None, "its model file is missing"
        return result, ""

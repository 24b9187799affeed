"""Plain JSON data from numpy values: the one conversion used for every JSON file and answer cnnsvm writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def to_jsonable(obj):
    """Turn numpy values, paths and tuples into plain JSON data (recursively).

    Parameters
    ----------
    obj : object
        Dicts (keys become strings), lists, tuples, numpy arrays and scalars,
        paths, and plain JSON values; anything else is returned as it is (and
        :func:`json.dumps` will refuse it).

    Returns
    -------
    object
        Plain Python data; non-finite floats (NaN, inf) become ``None`` (JSON has no NaN).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj

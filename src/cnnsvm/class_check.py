"""Checking that a labelled set names its classes as a model does, before scoring the model on it.

A model's classes are indices into the class names of the set it was trained on
(the model file's sidecar records those names). Two sets with ten classes each
share the indices 0..9 but not necessarily the classes: scoring a digits model on
Devanagari consonants by index would print a meaningless accuracy. So
:func:`match_classes` compares names and refuses a mismatch, unless asked to map
the classes by name or to score by index anyway.
"""

from __future__ import annotations

import numpy as np

from cnnsvm.data.dataset import ImageDataset
from cnnsvm.exceptions import DataError

#: Ways of relating a set's classes to a model's.
MODES = ("check", "by-name", "by-index")


def match_classes(model_classes, model_names, data, *, mode="check", names_given=True):
    """Relate the classes of ``data`` to the model's, by their names.

    Parameters
    ----------
    model_classes : array-like of int
        The model's ``classes_`` (class indices of its training set).
    model_names : list of str or None
        Display name of each of ``model_classes`` (the sidecar's ``class_names``).
    data : ImageDataset
        The labelled set to score the model on.
    mode : {"check", "by-name", "by-index"}, default="check"
        ``"check"``: every class index both use must have the same name, else
        :class:`~cnnsvm.exceptions.DataError`; ``"by-name"``: relabel the set's
        samples with the model's class of the same name (the set's classes may come
        in another order); ``"by-index"``: score by index whatever the names, with a warning.
    names_given : bool, default=True
        Whether the model file names its classes (``False``: its names are just its
        labels, so a mismatch is reported as a warning, not an error).

    Returns
    -------
    data : ImageDataset
        The set to score, its labels being model classes (relabelled for ``"by-name"``).
    warnings : list of str
        Lines to show the user.

    Raises
    ------
    DataError
        On a mismatch in ``"check"`` mode, a set class whose name the model does not
        know in ``"by-name"`` mode, or set labels that are not model classes.
    """
    if mode not in MODES:
        raise DataError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    classes = [int(c) for c in np.asarray(model_classes).tolist()]
    names = [str(n) for n in model_names] if model_names is not None else [str(c) for c in classes]
    if len(names) != len(classes):
        raise DataError(f"the model file names {len(names)} classes but the model has {len(classes)}")
    model_name = dict(zip(classes, names, strict=True))
    warnings = []
    if mode == "by-name":
        index_of = {name: c for c, name in model_name.items()}
        used = np.unique(data.labels)
        unknown = [data.class_names[i] for i in used if data.class_names[i] not in index_of]
        if unknown:
            raise DataError(
                f"the data has classes the model does not know by name: {_listing(unknown)}; "
                f"the model's classes are {_listing(names)}"
            )
        mapping = np.full(data.n_classes, -1, np.int64)
        for i, name in enumerate(data.class_names):
            mapping[i] = index_of.get(name, -1)
        n_names = max(classes) + 1
        relabelled = ImageDataset(
            data.images,
            mapping[data.labels],
            [model_name.get(c, f"(class {c})") for c in range(n_names)],
            name=data.name,
            ink=data.ink,
            source=data.source,
            extra=dict(data.extra),
        )
        return relabelled, warnings
    unknown = sorted(set(np.unique(data.labels).tolist()) - set(classes))
    if unknown:
        raise DataError(
            f"the data has class indices {unknown[:10]} that the model was not trained on; "
            "evaluate a model on the kind of data it was trained for"
        )
    differ = [
        (c, model_name[c], data.class_names[c])
        for c in classes
        if c < data.n_classes and model_name[c] != data.class_names[c]
    ]
    if not differ:
        return data, warnings
    first = ", ".join(f"class {c} is {d!r} in the data but {m!r} in the model" for c, m, d in differ[:3])
    more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
    what = f"the data names its classes differently from the model: {first}{more}"
    if mode == "by-index" or not names_given:
        reason = "as asked" if mode == "by-index" else "because the model file does not name its classes"
        warnings.append(f"warning: {what}; scoring by class index {reason}")
        return data, warnings
    same_set = sorted(data.class_names[c] for c in classes if c < data.n_classes) == sorted(
        model_name[c] for c in classes if c < data.n_classes
    )
    hint = (
        "the names are the same classes in another order: pass --classes by-name to match them by name"
        if same_set
        else "this looks like another set of classes; evaluate the model on the data it was trained for "
        "(or pass --classes by-index to score by class index anyway)"
    )
    raise DataError(f"{what}; {hint}")


def _listing(values, limit=8):
    values = [repr(v) for v in values]
    return ", ".join(values[:limit]) + (f", ... ({len(values)} in all)" if len(values) > limit else "")

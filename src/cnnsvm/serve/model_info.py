"""What ``GET /api/model`` says about the loaded model, from its sidecar metadata."""

from __future__ import annotations

import re
from pathlib import Path


def describe_model(model, meta, model_path, *, reject_threshold, top_k, max_upload_bytes, max_pixels):
    """Describe a loaded model for the page and for API clients.

    Only facts about the model are given: nothing about the machine that trained
    it or serves it (no paths, no training command, no free-form metadata), since
    any page the browser opens on this server's address can read the answer.

    Parameters
    ----------
    model : fitted pipeline
    meta : dict
        The sidecar metadata returned by ``cnnsvm.persistence.load(..., return_metadata=True)``.
    model_path : str or Path
        Only its file name is reported.
    reject_threshold, top_k, max_upload_bytes, max_pixels
        The server's settings, reported so that clients know them.

    Returns
    -------
    dict
        JSON-serialisable: ``method``, ``classes``, ``class_names``, ``n_classes``,
        ``input_size``, ``model_size``, ``preprocessing``, ``versions``, ``dataset``
        (a name), ``scores``, ``created``, ``file``, ``sha256``, ``signed`` and ``server``.
    """
    classes = meta.get("classes")
    if classes is None and hasattr(model, "classes_"):
        classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    names = class_names(model, meta)
    extra = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    inputs = meta.get("input") or {}
    framing = inputs.get("framing") or {}
    return {
        "method": meta.get("method"),
        "classes": classes,
        "class_names": names,
        "n_classes": len(names),
        "input_size": inputs.get("image_shape"),
        "model_size": inputs.get("model_size"),
        "preprocessing": {
            "ink": "auto (light strokes on dark or dark strokes on light)",
            "trained_ink": inputs.get("ink"),
            "crop_to_ink": True,
            "fill_fraction": framing.get("fill_fraction", inputs.get("fill_fraction")),
            "image_shape": inputs.get("image_shape"),
            "model_size": inputs.get("model_size"),
            "pixels": inputs.get("pixels") or inputs.get("pixel_range"),
        },
        "versions": meta.get("versions") or {},
        "dataset": dataset_name(extra.get("dataset")),
        "scores": {k: extra[k] for k in ("test_accuracy", "test_macro_f1") if isinstance(extra.get(k), (int, float))},
        "created": meta.get("created"),
        "file": Path(model_path).name,
        "sha256": (meta.get("payload") or {}).get("sha256"),
        "signed": isinstance(meta.get("signature"), dict),
        "server": {
            "reject_threshold": reject_threshold,
            "top_k": top_k,
            "max_upload_bytes": max_upload_bytes,
            "max_pixels": max_pixels,
        },
    }


def dataset_name(dataset):
    """The training set's name, without any path: from the CLI's record or a free-form string."""
    if isinstance(dataset, dict):
        dataset = dataset.get("name")
    if not isinstance(dataset, str) or not dataset.strip():
        return None
    return re.split(r"[/\\]", dataset.strip())[-1] or None


def class_names(model, meta):
    """Display names ordered as ``model.classes_``: the sidecar's, else the labels themselves."""
    names = meta.get("class_names")
    classes = list(getattr(model, "classes_", meta.get("classes") or []))
    if names is not None and len(names) == len(classes):
        return [str(n) for n in names]
    return [str(c.item() if hasattr(c, "item") else c) for c in classes]

"""Loading an experiment's datasets once, with fingerprints that prove what each step saw."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import numpy as np

from cnnsvm.data import load_split, parse_spec
from cnnsvm.data.dataset import DatasetSplit, ImageDataset, duplicate_names
from cnnsvm.exceptions import ConfigError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def images_digest(dataset):
    """SHA-256 of a set's images and labels (in order): equal digests, equal data."""
    h = hashlib.sha256()
    h.update(str(dataset.images.shape).encode())
    h.update(np.ascontiguousarray(dataset.images).tobytes())
    h.update(np.ascontiguousarray(dataset.labels).tobytes())
    return h.hexdigest()


def image_hashes(images):
    """Set of SHA-1 digests of each image's pixels."""
    return {hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest() for img in images}


def safe_name(name):
    """A dataset name usable as a folder name."""
    cleaned = _UNSAFE.sub("_", str(name)).strip("._") or "dataset"
    return cleaned


@dataclasses.dataclass
class LoadedDataset:
    """One dataset of an experiment: its split (light ink) and its record."""

    name: str
    spec: str
    split: DatasetSplit
    record: dict

    @property
    def train(self):
        return self.split.train

    @property
    def test(self):
        return self.split.test


def _rename(ds, name):
    return dataclasses.replace(ds, name=name, extra=dict(ds.extra))


def load_experiment_dataset(entry, *, test_size, split_seed):
    """Load one ``[[datasets]]`` entry as a light-ink train/test split.

    Parameters
    ----------
    entry : DatasetConfig or ImageDataset or DatasetSplit
        A spec (with an optional name); loaded sets pass through.
    test_size : float
        Test share when the source has no official split.
    split_seed : int
        Seed of that split.

    Returns
    -------
    LoadedDataset
        ``record`` holds the spec, resolved path, sizes, classes, whether the
        split is official, SHA-256 digests of the train and test parts and the
        number of test images that are pixel-identical to a training image.
    """
    if isinstance(entry, (ImageDataset, DatasetSplit)):
        spec, wanted, source = f"<{type(entry).__name__}>", None, entry
    else:
        spec, wanted, source = entry.spec, entry.name, entry.spec
    path = None
    if isinstance(source, str):
        _, spec_path, _ = parse_spec(source)
        path = str(spec_path.resolve()) if spec_path is not None else None
    split = load_split(source, test_size=test_size, random_state=split_seed)
    source_ink = split.train.ink
    name = safe_name(wanted or split.train.name)
    train, test = _rename(split.train.with_light_ink(), name), _rename(split.test.with_light_ink(), name)
    split = DatasetSplit(train=train, test=test, official=split.official)
    shared = len(image_hashes(train.images) & image_hashes(test.images))
    record = {
        "name": name,
        "spec": spec,
        "path": path,
        "official_split": bool(split.official),
        "test_size": test_size,
        "split_seed": split_seed,
        "n_train": len(train),
        "n_test": len(test),
        "n_classes": train.n_classes,
        "class_names": list(train.class_names),
        "image_shape": list(train.image_shape),
        "source_ink": source_ink,
        "train_sha256": images_digest(train),
        "test_sha256": images_digest(test),
        "test_images_identical_to_a_train_image": shared,
    }
    return LoadedDataset(name=name, spec=spec, split=split, record=record)


def load_experiment_datasets(entries, *, test_size, split_seed):
    """Load every dataset of an experiment; names must be distinct.

    Returns
    -------
    list of LoadedDataset
    """
    loaded = [load_experiment_dataset(e, test_size=test_size, split_seed=split_seed) for e in entries]
    duplicates = duplicate_names(d.name for d in loaded)
    if duplicates:
        raise ConfigError(
            f'two datasets are both named {", ".join(duplicates)}; give each a distinct name = "..." '
            "in its [[datasets]] table"
        )
    return loaded

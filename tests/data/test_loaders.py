import gzip
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cnnsvm.data import load_dataset, load_split, parse_spec
from cnnsvm.data.dataset import DatasetSplit, ImageDataset
from cnnsvm.exceptions import DataError


def _light_images(n, side=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 20, (n, side, side)).astype(np.uint8)
    images[:, 2:-2, side // 2] = 240
    return images


# ---------------------------------------------------------------- parse_spec


def test_parse_digits():
    assert parse_spec("digits") == ("digits", None, {})
    assert parse_spec("  DIGITS?name=d ") == ("digits", None, {"name": "d"})


def test_parse_path_kinds():
    for kind in ("mnist", "idx", "folder", "csv", "npz"):
        got_kind, path, options = parse_spec(f"{kind}:data/x")
        assert got_kind == kind and path == Path("data/x") and options == {}


def test_parse_options_and_home_expansion():
    kind, path, options = parse_spec("folder:~/nhcd/vowels?labels=~/labels.csv&name=my%20vowels&ink=Dark")
    assert kind == "folder"
    assert path == Path.home() / "nhcd" / "vowels"
    assert options == {"labels": str(Path.home() / "labels.csv"), "name": "my vowels", "ink": "dark"}


def test_parse_path_with_colon_is_kept():
    assert parse_spec("npz:a:b.npz")[1] == Path("a:b.npz")


@pytest.mark.parametrize(
    "spec,message",
    [
        ("", "empty"),
        ("cifar:x", r"unknown dataset kind 'cifar'.*digits, mnist:PATH, idx:PATH, folder:PATH, csv:PATH, npz:PATH"),
        ("mnist", "needs a path"),
        ("npz:", "needs a path"),
        ("digits:foo", "takes no path"),
        ("npz:x.npz?size=28", r"unknown option 'size'.*valid options: name, ink"),
        ("npz:x.npz?labels=l.csv", r"unknown option 'labels'.*name, ink$"),
        ("folder:d?ink=grey", "ink must be one of auto, light, dark"),
        ("folder:d?name=", "needs a value"),
        ("folder:d?name", "needs a value"),
        ("folder:d?name=a&name=b", "given twice"),
    ],
)
def test_parse_errors(spec, message):
    with pytest.raises(DataError, match=message):
        parse_spec(spec)


def test_parse_needs_string():
    with pytest.raises(DataError, match="must be a string"):
        parse_spec(42)


# ---------------------------------------------------------------- load_dataset


def test_load_digits_and_name_override():
    ds = load_dataset("digits?name=sk")
    assert isinstance(ds, ImageDataset) and ds.name == "sk" and len(ds) == 1797


def test_load_npz_with_options(tmp_path):
    path = tmp_path / "nhcd_numerals.npz"
    np.savez(path, x=255 - _light_images(6), y=np.arange(6) % 3)
    ds = load_dataset(f"npz:{path}")
    assert ds.name == "nhcd_numerals" and ds.ink == "dark"
    ds = load_dataset(f"npz:{path}?ink=light&name=n")
    assert ds.name == "n" and ds.ink == "light"


def test_load_mnist_npz_and_split_passthrough(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=_light_images(10),
        y_train=np.arange(10, dtype=np.uint8),
        x_test=_light_images(4, seed=1),
        y_test=np.arange(4, dtype=np.uint8),
    )
    data = load_dataset(f"mnist:{path}?name=m2&ink=dark")
    assert isinstance(data, DatasetSplit) and data.official
    assert data.train.name == data.test.name == "m2"
    assert data.train.ink == data.test.ink == "dark"
    split = load_split(f"mnist:{path}", test_size=0.5)
    assert split.official and len(split.test) == 4  # the official split is kept
    assert load_split(f"npz:{path}").official


def test_load_idx(tmp_path):
    def idx(array):
        return struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()

    d = tmp_path / "raw"
    d.mkdir()
    files = {
        "train-images-idx3-ubyte.gz": _light_images(10),
        "train-labels-idx1-ubyte.gz": np.arange(10, dtype=np.uint8),
        "t10k-images-idx3-ubyte": _light_images(3),
        "t10k-labels-idx1-ubyte": np.arange(3, dtype=np.uint8),
    }
    for name, array in files.items():
        data = idx(array)
        (d / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    split = load_split(f"idx:{d}")
    assert split.official and len(split.train) == 10 and len(split.test) == 3


def test_load_folder_with_labels(tmp_path):
    root = tmp_path / "vowels"
    for cls in ("1", "2"):
        (root / cls).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(_light_images(1, seed=k)[0]).save(root / cls / f"{k}.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("Class,Label\n1,a\n2,aa\n")
    ds = load_dataset(f"folder:{root}?labels={labels}&name=v")
    assert ds.class_names == ["a", "aa"] and ds.name == "v" and ds.ink == "light"


def test_load_kaggle_csv(tmp_path):
    frame = pd.DataFrame(np.zeros((4, 784), int), columns=[f"pixel{i}" for i in range(784)])
    frame.insert(0, "label", [0, 1, 0, 1])
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(f"csv:{path}?name=kg")
    assert ds.name == "kg" and ds.image_shape == (28, 28) and ds.ink == "light"


def test_load_relative_path(tmp_path, monkeypatch):
    np.savez(tmp_path / "rel.npz", x=_light_images(4), y=np.array([0, 1, 0, 1]))
    monkeypatch.chdir(tmp_path)
    assert load_dataset("npz:rel.npz").name == "rel"


def test_load_missing_path_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")


# ---------------------------------------------------------------- load_split


def test_load_split_draws_a_stratified_split():
    split = load_split("digits", test_size=0.25, random_state=1)
    assert not split.official
    assert len(split.test) == 450 and len(split.train) == 1347
    again = load_split("digits", test_size=0.25, random_state=1)
    np.testing.assert_array_equal(split.test.labels, again.test.labels)


def test_load_split_accepts_loaded_data():
    ds = ImageDataset(_light_images(8), np.array([0, 1] * 4), ["a", "b"], name="mem")
    split = load_split(ds, test_size=0.5)
    assert isinstance(split, DatasetSplit) and split.name == "mem" and len(split.test) == 4
    assert load_split(split) is split
    assert load_dataset(ds) is ds

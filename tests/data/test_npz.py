from pathlib import Path

import numpy as np
import pytest

from cnnsvm.data.dataset import DatasetSplit, ImageDataset
from cnnsvm.data.npz import load_npz
from cnnsvm.exceptions import DataError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _strokes(n, ink="light", side=8, seed=0):
    """Images with a bright (light ink) or dark (dark ink) bar in the middle."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 30, (n, side, side)).astype(np.uint8)
    images[:, 2:-2, side // 2 - 1 : side // 2 + 1] = 230
    return images if ink == "light" else 255 - images


def test_single_set_with_index_labels(tmp_path):
    path = tmp_path / "letters.npz"
    x, y = _strokes(6), np.array([0, 1, 2, 0, 1, 2])
    np.savez(path, x=x, y=y)
    ds = load_npz(path)
    assert isinstance(ds, ImageDataset)
    assert ds.name == "letters" and ds.class_names == ["0", "1", "2"] and ds.ink == "light"
    np.testing.assert_array_equal(ds.images, x)
    np.testing.assert_array_equal(ds.labels, y)


def test_arbitrary_labels_are_mapped(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=_strokes(4), y=np.array([30, 10, 30, 7]))
    ds = load_npz(path)
    assert ds.class_names == ["7", "10", "30"]
    np.testing.assert_array_equal(ds.labels, [2, 1, 2, 0])


def test_string_labels_are_mapped(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=_strokes(3), y=np.array(["ka", "a", "ka"]))
    ds = load_npz(path)
    assert ds.class_names == ["a", "ka"]
    np.testing.assert_array_equal(ds.labels, [1, 0, 1])


def test_class_names_array(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=_strokes(3), y=np.array([0, 2, 1]), class_names=np.array(["zero", "one", "two"]))
    ds = load_npz(path)
    assert ds.class_names == ["zero", "one", "two"]
    np.testing.assert_array_equal(ds.labels, [0, 2, 1])


def test_nhcd_style_names_and_dark_ink(tmp_path):
    path = tmp_path / "nhcd_vowels.npz"
    np.savez(
        path,
        x=_strokes(4, ink="dark"),
        y=np.array([0, 1, 1, 0], dtype=np.int64),
        class_dirs=np.array(["1", "2"]),
        class_labels=np.array(["a", "aa"]),
        class_devanagari=np.array(["अ", "आ"]),
        files=np.array([f"f{i}.jpg" for i in range(4)]),
    )
    ds = load_npz(path)
    assert ds.name == "nhcd_vowels"
    assert ds.class_names == ["अ (a)", "आ (aa)"]
    assert ds.ink == "dark"
    assert ds.extra["files"][3] == "f3.jpg"


def test_name_and_ink_arguments(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=_strokes(2, ink="dark"), y=np.array([0, 1]))
    ds = load_npz(path, name="mine", ink="light")
    assert ds.name == "mine" and ds.ink == "light"
    with pytest.raises(DataError, match="ink must be one of"):
        load_npz(path, ink="grey")


def test_labels_outside_class_names(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=_strokes(2), y=np.array([0, 5]), class_names=np.array(["a", "b"]))
    with pytest.raises(DataError, match="indices 0..1"):
        load_npz(path)


def test_split_layout(tmp_path):
    path = tmp_path / "both.npz"
    np.savez(
        path,
        x_train=_strokes(6),
        y_train=np.array([0, 1, 2, 0, 1, 2], np.uint8),
        x_test=_strokes(3, seed=1),
        y_test=np.array([2, 1, 0], np.uint8),
    )
    split = load_npz(path)
    assert isinstance(split, DatasetSplit) and split.official
    assert split.train.name == split.test.name == "both"
    assert split.train.class_names == split.test.class_names == ["0", "1", "2"]
    assert len(split.train) == 6 and len(split.test) == 3
    assert split.train.ink == "light"


def test_split_labels_share_one_mapping(tmp_path):
    path = tmp_path / "both.npz"
    np.savez(path, x_train=_strokes(2), y_train=np.array([5, 9]), x_test=_strokes(2), y_test=np.array([9, 7]))
    split = load_npz(path)
    assert split.class_names == ["5", "7", "9"]
    np.testing.assert_array_equal(split.train.labels, [0, 2])
    np.testing.assert_array_equal(split.test.labels, [2, 1])


def test_flat_and_float_images(tmp_path):
    path = tmp_path / "f.npz"
    x = _strokes(2).reshape(2, 64).astype(np.float32) / 255.0
    np.savez(path, x=x, y=np.array([0, 1]))
    ds = load_npz(path)
    assert ds.images.shape == (2, 8, 8) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, _strokes(2))


def test_missing_keys_are_named(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, images=_strokes(2), labels=np.array([0, 1]))
    with pytest.raises(DataError, match=r"'x' and 'y'.*'x_train'"):
        load_npz(path)


def test_incomplete_split_keys(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x_train=_strokes(2), y_train=np.array([0, 1]), x_test=_strokes(2))
    with pytest.raises(DataError, match="lacks y_test"):
        load_npz(path)


def test_count_mismatch(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=_strokes(3), y=np.array([0, 1]))
    with pytest.raises(DataError, match="2 labels for 3 images"):
        load_npz(path)


def test_nan_images(tmp_path):
    path = tmp_path / "s.npz"
    x = _strokes(3).astype(np.float64)
    x[1, 0, 0] = np.nan
    np.savez(path, x=x, y=np.array([0, 1, 0]))
    with pytest.raises(DataError, match="NaN.*sample 1"):
        load_npz(path)


def test_nan_labels(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=_strokes(2), y=np.array([0.0, np.nan]))
    with pytest.raises(DataError, match="NaN"):
        load_npz(path)


def test_out_of_range_pixels(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=np.full((2, 4, 4), 300, np.int32), y=np.array([0, 1]))
    with pytest.raises(DataError, match="0..255"):
        load_npz(path)


def test_wrong_image_shape(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=np.zeros((2, 10), np.uint8), y=np.array([0, 1]))
    with pytest.raises(DataError, match="not a square image"):
        load_npz(path)
    np.savez(path, x=np.zeros((2, 3, 4, 5), np.uint8), y=np.array([0, 1]))
    with pytest.raises(DataError, match="shape"):
        load_npz(path)


def test_two_dimensional_labels(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=_strokes(2), y=np.eye(2))
    with pytest.raises(DataError, match="one-dimensional"):
        load_npz(path)


def test_not_an_npz(tmp_path):
    path = tmp_path / "s.npz"
    path.write_text("garbage")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(path)
    npy = tmp_path / "arr.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(DataError, match="single array"):
        load_npz(npy)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=_strokes(2), y=np.array([0, 1]), class_names=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="Python objects"):
        load_npz(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_npz(tmp_path / "gone.npz")


def test_shared_nhcd_numerals_is_dark_ink():
    path = SHARED / "nhcd_numerals.npz"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    ds = load_npz(path)
    assert ds.name == "nhcd_numerals" and ds.ink == "dark"
    assert ds.n_classes == 10 and ds.images.shape[1:] == (28, 28)
    assert ds.class_names[0] == "० (0)"

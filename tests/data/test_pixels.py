"""The pixel contract: integers are 0..255, floats are [0, 1], decided by the dtype, everywhere."""

import numpy as np
import pandas as pd
import pytest

from cnnsvm.data import ImageDataset
from cnnsvm.data.kaggle_csv import load_kaggle_csv, read_kaggle_test
from cnnsvm.data.npz import load_npz
from cnnsvm.data.pixels import check_pixels, to_uint8, to_unit_float
from cnnsvm.exceptions import DataError


def _images(n=4, side=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, side, side)).astype(np.uint8)


def test_floats_are_unit_scaled_and_round_trip_exactly():
    images = _images()
    for floats in (images / 255.0, images.astype(np.float32) / np.float32(255)):
        assert np.array_equal(to_uint8(floats), images)
        assert np.array_equal(to_unit_float(floats), to_unit_float(images))
    assert to_unit_float(images).dtype == np.float32
    assert np.array_equal(to_uint8(np.array([[True, False]])), [[255, 0]])
    assert np.array_equal(to_uint8(images.astype(np.int64)), images)
    # rounding noise just outside [0, 1] is clipped, not refused
    assert to_unit_float(np.array([[-1e-9, 1 + 1e-9]])).tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([[0.0, 255.0]]), r"float pixels must lie in \[0, 1\], got 0..255.*divide them by 255"),
        (np.array([[-0.5, 0.5]]), r"\[0, 1\].*rescale"),
        (np.array([[0, 65535]], np.uint16), r"0..255.*16-bit"),
        (np.array([[-1, 3]]), "0..255"),
        (np.array([[np.inf, 0.0]]), "NaN or infinite"),
        (np.array([["a", "b"]]), "dtype"),
        (np.array([[1 + 1j]]), "dtype"),
    ],
)
def test_arrays_outside_the_contract_are_refused_with_what_to_pass(bad, message):
    with pytest.raises(DataError, match=message):
        check_pixels(bad, name="x")


def test_dataset_keeps_unit_floats_instead_of_binarising_them():
    images = _images()
    ds = ImageDataset(images / 255.0, np.array([0, 1, 0, 1]), ["a", "b"])
    assert ds.images.dtype == np.uint8 and np.array_equal(ds.images, images)
    assert len(np.unique(ds.images)) > 2  # the old np.rint made [0, 1] floats binary
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        ImageDataset(images.astype(np.float64), np.array([0, 1, 0, 1]), ["a", "b"])


def test_npz_loader_follows_the_same_contract(tmp_path):
    images, labels = _images(), np.array([0, 1, 0, 1])
    np.savez(tmp_path / "unit.npz", x=images / 255.0, y=labels)
    assert np.array_equal(load_npz(tmp_path / "unit.npz").images, images)
    np.savez(tmp_path / "wide.npz", x=images.astype(np.float32), y=labels)
    with pytest.raises(DataError, match=r"x: float pixels must lie in \[0, 1\].*divide them by 255"):
        load_npz(tmp_path / "wide.npz")


def test_kaggle_csv_refuses_fractional_pixels(tmp_path):
    pixels = _images(3, 28).reshape(3, -1)
    frame = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(784)])
    frame.to_csv(tmp_path / "test.csv", index=False)
    assert np.array_equal(read_kaggle_test(tmp_path / "test.csv").reshape(3, -1), pixels)
    scaled = frame / 255.0
    scaled.insert(0, "label", [1, 2, 3])
    scaled.to_csv(tmp_path / "scaled.csv", index=False)
    with pytest.raises(DataError, match="fractional pixel value.*multiply them by 255"):
        load_kaggle_csv(tmp_path / "scaled.csv")

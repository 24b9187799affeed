import gzip
import struct

import numpy as np
import pytest

from cnnsvm.data.dataset import DatasetSplit
from cnnsvm.data.mnist import load_idx_dir, load_mnist_npz, read_idx
from cnnsvm.exceptions import DataError

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _idx_bytes(array, code=0x08):
    array = np.asarray(array)
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1" if code == 0x08 else ">i4").tobytes()


def _arrays(n_train=20, n_test=10, side=6, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train_labels": np.arange(n_train, dtype=np.uint8) % 10,
        "test_images": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "test_labels": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }


def _write_idx_dir(directory, arrays, gz=False, dotted=False, skip=()):
    directory.mkdir(exist_ok=True)
    for role, base in NAMES.items():
        if role in skip:
            continue
        name = base.replace("-idx", ".idx") if dotted else base
        data = _idx_bytes(arrays[role])
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return directory


def _check_split(split, arrays):
    assert isinstance(split, DatasetSplit) and split.official
    assert split.name == "mnist" and split.train.ink == "light"
    assert split.class_names == [str(i) for i in range(10)]
    np.testing.assert_array_equal(split.train.images, arrays["train_images"])
    np.testing.assert_array_equal(split.train.labels, arrays["train_labels"])
    np.testing.assert_array_equal(split.test.images, arrays["test_images"])
    np.testing.assert_array_equal(split.test.labels, arrays["test_labels"])


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dotted", [False, True])
def test_idx_dir_round_trip(tmp_path, gz, dotted):
    arrays = _arrays()
    _check_split(load_idx_dir(_write_idx_dir(tmp_path / "m", arrays, gz=gz, dotted=dotted)), arrays)


def test_idx_dir_mixed_compression_and_extra_files(tmp_path):
    arrays = _arrays()
    d = _write_idx_dir(tmp_path / "m", arrays, skip=("test_images",))
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(arrays["test_images"])))
    (d / "README.txt").write_text("hello")
    _check_split(load_idx_dir(d), arrays)


def test_idx_dir_lists_missing_files(tmp_path):
    d = _write_idx_dir(tmp_path / "m", _arrays(), skip=("test_images", "train_labels"))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte") as info:
        load_idx_dir(d)
    assert "train-labels-idx1-ubyte" in str(info.value)
    assert "train-images" not in str(info.value)


def test_idx_dir_missing_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_idx_dir(tmp_path / "nowhere")


def test_idx_bad_magic(tmp_path):
    arrays = _arrays()
    d = _write_idx_dir(tmp_path / "m", arrays)
    data = bytearray((d / NAMES["train_images"]).read_bytes())
    data[0:4] = b"\x12\x34\x08\x03"
    (d / NAMES["train_images"]).write_bytes(bytes(data))
    with pytest.raises(DataError, match="bad magic number 0x12340803"):
        load_idx_dir(d)


def test_idx_swapped_files_have_wrong_dims(tmp_path):
    arrays = _arrays()
    d = _write_idx_dir(tmp_path / "m", arrays)
    (d / NAMES["train_images"]).write_bytes(_idx_bytes(arrays["train_labels"]))
    with pytest.raises(DataError, match="1 dimension.*should hold images"):
        load_idx_dir(d)


def test_idx_truncated_data(tmp_path):
    arrays = _arrays()
    d = _write_idx_dir(tmp_path / "m", arrays)
    data = (d / NAMES["test_images"]).read_bytes()
    (d / NAMES["test_images"]).write_bytes(data[:-7])
    with pytest.raises(DataError, match="truncated.*10x6x6"):
        load_idx_dir(d)


def test_idx_truncated_gzip(tmp_path):
    arrays = _arrays()
    d = _write_idx_dir(tmp_path / "m", arrays, gz=True)
    path = d / (NAMES["train_labels"] + ".gz")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        load_idx_dir(d)


def test_idx_count_mismatch(tmp_path):
    arrays = _arrays()
    arrays["train_labels"] = arrays["train_labels"][:-1]
    d = _write_idx_dir(tmp_path / "m", arrays)
    with pytest.raises(DataError, match="20 images but .* 19 labels"):
        load_idx_dir(d)


def test_idx_labels_outside_digits(tmp_path):
    arrays = _arrays()
    arrays["test_labels"][0] = 12
    d = _write_idx_dir(tmp_path / "m", arrays)
    with pytest.raises(DataError, match="0..9"):
        load_idx_dir(d)


def test_read_idx_other_dtype(tmp_path):
    path = tmp_path / "ints"
    path.write_bytes(_idx_bytes(np.array([[1, -2], [300, 4]]), code=0x0C))
    out = read_idx(path)
    np.testing.assert_array_equal(out, [[1, -2], [300, 4]])


def test_read_idx_too_short(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="too short"):
        read_idx(path)


def _save_mnist_npz(path, arrays):
    np.savez(
        path,
        x_train=arrays["train_images"],
        y_train=arrays["train_labels"],
        x_test=arrays["test_images"],
        y_test=arrays["test_labels"],
    )
    return path


def test_mnist_npz_round_trip(tmp_path):
    arrays = _arrays()
    _check_split(load_mnist_npz(_save_mnist_npz(tmp_path / "mnist.npz", arrays)), arrays)


def test_mnist_npz_missing_keys(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, x_train=np.zeros((2, 4, 4), np.uint8), y_train=np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="lacks x_test, y_test"):
        load_mnist_npz(path)


def test_mnist_npz_count_mismatch(tmp_path):
    arrays = _arrays()
    arrays["test_labels"] = arrays["test_labels"][:7]
    with pytest.raises(DataError, match="7 labels for 10 images"):
        load_mnist_npz(_save_mnist_npz(tmp_path / "m.npz", arrays))


def test_mnist_npz_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_mnist_npz(tmp_path / "absent.npz")

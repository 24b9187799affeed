import numpy as np
import pandas as pd
import pytest

from cnnsvm.data.kaggle_csv import (
    SubmissionExistsError,
    load_kaggle_csv,
    read_kaggle_test,
    write_kaggle_submission,
)
from cnnsvm.exceptions import DataError

PIXELS = [f"pixel{i}" for i in range(784)]


def _frame(n=5, with_label=True, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.integers(0, 256, (n, 784)), columns=PIXELS)
    if with_label:
        frame.insert(0, "label", np.arange(n) % 10)
    return frame


def _write(tmp_path, frame, name="train.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_load_train_csv(tmp_path):
    frame = _frame()
    ds = load_kaggle_csv(_write(tmp_path, frame))
    assert ds.images.shape == (5, 28, 28) and ds.images.dtype == np.uint8
    assert ds.class_names == [str(i) for i in range(10)] and ds.ink == "light"
    np.testing.assert_array_equal(ds.labels, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(ds.images[3].ravel(), frame.iloc[3, 1:].to_numpy())


def test_gzipped_csv(tmp_path):
    frame = _frame()
    path = tmp_path / "train.csv.gz"
    frame.to_csv(path, index=False)
    assert len(load_kaggle_csv(path)) == 5


def test_shuffled_pixel_columns_are_reordered(tmp_path):
    frame = _frame()
    shuffled = frame[["label"] + PIXELS[::-1]]
    ds = load_kaggle_csv(_write(tmp_path, shuffled))
    np.testing.assert_array_equal(ds.images[0].ravel(), frame.iloc[0, 1:].to_numpy())


def test_read_test_file(tmp_path):
    frame = _frame(n=3, with_label=False)
    images = read_kaggle_test(_write(tmp_path, frame, "test.csv"))
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(3, -1), frame.to_numpy())


def test_test_file_with_label_column_is_refused(tmp_path):
    with pytest.raises(DataError, match="training file"):
        read_kaggle_test(_write(tmp_path, _frame()))


def test_train_loader_refuses_test_file(tmp_path):
    with pytest.raises(DataError, match="no 'label' column.*read_kaggle_test"):
        load_kaggle_csv(_write(tmp_path, _frame(with_label=False)))


def test_wrong_column_count(tmp_path):
    frame = _frame().iloc[:, :-1]
    with pytest.raises(DataError, match="783 pixel columns .* need 784"):
        load_kaggle_csv(_write(tmp_path, frame))


def test_non_numeric_value_names_row(tmp_path):
    frame = _frame().astype(object)
    frame.iloc[2, 10] = "dark"
    with pytest.raises(DataError, match=r"data row 3 .*non-numeric value 'dark'.*pixel9"):
        load_kaggle_csv(_write(tmp_path, frame))


def test_missing_value_names_row(tmp_path):
    frame = _frame().astype(float)
    frame.iloc[4, 100] = np.nan
    message = r"data row 5 \(line 6 of the file\) has a missing \(NaN\) value in column 'pixel99'"
    with pytest.raises(DataError, match=message):
        load_kaggle_csv(_write(tmp_path, frame))


def test_pixel_out_of_range(tmp_path):
    frame = _frame()
    frame.iloc[1, 5] = 256
    with pytest.raises(DataError, match=r"data row 2 \(line 3 of the file\) has pixel values outside 0..255 \(256\)"):
        load_kaggle_csv(_write(tmp_path, frame))
    frame.iloc[1, 5] = -1
    with pytest.raises(DataError, match="outside 0..255"):
        load_kaggle_csv(_write(tmp_path, frame))


def test_label_out_of_range(tmp_path):
    frame = _frame()
    frame.loc[3, "label"] = 10
    with pytest.raises(DataError, match=r"data row 4 .* label 10; labels must be digits 0..9"):
        load_kaggle_csv(_write(tmp_path, frame))


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_kaggle_csv(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(["label"] + PIXELS) + "\n")
    with pytest.raises(DataError, match="header but no rows"):
        load_kaggle_csv(header_only)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_kaggle_csv(tmp_path / "nope.csv")


def test_write_submission(tmp_path):
    path = tmp_path / "out" / "submission.csv"
    written = write_kaggle_submission(np.array([7, 2, 1]), path)
    assert written == path
    assert path.read_text().splitlines() == ["ImageId,Label", "1,7", "2,2", "3,1"]


def test_submission_refuses_to_overwrite(tmp_path):
    path = tmp_path / "submission.csv"
    path.write_text("precious")
    with pytest.raises(DataError, match="already exists; pass overwrite=True .*--force") as info:
        write_kaggle_submission([1, 2], path)
    assert isinstance(info.value, FileExistsError)
    assert isinstance(info.value, SubmissionExistsError)
    assert path.read_text() == "precious"
    write_kaggle_submission([1, 2], path, overwrite=True)
    assert path.read_text().splitlines()[1:] == ["1,1", "2,2"]


def test_submission_bad_labels(tmp_path):
    with pytest.raises(DataError, match="digits 0..9"):
        write_kaggle_submission([1, 12], tmp_path / "s.csv")
    with pytest.raises(DataError, match="one-dimensional"):
        write_kaggle_submission([], tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()

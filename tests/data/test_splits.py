import numpy as np
import pytest

from cnnsvm.data.dataset import DatasetSplit, ImageDataset
from cnnsvm.data.splits import train_test_split_dataset, validation_split
from cnnsvm.exceptions import DataError


def _dataset(counts=(30, 20, 10), name="toy"):
    labels = np.concatenate([np.full(c, k) for k, c in enumerate(counts)])
    n = len(labels)
    # every image is unique: its first pixels encode its index
    images = np.zeros((n, 4, 4), np.uint8)
    images[:, 0, 0] = np.arange(n) % 256
    images[:, 0, 1] = np.arange(n) // 256
    return ImageDataset(images, labels, [f"c{k}" for k in range(len(counts))], name=name)


def _ids(ds):
    return set((ds.images[:, 0, 0].astype(int) + 256 * ds.images[:, 0, 1].astype(int)).tolist())


def test_split_is_stratified_and_disjoint():
    ds = _dataset()
    split = train_test_split_dataset(ds, test_size=0.2, random_state=0)
    assert isinstance(split, DatasetSplit) and not split.official
    np.testing.assert_array_equal(split.test.class_counts(), [6, 4, 2])
    np.testing.assert_array_equal(split.train.class_counts(), [24, 16, 8])
    assert not _ids(split.train) & _ids(split.test)
    assert _ids(split.train) | _ids(split.test) == set(range(len(ds)))
    assert split.train.name == split.test.name == "toy"
    assert split.train.class_names == split.test.class_names == ["c0", "c1", "c2"]


def test_images_stay_with_their_labels():
    ds = _dataset()
    split = train_test_split_dataset(ds)
    lookup = {i: lab for i, lab in zip(sorted(_ids(ds)), ds.labels, strict=True)}
    for part in (split.train, split.test):
        ids = part.images[:, 0, 0].astype(int) + 256 * part.images[:, 0, 1].astype(int)
        assert [lookup[i] for i in ids] == part.labels.tolist()


def test_same_seed_same_split_other_seed_differs():
    ds = _dataset()
    a = train_test_split_dataset(ds, random_state=3)
    b = train_test_split_dataset(ds, random_state=3)
    c = train_test_split_dataset(ds, random_state=4)
    np.testing.assert_array_equal(a.test.images, b.test.images)
    assert _ids(a.test) != _ids(c.test)


def test_integer_test_size():
    split = train_test_split_dataset(_dataset(), test_size=6)
    assert len(split.test) == 6 and len(split.train) == 54


def test_single_sample_class_is_named():
    ds = _dataset(counts=(10, 1, 10))
    with pytest.raises(DataError, match=r"'c1' have a single sample.*add samples of those classes or drop them"):
        train_test_split_dataset(ds)
    with pytest.raises(DataError, match="'c1'"):
        validation_split(ds)


def test_empty_named_class_is_allowed():
    ds = ImageDataset(np.zeros((8, 3, 3), np.uint8), np.array([0, 2] * 4), ["a", "unused", "b"])
    split = train_test_split_dataset(ds, test_size=0.5)
    assert split.test.n_classes == 3
    np.testing.assert_array_equal(split.test.class_counts(), [2, 0, 2])


def test_test_size_too_small_for_classes():
    with pytest.raises(DataError, match="test_size=2"):
        train_test_split_dataset(_dataset(), test_size=2)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.1, 0, 60, "0.2", True])
def test_bad_test_size(bad):
    with pytest.raises(DataError, match="test_size"):
        train_test_split_dataset(_dataset(), test_size=bad)


def test_validation_split():
    ds = _dataset(counts=(40, 40, 20))
    train, val = validation_split(ds, fraction=0.1, random_state=1)
    assert len(val) == 10 and len(train) == 90
    np.testing.assert_array_equal(val.class_counts(), [4, 4, 2])
    assert not _ids(train) & _ids(val)
    assert train.name == val.name == "toy"
    train2, val2 = validation_split(ds, fraction=0.1, random_state=1)
    np.testing.assert_array_equal(val.images, val2.images)


def test_split_needs_a_dataset():
    with pytest.raises(DataError, match="expected an ImageDataset"):
        train_test_split_dataset(np.zeros((4, 3, 3)))

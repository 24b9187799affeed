import numpy as np
from sklearn.datasets import load_digits

from cnnsvm.data.sklearn_digits import load_digits_dataset


def test_digits_are_scaled_to_uint8():
    ds = load_digits_dataset()
    raw = load_digits()
    assert ds.name == "digits" and ds.ink == "light"
    assert ds.images.shape == (1797, 8, 8) and ds.images.dtype == np.uint8
    assert ds.class_names == [str(i) for i in range(10)]
    np.testing.assert_array_equal(ds.labels, raw.target)
    assert ds.images.max() == 255 and ds.images.min() == 0
    np.testing.assert_array_equal(ds.images, np.rint(raw.images * 255 / 16).astype(np.uint8))
    assert set(np.unique(ds.images)) <= {round(v * 255 / 16) for v in range(17)}

"""GenericSoftmaxClassifier: its module moved; models pickled under the old path still load."""

import pickle

import numpy as np

from cnnsvm.classifiers import GenericSoftmaxClassifier


def test_unpickles_objects_saved_under_the_experiments_path():
    model = GenericSoftmaxClassifier(extractor=None, label_offset=3, n_classes=2)
    model.columns_, model.classes_ = np.array([3, 4]), np.arange(2)
    data = pickle.dumps(model, protocol=2)  # protocol 2 names classes as text: "c<module>\n<name>\n"
    new = b"ccnnsvm.classifiers.generic_softmax\nGenericSoftmaxClassifier\n"
    assert data.count(new) == 1
    old = data.replace(new, b"ccnnsvm.experiments.generic\nGenericSoftmaxClassifier\n")
    loaded = pickle.loads(old)
    assert type(loaded) is GenericSoftmaxClassifier
    assert loaded.get_params() == {"extractor": None, "label_offset": 3, "n_classes": 2}
    np.testing.assert_array_equal(loaded.columns_, [3, 4])

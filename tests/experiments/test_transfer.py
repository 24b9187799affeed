"""The generic extractor as an artifact: provenance, the leave-one-set-out guard, reuse in a hybrid."""

import hashlib

import numpy as np
import pytest

from cnnsvm.data.dataset import ImageDataset
from cnnsvm.data.sklearn_digits import load_digits_dataset
from cnnsvm.exceptions import ConfigError, ModelFileError
from cnnsvm.experiments import transfer
from cnnsvm.pipeline import save
from tests.conftest import SMALL_CNN


def _digit_sets():
    """The embedded digits cut in two sets of five classes each: 'low' (0-4) and 'high' (5-9)."""
    digits = load_digits_dataset()
    low = digits.labels < 5
    a = ImageDataset(digits.images[low], digits.labels[low], [str(i) for i in range(5)], name="low")
    b = ImageDataset(digits.images[~low], digits.labels[~low] - 5, [str(i) for i in range(5, 10)], name="high")
    return a, b


def _write_npz(path, ds):
    np.savez(path, x=ds.images, y=ds.labels)
    return f"npz:{path}?name={ds.name}&ink=light"


@pytest.fixture(scope="module")
def low_high_extractor(tmp_path_factory):
    """An extractor trained on the 'low' digits only, exported, and the specs of both sets."""
    low, high = _digit_sets()
    folder = tmp_path_factory.mktemp("transfer")
    specs = {"low": _write_npz(folder / "low.npz", low), "high": _write_npz(folder / "high.npz", high)}
    model, record, combined = transfer.train_extractor([specs["low"]], params=SMALL_CNN, image_size=16)
    path = save(
        model,
        folder / "generic.joblib",
        class_names=combined.class_names,
        metadata={"kind": "extractor", "extractor": record},
    )
    return path, specs, record, combined


def test_only_training_parts_reach_the_extractor(low_high_extractor):
    path, specs, record, combined = low_high_extractor
    from cnnsvm.data import load_split

    split = load_split(specs["low"], test_size=0.2, random_state=0)
    # exactly the training part of 'low', nothing of its test part, nothing of 'high'
    trained = {hashlib.sha256(img.tobytes()).hexdigest() for img in combined.images}
    train_hashes = {hashlib.sha256(img.tobytes()).hexdigest() for img in split.train.with_light_ink().images}
    test_only = {hashlib.sha256(img.tobytes()).hexdigest() for img in split.test.with_light_ink().images} - train_hashes
    _, high = _digit_sets()
    high_hashes = {hashlib.sha256(img.tobytes()).hexdigest() for img in high.images}
    assert len(combined) == len(split.train)
    assert trained == train_hashes
    assert not trained & test_only
    assert not trained & high_hashes
    (entry,) = record["datasets"]
    assert entry["name"] == "low" and entry["n_train"] == len(split.train)
    assert entry["train_sha256"] == transfer.dataset_sha256(split.train)
    assert len(entry["sample_hashes"]) == min(transfer.SAMPLE_HASHES, len(split.train))


def test_guard_refuses_a_seen_set_even_renamed_and_passes_an_unseen_one(low_high_extractor):
    path, specs, _, _ = low_high_extractor
    from cnnsvm.data import load_split

    extractor, meta = transfer.load_extractor(path)
    assert extractor.input_shape_ == (16, 16)
    low, high = _digit_sets()
    assert transfer.check_unseen(meta, load_split(high)) == []
    with pytest.raises(ConfigError, match="trained on the set being learned.*--allow-seen-data"):
        transfer.check_unseen(meta, load_split(low))
    renamed = ImageDataset(255 - low.images, low.labels, low.class_names, name="other", ink="dark")
    findings = transfer.overlaps(meta, renamed)
    assert len(findings) == 1 and "sampled training images" in findings[0]
    warnings = []
    assert transfer.check_unseen(meta, renamed, allow_seen=True, warn=warnings.append) == findings
    assert warnings and "not those of a new set" in warnings[0]


def test_hybrid_on_the_extractor_fits_only_the_svm(low_high_extractor):
    path, _, _, _ = low_high_extractor
    from cnnsvm.data import load_split

    extractor, _ = transfer.load_extractor(path)
    weights = [w.copy() for w in extractor.network_.get_weights()]
    split = load_split(_digit_sets()[1], test_size=0.2, random_state=0)
    model = transfer.hybrid_for_extractor(extractor).fit(split.train.images, split.train.labels)
    assert model.get_params()["svm__calibration_split"] == "auto"  # a new set's fit in seconds
    assert all(np.array_equal(a, b) for a, b in zip(weights, extractor.network_.get_weights(), strict=True))
    assert model.score(split.test.images, split.test.labels) > 0.6
    with pytest.raises(ConfigError, match="takes 16x16 images, not 28x28"):
        transfer.hybrid_for_extractor(extractor, image_size=28)


def test_load_extractor_refuses_a_model_without_cnn(fitted_pca_svc, tmp_path):
    path = save(fitted_pca_svc, tmp_path / "pca.joblib")
    with pytest.raises(ModelFileError, match="holds no CNN feature extractor"):
        transfer.load_extractor(path)


def test_trained_sets_of_a_plain_hybrid_name_its_set():
    meta = {"metadata": {"dataset": {"name": "nhcd_vowels", "spec": "npz:x.npz"}}}
    assert transfer.trained_sets(meta) == [{"name": "nhcd_vowels", "spec": "npz:x.npz"}]
    low, _ = _digit_sets()
    renamed = ImageDataset(low.images, low.labels, low.class_names, name="NHCD_vowels")
    assert "name of the set being learned" in transfer.overlaps(meta, renamed)[0]


def test_trained_sets_of_a_comparisons_extractor_name_its_sets():
    # cnnsvm compare's generic extractor records the sets it was fitted on under "fitted_on".
    meta = {"metadata": {"fitted_on": [{"dataset": "low", "n_train": 719, "train_sha256": "ab" * 32}]}}
    assert transfer.trained_sets(meta) == [{"name": "low", "n_train": 719}]
    low, _ = _digit_sets()
    assert "name of the set being learned" in transfer.overlaps(meta, low)[0]


def test_stratified_subset_keeps_every_class():
    low, _ = _digit_sets()
    small = transfer.stratified_subset(low, 50, random_state=0)
    assert len(small) == 50 and set(np.unique(small.labels)) == set(range(5))
    assert transfer.stratified_subset(low, 10**6) is low

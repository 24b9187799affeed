"""The training recipe: learning-rate schedule, time budget and numeric precision."""

import numpy as np
import pytest

from cnnsvm.exceptions import ConfigError
from cnnsvm.features import CNNFeatureExtractor, precision
from cnnsvm.features.callbacks import WarmupCosine
from tests.conftest import blobs_images

FAST = dict(architecture="small", batch_size=32, random_state=0)


def test_cosine_schedule_warms_up_then_decays_towards_zero():
    schedule = WarmupCosine(peak=1e-2, epochs=10, steps_per_epoch=20)
    rates = np.array([schedule._rate(step) for step in range(200)])
    assert rates[0] == pytest.approx(1e-3)  # a tenth of the peak
    assert rates.argmax() == 20 and rates.max() == pytest.approx(1e-2)  # the peak after one epoch
    assert np.all(np.diff(rates[:20]) > 0) and np.all(np.diff(rates[20:]) < 0)
    assert rates[-1] < 1e-4


def test_the_fitted_network_followed_the_schedule():
    X, y = blobs_images()
    ext = CNNFeatureExtractor(**FAST, epochs=4, patience=10).fit(X / 255.0, y)
    rates = ext.history_["learning_rate"]
    peak = 3e-3  # the small preset's learning rate
    assert len(rates) == 4 and max(rates) == pytest.approx(peak, rel=0.05)
    assert rates[-1] < peak / 20  # the rate of the last step of the last epoch
    plateau = CNNFeatureExtractor(**FAST, epochs=2, schedule="plateau").fit(X / 255.0, y)
    assert plateau.history_["learning_rate"][0] == pytest.approx(peak)


def test_time_budget_shortens_training():
    X, y = blobs_images()
    # A budget far below one epoch: the first epoch runs, then the plan ends.
    ext = CNNFeatureExtractor(**FAST, epochs=50, patience=50, max_minutes=1e-4).fit(X / 255.0, y)
    assert ext.n_epochs_ == 1
    budget = CNNFeatureExtractor(**FAST, epochs=50, patience=50, schedule="plateau", max_minutes=1e-4)
    assert budget.fit(X / 255.0, y).n_epochs_ == 1
    with pytest.raises(ConfigError, match="max_minutes"):
        CNNFeatureExtractor(**FAST, max_minutes=0).fit(X / 255.0, y)
    with pytest.raises(ConfigError, match="schedule"):
        CNNFeatureExtractor(**FAST, schedule="linear").fit(X / 255.0, y)


def test_precision_detection_follows_the_hardware(monkeypatch):
    monkeypatch.setattr(precision, "_has_gpu", lambda: False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "avx512_vnni"}))
    assert precision.resolve_precision("auto") == "float32"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert precision.resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "_has_gpu", lambda: True)
    assert precision.resolve_precision("auto") == "mixed_float16"
    assert precision.resolve_precision("float32") == "float32"
    with pytest.raises(ConfigError, match="precision"):
        precision.resolve_precision("int8")


def test_mixed_precision_network_gives_float32_features(monkeypatch):
    X, y = blobs_images()
    ext = CNNFeatureExtractor(**FAST, epochs=2, precision="mixed_bfloat16").fit(X / 255.0, y)
    assert ext.precision_ == "mixed_bfloat16"
    assert ext.network_.get_layer("embedding").dtype_policy.name == "float32"
    # On a machine without native bfloat16, prediction runs a float32 copy of the same weights.
    import cnnsvm.features.cnn_base as cnn_base

    monkeypatch.setattr(cnn_base, "detect_precision", lambda: "float32")
    feats = ext.transform(X / 255.0)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    copy = ext._inference_network()
    assert copy is not ext.network_ and copy.get_layer("embedding").dtype_policy.name == "float32"
    assert all(np.array_equal(a, b) for a, b in zip(copy.get_weights(), ext.network_.get_weights(), strict=True))
    proba = ext.softmax(X / 255.0)
    assert (proba.argmax(1) == np.asarray(ext.network_(X[..., None] / 255.0, training=False)).argmax(1)).mean() > 0.95


def test_validation_rows_hold_out_a_stratified_share_and_can_be_found_again():
    from cnnsvm.features.cnn_base import validation_rows

    targets = np.repeat([0, 1, 2], [40, 30, 30])
    train, val = validation_rows(targets, 0.1, 3, seed=7)
    assert len(val) == 10 and len(train) == 90 and not set(train) & set(val)
    assert np.bincount(targets[val]).tolist() == [4, 3, 3]  # stratified
    again = validation_rows(targets, 0.1, 3, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, val), strict=True))
    assert not np.array_equal(validation_rows(targets, 0.1, 3, seed=8)[1], val)
    # nothing held out: no share, fewer held-out rows than classes, or too few rows left to train every class
    assert validation_rows(targets, 0.0, 3, seed=7) is None and validation_rows(targets, None, 3, seed=7) is None
    assert validation_rows(np.arange(4) % 2, 0.5, 4, seed=7) is None
    assert validation_rows(np.repeat([0, 1, 2], 4), 0.8, 3, seed=0) is None  # 10 held out, 2 left for 3 classes
    assert len(validation_rows(np.repeat([0, 1, 2], 4), 0.5, 3, seed=0)[0]) == 6
    # a share too small to hold a row of each class cannot choose an epoch: all rows train
    two_per_class = np.repeat(np.arange(36), 2)
    assert validation_rows(two_per_class, 0.1, 36, seed=0) is None
    assert len(validation_rows(np.repeat(np.arange(36), 10), 0.1, 36, seed=0)[1]) == 36
    # a class with one row: the share is drawn unstratified rather than refused
    odd = np.array([0] * 20 + [1] * 19 + [2])
    assert len(validation_rows(odd, 0.1, 3, seed=0)[1]) == 4


def test_a_fitted_extractor_held_out_the_rows_validation_rows_gives():
    from cnnsvm.features.cnn_base import validation_rows

    X, y = blobs_images()
    X = (X / 255.0).astype(np.float32)
    ext = CNNFeatureExtractor(**FAST, epochs=1, augmentation=0.0, precision="float32").fit(X, y)
    targets = np.searchsorted(ext.classes_, y)
    _, val = validation_rows(targets, ext.validation_fraction, len(ext.classes_), ext.random_seed_)
    # the history's validation loss of the kept (only) epoch is the network's loss on exactly those rows
    proba = ext.softmax(X[val])
    loss = -np.mean(np.log(proba[np.arange(len(val)), targets[val]]))
    assert loss == pytest.approx(ext.history_["val_loss"][0], rel=1e-4)
    others = np.setdiff1d(np.arange(len(y)), val)[: len(val)]
    other_loss = -np.mean(np.log(ext.softmax(X[others])[np.arange(len(others)), targets[others]]))
    assert other_loss != pytest.approx(ext.history_["val_loss"][0], rel=1e-4)  # the check tells rows apart

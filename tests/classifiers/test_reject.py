import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from cnnsvm.classifiers import (
    RejectOptionClassifier,
    accuracy_rejection_curve,
    predict_with_reject,
    rejection_for_reliability,
)
from cnnsvm.exceptions import ConfigError


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(int)
    return X, y


def test_reject_label_where_unsure():
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    labels, conf = predict_with_reject(model, X, threshold=0.9)
    assert set(np.unique(labels)) <= {-1, 0, 1}
    assert np.all((labels == -1) == (conf < 0.9))
    assert (labels == -1).any() and (labels != -1).any()
    string_model = LogisticRegression().fit(X, np.array(["a", "b"])[y])
    s_labels, _ = predict_with_reject(string_model, X, threshold=0.9)
    assert "?" in set(s_labels)
    with pytest.raises(ConfigError):
        predict_with_reject(model, X, threshold=1.5)


def test_curve_trades_rejection_for_reliability():
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    curve = accuracy_rejection_curve(y, model.predict_proba(X), model.classes_)
    assert curve["rejection_rate"][0] == 0.0
    assert curve["accuracy"][0] == pytest.approx(model.score(X, y))
    assert np.all(np.diff(curve["rejection_rate"]) >= 0)
    assert curve["accuracy"][-1] >= curve["accuracy"][0]
    rate, threshold = rejection_for_reliability(curve, 1.0)
    assert 0 < rate < 1 and threshold is not None
    accepted = model.predict_proba(X).max(1) >= threshold
    assert (model.predict(X)[accepted] == y[accepted]).all()


def test_meta_estimator_abstains_and_scores_reliability():
    X, y = _data()
    clf = RejectOptionClassifier(LogisticRegression(), threshold=0.95).fit(X, y)
    pred = clf.predict(X)
    assert (pred == -1).mean() > 0.05
    reliability, rejection = clf.reliability_score(X, y)
    assert reliability > LogisticRegression().fit(X, y).score(X, y)
    assert rejection == pytest.approx((pred == -1).mean())


@pytest.mark.parametrize(
    "classes, expected",
    [
        ([-1, 1], -2),
        ([0, 1, 2], -1),
        ([-5, -1, 3], -6),
        (np.array([0, 1], np.uint8), -1),
        (["?", "a"], "??"),
        ([0.0, 1.0], "nan"),
        ([False, True], None),
    ],
)
def test_a_rejected_sample_never_carries_a_class_label(classes, expected):
    classes = np.asarray(classes)
    X, y = _data()
    model = LogisticRegression().fit(X, classes[y])
    labels, conf = predict_with_reject(model, X, threshold=0.9)
    rejected = conf < 0.9
    assert rejected.sum() > 20 and (~rejected).sum() > 20
    if expected == "nan":
        assert np.isnan(labels[rejected].astype(float)).all()
    else:
        assert all(label == expected if expected is not None else label is None for label in labels[rejected])
    assert not np.isin(labels[rejected], classes).any()  # no rejection reads as a class
    assert np.array_equal(labels[~rejected], model.predict(X)[~rejected])
    if classes.dtype.kind in "iu":
        assert labels.dtype == np.int64


def test_a_reject_label_that_is_a_class_is_refused():
    X, y = _data()
    model = LogisticRegression().fit(X, np.array([-1, 1])[y])
    with pytest.raises(ConfigError, match="is one of the classes"):
        predict_with_reject(model, X, 0.9, reject_label=-1)
    with pytest.raises(ConfigError, match="is one of the classes"):
        RejectOptionClassifier(LogisticRegression(), reject_label=1).fit(X, np.array([-1, 1])[y])
    labels = (
        RejectOptionClassifier(LogisticRegression(), threshold=0.9, reject_label=0)
        .fit(X, np.array([-1, 1])[y])
        .predict(X)
    )
    assert set(np.unique(labels)) == {-1, 0, 1}


def test_threshold_near_one_still_tells_saturated_answers_apart():
    # Both top probabilities round to 1.0; the residuals (1e-20 and 1e-9) still differ, so a
    # threshold of 1 - 1e-12 keeps the first and rejects the second.
    from cnnsvm.classifiers.reject import predict_with_reject

    class Fixed:
        classes_ = np.array([0, 1, 2])

        def predict_proba(self, X):
            return np.array([[1.0, 1e-20, 0.0], [1e-9, 1.0, 0.0], [0.2, 0.3, 0.5]])

    labels, confidence, accepted = predict_with_reject(Fixed(), np.zeros((3, 2)), 1 - 1e-12, return_accepted=True)
    assert confidence[:2].tolist() == [1.0, 1.0]
    assert accepted.tolist() == [True, False, False]
    assert labels[0] == 0 and labels[1] not in (0, 1, 2) and labels[2] not in (0, 1, 2)

"""scikit-learn's own estimator checks, where they apply.

The pipelines' first step needs images (square pixel grids), so the checks run on
the estimators that take any feature matrix: the CNN classifier (flat
non-square rows become one-row images), the kernel SVM and the reject option.
"""

from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from cnnsvm.classifiers import CNNClassifier, KernelSVC, RejectOptionClassifier

ESTIMATORS = [
    CNNClassifier(architecture="small", epochs=8, batch_size=32, augmentation=0, validation_fraction=0),
    KernelSVC(solver="approx", n_components=50),
    KernelSVC(solver="exact", probability=False),
    RejectOptionClassifier(LogisticRegression(), threshold=0.0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)

"""Classifiers: the CNN baseline, SVMs for CNN features, and the reject option."""

from cnnsvm.classifiers.cnn import CNNClassifier
from cnnsvm.classifiers.reject import (
    RejectOptionClassifier,
    accuracy_rejection_curve,
    predict_with_reject,
    rejection_for_reliability,
)
from cnnsvm.classifiers.svm import KernelSVC, make_svm

__all__ = [
    "CNNClassifier",
    "KernelSVC",
    "RejectOptionClassifier",
    "accuracy_rejection_curve",
    "make_svm",
    "predict_with_reject",
    "rejection_for_reliability",
]

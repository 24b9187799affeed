"""Classifiers: the CNN baseline, SVMs for CNN features, a generic CNN's own softmax, and the reject option."""

from cnnsvm.classifiers.cnn import CNNClassifier
from cnnsvm.classifiers.generic_softmax import GenericSoftmaxClassifier
from cnnsvm.classifiers.reject import (
    RejectOptionClassifier,
    accuracy_rejection_curve,
    predict_with_reject,
    rejection_for_reliability,
)
from cnnsvm.classifiers.svm import KernelSVC, make_svm

__all__ = [
    "CNNClassifier",
    "GenericSoftmaxClassifier",
    "KernelSVC",
    "RejectOptionClassifier",
    "accuracy_rejection_curve",
    "make_svm",
    "predict_with_reject",
    "rejection_for_reliability",
]

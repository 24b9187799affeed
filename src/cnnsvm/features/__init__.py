"""Feature extraction: the CNN extractor and its architectures, augmentation and PCA helpers."""

from cnnsvm.features.architectures import PRESETS, build_network, resolve_architecture
from cnnsvm.features.augmentation import build_augmentation
from cnnsvm.features.cnn_extractor import CNNFeatureExtractor
from cnnsvm.features.ensemble import ExtractorEnsemble
from cnnsvm.features.views import FrozenExtractor, unwrap_extractor

__all__ = [
    "PRESETS",
    "CNNFeatureExtractor",
    "ExtractorEnsemble",
    "FrozenExtractor",
    "build_augmentation",
    "build_network",
    "resolve_architecture",
    "unwrap_extractor",
]

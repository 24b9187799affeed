"""Loading, preprocessing and splitting labelled image sets.

Every source is named by a spec string shared by the CLI and the experiments:
``digits``, ``mnist:PATH``, ``idx:DIR``, ``folder:DIR``, ``csv:PATH``, ``npz:PATH``,
optionally followed by ``?key=value&...`` options (``name``, ``ink``, ``labels``).
"""

from cnnsvm.data.dataset import DatasetSplit, ImageDataset
from cnnsvm.data.preprocessing import ImagePreprocessor, guess_ink, prepare_image
from cnnsvm.ink import INK_CHOICES, INK_POLARITIES

__all__ = [
    "INK_CHOICES",
    "INK_POLARITIES",
    "DatasetSplit",
    "ImageDataset",
    "ImagePreprocessor",
    "guess_ink",
    "prepare_image",
]

try:  # filled in by the loader modules
    from cnnsvm.data.combine import combine_datasets  # noqa: F401
    from cnnsvm.data.images import read_image_file  # noqa: F401
    from cnnsvm.data.kaggle_csv import read_kaggle_test, write_kaggle_submission  # noqa: F401
    from cnnsvm.data.loaders import load_dataset, load_split, parse_spec  # noqa: F401
    from cnnsvm.data.splits import train_test_split_dataset  # noqa: F401

    __all__ += [
        "combine_datasets",
        "load_dataset",
        "load_split",
        "parse_spec",
        "read_image_file",
        "read_kaggle_test",
        "train_test_split_dataset",
        "write_kaggle_submission",
    ]
except ImportError:  # pragma: no cover - transitional while the loaders are written
    pass

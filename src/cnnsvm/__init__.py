"""cnnsvm: handwritten character recognition with a frozen CNN feature extractor and SVMs.

The main entry points:

- :mod:`cnnsvm.data` loads labelled image sets (``load_dataset("digits")``) and splits them;
- :func:`cnnsvm.pipeline.make_hybrid`, :func:`~cnnsvm.pipeline.make_pca_svc` and
  :func:`~cnnsvm.pipeline.make_cnn` build the three methods as scikit-learn estimators;
- :func:`cnnsvm.persistence.save` and :func:`~cnnsvm.persistence.load` export and verify models
  (also importable from :mod:`cnnsvm.pipeline`).
"""

import os as _os

#: The user's own TF_CPP_MIN_LOG_LEVEL (None if unset): the command line and the server
#: silence TensorFlow's C++ log (level 3) only when it is None.
TF_LOG_LEVEL_FROM_USER = _os.environ.get("TF_CPP_MIN_LOG_LEVEL")

# TensorFlow's C++ info lines are noise for users of a CPU tool; an explicit setting wins.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

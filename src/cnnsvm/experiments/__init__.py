"""Declarative, resumable experiments.

- :mod:`cnnsvm.experiments.compare`: ``cnnsvm compare FILE.toml`` / ``cnnsvm demo`` --
  every method on every dataset of a TOML file, the generic extractor trained once on
  all training parts, tables (Markdown, CSV, JSON), plots, exported models, McNemar tests;
  an interrupted run resumes where it stopped.
- :mod:`cnnsvm.experiments.study`: ``cnnsvm study FILE.toml`` -- hyperparameter sweeps
  on a validation split of the training data (validation curves or a grid search).
- :mod:`cnnsvm.experiments.config` and :mod:`~cnnsvm.experiments.study_config`: the file formats.
- :mod:`cnnsvm.experiments.metrics`: scoring a fitted model on a dataset.
- :mod:`cnnsvm.experiments.executors` and :mod:`~cnnsvm.experiments.jobs`: where the tasks run
  (serially, a local process pool, Dask or Ray) and what a worker runs (plain data and file bytes
  in and out).

See ``docs/experiments.md``. Submodules are imported on demand (TensorFlow loads with them).
"""

"""The risk-coverage plot: a zoomed panel when weak methods would flatten the strong ones."""

import numpy as np
import pytest
from PIL import Image

from cnnsvm.experiments.plots import plot_risk_coverage, zoom_top


def _curve(error_rate, n=200):
    coverage = np.arange(1, n + 1) / n
    return coverage, error_rate * coverage  # rises to the error rate at full coverage


def test_zoom_reaches_the_better_half_only_when_weak_methods_stretch_the_axis(tmp_path):
    mixed = {
        "weak": _curve(0.25),
        "poor": _curve(0.20),
        "good": _curve(0.03),
        "fine": _curve(0.025),
        "best": _curve(0.02),
    }
    zoom = zoom_top(mixed)
    # 1.2 x the upper median error rate: the good methods fill the panel, the weak ones leave it
    assert zoom == pytest.approx(1.2 * 0.03)
    assert zoom_top({**mixed, "also": _curve(0.021)}) == pytest.approx(1.2 * 0.03)  # the higher middle one
    assert max(mixed["good"][1]) < zoom < max(mixed["poor"][1])
    close = {"a": _curve(0.03), "b": _curve(0.02), "c": _curve(0.025)}
    assert zoom_top(close) is None  # one panel shows them all
    assert zoom_top({"alone": _curve(0.1)}) is None
    assert zoom_top({"a": _curve(0.0), "b": _curve(0.0)}) is None  # no error: nothing to zoom on
    nan = (np.linspace(0.1, 1, 10), np.full(10, np.nan))
    assert zoom_top({**mixed, "nan": nan}) == pytest.approx(1.2 * 0.03)  # curves without numbers are left out
    plot_risk_coverage({**mixed, "nan": nan, "empty": (np.array([]), np.array([]))}, tmp_path / "odd.png")

    wide, narrow = plot_risk_coverage(mixed, tmp_path / "wide.png"), plot_risk_coverage(close, tmp_path / "n.png")
    assert Image.open(wide).size[0] > 1.5 * Image.open(narrow).size[0]  # two panels side by side

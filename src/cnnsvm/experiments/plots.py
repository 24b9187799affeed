"""Figures of a run, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Class names that a plain font cannot draw (Devanagari) are shown by their
ASCII part in parentheses (``"क (ka)"`` -> ``"ka"``) or by their index.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cnnsvm.classifiers.selective import area_under

#: Per-class lines get a legend entry up to this many classes.
MAX_LEGEND_CLASSES = 12
#: Confusion-matrix cells are annotated with their counts up to this many classes.
MAX_ANNOTATED_CLASSES = 20

_PARENS = re.compile(r"\(([^()]*)\)\s*$")


def display_label(name, index=None):
    """An ASCII label for a class name (see the module docstring)."""
    name = str(name)
    prefix, slash, last = name.rpartition("/")
    if name.isascii():
        return name
    match = _PARENS.search(last)
    if match and match.group(1).isascii() and match.group(1).strip():
        label = match.group(1).strip()
        return f"{prefix}/{label}" if slash and prefix.isascii() else label
    return str(index) if index is not None else name.encode("ascii", "replace").decode()


def _figure(width=6.4, height=4.8, **margins):
    """A figure with fixed margins (an automatic layout costs several times the drawing)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(**{"left": 0.11, "right": 0.97, "bottom": 0.1, "top": 0.92, **margins})
    return fig


def _save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # glyphs missing from the font
        fig.savefig(path, dpi=110)
    return path


def plot_confusion(matrix, class_names, path, title=""):
    """Confusion matrix as a heat map (rows: true class), counts written when there are few classes."""
    matrix = np.asarray(matrix)
    n = len(class_names)
    side = min(12.0, max(3.5, 0.28 * n + 1.5))  # inches of the square matrix
    label, head, bar = 0.9, 0.45, 0.9  # inches for tick labels, title, colour bar
    width, height = label + side + bar, label + side + head
    fig = _figure(
        width,
        height,
        left=label / width,
        right=(label + side) / width,
        bottom=label / height,
        top=(label + side) / height,
    )
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    cax = fig.add_axes(((label + side + 0.15) / width, label / height, 0.18 / width, side / height))
    fig.colorbar(image, cax=cax)
    labels = [display_label(c, i) for i, c in enumerate(class_names)]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7 if n > 20 else 9)
    ax.set_yticks(range(n), labels, fontsize=7 if n > 20 else 9)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if n <= MAX_ANNOTATED_CLASSES:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                if matrix[i, j]:
                    ax.text(
                        j,
                        i,
                        str(int(matrix[i, j])),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if matrix[i, j] > threshold else "black",
                    )
    return _save(fig, path)


AXIS_LABELS = {"fpr": "false positive rate", "tpr": "true positive rate", "recall": "recall", "precision": "precision"}


def _one_vs_rest_plot(curves, path, title, x_key, y_key, value_key, value_label, *, xlim, legend_loc, diagonal):
    """The per-class curves of :func:`~cnnsvm.experiments.curves.one_vs_rest_curves` in thin lines,
    their micro and macro averages in bold."""
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot()
    per_class = curves["per_class"]
    show_legend = len(per_class) <= MAX_LEGEND_CLASSES
    for i, c in enumerate(per_class):
        label = f"{display_label(c['name'], i)} ({value_label} {c[value_key]:.3f})" if show_legend else None
        ax.plot(c[x_key], c[y_key], lw=0.8, alpha=0.6, label=label)
    if not show_legend and per_class:
        ax.plot([], [], lw=0.8, color="grey", label=f"{len(per_class)} classes (thin lines)")
    for key, style in (("micro", ":"), ("macro", "--")):
        block = curves.get(key)
        if block is not None:
            ax.plot(
                block[x_key],
                block[y_key],
                style,
                lw=2.2,
                color="black" if key == "micro" else "crimson",
                label=f"{key}-average ({value_label} {block[value_key]:.4f})",
            )
    if diagonal:
        ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls="-.")
    ax.set_xlim(*xlim)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel(AXIS_LABELS[x_key])
    ax.set_ylabel(AXIS_LABELS[y_key])
    ax.set_title(title)
    ax.legend(fontsize=7, loc=legend_loc)
    return _save(fig, path)


def plot_roc(curves, path, title=""):
    """One-vs-rest ROC curves: micro and macro averages in bold, one thin line per class."""
    return _one_vs_rest_plot(
        curves, path, title, "fpr", "tpr", "roc_auc", "AUC", xlim=(-0.01, 1.0), legend_loc="lower right", diagonal=True
    )


def plot_precision_recall(curves, path, title=""):
    """One-vs-rest precision-recall curves with average precision."""
    return _one_vs_rest_plot(
        curves,
        path,
        title,
        "recall",
        "precision",
        "average_precision",
        "AP",
        xlim=(0.0, 1.0),
        legend_loc="lower left",
        diagonal=False,
    )


def plot_risk_coverage(curves, path, title=""):
    """Risk (error rate of the answered samples) against coverage, one line per method.

    Parameters
    ----------
    curves : dict of str to (coverage, risk)
        From :func:`cnnsvm.classifiers.selective.risk_coverage_curve`.

    The y axis spans the risks actually reached (not 0-100 %), so that methods
    whose reliabilities all lie between 99 and 100 % can be told apart; the
    legend gives each curve's area (AURC). When weak methods stretch that span
    (see :func:`zoom_top`), a second panel beside it shows the same curves up to
    a little above the middle method's error rate. Empty curves are left out.
    """
    curves = {name: (np.asarray(c), np.asarray(r)) for name, (c, r) in curves.items() if len(r)}
    zoom = zoom_top(curves)
    fig = _figure(12.0 if zoom else 6.4, 4.8, left=0.06 if zoom else 0.11, wspace=0.18)
    axes = fig.subplots(1, 2 if zoom else 1, squeeze=False)[0]
    top = max((float(np.nanmax(r)) for _, r in curves.values() if np.isfinite(r).any()), default=0.0)
    for ax, limit in zip(axes, (top * 1.15, zoom), strict=False):
        for name, (coverage, risk) in curves.items():
            # risk[k] holds over coverages (coverage[k-1], coverage[k]]: the AURC's own steps
            ax.step(
                100 * np.r_[0.0, coverage],
                100 * np.r_[risk[:1], risk],
                where="pre",
                lw=1.4,
                label=f"{name} (AURC {100 * area_under(coverage, risk):.3f} %)",
            )
        ax.set_xlabel("coverage: answered samples (%)")
        ax.set_xlim(0.0, 100.0)
        ax.set_ylim(bottom=0.0, top=max(100 * limit, 0.05))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("risk: errors among answered samples (%)")
    axes[0].set_title(title)
    axes[0].legend(fontsize=8, loc="upper left")
    if zoom:
        axes[1].set_title(f"the same, risk up to {100 * zoom:.2g} %")
    return _save(fig, path)


def zoom_top(curves):
    """The upper risk of a zoomed panel, or ``None`` when one panel shows every curve well.

    The zoom reaches 1.2 times the upper median of the methods' risks at full
    coverage (their error rates: the middle one, or the higher of the middle two),
    and is drawn only when that is under a third of the highest risk any curve
    reaches: the better half of the methods and the one after them then fill the
    zoomed panel instead of the bottom strip of the full one.

    Parameters
    ----------
    curves : dict of str to (coverage, risk)

    Returns
    -------
    float or None
    """
    risks = [np.asarray(r, dtype=float) for _, r in curves.values() if len(r) and np.isfinite(r).all()]
    if len(risks) < 2:
        return None
    errors = sorted(float(r[-1]) for r in risks)
    zoom = 1.2 * errors[len(errors) // 2]
    return zoom if 0 < zoom < max(float(r.max()) for r in risks) / 3 else None


def plot_training_history(history, path, title=""):
    """Loss and accuracy per epoch, training and validation, side by side."""
    fig = _figure(10.0, 4.0, left=0.07, right=0.98, bottom=0.13, top=0.88, wspace=0.22)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = history.get(key)
            if values:
                ax.plot(
                    range(1, len(values) + 1),
                    values,
                    style,
                    marker="o",
                    ms=3,
                    label="validation" if key.startswith("val_") else "training",
                )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_validation_curve(
    values, train_mean, train_std, val_mean, val_std, path, *, param, scoring="accuracy", title=""
):
    """Training and validation score against one hyperparameter's values, with ±1 std bands."""
    fig = _figure(bottom=0.16)
    ax = fig.add_subplot()
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    x = np.asarray(values, dtype=float) if numeric else np.arange(len(values))
    order = np.argsort(x) if numeric else np.arange(len(values))
    x = x[order]
    for mean, std, label, style in ((train_mean, train_std, "training", "--"), (val_mean, val_std, "validation", "-")):
        mean, std = np.asarray(mean, float)[order], np.asarray(std, float)[order]
        ax.plot(x, mean, style, marker="o", label=label)
        ax.fill_between(x, mean - std, mean + std, alpha=0.15)
    if numeric and np.all(x > 0) and x.max() / x.min() >= 100:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(x, [str(values[i]) for i in order], rotation=30 if len(values) > 4 else 0)
    ax.set_xlabel(param)
    ax.set_ylabel(scoring)
    ax.set_title(title or f"validation curve: {param}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)

"""Result tables of a comparison: datasets as rows, methods as columns; Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from cnnsvm.classifiers.selective import confidence_score, risk_coverage_curve
from cnnsvm.experiments import plots
from cnnsvm.experiments.config import GENERIC_VARIANT, METHODS
from cnnsvm.experiments.environment import STEAL_UPPER_BOUND
from cnnsvm.experiments.significance import mcnemar_p_value
from cnnsvm.experiments.store import write_json, write_text
from cnnsvm.progress import format_seconds

#: Metrics tabulated per cell: key -> (title, unit kind).
METRICS = {
    "accuracy": ("Test accuracy (%)", "percent"),
    "macro_f1": ("Test macro-F1 (%)", "percent"),
    "fit_seconds": ("Fit time per dataset (s)", "seconds"),
    "predict_ms_per_image": ("Predict time (ms per image)", "ms"),
    "rejection_for_full_reliability": ("Rejection needed for 100 % reliability (%)", "percent"),
    "rejection_for_999": ("Rejection needed for 99.9 % reliability (%)", "percent"),
    "aurc": ("AURC: area under the risk-coverage curve (%, lower is better)", "percent3"),
    "accuracy_at_95": ("Accuracy on the 95 % most confident test images (%)", "percent"),
}

#: Where the selective-classification metrics sit in a cell's ``selective`` record.
SELECTIVE = {
    "rejection_for_999": ("rejection_for_reliability", "0.999"),
    "aurc": ("aurc", None),
    "accuracy_at_95": ("accuracy_at_coverage", "0.95"),
}


def generic_methods_phrase(methods):
    """``"a, b and c"``: the methods among ``methods`` that read the generic extractor, in their order."""
    names = [m for m in methods if m in GENERIC_VARIANT]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def fit_note(methods):
    """The note under the fit-time table: the generic methods' fit excludes the extractor's training."""
    names = [m for m in methods if m in GENERIC_VARIANT]
    if not names:
        return ""
    verb = "reuses" if len(names) == 1 else "reuse"
    return (
        f"{generic_methods_phrase(names)} {verb} the generic extractor: the fit time covers the per-dataset steps only "
        "(features, scaler and SVC); the extractor's training is in the table below."
    )


SIGNIFICANCE_LEVEL = 0.05


def cell_value(result, metric):
    """The value of ``metric`` in one cell's result."""
    if metric == "rejection_for_full_reliability":
        return result["rejection_for_full_reliability"]["rejection_rate"]
    if metric in SELECTIVE:
        key, sub = SELECTIVE[metric]
        value = (result.get("selective") or {}).get(key)
        return value.get(sub) if sub is not None and isinstance(value, dict) else value
    return result.get(metric)


def aggregate(results, datasets, methods):
    """Mean, standard deviation and per-seed values of each metric in each cell.

    Parameters
    ----------
    results : list of dict
        Cell results (``result.json`` contents).
    datasets, methods : list of str
        Row and column order.

    Returns
    -------
    dict
        ``{metric: {dataset: {method: {"mean", "std", "n", "values", "seeds"}}}}``;
        ``std`` is the sample standard deviation (``None`` for one seed);
        missing cells are absent.
    """
    by_cell = {}
    for r in sorted(results, key=lambda r: r["seed"]):
        by_cell.setdefault((r["dataset"], r["method"]), []).append(r)
    table = {}
    for metric in METRICS:
        table[metric] = {}
        for dataset in datasets:
            row = {}
            for method in methods:
                cell = by_cell.get((dataset, method))
                if not cell:
                    continue
                pairs = [(r["seed"], cell_value(r, metric)) for r in cell]
                pairs = [(seed, float(v)) for seed, v in pairs if v is not None]
                if not pairs:
                    continue
                values = [v for _, v in pairs]
                row[method] = {
                    "mean": float(np.mean(values)),
                    "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                    "n": len(values),
                    "values": values,
                    "seeds": [seed for seed, _ in pairs],  # only the seeds that have this metric
                }
            table[metric][dataset] = row
    return table


def _format(value, unit):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "percent":
        return f"{100 * value:.2f}"
    if unit == "percent3":
        return f"{100 * value:.3f}"
    if unit == "seconds":
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return f"{value:.3f}"


def format_stats(stats, unit):
    """``"97.71"`` for one seed, ``"97.71 ± 0.12"`` for several, ``"-"`` when missing."""
    if not stats:
        return "-"
    text = _format(stats["mean"], unit)
    if stats["n"] > 1:
        text += f" ± {_format(stats['std'], unit)}"
    return text


def markdown_table(header, rows):
    """A Markdown table from a header and rows of strings."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def metric_markdown(aggregated, metric, datasets, methods):
    """Markdown table of one metric (datasets x methods), with its title."""
    title, unit = METRICS[metric]
    rows = [[d] + [format_stats(aggregated[metric][d].get(m), unit) for m in methods] for d in datasets]
    n = max((s["n"] for row in aggregated[metric].values() for s in row.values()), default=1)
    suffix = f" - mean ± std over {n} seeds" if n > 1 else ""
    text = f"### {title}{suffix}\n\n" + markdown_table(["dataset"] + list(methods), rows)
    if metric == "fit_seconds" and fit_note(methods):
        text += f"\n\n{fit_note(methods)}"
    return text


def metric_csv(aggregated, metric, datasets, methods):
    """CSV of one metric: raw means (fractions, seconds, ms), plus ``<method>_std`` columns with several seeds."""
    several = any(s["n"] > 1 for row in aggregated[metric].values() for s in row.values())
    header = ["dataset"]
    for m in methods:
        header += [m, f"{m}_std"] if several else [m]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for d in datasets:
        row = [d]
        for m in methods:
            stats = aggregated[metric][d].get(m)
            row.append("" if not stats else repr(stats["mean"]))
            if several:
                row.append("" if not stats or stats["std"] is None else repr(stats["std"]))
        writer.writerow(row)
    return out.getvalue()


def steal_note(records):
    """One sentence on the CPU time the host of a virtual machine took during the fits.

    Parameters
    ----------
    records : list of dict
        Cell or generic-extractor results; those with a ``fit_cpu`` record
        (:func:`~cnnsvm.experiments.environment.cpu_shares`) count, the others
        (cells of runs before it was recorded) are left out.

    Returns
    -------
    str
        The sentence; ``""`` when no record has the shares or the host took
        less than half a percent during every fit.
    """
    steal = [r["fit_cpu"]["steal"] for r in records if r.get("fit_cpu")]
    if not steal or max(steal) < 0.005:
        return ""
    upper = " The fit times are upper bounds." if max(steal) >= STEAL_UPPER_BOUND else ""
    return (
        f"During the fits the host of this machine took {100 * min(steal):.0f} to {100 * max(steal):.0f} % of "
        f"its CPU time (steal, median {100 * np.median(steal):.0f} %, over {len(steal)} of "
        f"{len(records)} fits).{upper}"
    )


def generic_markdown(generic_results, methods=tuple(m for m in METHODS if m in GENERIC_VARIANT)):
    """Markdown table of the generic extractors: fit time, epochs, validation accuracy.

    ``methods`` are the run's methods; the title names those that read the extractors.
    """
    if not generic_results:
        return ""
    rows = []
    ensemble = any(g.get("member") for g in generic_results)
    stolen = any(g.get("fit_cpu") for g in generic_results)
    for g in generic_results:
        training = g.get("training") or {}
        best = training.get("best_val_accuracy")
        rows.append(
            [
                g["variant"],
                g["seed"],
                *([g.get("member", 0)] if ensemble else []),
                format_seconds(g["fit_seconds"]),
                training.get("epochs_run", "-"),
                "-" if best is None else f"{100 * best:.2f}",
                g["n_train"],
                g["n_classes"],
                *([_steal_percent(g)] if stolen else []),
            ]
        )
    header = ["generic extractor", "seed", *(["member"] if ensemble else []), "fit time", "epochs"]
    header += [
        "best val. accuracy (%)",
        "training images",
        "classes",
        *(["CPU taken by the host (%)"] if stolen else []),
    ]
    title = f"### Generic extractor (shared by {generic_methods_phrase(methods)})"
    if ensemble and "hybrid-single" in methods:
        title += "\n\nAn ensemble per seed: hybrid-single reads member 0 alone, the other methods every member."
    return title + "\n\n" + markdown_table(header, rows)


def _steal_percent(record):
    cpu = record.get("fit_cpu")
    return "-" if not cpu else f"{100 * cpu['steal']:.0f}"


def format_p_value(p):
    """Three significant digits; a p-value below the smallest float reads ``< 1e-300``, not ``0``."""
    if not np.isfinite(p):
        return "n/a"
    return f"{p:.3g}" if p > 0 else "< 1e-300"


def significance_markdown(tests):
    """Markdown table of McNemar tests of the hybrid against the other methods."""
    if not tests:
        return ""
    rows = [
        [
            t["dataset"],
            t["other"],
            t["seed"],
            f"{100 * t['hybrid_accuracy']:.2f}",
            f"{100 * t['other_accuracy']:.2f}",
            t["hybrid_only"],
            t["other_only"],
            format_p_value(t["p_value"]),
            "yes" if t["p_value"] < SIGNIFICANCE_LEVEL else "no",
        ]
        for t in tests
    ]
    header = [
        "dataset",
        "hybrid vs",
        "seed",
        "hybrid acc. (%)",
        "other acc. (%)",
        "only hybrid right",
        "only other right",
        "p (McNemar exact)",
        f"p < {SIGNIFICANCE_LEVEL}",
    ]
    table = "### Paired significance: McNemar's exact test on the test set\n\n" + markdown_table(header, rows)
    return table + pooled_significance_markdown(significance_summary(tests))


def pooled_significance_markdown(summary):
    """The seeds' discordant counts added up, per dataset and method, with McNemar's test on the sums
    (empty with one seed)."""
    groups = [g for g in summary if len(g["seeds"]) > 1]
    if not groups:
        return ""
    rows = [
        [
            g["dataset"],
            g["other"],
            len(g["seeds"]),
            g["pooled"]["hybrid_only"],
            g["pooled"]["other_only"],
            format_p_value(g["pooled"]["p_value"]),
            f"{g['significant_seeds']} of {len(g['seeds'])}",
        ]
        for g in groups
    ]
    header = [
        "dataset",
        "hybrid vs",
        "seeds",
        "only hybrid right",
        "only other right",
        "p (pooled)",
        f"seeds p < {SIGNIFICANCE_LEVEL}",
    ]
    return (
        "\n\n### McNemar's test pooled over the seeds\n\n"
        "Every seed scores the same test images, so the pooled test counts an image once per seed as if the "
        "seeds' answers were independent: a summary of the direction and size of the difference; the "
        "per-seed tests above are the exact ones.\n\n" + markdown_table(header, rows)
    )


def significance_summary(tests):
    """Per dataset and compared method: largest p-value and number of seeds with p below the level."""
    groups = {}
    for t in tests:
        groups.setdefault((t["dataset"], t["other"]), []).append(t)
    return [
        {
            "dataset": d,
            "other": o,
            "seeds": [t["seed"] for t in ts],
            "p_values": [t["p_value"] for t in ts],
            "max_p_value": max(t["p_value"] for t in ts),
            "significant_seeds": sum(t["p_value"] < SIGNIFICANCE_LEVEL for t in ts),
            "hybrid_better_seeds": sum(t["hybrid_only"] > t["other_only"] for t in ts),
            "pooled": _pooled(ts),
        }
        for (d, o), ts in groups.items()
    ]


def _pooled(tests):
    hybrid_only, other_only = sum(t["hybrid_only"] for t in tests), sum(t["other_only"] for t in tests)
    return {"hybrid_only": hybrid_only, "other_only": other_only, "p_value": mcnemar_p_value(hybrid_only, other_only)}


def cells_csv(results, methods, datasets):
    """One row per dataset x method x seed with the main numbers."""
    order = {(d, m): (i, j) for i, d in enumerate(datasets) for j, m in enumerate(methods)}
    header = [
        "dataset",
        "method",
        "seed",
        "accuracy",
        "macro_f1",
        "fit_seconds",
        "predict_ms_per_image",
        "rejection_for_full_reliability",
        "aurc",
        "roc_auc_macro",
        "average_precision_macro",
        "epochs_run",
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in sorted(results, key=lambda r: (*order.get((r["dataset"], r["method"]), (99, 99)), r["seed"])):
        training = r.get("training") or {}
        writer.writerow(
            [
                r["dataset"],
                r["method"],
                r["seed"],
                r["accuracy"],
                r["macro_f1"],
                r["fit_seconds"],
                r["predict_ms_per_image"],
                cell_value(r, "rejection_for_full_reliability"),
                cell_value(r, "aurc"),
                r.get("roc_auc_macro"),
                r.get("average_precision_macro"),
                training.get("epochs_run", ""),
            ]
        )
    return out.getvalue()


def plot_risk_coverage_by_dataset(rundir, results, datasets, methods):
    """One risk-coverage figure per dataset, every method of the first seed on it; returns the paths."""
    paths = []
    for dataset in datasets:
        cells = {r["method"]: r for r in sorted(results, key=lambda r: -r["seed"]) if r["dataset"] == dataset}
        curves = {}
        for method in methods:
            if method not in cells:
                continue
            predictions = rundir.cell(dataset, method, cells[method]["seed"]) / "predictions.npz"
            if not predictions.exists():
                continue
            with np.load(predictions) as p:
                proba = p["proba"]
                correct = p["y_true"] == p["y_pred"]
            coverage, risk, _ = risk_coverage_curve(correct, confidence_score(proba))
            curves[method] = (coverage, risk)
        if curves:
            path = rundir.root / "plots" / f"{dataset}_risk_coverage.png"
            plots.plot_risk_coverage(curves, path, title=f"risk vs coverage on {dataset}")
            paths.append(path)
    return paths


def write_reports(rundir, *, name, results, generic_results, tests, datasets, methods, seeds, total_seconds=None):
    """Write every table and return the Markdown summary (what the run prints at its end).

    Writes ``results.md``, ``results.json``, ``cells.csv`` and, under
    ``tables/``, ``<metric>.md``/``.csv``, ``generic.md``, ``significance.md``/``.csv``.
    """
    aggregated = aggregate(results, datasets, methods)
    stolen = steal_note(list(results) + list(generic_results or []))
    sections = [f"## {name}: {len(datasets)} dataset(s) x {len(methods)} method(s), seeds {seeds}"]
    plotted = plot_risk_coverage_by_dataset(rundir, results, datasets, methods)
    if plotted:
        sections.append(
            "Risk-coverage curves of every method (first seed): "
            + ", ".join(f"`{p.relative_to(rundir.root)}`" for p in plotted)
            + "."
        )
    for metric in METRICS:
        md = metric_markdown(aggregated, metric, datasets, methods)
        if metric == "fit_seconds" and stolen:
            md += "\n\n" + stolen
        write_text(rundir.tables / f"{metric}.md", md + "\n")
        write_text(rundir.tables / f"{metric}.csv", metric_csv(aggregated, metric, datasets, methods))
        sections.append(md)
    generic_md = generic_markdown(generic_results, methods)
    if generic_md:
        write_text(rundir.tables / "generic.md", generic_md + "\n")
        sections.append(generic_md)
    sig_md = significance_markdown(tests)
    if sig_md:
        write_text(rundir.tables / "significance.md", sig_md + "\n")
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(tests[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(tests)
        write_text(rundir.tables / "significance.csv", out.getvalue())
        sections.append(sig_md)
    if total_seconds is not None:
        sections.append(f"Run time of this invocation: {format_seconds(total_seconds)}.")
    summary = "\n\n".join(sections) + "\n"
    write_text(rundir.root / "results.md", summary)
    write_text(rundir.root / "cells.csv", cells_csv(results, methods, datasets))
    write_json(
        rundir.root / "results.json",
        {
            "experiment": name,
            "datasets": datasets,
            "methods": methods,
            "seeds": seeds,
            "metrics": aggregated,
            "generic": generic_results,
            "significance": {"tests": tests, "summary": significance_summary(tests), "level": SIGNIFICANCE_LEVEL},
            "cells": results,
        },
    )
    return summary

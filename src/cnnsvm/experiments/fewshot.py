"""Few-shot learning curves: k labelled examples per class, a frozen extractor against training from scratch.

For each k (examples per class, or ``"all"``: the whole training part) and each
random draw, the same k examples of every class are given to

- ``hybrid``: the scaler and the SVM on the features of a frozen extractor
  that never saw the set (:mod:`cnnsvm.experiments.transfer`), by default its
  spatial features (:mod:`cnnsvm.features.spatial`), each example joined by
  the features of random augmented views of itself (``views``);
- ``cnn``: a CNN from scratch (:func:`cnnsvm.pipeline.make_cnn`);
- ``pca-svc``: SVC on PCA of the raw pixels (:func:`cnnsvm.pipeline.make_pca_svc`),
  its components capped below the number of examples;

and each is scored on the whole test part. Settings are the library's defaults,
with two rules fixed before any run (never chosen on test scores): the CNN gets
at least ``cnn_epochs`` epochs and at least :data:`MIN_CNN_STEPS` gradient steps
(a handful of examples would otherwise give it a few dozen steps), early stopping
does not cut that budget short (patience = epochs: with a few validation images
the validation loss is noise, and it stopped the CNN during its learning-rate
warm-up; the weights of the best validation epoch are still kept, or of the best
training-loss epoch where the draw is too small to hold out a row of each class), and the SVMs
fit without probability calibration (its 3-fold cross-validation needs 3
examples per class; accuracy does not use it).

The hybrid's features are computed once for the whole training part and the
test part (the extractor is frozen: a draw's features are rows of them), so its
``fit_seconds`` is the views' features, the scaler and the SVM fit;
``feature_seconds`` records the extraction.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline

from cnnsvm.data import load_split
from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.progress import format_seconds, log

METHODS = ("hybrid", "cnn", "pca-svc")
DEFAULT_KS = (1, 2, 5, 10, 20, 50, "all")
#: Fewest gradient steps a CNN from scratch is given, whatever the number of examples.
MIN_CNN_STEPS = 500
#: Most epochs a CNN from scratch is given (a bound on the time of the smallest k).
MAX_CNN_EPOCHS = 300
#: What the hybrid's SVM sees: chosen on validation data (benchmarks/results/fewshot_features.md).
DEFAULT_FEATURES = "spatial"
#: Augmented views of each drawn example among the hybrid's training rows (fewshot_features.md).
DEFAULT_VIEWS = 9
#: Most training rows of the hybrid, examples and views together (see :func:`view_count`).
MAX_VIEW_ROWS = 10_000
#: The hybrid's SVM settings ``run_fewshot(svm_params=...)`` may set.
SVM_PARAMS = frozenset({"C", "gamma", "kernel"})


def parse_ks(text):
    """``"1,2,5,all"`` -> ``[1, 2, 5, "all"]`` (positive integers, increasing, and ``all``)."""
    ks = []
    for item in str(text).split(","):
        item = item.strip().lower()
        if not item:
            continue
        if item == "all":
            ks.append("all")
            continue
        try:
            value = int(item)
        except ValueError:
            raise ConfigError(f"--k takes positive integers and 'all', comma-separated; got {item!r}") from None
        if value < 1:
            raise ConfigError(f"k must be at least 1 example per class; got {value}")
        ks.append(value)
    if not ks:
        raise ConfigError("give at least one k (examples per class), e.g. --k 1,5,all")
    numbers = [k for k in ks if k != "all"]
    if len(set(numbers)) != len(numbers) or ks.count("all") > 1:
        raise ConfigError(f"each k once, please; got {text!r}")
    return sorted(numbers) + (["all"] if "all" in ks else [])


def draw_per_class(labels, k, rng):
    """Indices of ``k`` examples of each class drawn without replacement (all of a smaller class).

    Parameters
    ----------
    labels : ndarray of int
    k : int or "all"
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, sorted
    """
    labels = np.asarray(labels)
    if k == "all":
        return np.arange(len(labels))
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        chosen.append(rng.choice(members, size=min(int(k), len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def cnn_epochs(n_samples, batch_size=128, epochs=30, min_steps=MIN_CNN_STEPS, max_epochs=MAX_CNN_EPOCHS):
    """Epochs of a CNN from scratch on ``n_samples`` images: ``epochs``, raised to give ``min_steps`` steps."""
    steps = max(1, math.ceil(n_samples / int(batch_size)))
    return int(min(max(int(epochs), math.ceil(min_steps / steps)), max(int(epochs), max_epochs)))


class _Eta:
    """Remaining time from the measured seconds per unit of work of each method."""

    def __init__(self, plan):
        self.plan = list(plan)  # (method, units) of every fit still to run
        self.rate = {}

    def done(self, method, units, seconds):
        self.plan.remove((method, units))
        rates = self.rate.setdefault(method, [])
        rates.append(seconds / max(units, 1))

    def remaining(self):
        total = 0.0
        for method, units in self.plan:
            if method not in self.rate:
                return None
            total += units * float(np.mean(self.rate[method]))
        return total


def run_fewshot(
    extractor,
    train,
    test,
    *,
    ks=DEFAULT_KS,
    draws=3,
    methods=METHODS,
    cnn_params=None,
    cnn_min_steps=MIN_CNN_STEPS,
    n_components=50,
    features=DEFAULT_FEATURES,
    views=DEFAULT_VIEWS,
    svm_params=None,
    random_state=0,
    verbose=1,
):
    """Learning curves of the hybrid on a frozen extractor, a CNN from scratch and SVC+PCA.

    Parameters
    ----------
    extractor : CNNFeatureExtractor
        Fitted, frozen; it should not have seen the set (see
        :func:`cnnsvm.experiments.transfer.check_unseen`).
    train, test : ImageDataset
        The set's training part (draws come from it) and test part (scores).
    ks : sequence of int or "all", default=(1, 2, 5, 10, 20, 50, "all")
    draws : int, default=3
        Random draws per k; ``"all"`` has one (every draw would be the same).
    methods : sequence of str, default=("hybrid", "cnn", "pca-svc")
    cnn_params : dict, optional
        Parameters of the CNN from scratch (``architecture``, ``epochs``, ``batch_size``, ...);
        ``epochs`` is a minimum (see :func:`cnn_epochs`).
    cnn_min_steps : int, default=MIN_CNN_STEPS
        Fewest gradient steps of the CNN from scratch.
    n_components : int, default=50
        PCA components, capped at the number of examples minus one.
    features : {"embedding", "spatial"}, default="spatial"
        What the hybrid's SVM sees (see :mod:`cnnsvm.features.spatial`).
    views : int, default=9
        Random augmented views of each drawn example whose features join the
        hybrid's training rows (the extractor's augmentation; see
        :func:`view_count`): the SVM learns the variations that a few examples
        do not show. 0 turns them off.
    svm_params : dict, optional
        The hybrid's SVM settings (``C``, ``gamma``, ``kernel`` of
        :func:`cnnsvm.pipeline.make_hybrid`); make_svm's defaults otherwise.
        For choosing them on validation data (``benchmarks/fewshot_features.py --grid svm``).
    random_state : int, default=0
        Seed of the draws (draw ``d`` of ``k`` uses ``[random_state, k, d]``) and of the models
        (``random_state + d``).
    verbose : int, default=1
        1 prints a line per fit with the ETA.

    Returns
    -------
    dict
        ``rows`` (one per fit: ``k``, ``draw``, ``method``, ``accuracy``, ``n_train``,
        ``fit_seconds``, ``epochs`` for the CNN), ``feature_seconds`` and ``config``.
    """
    from cnnsvm.experiments.transfer import hybrid_for_extractor
    from cnnsvm.features.views import makes_views
    from cnnsvm.pipeline import make_cnn, make_pca_svc

    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"methods must be among {', '.join(METHODS)}; got {', '.join(methods) or 'none'}")
    if not isinstance(draws, int) or draws < 1:
        raise ConfigError(f"draws must be a positive integer; got {draws!r}")
    if not isinstance(views, numbers.Integral) or isinstance(views, bool) or views < 0:
        raise ConfigError(f"views must be a non-negative integer; got {views!r}")
    svm_params = dict(svm_params or {})
    unknown = sorted(set(svm_params) - SVM_PARAMS)
    if unknown:
        raise ConfigError(f"svm_params may set {', '.join(sorted(SVM_PARAMS))}; got {', '.join(unknown)}")
    ks = parse_ks(",".join(str(k) for k in ks))
    train, test = train.with_light_ink(), test.with_light_ink()
    missing = np.setdiff1d(np.unique(test.labels), np.unique(train.labels))
    if len(missing):
        raise DataError(f"{train.name}: classes {missing[:10].tolist()} have test images but no training image")
    cnn_params = dict(cnn_params or {})
    min_epochs = int(cnn_params.pop("epochs", 30))
    batch_size = int(cnn_params.setdefault("batch_size", 128))
    size = max(train.image_shape)
    counts = np.bincount(train.labels)
    counts = counts[counts > 0]

    features_train = features_test = None
    hybrid_back = None
    feature_seconds = 0.0
    if "hybrid" in methods:
        hybrid = hybrid_for_extractor(
            extractor, probability=False, random_state=random_state, features=features, **svm_params
        )
        hybrid.set_params(preprocess__ink="light")
        start = time.perf_counter()
        front = Pipeline(hybrid.steps[:2]).fit(train.images, train.labels)
        pixels_train = front[0].transform(train.images)
        features_train = front[1].transform(pixels_train)
        features_test = front.transform(test.images)
        feature_seconds = time.perf_counter() - start
        hybrid_back = Pipeline(hybrid.steps[2:])
        # No views where the extractor's transforms would leave the images as they are: copies, not views.
        views_differ = makes_views(front[1].extractor, front[1].view_strength())
        if verbose:
            log(
                f"[fewshot] features of {len(train)} training and {len(test)} test images in "
                f"{format_seconds(feature_seconds)} (the extractor is frozen: computed once)"
            )

    plan = []
    schedule = []
    for k in ks:
        for d in range(1 if k == "all" else draws):
            indices = draw_per_class(train.labels, k, np.random.default_rng([int(random_state), _k_seed(k), d]))
            schedule.append((k, d, indices))
            for method in methods:
                units = len(indices)
                if method == "cnn":
                    units *= cnn_epochs(len(indices), batch_size, min_epochs, cnn_min_steps)
                plan.append((method, units))
    eta = _Eta(plan)
    rows = []
    n_fits = len(plan)
    for k, d, indices in schedule:
        X, y = train.images[indices], train.labels[indices]
        seed = int(random_state) + d
        for method in methods:
            row = {"k": k, "draw": d, "method": method, "n_train": int(len(indices)), "seed": seed}
            units = len(indices)
            start = time.perf_counter()
            if method == "hybrid":
                n_views = view_count(len(indices), views) if views_differ else 0
                row["views"] = n_views
                rows_X, rows_y = _with_views(
                    front[1], pixels_train[indices], features_train[indices], y, n_views, [random_state, _k_seed(k), d]
                )
                row["n_fit_rows"] = int(len(rows_y))
                model = clone(hybrid_back)
                model.fit(rows_X, rows_y)
                fitted = time.perf_counter()
                predicted = model.predict(features_test)
            else:
                if method == "cnn":
                    epochs = cnn_epochs(len(indices), batch_size, min_epochs, cnn_min_steps)
                    units *= epochs
                    row["epochs"] = epochs
                    params = {"patience": epochs, **cnn_params}
                    model = make_cnn(image_size=size, random_state=seed, epochs=epochs, **params)
                else:
                    components = max(1, min(int(n_components), len(indices) - 1))
                    row["n_components"] = components
                    model = make_pca_svc(image_size=size, n_components=components, probability=False, random_state=seed)
                model.set_params(preprocess__ink="light")
                model.fit(X, y)
                fitted = time.perf_counter()
                predicted = model.predict(test.images)
            if method == "cnn":
                row["epochs_run"] = int(model[-1].n_epochs_)
            row["fit_seconds"] = fitted - start
            row["accuracy"] = float(accuracy_score(test.labels, predicted))
            rows.append(row)
            eta.done(method, units, time.perf_counter() - start)
            if verbose:
                left = eta.remaining()
                shown = "?" if left is None else format_seconds(left)
                draw = "" if k == "all" else f" draw {d + 1}/{draws}"
                log(
                    f"[fewshot] k={k}{draw} {method}: accuracy {row['accuracy']:.4f} ({len(indices)} images, "
                    f"{format_seconds(row['fit_seconds'])}); {len(rows)}/{n_fits} fits, ETA {shown}"
                )
    return {
        "rows": rows,
        "feature_seconds": feature_seconds,
        "config": {
            "ks": ks,
            "draws": draws,
            "methods": list(methods),
            "random_state": random_state,
            "cnn": {"min_epochs": min_epochs, "min_steps": cnn_min_steps, "max_epochs": MAX_CNN_EPOCHS, **cnn_params},
            "pca_components": n_components,
            "svm": (
                f"make_svm with {', '.join(f'{k}={v!r}' for k, v in sorted(svm_params.items()))}"
                if svm_params
                else "make_svm defaults (C=10, gamma='scale', RBF)"
            )
            + ", no probability calibration",
            "hybrid_features": features,
            "views": views,
            "max_view_rows": MAX_VIEW_ROWS,
            "image_size": int(size),
            "n_train": len(train),
            "n_test": len(test),
            "n_classes": int(len(counts)),
            "all_per_class": {"min": int(counts.min()), "median": float(np.median(counts)), "max": int(counts.max())},
        },
    }


def view_count(n_examples, views, max_rows=None):
    """Augmented views per example for ``n_examples`` drawn examples: ``views``, fewer where the
    examples and their views would exceed ``max_rows`` (:data:`MAX_VIEW_ROWS`) training rows.

    Views teach a few examples' variations; a large draw shows them already, and
    its views would only slow the SVM (its fit grows with the square of the rows).
    """
    max_rows = MAX_VIEW_ROWS if max_rows is None else max_rows
    return int(max(0, min(views, max_rows // max(1, n_examples) - 1)))


def _k_seed(k):
    return 0 if k == "all" else int(k)


def _with_views(frozen, pixels, features, labels, n_views, seed):
    """The examples' features followed by those of ``n_views`` random augmented views of each."""
    if not n_views:
        return features, labels
    from cnnsvm.features.views import views_features

    views = views_features(
        frozen.extractor, pixels, n_views, strength=frozen.view_strength(), seed=seed, features=frozen.features
    )
    return np.vstack([features, *views]), np.tile(labels, n_views + 1)


def summarise(rows):
    """Mean, standard deviation and number of draws of each (k, method), plus paired differences.

    Returns
    -------
    list of dict
        Per k: ``k``, ``n_draws``, ``{method: {"mean", "std", "n"}}`` under ``scores``,
        and ``{"hybrid-minus-cnn": {...}}``-style paired differences under ``differences``.
    """
    ks = []
    for row in rows:
        if row["k"] not in ks:
            ks.append(row["k"])
    table = []
    for k in ks:
        at_k = [r for r in rows if r["k"] == k]
        methods = list(dict.fromkeys(r["method"] for r in at_k))
        scores = {}
        for method in methods:
            values = np.array([r["accuracy"] for r in at_k if r["method"] == method])
            scores[method] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "n": int(len(values)),
            }
        differences = {}
        if "hybrid" in methods:
            by_draw = {(r["method"], r["draw"]): r["accuracy"] for r in at_k}
            for other in (m for m in methods if m != "hybrid"):
                diffs = np.array(
                    [
                        by_draw[("hybrid", d)] - by_draw[(other, d)]
                        for d in sorted({r["draw"] for r in at_k})
                        if ("hybrid", d) in by_draw and (other, d) in by_draw
                    ]
                )
                if len(diffs):
                    differences[f"hybrid-minus-{other}"] = {
                        "mean": float(diffs.mean()),
                        "min": float(diffs.min()),
                        "n": int(len(diffs)),
                    }
        table.append(
            {"k": k, "n_draws": max(s["n"] for s in scores.values()), "scores": scores, "differences": differences}
        )
    return table


def _cell(score):
    if score is None:
        return "-"
    text = f"{100 * score['mean']:.1f}"
    return text + (f" ± {100 * score['std']:.1f}" if score["n"] > 1 else "")


def markdown_table(summary, methods):
    """The curve as a markdown table: accuracy (%) mean ± std over draws, and the hybrid's paired margins."""
    others = [m for m in methods if m != "hybrid"] if "hybrid" in methods else []
    header = ["k per class", "draws"] + [f"{m} (%)" for m in methods] + [f"hybrid − {m} (points)" for m in others]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in summary:
        cells = [str(entry["k"]), str(entry["n_draws"])]
        cells += [_cell(entry["scores"].get(m)) for m in methods]
        for m in others:
            diff = entry["differences"].get(f"hybrid-minus-{m}")
            cells.append("-" if diff is None else f"{100 * diff['mean']:+.1f} (min {100 * diff['min']:+.1f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(summary, methods, all_at, path, title=""):
    """Accuracy against examples per class (log x axis), mean ± std over draws; ``all`` at ``all_at``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = [all_at if e["k"] == "all" else e["k"] for e in summary]
    for method in methods:
        points = [(x, e["scores"][method]) for x, e in zip(xs, summary, strict=True) if method in e["scores"]]
        if not points:
            continue
        ax.errorbar(
            [p[0] for p in points],
            [100 * p[1]["mean"] for p in points],
            yerr=[100 * p[1]["std"] for p in points],
            marker="o",
            capsize=3,
            label=method,
        )
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"all\n(~{all_at:g})" if e["k"] == "all" else str(e["k"]) for e in summary])
    ax.minorticks_off()
    ax.set_xlabel("labelled examples per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def write_report(result, out_dir, *, overwrite=False, name="fewshot", title="", preamble=""):
    """Write ``NAME.json``, ``NAME.md`` and ``NAME.png`` of a :func:`run_fewshot` result (plus context).

    ``result`` may carry ``extractor`` (what it was trained on) and ``dataset``; both go in the report.
    Existing files are not replaced unless ``overwrite``.
    """
    out_dir = Path(out_dir)
    paths = {ext: out_dir / f"{name}.{ext}" for ext in ("json", "md", "png")}
    if not overwrite:
        existing = [str(p) for p in paths.values() if p.exists()]
        if existing:
            raise ConfigError(f"{', '.join(existing)} already exist(s); choose another folder or pass --force")
    out_dir.mkdir(parents=True, exist_ok=True)
    methods = result["config"]["methods"]
    summary = summarise(result["rows"])
    result = {**result, "summary": summary}
    paths["json"].write_text(
        json.dumps(result, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8"
    )
    all_at = result["config"]["all_per_class"]["median"]
    plot_curves(summary, methods, all_at, paths["png"], title=title)
    lines = [f"# {title or 'Few-shot learning curve'}", ""]
    if preamble:
        lines += [preamble.rstrip(), ""]
    lines += _context_lines(result)
    run = result.get("environment")
    if run:
        lines.append(
            f"- Run: `{run.get('command')}`, code {run.get('source') or 'of unknown commit'}, "
            + ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items())
            + f"; 1-minute load average {run.get('load_average')} at the start; {run.get('created')}."
        )
    lines += [
        "",
        markdown_table(summary, methods),
        "",
        f"![accuracy against examples per class]({paths['png'].name})",
        "",
    ]
    paths["md"].write_text("\n".join(lines), encoding="utf-8")
    return paths


def _context_lines(result):
    config = result["config"]
    lines = []
    dataset = result.get("dataset") or {}
    if dataset:
        split = (
            "official split"
            if dataset.get("official_split")
            else f"stratified split, test share {dataset.get('test_size')}, seed {dataset.get('seed')}"
        )
        lines.append(
            f"- Set learned: **{dataset.get('name')}** ({config['n_classes']} classes; "
            f"{config['n_train']} training images, {config['n_test']} test images, {split})."
        )
    extractor = result.get("extractor") or {}
    if extractor:
        seen = ", ".join(
            f"{d.get('name')} ({d.get('n_train')} training images"
            + (f" of {d.get('n_available')}" if d.get("n_available") not in (None, d.get("n_train")) else "")
            + ")"
            for d in extractor.get("trained_on", [])
        )
        lines.append(
            f"- Extractor `{extractor.get('file')}` (SHA-256 `{str(extractor.get('sha256'))[:16]}…`), "
            f"trained on the training parts of: {seen or 'unknown sets'}."
        )
        if extractor.get("seen_data"):
            lines.append(
                "- **Warning: the extractor has seen the set learned** ("
                + "; ".join(extractor["seen_data"])
                + "): these are not few-shot scores on a new set."
            )
        elif any(d.get("n_sample_hashes") for d in extractor.get("trained_on", [])):
            lines.append(
                "- Leave-one-set-out check: no image of the set learned among the extractor's recorded "
                "training samples, and no set of the same name."
            )
        else:
            lines.append(
                "- Leave-one-set-out check: no set of the same name. The extractor records no sample of its "
                "training images (a comparison's extractor), so only the names could be compared."
            )
    per = config["all_per_class"]
    lines.append(
        f"- k examples per class drawn from the training part ({config['draws']} seeded draws per k; "
        f"`all` is the whole training part, {per['min']}–{per['max']} per class, one draw); "
        "every method gets the same draws; scores on the whole test part."
    )
    cnn = config["cnn"]
    lines.append(
        f"- CNN from scratch: `{cnn.get('architecture', 'default')}` architecture, at least "
        f"{cnn['min_epochs']} epochs and {cnn['min_steps']} gradient steps (at most {cnn['max_epochs']} "
        f"epochs), batch {cnn.get('batch_size', 128)}, no early stop before the last epoch (the best "
        "validation epoch's weights kept; the best training-loss epoch's where a draw cannot hold out "
        "one image of each class), the library's other defaults (augmentation on). "
        f"SVC+PCA: {config['pca_components']} components, capped at the number of examples − 1. "
        f"SVMs: {config['svm']}. Hybrid features: extracted once in "
        f"{format_seconds(result.get('feature_seconds', 0.0))}."
    )
    if "hybrid" in config["methods"] and "hybrid_features" in config:
        features = {
            "embedding": "the extractor's embedding",
            "spatial": "the extractor's embedding and its last convolutional blocks' means over a 2x2 grid",
        }.get(config["hybrid_features"], config["hybrid_features"])
        views = config.get("views", 0)
        lines.append(
            f"- Hybrid: its SVM sees {features}"
            + (
                f"; each drawn example adds the features of {views} random augmented views of itself (fewer "
                f"where the rows would pass {config.get('max_view_rows')}: `views` in the JSON rows)."
                if views
                else "; no augmented views."
            )
        )
    return lines


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def run_fewshot_cli(
    extractor_path,
    spec,
    out_dir,
    *,
    ks=DEFAULT_KS,
    draws=3,
    methods=METHODS,
    cnn_epochs=30,
    cnn_min_steps=MIN_CNN_STEPS,
    architecture="default",
    n_components=50,
    features=DEFAULT_FEATURES,
    views=DEFAULT_VIEWS,
    test_size=0.2,
    random_state=0,
    extractor_sha256=None,
    allow_seen=False,
    overwrite=False,
    verbose=1,
    command=None,
):
    """``cnnsvm fewshot``: load, check leave-one-set-out, run the curves, write the report."""
    from cnnsvm.experiments.transfer import check_unseen, load_extractor, trained_sets

    out_dir = Path(out_dir)
    if not overwrite:
        existing = [str(out_dir / f"fewshot.{e}") for e in ("json", "md", "png") if (out_dir / f"fewshot.{e}").exists()]
        if existing:
            raise ConfigError(f"{', '.join(existing)} already exist(s); choose another --out or pass --force")
    extractor, meta = load_extractor(extractor_path, sha256=extractor_sha256)
    split = load_split(spec, test_size=test_size, random_state=random_state)
    findings = check_unseen(meta, split, allow_seen=allow_seen, warn=lambda m: log(f"cnnsvm fewshot: {m}"))
    if verbose:
        log(
            f"[fewshot] learning {split.train.describe()}; test part {len(split.test)} images; extractor "
            f"trained on {', '.join(d.get('name', '?') for d in trained_sets(meta)) or 'unrecorded sets'}"
        )
    result = run_fewshot(
        extractor,
        split.train,
        split.test,
        ks=ks,
        draws=draws,
        methods=methods,
        cnn_params={"architecture": architecture, "epochs": cnn_epochs},
        cnn_min_steps=cnn_min_steps,
        n_components=n_components,
        features=features,
        views=views,
        random_state=random_state,
        verbose=verbose,
    )
    result["dataset"] = {
        "spec": str(spec),
        "name": split.name,
        "official_split": split.official,
        "test_size": test_size,
        "seed": random_state,
    }
    result["extractor"] = extractor_summary(extractor_path, meta, findings)
    if command:
        result["command"] = command
    from cnnsvm.experiments.environment import environment_record

    # what repeats the run: versions, machine, code commit, load (not the working folder: no machine paths)
    record = environment_record([random_state], command=command)
    result["environment"] = {k: v for k, v in record.items() if k != "cwd"}
    paths = write_report(result, out_dir, overwrite=overwrite, title=f"Few-shot: {split.name}")
    print(markdown_table(summarise(result["rows"]), result["config"]["methods"]))
    print(f"wrote {paths['md']}, {paths['json'].name}, {paths['png'].name}")
    return result


def extractor_summary(path, meta, findings):
    """What a result records about the extractor it used: file, SHA-256, sets seen, guard findings."""
    from cnnsvm.experiments.transfer import trained_sets

    return {
        "file": Path(path).name,
        "sha256": (meta.get("payload") or {}).get("sha256"),
        "trained_on": [
            {
                **{k: d.get(k) for k in ("name", "n_train", "n_available", "n_classes", "image_shape", "train_sha256")},
                "n_sample_hashes": len(d.get("sample_hashes") or []),
            }
            for d in trained_sets(meta)
        ],
        "seen_data": list(findings),
    }

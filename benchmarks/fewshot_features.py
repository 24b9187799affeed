"""Choosing the few-shot hybrid's settings on validation data: its features and views, or its SVM.

The few-shot setting of issue 13: NHCD consonants learned from k examples per
class on the extractor of ``benchmarks/fewshot.py`` (trained on MNIST, NHCD
numerals and vowels; the same file, trained there or here with the same
settings). The consonants' test part is never read. Their training part (the
stratified 80/20 split of seed 0) is split again, stratified 80/20 with seed 1:
the k examples are drawn from the first part, and every variant is scored on
the second, the validation part.

Two grids of variants (``--grid``):

- ``features`` (the default): what the SVM sees (``features``: the embedding, or
  the embedding with the last convolutional blocks' grid means,
  :mod:`cnnsvm.features.spatial`) times ``views`` (0, or 9 random augmented views
  of each drawn example among the training rows). Writes
  benchmarks/results/fewshot_features.md and .json.
- ``svm``: on the chosen features and views (spatial, 9), the RBF SVC's ``C``
  (1, 10, 100) times ``gamma`` (``"scale"``, and half and twice 1 / n_features,
  which ``"scale"`` is on standardised features where no column is constant),
  and more views (19, 39) at the default SVC. Writes fewshot_svm.md and .json.

Draws are seeded apart from those of ``fewshot.py`` (``random_state`` 100), and
every variant gets the same draws.

Usage (from the repository root, on a clean tree)::

    nice -n 10 python benchmarks/fewshot_features.py [--data-dir ../shared/datasets] [--ks 5,20,50] [--grid svm]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fewshot as fewshot_bench  # noqa: E402
from _perf_util import cores, cpu_model, cpu_shared, git_commit, load_average  # noqa: E402

from cnnsvm.progress import log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: (features, views, SVM settings) of each grid; ``{}`` is make_svm's defaults.
GRIDS = {
    "features": (("embedding", 0, {}), ("embedding", 9, {}), ("spatial", 0, {}), ("spatial", 9, {})),
    "svm": tuple(
        ("spatial", 9, {"C": C, **({} if factor is None else {"gamma": factor})})
        for C in (1.0, 10.0, 100.0)
        for factor in (None, "0.5/n", "2/n")
    )
    + (("spatial", 19, {}), ("spatial", 39, {})),
}
#: Seed of the draws: apart from fewshot.py's (0), whose draws come from the whole training part.
DRAW_SEED = 100


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/datasets", help="folder of mnist.npz and nhcd_*.npz")
    p.add_argument("--work", default="runs/fewshot-bench", help="where fewshot.py keeps the extractor file")
    p.add_argument("--mnist-subset", type=int, default=12000, help="as fewshot.py (names the extractor file)")
    p.add_argument("--epochs", type=int, default=30, help="as fewshot.py")
    p.add_argument("--max-minutes", type=float, default=15.0, help="as fewshot.py")
    p.add_argument("--retrain", action="store_true", help="train the extractor again even if its file exists")
    p.add_argument("--ks", default="5,20,50", help="examples per class (default 5,20,50)")
    p.add_argument("--draws", type=int, default=3)
    p.add_argument("--grid", choices=sorted(GRIDS), default="features", help="which settings to compare")
    p.add_argument("--out", default=str(RESULTS), help="results folder")
    p.add_argument("--report-only", action="store_true", help="rewrite the grid's .md from its saved .json (no run)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    stem = f"fewshot_{args.grid}"
    if args.report_only:
        saved = json.loads((Path(args.out) / f"{stem}.json").read_text(encoding="utf-8"))
        print(write_markdown(saved, args.out, stem))
        return 0
    import numpy as np
    from sklearn.model_selection import train_test_split

    from cnnsvm.data import load_split
    from cnnsvm.experiments import fewshot
    from cnnsvm.experiments.transfer import check_unseen, trained_sets
    from cnnsvm.pipeline import library_versions

    data_dir = Path(args.data_dir)
    if not data_dir.is_absolute():
        data_dir = (ROOT / data_dir).resolve()
    work = Path(args.work) if Path(args.work).is_absolute() else ROOT / args.work
    command = "python benchmarks/fewshot_features.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    context = {
        "command": command.strip(),
        "commit": git_commit(ROOT),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": cores()},
        "load_average_start": load_average(),
        "versions": library_versions(),
    }
    extractor, meta, path, trained_here = fewshot_bench.get_extractor(args, data_dir, work)
    split = load_split(f"npz:{data_dir / 'nhcd_consonants.npz'}?name=nhcd_consonants", test_size=0.2, random_state=0)
    check_unseen(meta, split)  # raises if the consonants reached the extractor
    train = split.train
    at_pool, at_val = train_test_split(np.arange(len(train)), test_size=0.2, stratify=train.labels, random_state=1)
    pool, validation = train.subset(at_pool), train.subset(at_val)
    log(f"draws from {len(pool)} training images, validation on {len(validation)} (the test part is not read)")
    ks = fewshot.parse_ks(args.ks)
    rows = []
    for features, views, svm in GRIDS[args.grid]:
        used = _svm_params(svm, extractor, features)
        part = fewshot.run_fewshot(
            extractor,
            pool,
            validation,
            ks=ks,
            draws=args.draws,
            methods=["hybrid"],
            features=features,
            views=views,
            svm_params=used,
            random_state=DRAW_SEED,
        )
        rows += [{**r, "features": features, "views_asked": views, "svm": svm, "svm_used": used} for r in part["rows"]]
    context["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    context["load_average_end"] = load_average()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        **context,
        "extractor": {
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "trained_here": trained_here,
            "epochs_run": len(extractor.history_.get("loss", [])),
            "trained_on": [d.get("name") for d in trained_sets(meta)],
        },
        "split": {"pool": len(pool), "validation": len(validation), "seed": 1, "draw_seed": DRAW_SEED},
        "draws": args.draws,
        "ks": ks,
        "rows": rows,
    }
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(write_markdown(result, out, stem))
    return 0


def _svm_params(svm, extractor, features):
    """``svm`` with a gamma written ``"f/n"`` made ``f / n_features`` of the extractor's ``features``."""
    gamma = svm.get("gamma")
    if not isinstance(gamma, str) or not gamma.endswith("/n"):
        return svm
    from cnnsvm.features import FrozenExtractor

    width = len(FrozenExtractor(extractor, features=features).get_feature_names_out())
    return {**svm, "gamma": float(gamma[:-2]) / width}


def _svm_label(svm):
    C, gamma = svm.get("C", 10.0), svm.get("gamma", "scale")
    if not isinstance(gamma, str):
        shown = f"{gamma:g}"
    elif gamma.endswith("/n"):
        shown = f"{gamma} features"
    else:
        shown = gamma
    label = f"C={C:g}, gamma={shown}"
    return label + (" (default)" if C == 10.0 and gamma == "scale" else "")


def write_markdown(result, out, stem="fewshot_features"):
    """Write ``stem``.md from the saved results; returns its text."""
    import numpy as np

    from cnnsvm.experiments import fewshot

    ks = result.get("ks") or sorted({r["k"] for r in result["rows"]}, key=lambda k: (k == "all", str(k).zfill(6)))
    draws = result.get("draws") or max(r["draw"] for r in result["rows"]) + 1
    table = {}
    for r in result["rows"]:
        key = (r["features"], r["views_asked"], _svm_label(r.get("svm") or {}))
        table.setdefault(key, {}).setdefault(r["k"], []).append(r["accuracy"])
    with_svm = any(r.get("svm") for r in result["rows"])
    machine, split = result["machine"], result["split"]
    usable = machine["cores"]["usable"] if isinstance(machine["cores"], dict) else machine["cores"]
    shared = cpu_shared(result["load_average_start"], result["load_average_end"], usable)
    lines = [
        "# Few-shot " + ("SVM settings" if with_svm else "features") + ": chosen on validation data",
        "",
        f"Command: `{result['command']}` — commit `{result['commit']}` — machine: {machine['cpu']}, "
        f"{usable} usable cores" + (", shared with other jobs" if shared else "") + " — load average at start "
        f"{result['load_average_start']}, at the end {result['load_average_end']} — {result['started']} to "
        f"{result['finished']}.",
        "",
        f"NHCD consonants learned from k examples per class on the extractor `{result['extractor']['file']}` "
        f"(trained on {', '.join(result['extractor']['trained_on'])}; never on consonants). The test part is "
        f"not read: the draws come from {split['pool']} images of the consonants' training part, the scores from "
        f"the other {split['validation']} (stratified, seed {split['seed']}). {draws} draws per k (seed "
        f"{split['draw_seed']}), the same for every variant; the SVM is "
        + ("an RBF SVC with the settings in the table" if with_svm else "make_svm's default (C=10, gamma='scale', RBF)")
        + ". Validation accuracy, mean ± std over the draws:",
        "",
        "| features | views | " + ("SVM | " if with_svm else "") + " | ".join(f"k = {k} (%)" for k in ks) + " |",
        "|---|---|" + ("---|" if with_svm else "") + "---|" * len(ks),
    ]
    for (features, views, svm), by_k in table.items():
        cells = [f"{100 * np.mean(by_k[k]):.1f} ± {100 * np.std(by_k[k], ddof=1):.1f}" for k in ks]
        lines.append(f"| {features} | {views} | " + (f"{svm} | " if with_svm else "") + " | ".join(cells) + " |")
    added = {}
    for r in result["rows"]:
        if r["views_asked"]:
            added.setdefault(r["k"], set()).add(r["views"])
    if added:
        lines += [
            "",
            f"Views asked for are capped so that examples and views stay under {fewshot.MAX_VIEW_ROWS:,} training "
            "rows; added per "
            "example: "
            + ", ".join(f"k = {k}: {'/'.join(str(v) for v in sorted(added[k]))}" for k in ks if k in added)
            + ".",
        ]
    lines.append("")
    text = "\n".join(lines)
    (Path(out) / f"{stem}.md").write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    raise SystemExit(main())

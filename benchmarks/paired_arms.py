"""Compare two arms of ``ensemble_selection.py`` runs on the same validation split, seed by seed.

Each arm is a list of results files of single extractors (one per network seed, in the same seed
order in both arms), all scored on one split. Per seed and pooled over the seeds, for the hybrid
(``--row``, default ``spatial/member0``) and the extractor's own softmax (``softmax-mean``): errors,
AURC, rejection for 99.9 % and 100 % reliability, and McNemar's exact test on the rows only one arm
answered right (``"wrong"`` in the files, which ``ensemble_selection.py`` writes).

    python benchmarks/paired_arms.py --a plain_s0.json plain_s1.json --b elastic_s0.json elastic_s1.json \\
        --names plain,elastic --out comparison.md
"""

from __future__ import annotations

import argparse
import json

from cnnsvm.experiments.reports import markdown_table
from cnnsvm.experiments.significance import mcnemar_p_value


def read(path, dataset="mnist"):
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    return results, results["sets"][dataset]


def describe(row, n):
    """``errors / accuracy / AURC / rejections`` of one summary row, as table cells."""
    errors = len(row["wrong"])
    reject = row["rejection_for_reliability"]
    return [
        str(errors),
        f"{100 * (1 - errors / n):.2f}",
        f"{100 * row['aurc']:.4f}",
        f"{100 * reject['0.999']:.2f}",
        f"{100 * reject['1']:.1f}",
    ]


def compare(paths_a, paths_b, names, row_key, dataset="mnist"):
    """Markdown: one row per arm, seed and summary row, then the paired tests.

    Every file must score the same validation split (dataset, split seed, size): the tests pair rows by index.
    """
    header = [
        "arm",
        "seed",
        "epochs run",
        "reads",
        "errors",
        "accuracy (%)",
        "AURC (%)",
        "rej. 99.9 % (%)",
        "rej. 100 % (%)",
    ]
    table, tests = [], []
    rows = ((row_key, "hybrid"), ("softmax-mean", "softmax"))
    pooled = {name: {key: set() for key, _ in rows} for name in names}
    expected = None
    for seed_index, (path_a, path_b) in enumerate(zip(paths_a, paths_b, strict=True)):
        arms = {}
        for name, path in zip(names, (path_a, path_b), strict=True):
            results, part = read(path, dataset)
            split = (results["dataset"], results["split_seed"], part["n_val"])
            expected = expected or split
            if split != expected:
                raise SystemExit(
                    f"{path} scores another validation split {split} than {expected}: pair one split's files"
                )
            member = results["members"][0]
            arms[name] = part
            for key, label in rows:
                table.append(
                    [name, member["random_state"], member["epochs_run"], label, *describe(part[key], part["n_val"])]
                )
                pooled[name][key] |= {(seed_index, r) for r in part[key]["wrong"]}
        for key, label in rows:
            a, b = (set(arms[name][key]["wrong"]) for name in names)
            tests.append((f"seed index {seed_index}, {label}", len(b - a), len(a - b)))
    for key, label in rows:
        a, b = (pooled[name][key] for name in names)
        tests.append((f"pooled, {label}: {len(a)} against {len(b)} errors", len(b - a), len(a - b)))
    paired = [[what, a_only, b_only, f"{mcnemar_p_value(a_only, b_only):.3g}"] for what, a_only, b_only in tests]
    tests_header = ["paired test", f"only {names[0]} right", f"only {names[1]} right", "McNemar exact p"]
    return markdown_table(header, table) + "\n\n" + markdown_table(tests_header, paired) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", nargs="+", required=True, help="results files of the first arm, one per seed")
    ap.add_argument("--b", nargs="+", required=True, help="results files of the second arm, same seeds, same order")
    ap.add_argument("--names", default="a,b", help="the two arms' names, comma-separated")
    ap.add_argument("--row", default="spatial/member0", help="the hybrid's row in the files")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    names = [n.strip() for n in args.names.split(",")]
    if len(names) != 2 or len(args.a) != len(args.b):
        ap.error("give two names and as many files in --a as in --b")
    text = compare(args.a, args.b, names, args.row, args.dataset)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()

"""Teaching a served hybrid a new class: how long fitting its SVM pairs takes, and whether it is recognised.

A hybrid for NHCD consonants (36 classes) is fitted on a frozen generic extractor
that never saw NHCD numerals or consonants (``--extractor``; by default the newest one
``benchmarks/fewshot.py`` trained, from MNIST, numerals and vowels, is refused for having
seen the numerals taught: pass e.g. an MNIST-only comparison's extractor), as
``cnnsvm train --extractor`` does. It is then taught, as ``serve --allow-teach``
does (:class:`cnnsvm.serve.teach.Teacher`), new classes from 3 examples each:
NHCD numerals 0, 1, 2, ... (symbols it has no class for), taken from the
numerals' test part (``--part train``: from their training part, for choosing a
setting without the test part). Each example brings the features of ``--views``
random augmented views of itself (several counts: the same model and examples
taught once per count, from scratch). Recorded per taught class: the time to fit
its SVM pairs (one small RBF SVM per pair of the new class and another class; the
model's own pairs and temperature are kept), and the share of that numeral's
other images (of the same part) read as the new class; and the consonants' test
accuracy before and after teaching.

Writes benchmarks/results/<name>.md and <name>.json (``--name``, default teach).

Usage (from the repository root, with the extractor of an MNIST-only comparison)::

    nice -n 10 python benchmarks/teach.py --extractor runs/mnist/generic/seed0/augmented/model.joblib \
        [--classes 5] [--views 0,9] [--part train --name teach_validation]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf_util import cores, cpu_model, cpu_shared, git_commit, load_average, saw_sets  # noqa: E402

from cnnsvm.progress import log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--extractor", default=None, help="default: the newest extractor under runs/fewshot-bench")
    p.add_argument("--data-dir", default="../shared/datasets")
    p.add_argument("--classes", type=int, default=5, help="new classes taught, one after the other")
    p.add_argument("--examples", type=int, default=3, help="examples per taught class")
    p.add_argument(
        "--views", default=None, help="augmented views per example, comma-separated counts (default: the server's)"
    )
    p.add_argument("--part", choices=("test", "train"), default="test", help="the numerals' part taught and scored")
    p.add_argument("--name", default="teach", help="stem of the results files")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)

    from cnnsvm.data import load_split
    from cnnsvm.experiments.transfer import hybrid_for_extractor, load_extractor
    from cnnsvm.pipeline import library_versions
    from cnnsvm.serve.teach import DEFAULT_VIEWS, Teacher, _svc_of

    view_counts = [DEFAULT_VIEWS] if args.views is None else [int(v) for v in args.views.split(",")]

    data_dir = Path(args.data_dir)
    if not data_dir.is_absolute():
        data_dir = (ROOT / data_dir).resolve()
    if args.extractor:
        path = Path(args.extractor)
    else:
        found = sorted((ROOT / "runs" / "fewshot-bench").glob("*.joblib"), key=lambda q: q.stat().st_mtime)
        if not found:
            sys.exit("no extractor under runs/fewshot-bench: run benchmarks/fewshot.py first, or pass --extractor")
        path = found[-1]
    context = {
        "command": "python benchmarks/teach.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "commit": git_commit(ROOT),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": cores()},
        "versions": library_versions(),
        "load_average_start": load_average(),
    }
    extractor, meta = load_extractor(path)
    saw = saw_sets(meta)
    if not saw or any(name in s.lower() for s in saw for name in ("numerals", "consonants")):
        sys.exit(
            f"the extractor saw {', '.join(saw) or 'unrecorded sets'}: pass one that never saw NHCD numerals or "
            "consonants (the set learned and the classes taught)"
        )
    consonants = load_split(f"npz:{data_dir / 'nhcd_consonants.npz'}?name=nhcd_consonants")
    numerals = getattr(load_split(f"npz:{data_dir / 'nhcd_numerals.npz'}?name=nhcd_numerals"), args.part)
    start = time.perf_counter()
    model = hybrid_for_extractor(extractor, n_jobs=-1).fit(consonants.train.images, consonants.train.labels)
    fit_seconds = time.perf_counter() - start
    before = model.predict(consonants.test.images)
    base_accuracy = float(np.mean(before == consonants.test.labels))
    n_support = int(len(_svc_of(model.steps[-1][1]).support_vectors_))
    log(f"hybrid fitted in {fit_seconds:.1f}s, {n_support} support vectors, test accuracy {base_accuracy:.4f}")
    runs = [
        _teach(Teacher(model, list(consonants.train.class_names), views=v), numerals, consonants.test, before, args)
        for v in view_counts
    ]
    context["load_average_end"] = load_average()
    result = {
        "context": context,
        "extractor": {"file": path.name, "trained_on": saw},
        "hybrid_fit_seconds": fit_seconds,
        "n_support_vectors": n_support,
        "consonants_accuracy_before": base_accuracy,
        "numerals_part": args.part,
        "runs": runs,
    }
    out = Path(args.out)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    header = " | ".join(f"{r['views']} views: pairs fitted / features (ms), read as it" for r in runs)
    rows = "\n".join(
        f"| {first['name']} | "
        + " | ".join(
            f"{t['refit_ms']:.0f} / {t['feature_ms']:.0f}, {100 * t['recognised']:.1f} % of {t['n_test']}"
            for t in (r["taught"][i] for r in runs)
        )
        + " |"
        for i, first in enumerate(runs[0]["taught"])
    )
    means = " | ".join(f"**{100 * np.mean([t['recognised'] for t in r['taught']]):.1f} %**" for r in runs)
    refits = [t["refit_ms"] for r in runs for t in r["taught"]]
    after = "; ".join(
        f"{r['views']} views: {100 * r['consonants_accuracy_after']:.2f} % ({100 * r['changed']:.2f} % of the answers "
        f"changed, {100 * r['to_taught']:.2f} % to a taught class)"
        for r in runs
    )
    shared = cpu_shared(
        context["load_average_start"], context["load_average_end"], context["machine"]["cores"]["usable"]
    )
    busy = "shared with other jobs (times are upper bounds)" if shared else "1-minute load at most the core count"
    text = f"""# Teaching a served hybrid a new class (`serve --allow-teach`)

Command: `{context["command"]}` — commit `{context["commit"]}` — machine: {context["machine"]["cpu"]},
{context["machine"]["cores"]["usable"]} usable cores, {busy} — load average
{context["load_average_start"]} at start, {context["load_average_end"]} at the end — {context["started"]}.
Versions: {", ".join(f"{k} {v}" for k, v in context["versions"].items())}.

A hybrid for NHCD consonants (36 classes) on the frozen extractor `{path.name}` (trained on
{", ".join(result["extractor"]["trained_on"])}; `hybrid_for_extractor` defaults, as `cnnsvm train --extractor`
uses them: exact RBF SVC, temperature calibration),
fitted in {fit_seconds:.1f} s (features + scaler + SVM, {len(consonants.train)} images), {n_support} support vectors,
test accuracy {100 * base_accuracy:.2f} %. Then taught, one after the other, {args.classes} new classes
(NHCD numerals, {args.examples} examples each from the numerals' {args.part} part) as the web app does: the model's
SVM kept as it is, plus one RBF SVM for each pair of the new class and another class (a `PairwiseSVC`, the model's C
and kernel width), fitted on the examples' features (and those of their augmented views) and the other class's
support vectors; the model's temperature kept. Taught once per count of views, from the same model and examples.
"Read as it": the share of that numeral's other images of the {args.part} part that the taught model reads as the
new class.

| taught class | {header} |
|---|{"---|" * len(runs)}
| mean | {means} |
{rows}

SVM pairs fitted in {min(refits):.0f}–{max(refits):.0f} ms per taught class (issue 13: "well under a second").
Consonants' test accuracy after teaching the {args.classes} classes (before: {100 * base_accuracy:.2f} %): {after}.
"""
    (out / f"{args.name}.md").write_text(text, encoding="utf-8")
    log(f"wrote {out / f'{args.name}.md'}")
    return 0


def _teach(teacher, numerals, consonants_test, before, args):
    """Teach the first ``args.classes`` numerals one after the other; what each costs and how it is read."""
    from cnnsvm.inference import prepare_for_model

    rng = np.random.default_rng(0)  # the same examples for every count of views
    taught = []
    for c in range(args.classes):
        members = np.flatnonzero(numerals.labels == c)
        chosen = rng.choice(members, size=args.examples, replace=False)
        rest = np.setdiff1d(members, chosen)
        name = f"numeral {numerals.class_names[c]}"
        batch = prepare_for_model(teacher.base_model, list(numerals.images[chosen]), ink=numerals.ink)
        start = time.perf_counter()
        features = teacher.features(batch)
        feature_seconds = time.perf_counter() - start
        answer = teacher.teach(name, features)
        others = prepare_for_model(teacher.model, list(numerals.images[rest]), ink=numerals.ink)
        predicted = teacher.model.predict(others)  # read as the web app reads an upload
        recognised = float(np.mean(predicted == answer["label"]))
        taught.append(
            {
                "name": name,
                "label": answer["label"],
                "refit_ms": answer["refit_ms"],
                "feature_ms": round(1000 * feature_seconds, 1),
                "n_test": int(len(rest)),
                "recognised": recognised,
            }
        )
        log(
            f"{teacher.n_views} views, taught {name}: refit {answer['refit_ms']} ms, {recognised:.1%} of "
            f"{len(rest)} other images read as it"
        )
    answers = teacher.model.predict(consonants_test.images)
    return {
        "views": teacher.n_views,
        "taught": taught,
        "consonants_accuracy_after": float(np.mean(answers == consonants_test.labels)),
        "changed": float(np.mean(answers != before)),
        "to_taught": float(np.mean(~np.isin(answers, teacher.base_model.classes_))),
    }


if __name__ == "__main__":
    sys.exit(main())

"""Markdown report of benchmarks/perf.py (perf.md) from its results (perf.json)."""

from __future__ import annotations

from cnnsvm.experiments.environment import STEAL_UPPER_BOUND

GIB = 1024.0


def _s(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def _spread(summ, scale=1.0, digits=2):
    """ "median (min–max)" of a summary."""
    if not summ:
        return "–"
    return f"{summ['median'] * scale:.{digits}f} ({summ['min'] * scale:.{digits}f}–{summ['max'] * scale:.{digits}f})"


def _iqr(summ, digits=0):
    if not summ:
        return "–"
    return f"{summ['median']:.{digits}f} (IQR {summ['q1']:.{digits}f}–{summ['q3']:.{digits}f})"


def _ok(flag):
    return "n/a" if flag is None else ("**pass**" if flag else "**FAIL**")


def cpu_sentence(cpu, span):
    """How the machine's CPU time was spent during ``span``.

    Parameters
    ----------
    cpu : dict
        Shares from :func:`cnnsvm.experiments.environment.cpu_shares`.
    span : str
        What was measured ("the run", "the section").

    Returns
    -------
    str
        Busy, idle and stolen percentages; times are called upper bounds from
        ``STEAL_UPPER_BOUND`` of stolen time on.
    """
    return (
        f"CPU time during {span}: {100 * cpu['busy']:.0f} % busy, {100 * cpu['idle']:.0f} % idle, "
        f"{100 * cpu['steal']:.0f} % taken by the host of this virtual machine (steal)"
        + (": times are upper bounds." if cpu["steal"] >= STEAL_UPPER_BOUND else ".")
    )


def bars(data):
    sec = data["sections"]
    quick = data["meta"]["mode"] == "quick"
    rows = []
    tr = sec.get("train") or {}
    if "ratio" in tr:
        rows.append(
            (
                "CNN inside cnnsvm trains at <= 1.1x the reference's time per epoch",
                f"{tr['ratio']:.3f}x (per repeat: "
                + ", ".join(f"{r:.3f}" for r in tr["ratio_per_repeat"])
                + (f"; fastest epochs {tr['ratio_of_minima']:.3f}x" if "ratio_of_minima" in tr else "")
                + ")",
                tr["ratio"] <= 1.1,
            )
        )
    inf = sec.get("inference") or {}
    if "ratios" in inf and "1024" in inf["ratios"]:
        r = inf["ratios"]["1024"]["hybrid_vs_bare"]
        rows.append(
            (
                "Hybrid predict at batch 1024: >= 0.7x the images/s of the bare Keras forward pass",
                f"{r:.2f}x (reference: {inf['ratios']['1024']['bare_embedding_reference']})",
                r >= 0.7,
            )
        )
    if "latency" in inf:
        lat = inf["latency"]
        ok = lat["ratio_median"] <= 2 and lat["hybrid_ms"]["median"] < 15
        rows.append(
            (
                "Warm single-image predict: <= 2x the bare model call and < 15 ms",
                f"{lat['hybrid_ms']['median']:.2f} ms median, p95 {lat['hybrid_ms']['p95']:.2f} ms; "
                f"{lat['ratio_median']:.2f}x the bare call ({lat['bare_ms']['median']:.2f} ms, "
                f"{lat['bare_reference']})",
                ok,
            )
        )
    mem = (sec.get("memory") or {}).get("extract")
    if mem:
        over = mem["peak_above_load_mib"]
        rows.append(
            (
                "Feature extraction of 60000 images: peak < 1.5 GiB above the loaded dataset",
                f"{over:.0f} MiB for {mem['n']} images",
                None if mem["n"] < 60000 else over < 1.5 * GIB,
            )
        )
    svc = sec.get("svc") or {}
    if svc.get("table"):
        last = svc["table"][-1]
        ok = last["fit_speedup"] >= 5 and last["accuracy_loss_points"] <= 0.2
        rows.append(
            (
                f"Scalable SVM at {last['n_train']} samples: >= 5x faster fit, <= 0.2 points lost",
                f"{last['fit_speedup']:.1f}x faster, {last['accuracy_loss_points']:+.2f} points "
                f"({100 * last['exact']['accuracy']:.2f} % exact, {100 * last['approx']['accuracy']:.2f} % approx)",
                None if last["n_train"] < 60000 else ok,
            )
        )
    mn = sec.get("mnist") or {}
    if "test_accuracy" in mn:
        ok = mn["test_accuracy"] >= 0.996 and mn["fit_seconds"] <= 15 * 60
        rows.append(
            (
                "MNIST hybrid: >= 99.6 % test accuracy with <= 15 min of training",
                f"{100 * mn['test_accuracy']:.2f} % after {mn['fit_seconds'] / 60:.1f} min "
                f"({mn['n_train']} training images)",
                None if mn["n_train"] < 60000 else ok,
            )
        )
    lines = ["| bar | measured | verdict |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {_ok(c)} |" for a, b, c in rows]
    time_rows = time_to_accuracy_bars(sec)
    if time_rows:
        lines += ["", 'Bars of the issue "time to accuracy" (ratios from this run):', ""]
        lines += ["| bar | measured | verdict |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {_ok(c)} |" for a, b, c in time_rows]
    if quick:
        lines += [
            "",
            "Quick mode: small subsets, so the size-bound bars read n/a; the ratios are still measured side by side.",
        ]
    return lines


def time_to_accuracy(fit, target):
    """Training seconds of the reference until its first epoch at ``target`` test accuracy (reached or not)."""
    elapsed = 0.0
    for seconds, accuracy in zip(fit["epoch_times"], fit["test_accuracy_per_epoch"], strict=False):
        elapsed += seconds
        if accuracy >= target:
            return {"target": target, "seconds": elapsed, "reached": True}
    return {"target": target, "seconds": elapsed, "reached": False}


def time_to_accuracy_bars(sec):
    """(bar, measured, verdict) rows: 5-minute MNIST hybrid, 3x the reference's time, 1.4x and 1.3x throughput."""
    rows = []
    mn, ref = sec.get("mnist") or {}, sec.get("reference") or {}
    full = mn.get("n_train", 0) >= 60000
    if "test_accuracy" in mn:
        ok = mn["test_accuracy"] >= 0.996 and mn["fit_seconds"] <= 300
        rows.append(
            (
                "MNIST hybrid: >= 99.6 % test accuracy with <= 5 min of training",
                f"{100 * mn['test_accuracy']:.2f} % after {mn['fit_seconds'] / 60:.1f} min",
                ok if full else None,
            )
        )
    reach = (
        time_to_accuracy(ref, mn["test_accuracy"])
        if "test_accuracy_per_epoch" in ref and "test_accuracy" in mn
        else None
    )
    if reach and "fit_seconds" in mn:
        ratio = reach["seconds"] / mn["fit_seconds"]
        measured = (
            f"reference reached {100 * reach['target']:.2f} % after {reach['seconds'] / 60:.1f} min: {ratio:.2f}x"
            if reach["reached"]
            else f"reference never reached {100 * reach['target']:.2f} % in {reach['seconds'] / 60:.1f} min "
            f"of training ({len(ref['epoch_times'])} epochs; at least {ratio:.2f}x)"
        )
        rows.append(
            (
                "The reference takes >= 3x as long to reach the hybrid's test accuracy (or never does)",
                measured,
                (not reach["reached"] or ratio >= 3) if full else None,
            )
        )
    tr = sec.get("train") or {}
    if "ratio" in tr:
        rows.append(
            (
                "Training throughput (images/s per epoch) >= 1.4x the float32 reference",
                f"{1 / tr['ratio']:.2f}x (precision {tr.get('precision', 'float32')})",
                1 / tr["ratio"] >= 1.4,
            )
        )
    ratios = (sec.get("inference") or {}).get("ratios") or {}
    if "1024" in ratios:
        r = ratios["1024"]["hybrid_vs_bare"]
        rows.append(
            (
                "Hybrid batch inference at batch 1024 >= 1.3x the float32 bare Keras forward pass",
                f"{r:.2f}x",
                r >= 1.3,
            )
        )
    return rows


def render(data):
    meta, sec = data["meta"], data["sections"]
    v = meta["versions"]
    lines = [
        "# Performance: cnnsvm against plain references"
        + (" (QUICK MODE: development subsets)" if meta["mode"] == "quick" else ""),
        "",
        f"Command: `{meta['command']}` (from the repository root), started {meta['started']}"
        + (f", finished {meta['finished']} ({meta['run_seconds'] / 60:.1f} min)" if meta.get("finished") else "")
        + ".",
        f"Machine: {meta['cpu']}, {meta['cores']['logical']} logical cores ({meta['cores']['usable']} usable). "
        f"Load average (1, 5, 15 min) at start {meta['load_at_start']}"
        + (f", at end {meta['load_at_end']}" if meta.get("load_at_end") else "")
        + ": a load above the core count means other work shared the CPU during the run."
        + (f" {cpu_sentence(meta['cpu_time'], 'the run')}" if meta.get("cpu_time") else ""),
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + f". Commit: {meta.get('commit')}.",
        "",
        "Every ratio compares two things measured in the same run, interleaved where possible; absolute "
        "times are facts about this run on this machine. Spreads are min–max unless marked IQR.",
        "",
        "## Bars",
        "",
        *bars(data),
    ]
    for name, fn in (
        ("train", _train),
        ("mnist", _mnist),
        ("reference", _reference),
        ("totals", _totals),
        ("inference", _inference),
        ("svc", _svc),
        ("memory", _memory),
    ):
        value = sec.get(name)
        if value is None:
            continue
        lines += (
            ["", *fn(value, data)]
            if "error" not in value
            else ["", f"## {name}", "", f"The section failed: `{value['error']}`"]
        )
        m = value.get("_meta")
        if m:
            lines += [
                "",
                f"_Section time {m['seconds']:.0f} s; load average before {m.get('load_before')}, "
                f"after {m.get('load_after')}"
                + (f". {cpu_sentence(m['cpu_time'], 'the section')}" if m.get("cpu_time") else ".")
                + "_",
            ]
    return "\n".join(lines) + "\n"


def _train(t, data):
    c, r = t["cnnsvm"], t["reference"]
    return [
        "## Training: seconds per epoch, cnnsvm against plain Keras",
        "",
        f"{t['n_images']} MNIST training images ({t['n_train_per_epoch']} per epoch after the 10 % validation "
        f"split), batch {t['batch_size']}, {t['epochs']} epochs per fit, same augmentation, network, optimizer "
        f"and callbacks; cnnsvm = `CNNFeatureExtractor.fit` on the ImagePreprocessor output, reference = "
        f"`benchmarks/reference_keras.py` (no cnnsvm code). Fits alternate (cnnsvm first in even repeats). "
        f"Epoch times include the validation pass.",
        "",
        "| | first epoch (tracing), s | later epochs, s: median (min–max) | epochs timed |",
        "|---|---|---|---|",
        f"| cnnsvm | {_spread(c['first_epoch'])} | {_spread(c['later_epochs'])} | {c['later_epochs']['n']} |",
        f"| reference Keras | {_spread(r['first_epoch'])} | {_spread(r['later_epochs'])} | {r['later_epochs']['n']} |",
        "",
        f"Ratio of the medians (cnnsvm / reference): **{t['ratio']:.3f}**; per repeat: "
        + ", ".join(f"{x:.3f}" for x in t["ratio_per_repeat"])
        + (f"; ratio of the fastest epochs {t['ratio_of_minima']:.3f}" if "ratio_of_minima" in t else "")
        + f". cnnsvm: {t['ms_per_image']:.2f} ms per training image per epoch.",
    ]


def _mnist(m, data):
    p = m["params"]
    lines = [
        "## MNIST hybrid: the full fit",
        "",
        f"`make_hybrid(epochs={p['epochs']}, batch_size={p['batch_size']}, patience={p['patience']}, "
        f"augmentation={p['augmentation']}, svm={p['svm']!r}, C={p['C']}"
        + (f", max_minutes={p['max_minutes']}" if p.get("max_minutes") is not None else "")
        + f")` (architecture {p['architecture']!r}, "
        + (f"schedule {p['schedule']!r}, precision {p['precision']!r}, " if p.get("schedule") else "")
        + f"validation fraction {p['validation_fraction']}) fitted with `model.fit` on {m['n_train']} images in a "
        f"fresh process, tested on {m['n_test']}.",
        "",
        "| | value |",
        "|---|---|",
        f"| total training time (`model.fit`) | {m['fit_seconds']:.0f} s ({m['fit_seconds'] / 60:.1f} min) |",
        f"| of which CNN training (keras fit) | {m['cnn_train_seconds']:.0f} s, {m['epochs_run']} epochs |",
        f"| of which preprocessing, feature extraction, scaler and SVM | {m['other_fit_seconds']:.0f} s |",
        f"| test accuracy of the hybrid | **{100 * m['test_accuracy']:.2f} %** |",
        f"| test accuracy of the CNN's own softmax head | {100 * m['cnn_softmax_test_accuracy']:.2f} % |",
        f"| support vectors | {m.get('n_support_vectors') or '–'} |",
        f"| predicting the {m['n_test']} test images | {m['predict_seconds_test']:.1f} s |",
        f"| peak memory above the loaded dataset | {m['peak_above_load_mib']:.0f} MiB "
        f"(RSS after loading {m['rss_after_load_mib']:.0f} MiB) |",
        "",
        "Seconds per epoch: " + ", ".join(f"{x:.1f}" for x in m["epoch_times"]) + ".",
    ]
    if m.get("val_accuracy"):
        lines.append("Validation accuracy per epoch: " + ", ".join(f"{100 * x:.2f}" for x in m["val_accuracy"]) + " %.")
    return lines


def _reference(r, data):
    p = r["params"]
    cum, elapsed = [], 0.0
    for seconds in r["epoch_times"]:
        elapsed += seconds
        cum.append(elapsed)
    lines = [
        "## Time to accuracy: the plain-Keras reference trained as the tutorials do",
        "",
        f"`benchmarks/reference_keras.py`, the same network and augmentation in {p['precision']}, {p['schedule']} "
        f"(patience {p['patience']}), up to {p['epochs']} epochs of batch {p['batch_size']}, on the same "
        f"{r['n_train']} images as the MNIST hybrid (10 % held out for validation); its softmax scored on "
        f"{r['n_test']} test images after every epoch (scoring not timed). It ran {len(r['epoch_times'])} epochs, "
        f"{sum(r['epoch_times']) / 60:.1f} min of training.",
        "",
        "| target test accuracy | reached after |",
        "|---|---|",
    ]
    mnist = data["sections"].get("mnist") or {}
    targets = {"bar": 0.996, **({"cnnsvm": mnist["test_accuracy"]} if "test_accuracy" in mnist else {})}
    for name, target in targets.items():  # from the current mnist section, not the one at the reference's run
        t = time_to_accuracy(r, target)
        what = "the bar" if name == "bar" else "the hybrid's"
        when = f"{t['seconds'] / 60:.1f} min" if t["reached"] else f"never (in {t['seconds'] / 60:.1f} min)"
        lines.append(f"| {100 * t['target']:.2f} % ({what}) | {when} |")
    lines += [
        "",
        "| epoch | training time so far, min | validation accuracy | test accuracy |",
        "|---|---|---|---|",
    ]
    val = r.get("val_accuracy") or [None] * len(cum)
    for i, (c, v, t) in enumerate(zip(cum, val, r["test_accuracy_per_epoch"], strict=False), 1):
        lines.append(f"| {i} | {c / 60:.1f} | {'–' if v is None else f'{100 * v:.2f} %'} | {100 * t:.2f} % |")
    return lines


def _totals(t, data):
    lines = ["## Total training time per method and dataset", ""]
    rows = []
    if t.get("mnist"):
        m = t["mnist"]
        rows.append(("MNIST", m["method"], m["fit_seconds"], m["accuracy"], m["n_train"], "this run"))
    for r in t.get("nhcd", []):
        rows.append((r["dataset"], r["method"], r["fit_seconds"], r.get("accuracy"), r.get("n_train"), r["source"]))
    if rows:
        lines += [
            "| dataset | method | training time | test accuracy | training images | source |",
            "|---|---|---|---|---|---|",
        ]
        for d, meth, s, acc, n, src in rows:
            lines.append(
                f"| {d} | {meth} | {s / 60:.1f} min | "
                f"{'–' if acc is None else f'{100 * acc:.2f} %'} | {n or '–'} | {src} |"
            )
        lines.append("")
    present = [s["file"] for s in t.get("sources", []) if s["present"]]
    lines.append(
        "NHCD totals come from the core benchmark runs: `benchmarks/results/core.md` and `nhcd.md`"
        + (
            f" (read here: {', '.join(present)})"
            if present and not t.get("skipped")
            else " (not read in this run" + (": --skip-totals" if t.get("skipped") else ": not present yet") + ")"
        )
        + "."
    )
    return lines


def _inference(inf, data):
    res = inf["batches"]
    names = list(next(iter(res.values())))
    sizes = list(res)
    lines = [
        "## Inference: images per second",
        "",
        f"Hybrid: {inf['hybrid_model']}. CNN: {inf['cnn_model']}. PCA+SVC: {inf['pca_model']}"
        + (f", {inf['pca_n_support_vectors']} support vectors" if inf.get("pca_n_support_vectors") else "")
        + ". Pipelines get raw uint8 28x28 test images (preprocessing included); the bare Keras models get the "
        "scaled float32 tensor. All methods are called in turn within each round (median and IQR over rounds).",
        "",
        "| method | " + " | ".join(f"batch {b}: images/s" for b in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_iqr(res[b][name]["images_per_second"]) for b in sizes) + " |")
    lines += [
        "",
        "| batch | hybrid / bare embedding | bare reference | CNN / bare softmax | bare reference |",
        "|---|---|---|---|---|",
    ]
    for b, r in inf["ratios"].items():
        lines.append(
            f"| {b} | {r['hybrid_vs_bare']:.2f} | {r['bare_embedding_reference']} | "
            f"{r['cnn_vs_bare']:.2f} | {r['bare_softmax_reference']} |"
        )
    lat = inf["latency"]
    lines += [
        "",
        f"Warm single-image latency over {lat['n']} calls: hybrid `predict` median "
        f"{lat['hybrid_ms']['median']:.2f} ms, p95 {lat['hybrid_ms']['p95']:.2f} ms; bare "
        f"{lat['bare_reference']} median {lat['bare_ms']['median']:.2f} ms, p95 {lat['bare_ms']['p95']:.2f} ms "
        f"(ratio of medians {lat['ratio_median']:.2f}).",
    ]
    return lines


def _svc(s, data):
    lines = [
        "## SVM on CNN features: exact against the scalable path",
        "",
        f"Features of {s['features_from']} (extraction took {s['extract_seconds']:.0f} s), standardised on "
        f"each training subset; accuracy on {s['n_test']} test images. Exact: {s['exact']}. Approx: "
        f"{s['approx']}. Fits of the two alternate. Times: median (min–max) over the repeats.",
        "",
        "| training samples | exact fit, s | approx fit, s | speed-up | exact predict, s | approx predict, s | "
        "exact accuracy | approx accuracy | lost, points | support vectors | `auto` picks |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in s["table"]:
        ex, ap = e["exact"], e["approx"]
        lines.append(
            f"| {e['n_train']} | {_spread(ex['fit'])} | {_spread(ap['fit'])} | {e['fit_speedup']:.1f}x | "
            f"{_spread(ex['predict'])} | {_spread(ap['predict'])} | {100 * ex['accuracy']:.2f} % | "
            f"{100 * ap['accuracy']:.2f} % | {e['accuracy_loss_points']:+.2f} | {ex.get('n_support_vectors') or '–'} | "
            f"{e['auto_picks']} |"
        )
    return lines


def _memory(m, data):
    lines = ["## Memory", ""]
    e = m.get("extract")
    if e:
        lines += [
            f"Feature extraction (`hybrid[:2].transform`: ImagePreprocessor then CNNFeatureExtractor, batches of "
            f"1024) of {e['n']} MNIST training images in a fresh process ({e['model']}): peak RSS "
            f"**{e['peak_above_load_mib']:.0f} MiB above** the RSS after loading model and dataset "
            f"({e['rss_after_load_mib']:.0f} MiB); the uint8 images take {e['dataset_mib']:.0f} MiB, their "
            f"float32 copy {4 * e['dataset_mib']:.0f} MiB, the features {e['features_mib']:.0f} MiB. "
            f"{e['images_per_second']:.0f} images/s ({e['seconds']:.1f} s)."
            + ("" if e.get("peak_reset") else " (The peak counter could not be reset: the figure is an upper bound.)"),
        ]
    mn = data["sections"].get("mnist") or {}
    if "peak_above_load_mib" in mn:
        lines += [
            "",
            f"Full MNIST hybrid fit ({mn['n_train']} images): peak RSS {mn['peak_above_load_mib']:.0f} "
            f"MiB above the RSS after loading the dataset ({mn['rss_after_load_mib']:.0f} MiB).",
        ]
    return lines

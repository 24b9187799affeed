"""Report helpers on records with and without the CPU shares of their fits (resumed runs mix both)."""

from cnnsvm.experiments.reports import generic_markdown, steal_note


def _generic(seed, fit_cpu=None):
    record = {
        "variant": "augmented",
        "seed": seed,
        "fit_seconds": 60.0,
        "training": {"epochs_run": 3, "best_val_accuracy": 0.9},
        "n_train": 100,
        "n_classes": 10,
    }
    if fit_cpu is not None:
        record["fit_cpu"] = fit_cpu
    return record


def test_steal_note_states_the_range_and_calls_times_upper_bounds_only_when_it_matters():
    assert steal_note([]) == ""
    assert steal_note([{"fit_cpu": None}, {}]) == ""  # cells of runs before the shares were recorded
    assert steal_note([{"fit_cpu": {"busy": 0.9, "idle": 0.098, "steal": 0.002}}]) == ""  # rounds to 0 %
    little = steal_note([{"fit_cpu": {"busy": 0.9, "idle": 0.08, "steal": 0.02}}, {}])
    assert "took 2 to 2 %" in little and "over 1 of 2 fits" in little and "upper bounds" not in little
    much = steal_note(
        [{"fit_cpu": {"busy": 0.5, "idle": 0.1, "steal": 0.4}}, {"fit_cpu": {"busy": 0.9, "idle": 0.08, "steal": 0.02}}]
    )
    assert "took 2 to 40 %" in much and "median 21 %" in much and "upper bounds" in much


def test_generic_table_shows_the_hosts_share_where_recorded_and_a_dash_elsewhere():
    assert "CPU taken by the host" not in generic_markdown([_generic(0), _generic(1)])
    table = generic_markdown([_generic(0), _generic(1, {"busy": 0.5, "idle": 0.1, "steal": 0.4})])
    rows = [line for line in table.splitlines() if line.startswith("| augmented")]
    assert "CPU taken by the host (%)" in table
    assert rows[0].endswith("| - |") and rows[1].endswith("| 40 |")


def test_the_notes_name_only_the_runs_generic_methods():
    from cnnsvm.experiments.reports import fit_note, metric_markdown

    assert fit_note(["pca-svc", "cnn"]) == ""
    assert fit_note(["cnn", "hybrid"]).startswith("hybrid reuses the generic extractor")
    note = fit_note(["mlp", "hybrid", "hybrid-svm", "generic-softmax"])
    assert note.startswith("hybrid, hybrid-svm and generic-softmax reuse") and "hybrid-noaug" not in note
    aggregated = {"fit_seconds": {"d": {"cnn": {"mean": 1.0, "std": 0.0, "n": 1}}}}
    assert "reuse" not in metric_markdown(aggregated, "fit_seconds", ["d"], ["cnn"])
    members = [dict(_generic(0), member=0), dict(_generic(0), member=1)]
    table = generic_markdown(members, ["hybrid", "generic-softmax"])
    assert "(shared by hybrid and generic-softmax)" in table and "hybrid-single reads" not in table
    assert "hybrid-single reads member 0" in generic_markdown(members, ["hybrid", "hybrid-single"])
    # with no methods given, every generic method in the tables' column order
    assert "hybrid-svm, hybrid-noaug, hybrid-noelastic and generic-softmax)" in generic_markdown([_generic(0)])


def test_p_values_keep_three_digits_and_never_read_zero():
    from cnnsvm.experiments.reports import format_p_value, significance_markdown

    assert [format_p_value(p) for p in (0.5, 0.031249, 6.3e-196, 0.0)] == ["0.5", "0.0312", "6.3e-196", "< 1e-300"]
    assert format_p_value(float("nan")) == "n/a"
    test = {"dataset": "d", "other": "cnn", "hybrid_accuracy": 0.99, "other_accuracy": 0.9, "n": 10}
    tests = [{**test, "seed": s, "hybrid_only": 1100, "other_only": 2, "p_value": 0.0} for s in (0, 1)]
    table = significance_markdown(tests)
    assert table.count("< 1e-300") == 3  # two seeds and the pooled row

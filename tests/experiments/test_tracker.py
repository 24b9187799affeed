"""Progress of a run: done / total and the estimate of the time left."""

from cnnsvm.experiments.tracker import TaskTracker


def test_tracker_estimates_the_time_left():
    lines = []
    tracker = TaskTracker(
        [("a/cnn", "cnn"), ("b/cnn", "cnn"), ("generic", "generic"), ("a/svc", "svc")],
        lines.append,
        proxies={"generic": ("cnn", 2)},
    )
    assert tracker.eta() is None
    tracker.skip("a/cnn", "finished earlier")
    assert "[1/4]" in lines[-1] and "skip a/cnn: finished earlier" in lines[-1]
    tracker.durations["b/cnn"] = 10.0  # as if "b/cnn" had run for 10 s
    tracker.done.add("b/cnn")
    # generic: 2 x the cnn mean; svc: no svc timed yet, so the mean of all timed tasks
    assert tracker.eta() == 20.0 + 10.0
    with tracker.run("generic"):
        pass
    assert "done generic" in lines[-1] and "[3/4]" in lines[-1]

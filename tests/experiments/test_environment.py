"""The run record: which code ran (its git commit), on what, under what load."""

import re
import shutil
import subprocess

import pytest

from cnnsvm.experiments.environment import cpu_shares, cpu_times, environment_record, load_average, source_commit


def _git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_source_commit_names_the_checkout_and_says_when_it_was_edited(tmp_path):
    assert source_commit(tmp_path) is None  # not a checkout: an installed package records no commit
    _git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "add", "code.py")
    _git(
        tmp_path,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.org",
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-qm",
        "first",
    )
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True, text=True)
    assert source_commit(tmp_path) == head.stdout.strip()
    (tmp_path / "code.py").write_text("x = 2\n")
    assert source_commit(tmp_path) == head.stdout.strip() + " (with uncommitted changes)"
    (tmp_path / "elsewhere").mkdir()  # a folder of the repository with no tracked file: not this code's checkout
    assert source_commit(tmp_path / "elsewhere") is None


def test_the_run_record_carries_commit_and_load():
    record = environment_record([0, 1])
    assert record["seeds"] == [0, 1]
    source = record["source"]  # this package's commit when the tests run from a checkout, else None
    assert source is None or re.fullmatch(r"[0-9a-f]{7,40}( \(with uncommitted changes\))?", source), source
    expected = load_average()
    if expected is None:  # a platform without load averages
        assert record["load_average"] is None
    else:
        assert len(record["load_average"]) == 3 and all(x >= 0 for x in record["load_average"])


def test_cpu_shares_split_the_time_between_two_snapshots_into_busy_idle_and_stolen(tmp_path):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal (guest columns follow and are ignored)
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n")
    before = cpu_times(stat)
    assert before == {
        "user": 100,
        "nice": 0,
        "system": 50,
        "idle": 800,
        "iowait": 50,
        "irq": 0,
        "softirq": 0,
        "steal": 0,
    }
    stat.write_text("cpu  400 0 100 900 100 0 0 500 0 0\n")  # +1000 ticks: 350 busy, 150 idle, 500 stolen
    shares = cpu_shares(before, cpu_times(stat))
    assert shares == {"busy": 0.35, "idle": 0.15, "steal": 0.5}
    assert cpu_shares(before, before) is None  # no time passed
    assert cpu_shares(None, before) is None
    stat.write_text("cpu  100 0 50 849 50 0 0 0 0 0\n")  # 49 ticks: too short a span to say
    assert cpu_shares(before, cpu_times(stat)) is None
    # guest time (columns 9 and 10) is already inside user time: it must not count twice
    stat.write_text("cpu  600 0 50 1300 50 0 0 0 400 0\n")
    assert cpu_shares(before, cpu_times(stat)) == {"busy": 0.5, "idle": 0.5, "steal": 0.0}
    # an old kernel's shorter line: the missing states count as 0; a counter that went down as 0
    stat.write_text("cpu  600 0 50 1300 50\n")
    assert cpu_times(stat)["steal"] == 0 and cpu_times(stat)["softirq"] == 0
    stat.write_text("cpu  600 0 50 700 50 0 0 0\n")  # idle went down: counted as 0, not negative
    assert cpu_shares(before, cpu_times(stat)) == {"busy": 1.0, "idle": 0.0, "steal": 0.0}
    stat.write_text("intr 1 2 3\n")
    assert cpu_times(stat) is None and cpu_times(tmp_path / "missing") is None


def test_cpu_times_read_this_machine():
    first = cpu_times()
    if first is None:
        pytest.skip("no /proc/stat on this platform")
    assert set(first) == {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
    assert all(isinstance(v, int) and v >= 0 for v in first.values()) and first["user"] + first["idle"] > 0
    later = cpu_times()
    assert all(later[k] >= first[k] for k in first)  # cumulative counters

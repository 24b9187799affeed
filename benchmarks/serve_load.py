"""Bounded load test of ``cnnsvm serve`` on loopback.

Starts ``python -m cnnsvm.serve`` in a subprocess on a free 127.0.0.1 port,
sends a fixed number of ``POST /api/predict`` requests (JSON data URLs of
drawn digits, as the page sends them) from a few concurrent clients, and
reports errors, latency percentiles and throughput as a Markdown table.

The request loop is bounded twice: by ``--requests`` in total and by
``--max-seconds`` of wall time (clients stop sending when it has passed).

Usage::

    python benchmarks/serve_load.py                     # the small digits pca-svc model
    python benchmarks/serve_load.py --model digits-pca-svc --model mnist-hybrid \\
        --output benchmarks/results/serve.md

``--model`` takes a model file, ``digits-pca-svc`` (trained on sklearn's digits
in a second) or ``mnist-hybrid`` (a hybrid trained for 5 epochs on the first
10,000 MNIST images of ``--mnist``; a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import numpy as np

from cnnsvm.experiments.environment import cpu_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = ROOT.parent / "shared" / "datasets" / "mnist.npz"
STROKES = {
    "1": [[(140, 40), (140, 240)]],
    "7": [[(70, 50), (210, 50), (110, 240)]],
    "0": [[(140, 40), (200, 80), (210, 160), (140, 240), (80, 160), (80, 80), (140, 40)]],
}
VERSIONED = (
    "cnnsvm",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "tensorflow",
    "keras",
    "scikit-learn",
    "numpy",
    "pillow",
)


def drawing_payloads():
    """JSON bodies with a 280x280 PNG data URL of each digit in :data:`STROKES`."""
    from PIL import Image, ImageDraw

    payloads = {}
    for digit, strokes in STROKES.items():
        image = Image.new("L", (280, 280), 0)
        pen = ImageDraw.Draw(image)
        for stroke in strokes:
            pen.line(stroke, fill=255, width=22, joint="curve")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        payloads[digit] = {"image": url}
    return payloads


def build_model(spec, workdir, mnist_path):
    """Return the path of the model file for ``spec`` (a file, ``digits-pca-svc`` or ``mnist-hybrid``)."""
    from cnnsvm.pipeline import make_hybrid, make_pca_svc, save

    names = [str(d) for d in range(10)]
    if spec == "digits-pca-svc":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = (digits.images * 255 / 16).round().astype(np.uint8)
        model = make_pca_svc(n_components=20).fit(images, digits.target)
        return save(
            model,
            Path(workdir) / "digits-pca-svc.joblib",
            class_names=names,
            metadata={"dataset": "sklearn digits (1,797 images, 8x8)"},
        )
    if spec == "mnist-hybrid":
        data = np.load(mnist_path)
        print("training the mnist-hybrid model (5 epochs, 10,000 images)...", flush=True)
        model = make_hybrid(epochs=5).fit(data["x_train"][:10000], data["y_train"][:10000])
        return save(
            model,
            Path(workdir) / "mnist-hybrid.joblib",
            class_names=names,
            metadata={"dataset": "MNIST (first 10,000 training images)"},
        )
    path = Path(spec)
    if not path.exists():
        raise SystemExit(f"error: model file {path} not found (or use digits-pca-svc / mnist-hybrid)")
    return path


def free_port():
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m cnnsvm.serve`` in a subprocess on loopback, terminated on exit."""

    def __init__(self, model_path, log_path, startup_timeout=120, extra_args=()):
        self.model_path = model_path
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def __enter__(self):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [
            sys.executable,
            "-m",
            "cnnsvm.serve",
            "--model",
            str(self.model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.extra_args,
        ]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"error: the server exited:\n{Path(self.log_path).read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.25)
        self.__exit__(None, None, None)
        raise SystemExit(f"error: the server did not start within {self.startup_timeout} s")

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def load_test(url, payloads, *, requests, clients, max_seconds, warmup=10, timeout=30.0):
    """Send ``requests`` predictions from ``clients`` threads; returns latencies and error counts.

    Returns
    -------
    dict
        ``latencies`` (seconds, successful requests), ``errors`` (status or
        exception name -> count), ``sent``, ``wall_s``, ``wrong`` (answers whose
        label is not the drawn digit) and ``stopped_by_time``.
    """
    import httpx

    bodies = list(payloads.items())
    with httpx.Client(base_url=url, timeout=timeout) as client:
        for i in range(warmup):
            client.post("/api/predict", json=bodies[i % len(bodies)][1]).raise_for_status()

    lock = threading.Lock()
    counter = iter(range(requests))
    latencies, errors, wrong = [], {}, [0]
    deadline = time.monotonic() + max_seconds
    stopped = [False]

    def worker():
        with httpx.Client(base_url=url, timeout=timeout) as client:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                if time.monotonic() > deadline:
                    stopped[0] = True
                    return
                digit, body = bodies[index % len(bodies)]
                start = time.perf_counter()
                try:
                    response = client.post("/api/predict", json=body)
                    elapsed = time.perf_counter() - start
                    key = None if response.status_code == 200 else f"HTTP {response.status_code}"
                    label = response.json().get("label") if key is None else None
                except httpx.HTTPError as exc:
                    elapsed, key, label = time.perf_counter() - start, type(exc).__name__, None
                with lock:
                    if key is None:
                        latencies.append(elapsed)
                        wrong[0] += str(label) != digit
                    else:
                        errors[key] = errors.get(key, 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max_seconds + timeout + 5)
    wall = time.perf_counter() - start
    return {
        "latencies": latencies,
        "errors": errors,
        "sent": len(latencies) + sum(errors.values()),
        "wall_s": wall,
        "wrong": wrong[0],
        "stopped_by_time": stopped[0],
    }


def versions():
    """Installed versions of the packages the measurement depends on."""
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def model_summary(path):
    from cnnsvm.pipeline import read_metadata

    meta = read_metadata(path)
    shape = "x".join(str(s) for s in (meta.get("input") or {}).get("image_shape") or [])
    dataset = (meta.get("metadata") or {}).get("dataset", "?")
    return f"{meta.get('method')}, {len(meta.get('classes') or [])} classes, {shape} input, {dataset}"


def report(rows, args, command):
    """The Markdown report of the measured ``rows``."""
    lines = [
        "# `cnnsvm serve` load test",
        "",
        f"{args.requests:,} `POST /api/predict` requests per model (JSON data URLs of 280x280 PNG drawings of "
        f"the digits {', '.join(STROKES)}, as the page sends them) from {args.clients} concurrent clients "
        "(threads with keep-alive httpx clients) to one server process on 127.0.0.1, after "
        "10 warm-up requests. Predictions run one at a time in the server (the model is shared under a lock), "
        "so latency includes queueing behind the other clients' requests; the clients run on the same cores "
        "as the server. `wrong label` counts answers that are not the drawn digit. One run on a machine shared "
        "with other work: repeated runs of the same command varied by up to about 2x.",
        "",
        "| model | requests | errors | wrong label | p50 ms | p95 ms | p99 ms | max ms | requests/s | wall s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, summary, result in rows:
        lat = np.asarray(result["latencies"]) * 1000
        pct = np.percentile(lat, [50, 95, 99]) if lat.size else [float("nan")] * 3
        errors = sum(result["errors"].values())
        detail = f" ({', '.join(f'{k}: {v}' for k, v in result['errors'].items())})" if errors else ""
        lines.append(
            f"| {name} ({summary}) | {result['sent']:,} | {errors}{detail} | {result['wrong']} | {pct[0]:.1f} | "
            f"{pct[1]:.1f} | {pct[2]:.1f} | {lat.max() if lat.size else float('nan'):.1f} | "
            f"{result['sent'] / result['wall_s']:.1f} | {result['wall_s']:.1f} |"
        )
        if result["stopped_by_time"]:
            lines.append(f"|  | stopped after {args.max_seconds} s |  |  |  |  |  |  |  |  |")
    lines += [
        "",
        "Machine and versions:",
        "",
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores (`os.cpu_count()`); {platform.system()} {platform.release()}",
        "- " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        "",
        "Command (from the repository root):",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    """Run the load test for each model and print (and optionally write) the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="model file, digits-pca-svc or mnist-hybrid (repeatable)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per model (default: 1000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    parser.add_argument("--max-seconds", type=float, default=600, help="time budget per model (default: 600)")
    parser.add_argument("--mnist", default=str(DEFAULT_MNIST), help="mnist.npz for mnist-hybrid")
    parser.add_argument("--output", help="write the Markdown report here")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.clients < 1 or args.max_seconds <= 0:
        parser.error("--requests, --clients and --max-seconds must be positive")
    specs = args.model or ["digits-pca-svc"]
    command = "python benchmarks/serve_load.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    payloads = drawing_payloads()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnsvm-serve-load-") as workdir:
        for spec in specs:
            path = build_model(spec, workdir, args.mnist)
            with Server(path, Path(workdir) / f"server-{len(rows)}.log") as server:
                print(f"{spec}: {args.requests} requests, {args.clients} clients -> {server.url}", flush=True)
                result = load_test(
                    server.url, payloads, requests=args.requests, clients=args.clients, max_seconds=args.max_seconds
                )
            rows.append((Path(str(spec)).stem if Path(str(spec)).exists() else spec, model_summary(path), result))
    text = report(rows, args, command.strip())
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
    return 1 if any(r[2]["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

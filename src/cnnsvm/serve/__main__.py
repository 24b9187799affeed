"""``python -m cnnsvm.serve --model FILE``: serve a model without the ``cnnsvm`` command."""

from __future__ import annotations

import argparse
import sys

from cnnsvm._quiet import quiet_tensorflow
from cnnsvm.exceptions import CnnsvmError


def main(argv=None):
    """Parse the command line and run the server; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m cnnsvm.serve",
        description="Draw a character in the browser and see what the model reads.",
    )
    parser.add_argument("--model", required=True, help="model file exported by cnnsvm (with its .json sidecar)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--max-upload-mb", type=float, default=2.0, help="largest upload in MB (default: 2)")
    parser.add_argument("--reject-threshold", type=float, default=0.5,
                        help="below this top probability the answer is 'not sure' (default: 0.5)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="also answer requests for this Host name (repeatable; default: loopback names)")
    parser.add_argument("--max-in-flight", type=int, default=1, help="images decoded at once (default: 1)")
    parser.add_argument("--max-queue", type=int, default=16, help="requests waiting for a slot (default: 16)")
    parser.add_argument("--model-sha256", default=None, help="refuse the model unless its SHA-256 is this")
    parser.add_argument("--allow-teach", action="store_true",
                        help="let the page teach new classes from a few drawings (off by default)")
    args = parser.parse_args(argv)
    quiet = quiet_tensorflow(filter_stderr=argv is None)
    try:
        from cnnsvm.serve.server import run_server

        run_server(args.model, host=args.host, port=args.port,
                   max_upload_bytes=int(args.max_upload_mb * 1_000_000),
                   reject_threshold=args.reject_threshold, allowed_hosts=args.allowed_host,
                   max_in_flight=args.max_in_flight, max_queue=args.max_queue, model_sha256=args.model_sha256,
                   allow_teach=args.allow_teach)
    except CnnsvmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if quiet is not None:
            quiet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m cnnsvm.serve --model FILE``: serve a model without the ``cnnsvm`` command."""

from __future__ import annotations

import argparse
import sys

from cnnsvm.exceptions import CnnsvmError
from cnnsvm.serve.server import run_server


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
    args = parser.parse_args(argv)
    try:
        run_server(args.model, host=args.host, port=args.port,
                   max_upload_bytes=int(args.max_upload_mb * 1_000_000),
                   reject_threshold=args.reject_threshold)
    except CnnsvmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

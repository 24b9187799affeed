"""``python -m cnnsvm.serve --model FILE``: serve a model without the ``cnnsvm`` command.

The same options as ``cnnsvm serve`` (:func:`cnnsvm.cli.add_serve_arguments`): both are
command-line entry points, so this one borrows the other's parser and runner.
"""

from __future__ import annotations

import argparse
import sys

from cnnsvm._quiet import quiet_tensorflow
from cnnsvm.cli import add_serve_arguments, cmd_serve
from cnnsvm.exceptions import CnnsvmError


def main(argv=None):
    """Parse the command line and run the server; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m cnnsvm.serve",
        description="Draw a character in the browser and see what the model reads.",
    )
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    quiet = quiet_tensorflow(filter_stderr=argv is None)
    try:
        return cmd_serve(args)
    except CnnsvmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if quiet is not None:
            quiet.stop()


if __name__ == "__main__":
    sys.exit(main())

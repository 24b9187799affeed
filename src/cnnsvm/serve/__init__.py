"""A web page to draw a character and see what a model reads, and its JSON API.

``create_app(model_path)`` builds the FastAPI application; ``run_server(model_path)``
serves it with uvicorn (``cnnsvm serve --model FILE`` or ``python -m cnnsvm.serve --model FILE``).
Needs the ``serve`` extra: ``pip install 'cnnsvm[serve]'``.
"""

from importlib.util import find_spec as _find_spec

_MISSING = [name for name, module in (("fastapi", "fastapi"), ("uvicorn", "uvicorn")) if _find_spec(module) is None]
if _find_spec("python_multipart") is None and _find_spec("multipart") is None:
    _MISSING.append("python-multipart")
if _MISSING:  # pragma: no cover - depends on the installation
    raise ImportError(f"cnnsvm.serve needs {', '.join(_MISSING)}; install them with: pip install 'cnnsvm[serve]'")

__all__ = ["create_app", "run_server"]


def __getattr__(name):
    # Imported on first use, so that ``python -m cnnsvm.serve`` can quiet TensorFlow before it loads.
    if name == "create_app":
        from cnnsvm.serve.app import create_app

        return create_app
    if name == "run_server":
        from cnnsvm.serve.server import run_server

        return run_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

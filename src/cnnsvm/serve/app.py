"""The FastAPI application: the drawing page, the prediction API and its limits.

Limits that keep one server process small and safe on a shared machine:

- uploads larger than ``max_upload_bytes`` get 413, images with more than
  ``max_pixels`` pixels 422, before they are decoded;
- images are decoded and classified on ``max_in_flight`` worker threads of their
  own (a 2 MB PNG can decode to 16 megapixels; few threads also keep the memory
  allocator from holding freed buffers in many per-thread arenas); up to
  ``max_queue`` more requests wait for a worker (at most :data:`QUEUE_WAIT_SECONDS`),
  and beyond that a request gets 503 with ``Retry-After`` at once, so memory stays
  bounded under any number of clients;
- only requests whose ``Host`` header names this server are answered (loopback
  names by default, more with ``allowed_hosts``): a web page on another site
  cannot reach the API through DNS rebinding; others get 400.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from cnnsvm.data.images import DEFAULT_MAX_PIXELS, read_image_bytes
from cnnsvm.data.preprocessing import guess_ink
from cnnsvm.exceptions import ConfigError, DataError, ModelFileError
from cnnsvm.inference import predict_images
from cnnsvm.model_structure import find_preprocessor
from cnnsvm.persistence import load
from cnnsvm.serve.model_info import class_names, describe_model
from cnnsvm.serve.uploads import discard_body, extract_upload

STATIC_DIR = Path(__file__).parent / "static"

#: An image whose darkest and lightest pixels differ by less than this (of 255) has no strokes.
MIN_CONTRAST = 12

#: Headers added to every response: the page loads nothing from elsewhere.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
        b"frame-ancestors 'none'; form-action 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]

logger = logging.getLogger("cnnsvm.serve")

#: Host names answered by default (any port): the loopback names.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

#: Longest time a queued request waits for a decode slot before it gets 503.
QUEUE_WAIT_SECONDS = 10.0


def create_app(
    model_path,
    *,
    max_upload_bytes=2_000_000,
    max_pixels=DEFAULT_MAX_PIXELS,
    reject_threshold=0.5,
    top_k=5,
    allowed_hosts=None,
    max_in_flight=1,
    max_queue=16,
    model_sha256=None,
    key=None,
):
    """Build the web application serving one exported model.

    The model file is loaded (and its checksum, signature when a model key is set,
    pin and library versions verified) once, here; requests then share it.

    Parameters
    ----------
    model_path : str or Path
        A model file written by :func:`cnnsvm.persistence.save` (its ``.json`` sidecar beside it).
    max_upload_bytes : int, default=2_000_000
        Largest encoded image accepted; larger uploads get 413.
    max_pixels : int, default=4096 * 4096
        Largest image (width * height) decoded; larger ones get 422.
    reject_threshold : float, default=0.5
        Answers whose top probability is below it are flagged ``rejected`` ("not sure").
    top_k : int, default=5
        Number of classes listed in each answer.
    allowed_hosts : list of str, optional
        Host names (without port) answered besides :data:`LOOPBACK_HOSTS`; ``"*"`` answers any.
    max_in_flight : int, default=1
        Images decoded and classified at once.
    max_queue : int, default=16
        Requests that may wait for one of those slots; more get 503 at once.
    model_sha256 : str, optional
        Pin: refuse the model file unless its payload has this SHA-256.
    key : str or bytes, optional
        Model key the file must be signed with (default: ``CNNSVM_MODEL_KEY``).

    Returns
    -------
    fastapi.FastAPI

    Raises
    ------
    cnnsvm.exceptions.ModelFileError
        If the model file is missing, tampered with, incompatible or cannot give probabilities.
    cnnsvm.exceptions.ConfigError
        If a setting is out of range.
    """
    _check_settings(max_upload_bytes, max_pixels, reject_threshold, top_k)
    if not isinstance(max_in_flight, int) or max_in_flight < 1 or not isinstance(max_queue, int) or max_queue < 0:
        raise ConfigError(f"max_in_flight must be >= 1 and max_queue >= 0; got {max_in_flight!r}, {max_queue!r}")
    hosts = allowed_host_names(allowed_hosts)
    model, meta = load(model_path, return_metadata=True, sha256=model_sha256, key=key)
    if not hasattr(model, "predict_proba") or find_preprocessor(model) is None:
        raise ModelFileError(
            f"{model_path} cannot be served: it needs an image preprocessing step and probabilities "
            "(export a hybrid, pca-svc or cnn model trained with probability=True)"
        )
    names = class_names(model, meta)
    description = describe_model(
        model,
        meta,
        model_path,
        reject_threshold=reject_threshold,
        top_k=top_k,
        max_upload_bytes=max_upload_bytes,
        max_pixels=max_pixels,
    )
    predict_lock = threading.Lock()  # one prediction at a time: the model is not shared across threads
    admission = Admission(max_in_flight, max_queue)
    workers = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="cnnsvm-decode")

    def predict_upload(upload, queued_at):
        if time.monotonic() - queued_at > admission.wait_seconds:
            raise admission.busy()  # waited too long for a worker: the client has been kept long enough
        with admission.working():
            image = read_image_bytes(upload.data, max_pixels=max_pixels, name=upload.name)
            if int(image.max()) - int(image.min()) < MIN_CONTRAST:
                raise HTTPException(422, "the drawing is empty: draw a character, or upload an image that shows one")
            ink = guess_ink(image) if upload.ink == "auto" else upload.ink
            start = time.perf_counter()
            with predict_lock:
                result = predict_images(
                    model, [image], class_names=names, ink=ink, top_k=top_k, threshold=reject_threshold
                )[0]
            del image
        return answer_json(result, ink=ink, threshold=reject_threshold, elapsed_ms=1000 * (time.perf_counter() - start))

    @asynccontextmanager
    async def lifespan(_app):
        yield
        workers.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="cnnsvm", summary="Handwritten character recognition", docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.model = model
    app.state.metadata = meta
    app.state.description = description
    app.state.admission = admission
    app.state.workers = workers
    app.state.allowed_hosts = hosts
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(_HostAllowList, hosts=hosts)
    _add_error_handlers(app)

    @app.get("/healthz")
    def healthz():
        """Liveness check."""
        return {"status": "ok"}

    @app.get("/api/model")
    def model_description():
        """What the loaded model is: method, classes, input, versions, dataset."""
        return description

    @app.post("/api/predict")
    async def predict(request: Request):
        """Classify one image sent as a multipart file, a JSON data URL or a raw image body."""
        if not admission.enter():
            await discard_body(request, max_upload_bytes)  # answer a whole request, not a reset connection
            raise admission.busy()
        try:
            upload = await extract_upload(request, max_upload_bytes)
            return await asyncio.wrap_future(workers.submit(predict_upload, upload, time.monotonic()))
        finally:
            admission.leave()

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def answer_json(result, *, ink, threshold, elapsed_ms):
    """Turn one :func:`cnnsvm.inference.predict_images` result into the API's JSON answer.

    Parameters
    ----------
    result : dict
    ink : str
        The stroke polarity used ("light" or "dark").
    threshold : float
        The reject threshold applied.
    elapsed_ms : float
        Time spent preparing and classifying the image.

    Returns
    -------
    dict
        ``label``, ``class_name``, ``probability``, ``rejected``, ``top``,
        ``model_input`` (rows of floats rounded to 3 decimals), ``ink``,
        ``threshold`` and ``elapsed_ms``.
    """
    return {
        "label": result["label"],
        "class_name": result["class_name"],
        "probability": float(result["probability"]),
        "rejected": bool(result["rejected"]),
        "top": [
            {"label": t["label"], "class_name": t["class_name"], "probability": float(t["probability"])}
            for t in result["top"]
        ],
        "model_input": np.round(np.asarray(result["model_input"], dtype=np.float64), 3).tolist(),
        "ink": ink,
        "threshold": float(threshold),
        "elapsed_ms": round(float(elapsed_ms), 2),
    }


class Admission:
    """Bounds the predict requests a server handles: ``max_in_flight`` at work, ``max_queue`` waiting.

    ``enter``/``leave`` count requests from the moment their body is read;
    ``working`` counts those being decoded and classified (``peak_working`` is the most at once).
    """

    def __init__(self, max_in_flight, max_queue, wait_seconds=QUEUE_WAIT_SECONDS):
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._active = 0
        self._working = 0
        self.peak_active = 0
        self.peak_working = 0

    def enter(self):
        """Admit one more request unless ``max_in_flight + max_queue`` are already being handled."""
        with self._lock:
            if self._active >= self.max_in_flight + self.max_queue:
                return False
            self._active += 1
            self.peak_active = max(self.peak_active, self._active)
            return True

    def leave(self):
        with self._lock:
            self._active -= 1

    @contextmanager
    def working(self):
        with self._lock:
            self._working += 1
            self.peak_working = max(self.peak_working, self._working)
        try:
            yield
        finally:
            with self._lock:
                self._working -= 1

    def busy(self):
        return HTTPException(
            503,
            f"the server is busy ({self.max_in_flight} images being read, {self.max_queue} waiting); retry in a moment",
            headers={"Retry-After": "1"},
        )


def allowed_host_names(extra=None):
    """The host names a server answers: :data:`LOOPBACK_HOSTS` plus ``extra`` (lower case, no port)."""
    names = set(LOOPBACK_HOSTS)
    for name in extra or []:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"an allowed host must be a host name like example.org; got {name!r}")
        names.add(host_name(name.strip()) if name.strip() != "*" else "*")
    return frozenset(names)


def host_name(header):
    """The host name of a ``Host`` header value (``name``, ``name:port``, ``[v6]:port``), lower case."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


class _HostAllowList:
    """ASGI middleware answering 400 to requests whose ``Host`` is not an allowed name."""

    def __init__(self, app, hosts):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or "*" in self.hosts:
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        if host_name(header) in self.hosts:
            await self.app(scope, receive, send)
            return
        shown = header or "(none)"
        response = JSONResponse(
            {
                "detail": f"this server does not answer for the host {shown!r}; open it as http://127.0.0.1 or "
                "http://localhost, or start it with --allowed-host NAME to serve that name"
            },
            status_code=400,
        )
        await response(scope, receive, send)


def _check_settings(max_upload_bytes, max_pixels, reject_threshold, top_k):
    if not isinstance(max_upload_bytes, int) or max_upload_bytes < 1:
        raise ConfigError(f"max_upload_bytes must be a positive integer; got {max_upload_bytes!r}")
    if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels < 1):
        raise ConfigError(f"max_pixels must be a positive integer or None; got {max_pixels!r}")
    if not 0.0 <= float(reject_threshold) <= 1.0:
        raise ConfigError(f"reject_threshold must lie in [0, 1]; got {reject_threshold!r}")
    if not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"top_k must be a positive integer; got {top_k!r}")


def _add_error_handlers(app):
    @app.exception_handler(DataError)
    async def unusable_image(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def last_resort(request, exc):
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal server error; the server's log has the details"}, status_code=500)


class _SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + SECURITY_HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)

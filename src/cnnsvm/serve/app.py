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
  cannot reach the API through DNS rebinding; others get 400;
- teaching new classes (``/api/teach``, see :mod:`cnnsvm.serve.teach`) is off
  (403) unless ``allow_teach``; it is bounded by :class:`~cnnsvm.serve.teach.TeachLimits`
  and its requests share the predict requests' slots.
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
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from cnnsvm.data.images import DEFAULT_MAX_PIXELS, read_image_bytes
from cnnsvm.data.preprocessing import guess_ink
from cnnsvm.exceptions import ConfigError, DataError, ModelFileError
from cnnsvm.inference import predict_images, prepare_for_model
from cnnsvm.model_structure import find_preprocessor
from cnnsvm.persistence import load
from cnnsvm.serve.model_info import class_names, describe_model
from cnnsvm.serve.teach import DEFAULT_VIEWS, NameClash, Teacher, check_views
from cnnsvm.serve.uploads import body_limit, decode_data_url, discard_body, extract_upload, read_body

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

#: A teach request's body may be this many times the largest predict body (several drawings).
TEACH_BODY_FACTOR = 4

TEACH_OFF = (
    "teaching new classes is off on this server; start it with --allow-teach "
    "(create_app(..., allow_teach=True)) to turn it on"
)


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
    allow_teach=False,
    teach_limits=None,
    teach_views=DEFAULT_VIEWS,
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
    allow_teach : bool, default=False
        Turn on ``/api/teach``: new classes taught from a few drawings add their SVM
        pairs on the frozen features (see :mod:`cnnsvm.serve.teach`); off, it answers 403.
    teach_limits : TeachLimits, optional
        Bounds of teaching (examples per class, classes, name length).
    teach_views : int, default=9
        Random augmented views of each taught example whose features join the SVM's
        rows (a hybrid's; see :class:`~cnnsvm.serve.teach.Teacher`).

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
    check_views(teach_views)
    model, meta = load(model_path, return_metadata=True, sha256=model_sha256, key=key)
    if not hasattr(model, "predict_proba") or find_preprocessor(model) is None:
        raise ModelFileError(
            f"{model_path} cannot be served: it needs an image preprocessing step and probabilities "
            "(export a hybrid, pca-svc or cnn model trained with probability=True)"
        )
    names = class_names(model, meta)
    teacher = None
    if allow_teach:
        try:
            teacher = Teacher(model, names, teach_limits, views=teach_views)
        except ConfigError as exc:
            raise ConfigError(f"{model_path}: {exc}; serve it without --allow-teach") from None
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
                current, current_names = teacher.current() if teacher else (model, names)
                result = predict_images(
                    current, [image], class_names=current_names, ink=ink, top_k=top_k, threshold=reject_threshold
                )[0]
            del image
        return answer_json(result, ink=ink, threshold=reject_threshold, elapsed_ms=1000 * (time.perf_counter() - start))

    def teach_examples(name, uploads, queued_at):
        if time.monotonic() - queued_at > admission.wait_seconds:
            raise admission.busy()
        with admission.working():
            batches = []
            for i, upload in enumerate(uploads):
                image = read_image_bytes(upload.data, max_pixels=max_pixels, name=f"example {i + 1}")
                if int(image.max()) - int(image.min()) < MIN_CONTRAST:
                    raise HTTPException(422, f"example {i + 1} is empty: each example must show the character")
                ink = guess_ink(image) if upload.ink == "auto" else upload.ink
                batches.append(prepare_for_model(teacher.base_model, [image], ink=ink))
            with predict_lock:
                features = teacher.features(np.concatenate(batches))
                return teacher.teach(name, features)

    def teach_state():
        return {
            "enabled": teacher is not None,
            "limits": teacher.limits.as_dict() if teacher else None,
            "taught": teacher.taught if teacher else [],
            "views_per_example": teacher.n_views if teacher else None,
        }

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
    app.state.teacher = teacher
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(_HostAllowList, hosts=hosts)
    _add_error_handlers(app)

    @app.get("/healthz")
    def healthz():
        """Liveness check."""
        return {"status": "ok"}

    @app.get("/api/model")
    def model_description():
        """What the loaded model is: method, classes, input, versions, dataset, what it was taught."""
        answer = {**description, "teach": teach_state()}
        if teacher is not None and teacher.taught:
            current, current_names = teacher.current()
            answer.update(
                classes=[int(c) for c in current.classes_], class_names=current_names, n_classes=len(current_names)
            )
        return answer

    @app.get("/api/teach")
    def teach_status():
        """Whether teaching is on, its limits and the classes taught so far."""
        if teacher is None:
            raise HTTPException(403, TEACH_OFF)
        return teach_state()

    @app.post("/api/teach")
    async def teach(request: Request):
        """Teach a class from a few drawings: JSON {"name": "...", "images": ["data:image/png;base64,...", ...]}."""
        if teacher is None:
            await discard_body(request, max_upload_bytes)
            raise HTTPException(403, TEACH_OFF)
        if not admission.enter():
            await discard_body(request, max_upload_bytes)
            raise admission.busy()
        try:
            name, uploads = await _teach_request(request, max_upload_bytes, teacher)
            answer = await asyncio.wrap_future(workers.submit(teach_examples, name, uploads, time.monotonic()))
            _, current_names = teacher.current()
            return {**answer, "n_classes": len(current_names), "class_names": current_names, "taught": teacher.taught}
        finally:
            admission.leave()

    @app.post("/api/teach/reset")
    def teach_reset():
        """Forget every taught class."""
        if teacher is None:
            raise HTTPException(403, TEACH_OFF)
        teacher.reset()
        return teach_state()

    @app.get("/api/teach/export")
    async def teach_export():
        """The taught model, as a zip of its model file and sidecar (load it with cnnsvm.load)."""
        if teacher is None:
            raise HTTPException(403, TEACH_OFF)
        if not admission.enter():
            raise admission.busy()
        try:
            payload = await asyncio.wrap_future(
                workers.submit(teacher.export, Path(model_path).name, (meta.get("payload") or {}).get("sha256"))
            )
        finally:
            admission.leave()
        return Response(
            payload,
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="taught-model.zip"'},
        )

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


async def _teach_request(request, max_upload_bytes, teacher):
    """The name and the examples of a teach request, checked against the limits before decoding."""
    from cnnsvm.serve.uploads import Upload, media_type

    if media_type(request) != "application/json":
        raise HTTPException(415, 'send application/json: {"name": "alpha", "images": ["data:image/png;base64,..."]}')
    body = await read_body(request, TEACH_BODY_FACTOR * body_limit("json", max_upload_bytes), max_upload_bytes)
    try:
        import json

        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"the request body is not valid JSON ({exc})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise HTTPException(422, 'the JSON body must be {"name": "...", "images": ["data:image/png;base64,...", ...]}')
    images = payload["images"]
    ink = payload.get("ink", "auto")
    if ink not in ("auto", "light", "dark"):
        raise HTTPException(422, f"ink must be one of auto, light, dark; got {ink!r}")
    name = teacher.check(payload.get("name"), len(images))  # 422/409 before any image is decoded
    uploads = []
    for i, item in enumerate(images):
        if not isinstance(item, str):
            raise HTTPException(422, f"example {i + 1} must be a data URL string, not {type(item).__name__}")
        data = decode_data_url(item)
        if not data:
            raise HTTPException(422, f"example {i + 1} is empty (0 bytes)")
        if len(data) > max_upload_bytes:
            raise HTTPException(413, f"example {i + 1} is larger than the limit of {max_upload_bytes:,} bytes")
        uploads.append(Upload(data, f"example {i + 1}", ink))
    return name, uploads


def _add_error_handlers(app):
    @app.exception_handler(NameClash)
    async def name_clash(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=409)

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

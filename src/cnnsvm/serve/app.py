"""The FastAPI application: the drawing page, the prediction API and its limits."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from cnnsvm.data.images import DEFAULT_MAX_PIXELS, read_image_bytes
from cnnsvm.data.preprocessing import guess_ink
from cnnsvm.exceptions import ConfigError, DataError, ModelFileError
from cnnsvm.inference import predict_images
from cnnsvm.pipeline import find_preprocessor, load
from cnnsvm.serve.model_info import class_names, describe_model
from cnnsvm.serve.uploads import extract_upload

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


def create_app(model_path, *, max_upload_bytes=2_000_000, max_pixels=DEFAULT_MAX_PIXELS,
               reject_threshold=0.5, top_k=5):
    """Build the web application serving one exported model.

    The model file is loaded (and its checksum and library versions verified)
    once, here; requests then share it.

    Parameters
    ----------
    model_path : str or Path
        A model file written by :func:`cnnsvm.pipeline.save` (its ``.json`` sidecar beside it).
    max_upload_bytes : int, default=2_000_000
        Largest encoded image accepted; larger uploads get 413.
    max_pixels : int, default=4096 * 4096
        Largest image (width * height) decoded; larger ones get 422.
    reject_threshold : float, default=0.5
        Answers whose top probability is below it are flagged ``rejected`` ("not sure").
    top_k : int, default=5
        Number of classes listed in each answer.

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
    model, meta = load(model_path, return_metadata=True)
    if not hasattr(model, "predict_proba") or find_preprocessor(model) is None:
        raise ModelFileError(
            f"{model_path} cannot be served: it needs an image preprocessing step and probabilities "
            "(export a hybrid, pca-svc or cnn model trained with probability=True)"
        )
    names = class_names(model, meta)
    description = describe_model(
        model, meta, model_path, reject_threshold=reject_threshold, top_k=top_k,
        max_upload_bytes=max_upload_bytes, max_pixels=max_pixels,
    )
    predict_lock = threading.Lock()  # one prediction at a time: the model is not shared across threads

    def predict_upload(upload):
        image = read_image_bytes(upload.data, max_pixels=max_pixels, name=upload.name)
        if int(image.max()) - int(image.min()) < MIN_CONTRAST:
            raise HTTPException(422, "the drawing is empty: draw a character, or upload an image that shows one")
        ink = guess_ink(image) if upload.ink == "auto" else upload.ink
        start = time.perf_counter()
        with predict_lock:
            result = predict_images(
                model, [image], class_names=names, ink=ink, top_k=top_k, threshold=reject_threshold
            )[0]
        return answer_json(result, ink=ink, threshold=reject_threshold,
                           elapsed_ms=1000 * (time.perf_counter() - start))

    app = FastAPI(title="cnnsvm", summary="Handwritten character recognition", docs_url=None, redoc_url=None)
    app.state.model = model
    app.state.metadata = meta
    app.state.description = description
    app.add_middleware(_SecurityHeaders)
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
        upload = await extract_upload(request, max_upload_bytes)
        return await run_in_threadpool(predict_upload, upload)

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
        return JSONResponse(
            {"detail": "internal server error; the server's log has the details"}, status_code=500
        )


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

"""Getting an image's bytes out of a ``POST /api/predict`` request, within limits.

Three request bodies are accepted:

- ``multipart/form-data`` with the image in the field ``file`` (an HTML form, ``curl -F``);
- ``application/json`` ``{"image": "data:image/png;base64,..."}`` (what the page sends);
- a raw ``image/*`` body (``curl --data-binary @digit.png -H "Content-Type: image/png"``).

Every way a request can be unusable becomes an :class:`fastapi.HTTPException`
with a 4xx status and a message saying what to send instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request

from cnnsvm.ink import INK_CHOICES

#: Media types accepted in data URLs and raw bodies (the decoder sniffs the real format).
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/gif", "image/bmp", "image/webp"})

_DATA_URL = re.compile(
    r"^data:(?P<type>[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+)?(?P<params>(?:;[A-Za-z0-9.+-]+=[^;,]*)*)"
    r"(?P<base64>;base64)?,(?P<data>.*)$",
    re.DOTALL,
)
_MULTIPART_OVERHEAD = 64 * 1024
_JSON_OVERHEAD = 4 * 1024


@dataclass(frozen=True)
class Upload:
    """An image extracted from a request: its encoded bytes, a name for messages, and the ink asked for."""

    data: bytes
    name: str
    ink: str = "auto"


def media_type(request):
    """The request's media type, lower case and without parameters ("" when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def body_limit(kind, max_upload_bytes):
    """Largest request body accepted for a body ``kind`` ("json", "multipart" or "raw").

    A data URL carries the image in base64 (4 bytes per 3), and a multipart body
    adds boundaries and headers; both get that much room on top of the image limit.
    """
    if kind == "json":
        return 4 * -(-max_upload_bytes // 3) + _JSON_OVERHEAD
    if kind == "multipart":
        return max_upload_bytes + _MULTIPART_OVERHEAD
    return max_upload_bytes


def too_large(max_upload_bytes):
    """The 413 error for an upload over ``max_upload_bytes``."""
    return HTTPException(
        413, f"the upload is larger than the limit of {max_upload_bytes:,} bytes; send a smaller image"
    )


async def read_body(request, limit, max_upload_bytes):
    """Read the request body, refusing it (413) as soon as it exceeds ``limit`` bytes.

    The Content-Length header, when present, is checked first, so that an
    announced oversized body is refused before any of it is read.

    Parameters
    ----------
    request : starlette.requests.Request
    limit : int
        Largest body accepted, in bytes.
    max_upload_bytes : int
        The image size limit quoted in the error message.

    Returns
    -------
    bytes
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPException(400, f"the Content-Length header {declared!r} is not a number") from None
        if size > limit:
            raise too_large(max_upload_bytes)
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise too_large(max_upload_bytes)
            chunks.append(chunk)
    except ClientDisconnect:
        raise HTTPException(400, "the client disconnected before sending the whole request") from None
    return b"".join(chunks)


async def discard_body(request, max_upload_bytes):
    """Read and drop the body of a request that will be refused, so that its client gets the answer.

    A body announced (Content-Length) or found larger than the largest accepted
    one is not read further: that request gets 413 instead.
    """
    limit = body_limit("json", max_upload_bytes) + _MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(max_upload_bytes)
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise too_large(max_upload_bytes)
    except ClientDisconnect:
        pass


async def extract_upload(request, max_upload_bytes):
    """Get the image out of a predict request.

    Parameters
    ----------
    request : starlette.requests.Request
    max_upload_bytes : int
        Largest encoded image accepted (413 above it).

    Returns
    -------
    Upload

    Raises
    ------
    fastapi.HTTPException
        400 for malformed JSON or multipart bodies, 413 for oversized ones, 415 for
        other content types, 422 for a missing field, a bad data URL or an empty file.
    """
    kind = media_type(request)
    if kind == "application/json":
        body = await read_body(request, body_limit("json", max_upload_bytes), max_upload_bytes)
        upload = _from_json(body)
    elif kind == "multipart/form-data":
        body = await read_body(request, body_limit("multipart", max_upload_bytes), max_upload_bytes)
        upload = await _from_multipart(request, body, max_upload_bytes)
    elif kind in IMAGE_TYPES:
        body = await read_body(request, body_limit("raw", max_upload_bytes), max_upload_bytes)
        upload = Upload(body, f"uploaded {kind} image", _ink(request.query_params.get("ink", "auto")))
    else:
        shown = kind or "no Content-Type"
        raise HTTPException(
            415,
            f"unsupported content type ({shown}): send multipart/form-data with the image in the field "
            '\'file\', application/json {"image": "data:image/png;base64,..."}, or a raw image/png or '
            "image/jpeg body",
        )
    if len(upload.data) > max_upload_bytes:
        raise too_large(max_upload_bytes)
    if not upload.data:
        raise HTTPException(422, f"{upload.name} is empty (0 bytes); send a PNG or JPEG image")
    return upload


def _ink(value):
    if value not in INK_CHOICES:
        raise HTTPException(422, f"ink must be one of {', '.join(INK_CHOICES)}; got {value!r}")
    return value


def _from_json(body):
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(400, f"the request body is not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise HTTPException(422, 'the JSON body must be an object: {"image": "data:image/png;base64,..."}')
    image = payload.get("image")
    if image is None:
        raise HTTPException(422, 'the JSON body has no "image" field; send {"image": "data:image/png;base64,..."}')
    if not isinstance(image, str):
        raise HTTPException(422, f'"image" must be a data URL string, not {type(image).__name__}')
    return Upload(decode_data_url(image), "the drawing", _ink(payload.get("ink", "auto")))


def decode_data_url(url):
    """Decode a base64 image data URL (``data:image/png;base64,...``) into bytes.

    Raises
    ------
    fastapi.HTTPException
        422 if it is not a base64 data URL, 415 if its media type is not an image type.
    """
    url = url.strip()
    match = _DATA_URL.match(url[:512])
    if match is None:
        raise HTTPException(422, '"image" is not a data URL; expected "data:image/png;base64,..."')
    declared = (match.group("type") or "").lower()
    if declared not in IMAGE_TYPES:
        raise HTTPException(
            415, f"the data URL holds {declared or 'no media type'}, not an image; send image/png or image/jpeg"
        )
    if not match.group("base64"):
        raise HTTPException(422, 'the data URL is not base64-encoded; expected "data:image/png;base64,..."')
    encoded = url.split(",", 1)[1]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(422, f"the data URL's base64 payload is invalid ({exc})") from None


async def _from_multipart(request, body, max_upload_bytes):
    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except StarletteHTTPException as exc:  # the parser's own errors: missing boundary, too many parts
        raise HTTPException(400, f"the multipart body is malformed: {exc.detail}") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a malformed body
        raise HTTPException(400, f"the multipart body is malformed ({type(exc).__name__}: {exc})") from None
    try:
        field = form.get("file")
        if not isinstance(field, UploadFile):
            raise HTTPException(422, "the form has no file in the field 'file'; upload the image as 'file'")
        data = await field.read(max_upload_bytes + 1)
        name = field.filename or "the uploaded file"
        ink = form.get("ink", "auto")
        return Upload(data, name, _ink(ink if isinstance(ink, str) else "auto"))
    finally:
        await form.close()

"""The JSON API of ``cnnsvm.serve``: answers, model description, and a 4xx for every bad request."""

import json
import re
import struct
import time
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cnnsvm.data.preprocessing import shrink_to
from cnnsvm.exceptions import ConfigError, ModelFileError
from cnnsvm.serve import create_app
from cnnsvm.serve.__main__ import main as serve_main
from cnnsvm.serve.server import is_loopback, page_url
from cnnsvm.serve.uploads import body_limit

from .helpers import data_url, draw_digit, encode

SMALL_LIMIT = 5_000
LOCAL = "http://127.0.0.1"  # the default Host allow-list answers loopback names only


@pytest.fixture(scope="module")
def client(digits_model_file):
    with TestClient(base_url=LOCAL, app=create_app(digits_model_file)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def small_client(digits_model_file):
    """A server whose upload limit is 5,000 bytes."""
    with TestClient(base_url=LOCAL, app=create_app(digits_model_file, max_upload_bytes=SMALL_LIMIT)) as test_client:
        yield test_client


def png_of(digit, **kwargs):
    return encode(draw_digit(digit, **kwargs))


def assert_answer(payload, expected_label=None):
    assert set(payload) >= {"label", "class_name", "probability", "rejected", "top", "model_input", "ink"}
    top = payload["top"]
    assert len(top) == 5
    probabilities = [entry["probability"] for entry in top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) <= 1.0 + 1e-6
    assert top[0]["label"] == payload["label"] and top[0]["probability"] == payload["probability"]
    assert len({entry["label"] for entry in top}) == 5
    assert all(entry["class_name"] == str(entry["label"]) for entry in top)
    seen = np.asarray(payload["model_input"])
    assert seen.shape == (28, 28)
    assert 0.0 <= seen.min() and seen.max() <= 1.0 and seen.max() > 0.2  # some ink is visible
    if expected_label is not None:
        assert payload["label"] == expected_label
        assert payload["class_name"] == str(expected_label)


def assert_error(response, status, pattern=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert "Traceback" not in detail
    if pattern is not None:
        assert re.search(pattern, detail, re.IGNORECASE), detail


def png_with_header_size(width, height):
    """A PNG whose header claims ``width`` x ``height`` pixels, with a tiny (wrong) payload."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- good requests
def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_model_description_comes_from_the_sidecar(client, digits_model_file):
    described = client.get("/api/model").json()
    assert described["method"] == "pca-svc"
    assert described["classes"] == list(range(10))
    assert described["class_names"] == [str(d) for d in range(10)]
    assert described["n_classes"] == 10
    assert described["input_size"] == [8, 8]
    assert described["model_size"] == 28
    assert described["dataset"] == "digits"
    assert described["preprocessing"]["trained_ink"] == "light"
    assert {"scikit-learn", "numpy", "cnnsvm"} <= set(described["versions"])
    sidecar = json.loads(digits_model_file.with_name(digits_model_file.name + ".json").read_text())
    assert described["sha256"] == sidecar["payload"]["sha256"]
    assert described["server"] == {
        "reject_threshold": 0.5,
        "top_k": 5,
        "max_upload_bytes": 2_000_000,
        "max_pixels": 4096 * 4096,
    }


@pytest.mark.parametrize("digit", ["1", "7", "0"])
def test_png_upload_is_read(client, digit):
    response = client.post("/api/predict", files={"file": ("digit.png", png_of(digit), "image/png")})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert_answer(payload, int(digit))
    assert payload["ink"] == "light"
    assert payload["rejected"] is False


def test_the_answer_is_the_models_own(client, digits_model_file):
    # Labels, names and probabilities are the model's for this image (not, say, the
    # probabilities of the sorted order applied to unsorted labels), and sum to one over all classes.
    from cnnsvm.inference import predict_images
    from cnnsvm.pipeline import load

    model, meta = load(digits_model_file, return_metadata=True)
    image = np.asarray(draw_digit("7"))
    expected = predict_images(model, [image], class_names=meta["class_names"], top_k=10)[0]
    response = client.post("/api/predict", files={"file": ("digit.png", encode(draw_digit("7")), "image/png")})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["label"] == expected["label"] and payload["probability"] == pytest.approx(expected["probability"])
    assert [t["label"] for t in payload["top"]] == [t["label"] for t in expected["top"][:5]]
    np.testing.assert_allclose(
        [t["probability"] for t in payload["top"]], [t["probability"] for t in expected["top"][:5]], rtol=1e-9
    )
    assert sum(t["probability"] for t in expected["top"]) == pytest.approx(1.0)


def test_data_url_of_a_drawing_is_read(client):
    response = client.post("/api/predict", json={"image": data_url(png_of("7"))})
    assert response.status_code == 200, response.text
    assert_answer(response.json(), 7)


def test_dark_ink_on_light_is_read_the_same(client):
    response = client.post("/api/predict", json={"image": data_url(png_of("1", ink=0, background=255))})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert_answer(payload, 1)
    assert payload["ink"] == "dark"


def test_transparent_canvas_drawing_is_composited_onto_white(client):
    drawing = draw_digit("7", ink=(0, 0, 0, 255), background=(0, 0, 0, 0), mode="RGBA")
    response = client.post("/api/predict", json={"image": data_url(encode(drawing))})
    assert response.status_code == 200, response.text
    assert_answer(response.json(), 7)
    assert response.json()["ink"] == "dark"


def test_jpeg_data_url_and_raw_body_are_read(client):
    jpeg = encode(draw_digit("0").convert("RGB"), "JPEG", quality=90)
    response = client.post("/api/predict", json={"image": data_url(jpeg, "image/jpeg")})
    assert response.status_code == 200, response.text
    assert_answer(response.json(), 0)
    raw = client.post("/api/predict", content=png_of("1"), headers={"content-type": "image/png"})
    assert raw.status_code == 200, raw.text
    assert_answer(raw.json(), 1)


def test_ink_can_be_forced(client):
    # Read as dark ink, white-on-black strokes become the background: a different input.
    light = client.post("/api/predict", json={"image": data_url(png_of("1")), "ink": "light"}).json()
    dark = client.post("/api/predict", json={"image": data_url(png_of("1")), "ink": "dark"}).json()
    assert light["ink"] == "light" and dark["ink"] == "dark"
    assert light["model_input"] != dark["model_input"]


def test_reject_flag_is_set_when_the_threshold_is_one(digits_model_file):
    with TestClient(base_url=LOCAL, app=create_app(digits_model_file, reject_threshold=1.0)) as strict:
        payload = strict.post("/api/predict", files={"file": ("d.png", png_of("7"), "image/png")}).json()
    assert payload["rejected"] is True
    assert payload["threshold"] == 1.0
    assert payload["probability"] < 1.0
    assert payload["label"] is None and payload["class_name"] is None  # a rejection carries no class
    assert payload["top"][0]["probability"] == payload["probability"]


def test_reject_flag_is_clear_when_the_threshold_is_zero(digits_model_file):
    with TestClient(base_url=LOCAL, app=create_app(digits_model_file, reject_threshold=0.0, top_k=3)) as lenient:
        payload = lenient.post("/api/predict", files={"file": ("d.png", png_of("0"), "image/png")}).json()
    assert payload["rejected"] is False
    assert len(payload["top"]) == 3


def test_devanagari_class_names_are_returned_as_text(tmp_path, digits_model_file):
    from cnnsvm.pipeline import load, save

    names = [
        "० (shunya)",
        "१ (ek)",
        "२ (dui)",
        "३ (tin)",
        "४ (char)",
        "५ (panch)",
        "६ (chha)",
        "७ (saat)",
        "८ (aath)",
        "९ (nau)",
    ]
    path = save(load(digits_model_file), tmp_path / "deva.joblib", class_names=names)
    with TestClient(base_url=LOCAL, app=create_app(path)) as deva:
        assert deva.get("/api/model").json()["class_names"] == names
        response = deva.post("/api/predict", files={"file": ("d.png", png_of("7"), "image/png")})
    assert response.status_code == 200
    payload = json.loads(response.content.decode("utf-8"))
    assert payload["class_name"] == "७ (saat)"
    assert [entry["class_name"] for entry in payload["top"]] == [names[entry["label"]] for entry in payload["top"]]


def test_page_and_assets_are_served_without_external_resources(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="pad"' in page.text and 'id="seen"' in page.text and 'type="file"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("/static/app.js", "javascript"), ("/static/style.css", "text/css")):
        response = client.get(asset)
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", response.text, re.IGNORECASE)
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)


# ----------------------------------------------------------------- bad requests
def test_not_an_image_is_422(client):
    response = client.post("/api/predict", files={"file": ("notes.txt", b"hello, this is text", "text/plain")})
    assert_error(response, 422, "not a readable image")


def test_corrupt_and_truncated_images_are_422(client):
    png = png_of("7")
    truncated = client.post("/api/predict", files={"file": ("t.png", png[: len(png) // 2], "image/png")})
    assert_error(truncated, 422, "corrupt or truncated")
    corrupt = png[:60] + bytes(len(png) - 60)
    response = client.post("/api/predict", json={"image": data_url(corrupt)})
    assert_error(response, 422)


@pytest.mark.parametrize("background", [0, 255])
def test_blank_canvas_is_422(client, background):
    blank = encode(Image.new("L", (280, 280), background))
    assert_error(client.post("/api/predict", json={"image": data_url(blank)}), 422, "the drawing is empty")
    transparent = encode(Image.new("RGBA", (280, 280), (0, 0, 0, 0)))
    assert_error(client.post("/api/predict", json={"image": data_url(transparent)}), 422, "the drawing is empty")


def test_empty_file_is_422(client):
    assert_error(client.post("/api/predict", files={"file": ("e.png", b"", "image/png")}), 422, "empty")
    assert_error(client.post("/api/predict", json={"image": "data:image/png;base64,"}), 422, "empty")


def test_oversized_multipart_upload_is_413(small_client, client):
    big = bytes(SMALL_LIMIT + 1)
    assert_error(small_client.post("/api/predict", files={"file": ("b.png", big, "image/png")}), 413, "limit")
    # Far over the body limit: refused while reading.
    huge = bytes(body_limit("multipart", SMALL_LIMIT) + 10)
    assert_error(small_client.post("/api/predict", files={"file": ("b.png", huge, "image/png")}), 413)
    # The default limit is 2 MB.
    default_big = bytes(2_000_001)
    assert_error(client.post("/api/predict", files={"file": ("b.png", default_big, "image/png")}), 413, "2,000,000")


def test_oversized_data_url_and_raw_body_are_413(small_client):
    over = bytes(SMALL_LIMIT + 1)
    assert_error(small_client.post("/api/predict", json={"image": data_url(over)}), 413)
    assert_error(small_client.post("/api/predict", json={"image": data_url(bytes(4 * SMALL_LIMIT))}), 413)
    assert_error(small_client.post("/api/predict", content=over, headers={"content-type": "image/png"}), 413)


def test_announced_content_length_is_checked_before_reading(small_client):
    response = small_client.post(
        "/api/predict", content=b"{}", headers={"content-type": "application/json", "content-length": "999999999"}
    )
    assert_error(response, 413)
    bad = small_client.post(
        "/api/predict", content=b"{}", headers={"content-type": "application/json", "content-length": "lots"}
    )
    assert_error(bad, 400, "content-length")


def test_huge_pixel_dimensions_are_refused(client):
    # 5000 x 5000 = 25 Mpx: more than max_pixels (16.8 Mpx) yet a small file.
    wide = encode(Image.new("L", (5000, 5000), 0))
    assert len(wide) < 2_000_000
    assert_error(client.post("/api/predict", files={"file": ("w.png", wide, "image/png")}), 422, "pixels")


def test_decompression_bomb_header_is_refused(client):
    bomb = png_with_header_size(100_000, 100_000)
    response = client.post("/api/predict", json={"image": data_url(bomb)})
    assert response.status_code in (413, 422)
    assert_error(response, response.status_code, "too large|pixels")


@pytest.mark.parametrize("shape", [(1, 200_000), (150_000, 2), (3000, 4000)])
def test_long_thin_and_large_images_are_shrunk_not_padded_into_gigabytes(client, shape):
    pixels = np.zeros(shape, np.uint8)
    pixels[: max(1, shape[0] // 2), : max(1, shape[1] // 3)] = 255
    response = client.post("/api/predict", files={"file": ("t.png", encode(Image.fromarray(pixels)), "image/png")})
    assert response.status_code == 200, response.text
    assert np.asarray(response.json()["model_input"]).shape == (28, 28)


def test_shrink_to_keeps_the_aspect_ratio_and_small_images():
    small = np.zeros((280, 280), np.uint8)
    assert shrink_to(small, 2048) is small
    assert shrink_to(np.zeros((100, 100_000), np.uint8), 2048).shape == (2, 2048)
    assert shrink_to(np.full((4096, 3072), 200, np.uint8), 1024).shape == (1024, 768)
    assert shrink_to(np.full((4096, 3072), 200, np.uint8), 1024).max() == 200


def test_pixel_limit_is_configurable(digits_model_file):
    with TestClient(base_url=LOCAL, app=create_app(digits_model_file, max_pixels=100 * 100)) as tight:
        response = tight.post("/api/predict", files={"file": ("d.png", png_of("1"), "image/png")})
    assert_error(response, 422, "pixels")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/octet-stream",
        None,
    ],
)
def test_wrong_content_type_is_415(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/api/predict", content=png_of("1"), headers=headers)
    assert_error(response, 415, "unsupported content type")


def test_data_url_of_another_media_type_is_415(client):
    response = client.post("/api/predict", json={"image": "data:text/plain;base64,aGVsbG8="})
    assert_error(response, 415, "not an image")


@pytest.mark.parametrize(
    ("body", "status", "pattern"),
    [
        (b'{"image": "data:image/png;base64,', 400, "not valid JSON"),
        (b"", 400, "not valid JSON"),
        (b"\xff\xfe\x00garbage", 400, "not valid JSON"),
        (b'["data:image/png;base64,AAAA"]', 422, "must be an object"),
        (b'{"picture": "data:image/png;base64,AAAA"}', 422, 'no "image" field'),
        (b'{"image": 42}', 422, "data URL string"),
        (b'{"image": "iVBORw0KGgo="}', 422, "not a data URL"),
        (b'{"image": "data:image/png,rawbytes"}', 422, "not base64"),
        (b'{"image": "data:image/png;base64,@@@not-base64@@@"}', 422, "base64"),
        (b'{"image": "data:image/png;base64,AAAA", "ink": "purple"}', 422, "ink must be"),
    ],
)
def test_malformed_json_and_data_urls(client, body, status, pattern):
    response = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert_error(response, status, pattern)


def test_multipart_without_a_file_or_malformed_is_4xx(client):
    no_file = client.post("/api/predict", data={"image": "x"}, files={"other": ("a.png", png_of("1"), "image/png")})
    assert_error(no_file, 422, "field 'file'")
    text_field = client.post(
        "/api/predict", data={"file": "not a file"}, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert_error(text_field, 400, "malformed")
    no_boundary = client.post("/api/predict", content=b"--x\r\n", headers={"content-type": "multipart/form-data"})
    assert_error(no_boundary, 400, "malformed")
    form_text = client.post(
        "/api/predict",
        content=b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nplain text\r\n--b--\r\n',
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert_error(form_text, 422, "field 'file'")


def test_wrong_method_and_unknown_path_are_json_4xx(client):
    assert_error(client.get("/api/predict"), 405)
    assert_error(client.get("/api/nothing-here"), 404)


def test_unexpected_errors_are_json_500_without_traceback(digits_model_file, monkeypatch):
    app = create_app(digits_model_file)

    def broken(_):
        raise RuntimeError("secret internal state")

    monkeypatch.setattr(app.state.model.steps[-1][1], "predict_proba", broken)
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as failing:
        response = failing.post("/api/predict", files={"file": ("d.png", png_of("1"), "image/png")})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error; the server's log has the details"}
    assert "secret" not in response.text


# -------------------------------------------------------------- app and server
def test_missing_or_tampered_model_file_fails_at_creation(digits_model_file, tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        create_app(tmp_path / "missing.joblib")
    tampered = tmp_path / "m.joblib"
    tampered.write_bytes(digits_model_file.read_bytes()[:-10] + bytes(10))
    tampered.with_name("m.joblib.json").write_bytes(
        digits_model_file.with_name(digits_model_file.name + ".json").read_bytes()
    )
    with pytest.raises(ModelFileError, match="SHA-256"):
        create_app(tampered)


@pytest.mark.parametrize(
    "settings",
    [{"max_upload_bytes": 0}, {"max_pixels": -1}, {"reject_threshold": 1.5}, {"top_k": 0}],
)
def test_bad_settings_are_refused(digits_model_file, settings):
    with pytest.raises(ConfigError):
        create_app(digits_model_file, **settings)


def test_command_line_reports_a_bad_model_file(tmp_path, capsys):
    status = serve_main(["--model", str(tmp_path / "nothing.joblib"), "--port", "0"])
    assert status == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback", "url"),
    [
        ("127.0.0.1", True, "http://127.0.0.1:8000/"),
        ("localhost", True, "http://localhost:8000/"),
        ("::1", True, "http://[::1]:8000/"),
        ("0.0.0.0", False, "http://127.0.0.1:8000/"),
        ("192.168.1.20", False, "http://192.168.1.20:8000/"),
    ],
)
def test_server_urls_and_loopback(host, loopback, url):
    assert is_loopback(host) is loopback
    assert page_url(host, 8000) == url


# ------------------------------------------------------------ safety limits
@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "127.0.0.1.nip.io", ""])
def test_requests_for_other_host_names_are_refused(client, host):
    for method, path in (("GET", "/"), ("GET", "/api/model"), ("POST", "/api/predict")):
        response = client.request(method, path, headers={"host": host})
        assert_error(response, 400, "does not answer for the host")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8000", "LOCALHOST", "[::1]:8000", "127.0.0.1:1234"])
def test_loopback_host_names_are_answered(client, host):
    assert client.get("/healthz", headers={"host": host}).status_code == 200


def test_allowed_hosts_extend_the_list(digits_model_file):
    app = create_app(digits_model_file, allowed_hosts=["draw.example.org"])
    with TestClient(app, base_url="http://draw.example.org:8000") as named:
        assert named.get("/api/model").status_code == 200
        assert named.get("/api/model", headers={"host": "attacker.example"}).status_code == 400
    with TestClient(create_app(digits_model_file, allowed_hosts=["*"]), base_url="http://any.example") as anyhost:
        assert anyhost.get("/healthz").status_code == 200
    with pytest.raises(ConfigError, match="allowed host"):
        create_app(digits_model_file, allowed_hosts=[""])


def test_model_description_holds_no_paths_or_commands(tmp_path, digits_model_file):
    from cnnsvm.pipeline import load, save

    model = load(digits_model_file)
    secret_dir = tmp_path / "home" / "alice" / "private-data"
    path = save(
        model,
        tmp_path / "cli.joblib",
        class_names=[str(d) for d in range(10)],
        metadata={
            "dataset": {"spec": f"npz:{secret_dir}/digits.npz", "name": "digits", "n_train": 10},
            "command": f"cnnsvm train --data npz:{secret_dir}/digits.npz --out {tmp_path}/cli.joblib",
            "test_accuracy": 0.97,
            "notes": str(secret_dir),
        },
    )
    with TestClient(create_app(path), base_url=LOCAL) as described:
        text = described.get("/api/model").text
    body = json.loads(text)
    assert body["dataset"] == "digits" and body["scores"] == {"test_accuracy": 0.97}
    assert body["file"] == "cli.joblib" and body["signed"] is False
    assert "command" not in text and "cnnsvm train" not in text and "metadata" not in body
    assert str(tmp_path) not in text and "alice" not in text and "private-data" not in text


def test_a_busy_server_answers_503_at_once_and_recovers(digits_model_file):
    app = create_app(digits_model_file, max_in_flight=1, max_queue=0)
    admission = app.state.admission
    body = {"files": {"file": ("d.png", png_of("7"), "image/png")}}
    with TestClient(app, base_url=LOCAL) as busy:
        assert admission.enter()  # another request is being handled: the server is full
        try:
            response = busy.post("/api/predict", **body)
            assert_error(response, 503, "busy")
            assert response.headers["retry-after"] == "1"
        finally:
            admission.leave()
        assert busy.post("/api/predict", **body).status_code == 200
        # a queued request waits for the worker, and gets 503 if it waited too long
        import threading

        admission.wait_seconds = 0.2
        release = threading.Event()
        app.state.workers.submit(release.wait)  # the only worker is busy
        answers = []
        waiting = threading.Thread(target=lambda: answers.append(busy.post("/api/predict", **body)))
        waiting.start()
        time.sleep(0.5)
        release.set()
        waiting.join(30)
        assert_error(answers[0], 503, "busy")
        assert busy.post("/api/predict", **body).status_code == 200
        assert admission.peak_working == 1
    with pytest.raises(ConfigError, match="max_in_flight"):
        create_app(digits_model_file, max_in_flight=0)


def test_signed_model_and_pin_are_checked_at_creation(tmp_path, digits_model_file, monkeypatch):
    import hashlib

    digest = hashlib.sha256(digits_model_file.read_bytes()).hexdigest()
    create_app(digits_model_file, model_sha256=digest)
    with pytest.raises(ModelFileError, match="not the pinned"):
        create_app(digits_model_file, model_sha256="f" * 64)
    monkeypatch.setenv("CNNSVM_MODEL_KEY", "server key")
    with pytest.raises(ModelFileError, match="not signed"):
        create_app(digits_model_file)

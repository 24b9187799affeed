"""The drawing page in a real browser: the server in a subprocess, Debian's Chromium driven by Playwright.

Without chromium or playwright these tests are skipped, except under CI
(``CI`` set), where they fail: CI installs both.

``CNNSVM_SERVE_MODEL=FILE`` serves another model file instead of the small
digits model, and ``CNNSVM_SERVE_SCREENSHOT=docs/serve.png`` also saves a
screenshot of the page with a drawn digit there.
"""

import contextlib
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .helpers import DIGIT_STROKES, draw_digit, encode

pytestmark = pytest.mark.browser

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 90
ANSWER_TIMEOUT_MS = 20_000


def _missing(reason):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI installs it (apt-get install chromium, pip install playwright)")
    pytest.skip(reason)


def _chromium_path():
    for candidate in (os.environ.get("CNNSVM_CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_healthy(url, process, log_path):
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    pytest.fail(f"the server did not answer /healthz within {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()}")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    path = _chromium_path()
    if path is None:
        _missing("chromium is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def running_server(model, log_path, *extra_args):
    """``python -m cnnsvm.serve`` on a free loopback port; yields the page's URL, always terminated."""
    port = _free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [
        sys.executable,
        "-m",
        "cnnsvm.serve",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra_args,
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_healthy(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(digits_model_file, tmp_path_factory):
    model = os.environ.get("CNNSVM_SERVE_MODEL") or digits_model_file
    with running_server(model, tmp_path_factory.mktemp("serve-log") / "server.log") as url:
        yield url


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1120, "height": 860})
    page.goto(server)
    try:
        yield page
    finally:
        page.close()


def draw(page, strokes, canvas_size=280):
    """Draw ``strokes`` (points on a 280x280 canvas) with the mouse on the page's drawing canvas."""
    box = page.locator("#pad").bounding_box()
    scale_x, scale_y = box["width"] / canvas_size, box["height"] / canvas_size

    def at(point):
        return box["x"] + point[0] * scale_x, box["y"] + point[1] * scale_y

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(point), steps=8)
        page.mouse.up()


def shown_percentages(page):
    texts = page.locator("#top li .value").all_inner_texts()
    return [float(text.replace("%", "").strip()) for text in texts]


def test_drawing_a_digit_shows_the_prediction(page):
    from playwright.sync_api import expect

    expect(page.locator("#model-summary")).to_contain_text("10 classes")
    expect(page.locator("#answer")).to_have_attribute("data-state", "idle")
    expect(page.locator("#pad-hint")).to_be_visible()
    expect(page.locator("#upload-figure")).to_be_hidden()
    draw(page, DIGIT_STROKES["7"])
    expect(page.locator("#pad-hint")).to_be_hidden()
    expect(page.locator("#verdict")).to_have_text("7", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#answer")).to_have_attribute("data-state", "answer")
    expect(page.locator("#top li")).to_have_count(5)
    percentages = shown_percentages(page)
    assert percentages == sorted(percentages, reverse=True)
    assert percentages[0] > 50 and sum(percentages) <= 100.5
    assert page.locator("#top li").first.get_attribute("aria-label").startswith("7:")
    # The model's input is drawn pixel for pixel into the small canvas.
    seen = page.evaluate(
        """() => {
            const c = document.getElementById('seen');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let bright = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] > 128) bright += 1;
            return {width: c.width, height: c.height, bright: bright};
        }"""
    )
    assert seen["width"] == seen["height"] == 28
    assert seen["bright"] > 10

    page.click("#undo")
    expect(page.locator("#answer")).to_have_attribute("data-state", "idle")
    expect(page.locator("#top li")).to_have_count(0)

    draw(page, DIGIT_STROKES["1"])
    expect(page.locator("#verdict")).to_have_text("1", timeout=ANSWER_TIMEOUT_MS)
    page.click("#clear")
    expect(page.locator("#answer")).to_have_attribute("data-state", "idle")
    expect(page.locator("#verdict")).to_have_text("Nothing drawn yet")
    expect(page.locator("#pad-hint")).to_be_visible()


def test_uploading_an_image_shows_the_prediction_and_errors(page, tmp_path):
    from playwright.sync_api import expect

    drawing = tmp_path / "zero.png"
    drawing.write_bytes(encode(draw_digit("0", ink=0, background=255)))  # dark ink, as on paper
    page.set_input_files("#file", str(drawing))
    expect(page.locator("#verdict")).to_have_text("0", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#top li")).to_have_count(5)
    expect(page.locator("#upload-figure")).to_be_visible()
    assert all(p >= 0 for p in shown_percentages(page))

    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"}])
    expect(page.locator("#error")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#error")).to_contain_text("not a readable image")
    expect(page.locator("#answer")).to_have_attribute("data-state", "error")


def test_not_sure_state_when_the_reject_option_fires(browser, digits_model_file, tmp_path):
    from playwright.sync_api import expect

    with running_server(digits_model_file, tmp_path / "server.log", "--reject-threshold", "1.0") as url:
        page = browser.new_page()
        try:
            page.goto(url)
            draw(page, DIGIT_STROKES["7"])
            expect(page.locator("#answer")).to_have_attribute("data-state", "unsure", timeout=ANSWER_TIMEOUT_MS)
            expect(page.locator("#unsure")).to_be_visible()
            expect(page.locator("#verdict")).to_have_text("Not sure (maybe 7)")
            expect(page.locator("#top li")).to_have_count(5)
        finally:
            page.close()


def _two(n=24):
    """Strokes of a handwritten "2": an arc, a diagonal and a base line."""
    arc = [
        (140 + 62 * math.cos(a), 105 - 58 * math.sin(a)) for a in (math.pi * (1.05 - 1.2 * i / n) for i in range(n + 1))
    ]
    return [arc + [(88, 228), (212, 226)]]


def test_screenshot_of_a_drawn_digit(page):
    target = os.environ.get("CNNSVM_SERVE_SCREENSHOT")
    if not target:
        pytest.skip("set CNNSVM_SERVE_SCREENSHOT=docs/serve.png to refresh the screenshot")
    from playwright.sync_api import expect

    expect(page.locator("#model-summary")).to_contain_text("classes")
    draw(page, _two())
    expect(page.locator("#top li")).to_have_count(5, timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_timeout(600)  # let the bars finish their transition
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=target, full_page=True)


def test_teaching_a_new_class_in_the_page(browser, digits_model_file, tmp_path):
    from playwright.sync_api import expect

    crosses = [[[(60 + d, 60 + d), (220 + d, 220 + d)], [(60 + d, 220 + d), (220 + d, 60 + d)]] for d in (0, -20, 15)]
    with running_server(digits_model_file, tmp_path / "server.log", "--allow-teach") as url:
        page = browser.new_page(viewport={"width": 1120, "height": 1200})
        try:
            page.goto(url)
            expect(page.locator("#teach")).to_be_visible()
            for strokes in crosses:
                draw(page, strokes)
                page.click("#teach-add")
            expect(page.locator("#teach-count")).to_contain_text("3 examples ready")
            page.fill("#teach-name", "cross")
            page.click("#teach-send")
            expect(page.locator("#teach-status")).to_contain_text("Taught “cross”", timeout=ANSWER_TIMEOUT_MS)
            expect(page.locator("#model-summary")).to_contain_text("11 classes")
            expect(page.locator("#teach-export")).to_be_visible()
            draw(page, [[(65, 65), (215, 215)], [(65, 215), (215, 65)]])
            expect(page.locator("#top li").first).to_contain_text("cross", timeout=ANSWER_TIMEOUT_MS)
        finally:
            page.close()

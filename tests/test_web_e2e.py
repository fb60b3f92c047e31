"""End to end in a real headless Chromium: the page served by the real server (uvicorn on a free
127.0.0.1 port). Draw digits with the mouse and see them read, upload a photo, correct a digit,
teach, and see the new model active; then the same page on a phone-sized screen.

Needs Debian's ``chromium`` (``scripts/setup-browser``) and the ``playwright`` package (dev extra);
skipped, with the reason, when either is missing. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from mydigits import paths

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAD_W, PAD_H = 900, 360  # the drawing canvas's own pixels (index.html)


@pytest.fixture
def chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        if os.environ.get("CI"):  # CI installs it (scripts/setup-browser): a missing browser is a failure there
            pytest.fail("no chromium on PATH in CI: scripts/setup-browser did not install it")
        pytest.skip("no chromium on PATH (run scripts/setup-browser)")
    return exe


@pytest.fixture
def server(chromium: str):
    import uvicorn

    from mydigits.serving import create_app
    from mydigits.teaching import Settings

    tiny = replace(Settings.quick(), epochs=2, steps_per_epoch=4, batch_size=64, replay_pool=1000,
                   negatives=100, mnist_eval=300, monitor=100)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(teach_settings=tiny), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="uvicorn-e2e", daemon=True)
    thread.start()
    t0 = time.perf_counter()
    while not srv.started:
        assert thread.is_alive() and time.perf_counter() - t0 < 30, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=15)


@pytest.fixture
def browser(chromium: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    return errors


def _draw(page, strokes: list[list[tuple[float, float]]]) -> None:
    """Draw strokes given in the canvas's own pixels with the mouse (pointer events)."""
    box = page.locator("#pad").bounding_box()
    sx, sy = box["width"] / PAD_W, box["height"] / PAD_H
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * sx, box["y"] + y * sy)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=4)
        page.mouse.up()


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 36) -> list[tuple[float, float]]:
    return [(cx + rx * math.sin(2 * math.pi * k / n), cy - ry * math.cos(2 * math.pi * k / n))
            for k in range(n + 1)]


SEVEN_ONE_ZERO = [
    [(110, 80), (250, 80), (165, 290)],  # 7
    [(350, 75), (350, 290)],  # 1
    _ellipse(520, 185, 62, 105),  # 0
]


def _photo(path: Path, text: str = "2057") -> Path:
    """A photo-like picture: ink on grey paper, uneven light, noise, a slight turn, 1200x900."""
    rng = np.random.default_rng(0)
    h, w = 900, 1200
    yy, xx = np.mgrid[0:h, 0:w]
    paper = 200 + 30 * (xx / w) - 20 * (yy / h)
    img = np.clip(paper + rng.normal(0, 4, (h, w)), 0, 255).astype(np.uint8)
    cv2.putText(img, text, (180, 560), cv2.FONT_HERSHEY_SIMPLEX, 7, 40, 26, cv2.LINE_AA)
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 4, 1.0)
    img = cv2.warpAffine(img, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    color = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    color[..., 0] = np.clip(color[..., 0].astype(int) - 15, 0, 255)  # a warm cast
    cv2.imwrite(str(path), color, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def test_draw_upload_correct_teach(server: str, browser, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    errors = _watch_errors(page)
    page.goto(server)
    page.wait_for_function("document.querySelector('#model-select').options.length > 0")
    assert page.locator("#model-select").input_value() == "default"

    # draw three digits with the mouse and read them
    _draw(page, SEVEN_ONE_ZERO)
    page.click("#read-drawing")
    page.wait_for_selector("#result:not([hidden])")
    page.wait_for_function("document.querySelector('#text').textContent.length > 0")
    page.screenshot(path=str(ARTIFACTS / "e2e-1-drawn.png"), full_page=True)
    assert page.locator("#text").text_content() == "710"
    assert page.locator("#digits .digit").count() == 3
    assert page.locator("#digits .digit img").first.get_attribute("src").startswith("data:image/png")
    assert page.locator("#digits .digit").first.locator(".bar").count() == 10

    # clear, then upload a photo
    page.click("#clear")
    assert page.locator("#result").is_hidden()
    page.click("#tab-photo")
    page.set_input_files("#file", str(_photo(tmp_path / "photo.jpg")))
    page.wait_for_selector("#result:not([hidden])")
    page.wait_for_function("document.querySelector('#text').textContent === '2057'", timeout=30_000)
    assert page.locator("#digits .digit").count() == 4
    page.screenshot(path=str(ARTIFACTS / "e2e-2-photo.png"), full_page=True)

    # correct two digits: each becomes a sample
    for index, right in ((0, "3"), (3, "1")):
        card = page.locator(f"#digits .digit[data-index='{index}']")
        card.click()
        card.locator(".fix-input").fill(right)
        card.locator("button.primary").click()
        page.wait_for_selector(f"#digits .digit.corrected[data-index='{index}']")
    assert page.locator("#waiting").text_content() == "2"
    page.screenshot(path=str(ARTIFACTS / "e2e-3-corrected.png"), full_page=True)
    assert sorted(p.parent.name for p in (paths.home() / "samples").rglob("*.png")) == ["1", "3"]

    # teach: the progress bar moves, the new model becomes active in the switcher
    page.click("#teach-button")
    page.wait_for_selector("#teach-progress:not([hidden])")
    page.wait_for_function(
        "document.querySelector('#model-select').value === 'mine-1'", timeout=180_000, polling=500
    )
    assert "taught 2 new digit" in page.locator("#teach-status").text_content()
    assert page.locator("#teach-progress").evaluate("p => p.value") == 1
    page.screenshot(path=str(ARTIFACTS / "e2e-4-taught.png"), full_page=True)

    # switch back to the shipped model with the switcher
    page.select_option("#model-select", "default")
    page.wait_for_function("document.querySelector('#toast').textContent.includes('default')")
    from mydigits import store

    assert store.active() == "default"
    assert errors == [], errors
    page.close()


def test_phone_screen(server: str, browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    errors = _watch_errors(page)
    page.goto(server)
    page.wait_for_function("document.querySelector('#model-select').options.length > 0")
    # the camera input asks phones for the back camera
    assert page.locator("#camera").get_attribute("capture") == "environment"
    assert page.locator("#camera").get_attribute("accept") == "image/*"
    _draw(page, [[(300, 70), (300, 300)], [(450, 80), (600, 80), (500, 300)]])  # 1 7
    page.click("#read-drawing")
    page.wait_for_function("document.querySelector('#text').textContent.length > 0")
    assert page.locator("#text").text_content() == "17"
    # nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "e2e-5-phone.png"), full_page=True)
    assert errors == [], errors
    context.close()


def _dense_sheet(path: Path) -> Path:
    """A page of small digits in close lines: 11 lines of 26, 1200x900, dark ink on light paper."""
    rng = np.random.default_rng(1)
    img = np.full((900, 1200), 215, np.uint8)
    for row in range(11):
        text = "".join(str(d) for d in rng.integers(0, 10, 26))
        cv2.putText(img, text, (60, 110 + 72 * row), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 30, 4, cv2.LINE_AA)
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), img)
    return path


def _overlap(a: list[float], b: list[float]) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def test_labels_of_a_dense_sheet_cover_no_digit_and_no_label(server: str, browser, tmp_path: Path) -> None:
    """On a page of close lines, each digit's label is written where it covers no other label and
    no digit's box (before, labels sized to the picture covered each other and the line above)."""
    import json

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    errors = _watch_errors(page)
    page.goto(server)
    page.click("#tab-photo")
    page.set_input_files("#file", str(_dense_sheet(tmp_path / "sheet.png")))
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    page.wait_for_function("document.querySelector('#annotated').dataset.labels", timeout=30_000)
    page.locator("#annotated").screenshot(path=str(ARTIFACTS / "e2e-6-dense-labels.png"))
    canvas = page.locator("#annotated")
    boxes = json.loads(canvas.get_attribute("data-boxes"))
    labels = json.loads(canvas.get_attribute("data-labels"))
    width, height = canvas.evaluate("c => [c.width, c.height]")
    assert len(boxes) == len(labels) >= 250, len(boxes)
    for i, label in enumerate(labels):
        assert label[0] >= 0 and label[1] >= 0 and label[0] + label[2] <= width and label[1] + label[3] <= height
        assert label[3] < boxes[i][3], "a label is smaller than its digit"
        assert all(_overlap(label, box) == 0 for box in boxes), f"label {i} covers a digit"
        assert all(_overlap(label, other) == 0 for other in labels[:i]), f"label {i} covers another"
    assert errors == [], errors
    page.close()

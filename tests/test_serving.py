"""The REST API (``mydigits serve``) through FastAPI's TestClient: real pictures, real reading, every
error path, and a real (quick) teach job in the background."""

from __future__ import annotations

import base64
import struct
import time
import warnings
import zlib
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from mydigits import paths

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx vs httpx2
    from fastapi.testclient import TestClient

@pytest.fixture
def model() -> None:
    """The shipped default model (None: the reader's own default)."""
    return None


@pytest.fixture
def client(model) -> TestClient:
    from mydigits.serving import create_app
    from mydigits.teaching import Settings

    tiny = replace(Settings.quick(), epochs=2, steps_per_epoch=4, batch_size=64, replay_pool=1000,
                   negatives=100, mnist_eval=300, monitor=100)  # seconds, not minutes: a smoke test
    with TestClient(create_app(teach_settings=tiny)) as c:
        yield c


def digits_png(text: str = "2057", scale: float = 4.0) -> bytes:
    """Digits drawn dark on white, as a PNG."""
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 12)
    img = np.full((h + 100, w + 80), 255, np.uint8)
    cv2.putText(img, text, (40, h + 50), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, 12, cv2.LINE_AA)
    return cv2.imencode(".png", img)[1].tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header and has (almost) no pixels after it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def error(resp, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body["detail"]


# ---------------------------------------------------------------- reading


def test_read_multipart_is_read_json(client: TestClient, model) -> None:
    from mydigits.reading import Reader

    png = digits_png()
    resp = client.post("/api/read", files={"file": ("numbers.png", png, "image/png")})
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["text"] == "2057"
    assert [d["digit"] for d in got["lines"][0]["digits"]] == [2, 0, 5, 7]
    want = Reader(model).read(png, name="numbers.png").to_json()
    assert set(got) == set(want) == {"file", "text", "lines", "rejected", "timings_ms"}
    got.pop("timings_ms"), want.pop("timings_ms")
    assert got == want  # exactly `read --json`, no crops unless asked


def test_read_json_base64_and_data_url_with_crops(client: TestClient) -> None:
    png = digits_png("38")
    resp = client.post("/api/read", json={"image": b64(png)})
    assert resp.status_code == 200, resp.text
    assert resp.json()["text"] == "38" and resp.json()["file"] == "canvas.png"
    assert "crop" not in resp.json()["lines"][0]["digits"][0]
    resp = client.post("/api/read?crops=1",
                       json={"image": "data:image/png;base64," + b64(png), "name": "../x/pad.png"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["file"] == "pad.png"  # only a label, reduced to the base name
    for d in body["lines"][0]["digits"]:
        head, _, data = d["crop"].partition(",")
        assert head == "data:image/png;base64"
        crop = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_GRAYSCALE)
        assert crop.shape == (28, 28) and crop.max() > 200 and crop[0].max() < 60


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"files": {"file": ("a.txt", b"not a picture at all", "text/plain")}}, 415, "not an image"),
        ({"files": {"file": ("a.png", b"", "image/png")}}, 400, "empty"),
        ({"files": {"other": ("a.png", b"x", "image/png")}}, 400, "'file'"),
        ({"content": b"", "headers": {"content-type": "application/json"}}, 400, "empty body"),
        ({"content": b"{oops", "headers": {"content-type": "application/json"}}, 400, "JSON"),
        ({"json": {"picture": "abc"}}, 400, "image"),
        ({"json": {"image": "***not base64***"}}, 400, "base64"),
        ({"json": {"image": "data:image/png,rawbytes"}}, 400, "base64"),
        ({"json": {"image": b64(b"GIF89a broken")}}, 415, "image"),
        ({"json": {"image": ""}}, 400, "empty"),
        ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "content type"),
        ({"content": b"garbage", "headers": {"content-type": "multipart/form-data; boundary=xy"}}, 400,
         "multipart"),
        ({"json": {"image": b64(png_header_only(7000, 7000))}}, 413, "pixels"),
    ],
)
def test_read_bad_input(client: TestClient, kwargs: dict, status: int, words: str) -> None:
    assert words.lower() in error(client.post("/api/read", **kwargs), status).lower()


def test_read_corrupt_image_is_422(client: TestClient) -> None:
    png = digits_png()
    detail = error(client.post("/api/read", files={"file": ("cut.png", png[: len(png) // 2])}), 422)
    assert "cut.png" in detail


def test_request_too_large(client: TestClient) -> None:
    from mydigits.serving import MAX_BODY_BYTES

    big = b"\0" * (MAX_BODY_BYTES + 1)
    assert "too large" in error(client.post("/api/read", files={"file": ("big.png", big)}), 413)
    # without Content-Length (chunked): stopped while streaming
    chunks = (b"\0" * (1024 * 1024) for _ in range(MAX_BODY_BYTES // (1024 * 1024) + 2))
    resp = client.post("/api/read", content=chunks, headers={"content-type": "application/json"})
    assert "too large" in error(resp, 413)


# ---------------------------------------------------------------- samples


def _crop_of_first_digit(client: TestClient, text: str = "7") -> str:
    resp = client.post("/api/read?crops=1", json={"image": b64(digits_png(text))})
    assert resp.status_code == 200, resp.text
    return resp.json()["lines"][0]["digits"][0]["crop"]


def test_sample_from_crop_and_region(client: TestClient) -> None:
    from mydigits.serving import samples_dir

    crop = _crop_of_first_digit(client, "7")
    resp = client.post("/api/samples", json={"image": crop, "label": "1", "name": "../../../evil.png"})
    assert resp.status_code == 201, resp.text
    saved = resp.json()
    assert saved["label"] == 1 and saved["waiting"] == 1
    files = list(samples_dir().rglob("*.png"))
    assert [f.relative_to(samples_dir()).parts[0] for f in files] == ["1"]
    assert files[0].name == saved["id"] and saved["id"].startswith("web-") and "evil" not in saved["id"]
    img = cv2.imread(str(files[0]), cv2.IMREAD_GRAYSCALE)
    assert img.shape == (28, 28)
    # a picture of one digit (the region), as multipart
    resp = client.post("/api/samples", files={"file": ("../../x_4.png", digits_png("4"))},
                       data={"label": "4"})
    assert resp.status_code == 201, resp.text
    assert client.get("/api/samples").json() == {"waiting": 2, "by_digit": {"1": 1, "4": 1}}
    home = paths.home()
    assert not list(home.parent.glob("evil*")) and not list(home.rglob("*evil*"))
    assert all(p.resolve().is_relative_to(home.resolve()) for p in home.rglob("*"))


@pytest.mark.parametrize("label", ["x", "12", "", " ", "-1", "٣", "7.0"])
def test_sample_label_not_a_digit(client: TestClient, label: str) -> None:
    crop = _crop_of_first_digit(client)
    assert "label" in error(client.post("/api/samples", json={"image": crop, "label": label}), 400)


def test_sample_errors(client: TestClient) -> None:
    crop = _crop_of_first_digit(client)
    assert "label" in error(client.post("/api/samples", json={"image": crop}), 400)
    error(client.post("/api/samples", files={"file": ("a.png", b"hello")}, data={"label": "3"}), 415)
    error(client.post("/api/samples", files={"file": ("a.png", b"")}, data={"label": "3"}), 400)
    blank = cv2.imencode(".png", np.zeros((28, 28), np.uint8))[1].tobytes()
    assert "ink" in error(client.post("/api/samples", json={"image": b64(blank), "label": "3"}), 422)
    dark_on_light = np.full((28, 28), 255, np.uint8)
    dark_on_light[8:20, 12:16] = 0
    dl = cv2.imencode(".png", dark_on_light)[1].tobytes()
    error(client.post("/api/samples", json={"image": b64(dl), "label": "3"}), 422)
    many = digits_png("123")
    assert "exactly one digit" in error(
        client.post("/api/samples", json={"image": b64(many), "label": "3"}), 422)
    assert client.get("/api/samples").json()["waiting"] == 0


# ---------------------------------------------------------------- models and jobs


def test_models_list_and_use(client: TestClient) -> None:
    body = client.get("/api/models").json()
    assert body["active"] == "default"
    assert [m["name"] for m in body["models"]] == ["default"] and body["models"][0]["active"]
    assert client.post("/api/models/default/use").json()["active"] == "default"
    assert "unknown model" in error(client.post("/api/models/nope/use"), 404)


@pytest.mark.parametrize(
    "name", ["..", "...", ".hidden", "a b", "..%2F..%2Fetc%2Fpasswd", "%2E%2E", "active", "x" * 65]
)
def test_model_names_never_reach_paths(client: TestClient, name: str) -> None:
    resp = client.post(f"/api/models/{name}/use")
    assert 400 <= resp.status_code < 500, (name, resp.status_code)
    assert resp.json()["detail"]
    assert client.get("/api/models").json()["active"] == "default"


def test_traversal_paths_are_not_routed(client: TestClient) -> None:
    for url in ["/api/models/../../etc/passwd/use", "/static/../../../../etc/passwd",
                "/static/%2E%2E/%2E%2E/serving.py"]:
        resp = client.post(url) if url.endswith("/use") else client.get(url)
        assert 400 <= resp.status_code < 500, url
        assert "root:" not in resp.text and "import" not in resp.text


def test_unknown_job(client: TestClient) -> None:
    assert "no job" in error(client.get("/api/jobs/" + "0" * 32), 404)
    error(client.get("/api/jobs/not-a-job"), 404)


def test_teach_errors_before_starting(client: TestClient) -> None:
    assert "no samples" in error(client.post("/api/teach", json={}), 400)
    assert "invalid model name" in error(client.post("/api/teach", json={"name": "../x"}), 400)
    resp = client.post("/api/teach", json={"epochs": 0})
    assert resp.status_code == 422


def test_teach_in_background(client: TestClient) -> None:
    """A real (quick) teach job: 409 while busy, reading still served, the new model active."""
    for text, label in (("7", "1"), ("3", "3"), ("5", "5")):
        resp = client.post("/api/samples", json={"image": _crop_of_first_digit(client, text),
                                                 "label": label})
        assert resp.status_code == 201, resp.text
    resp = client.post("/api/teach")
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["state"] in ("queued", "running")
    assert "already running" in error(client.post("/api/teach", json={}), 409)

    t0 = time.perf_counter()
    read_while_busy = None
    while job["state"] in ("queued", "running"):
        assert time.perf_counter() - t0 < 120, job
        if read_while_busy is None:
            r = client.post("/api/read", json={"image": b64(digits_png("42"))})
            read_while_busy = (r.status_code, r.json().get("text"), job["state"])
        time.sleep(0.5)
        job = client.get(f"/api/jobs/{job['id']}").json()
        assert 0.0 <= job["progress"] <= 1.0
    assert job["state"] == "succeeded", job
    assert read_while_busy[:2] == (200, "42")
    assert job["progress"] == 1.0 and job["result"]["model"] == "mine-1"
    assert job["result"]["samples"] == 3 and "epoch" in " ".join(job["log"])
    # the taught samples no longer wait; they are kept beside the store
    assert client.get("/api/samples").json()["waiting"] == 0
    kept = paths.home() / "taught-samples" / "mine-1"
    assert sorted(f.parent.name for f in kept.rglob("*.png")) == ["1", "3", "5"]
    models = client.get("/api/models").json()
    assert models["active"] == "mine-1"
    assert models["reading_with"].endswith(str(Path("models", "mine-1", "model.safetensors")))
    assert [m["name"] for m in models["models"]] == ["default", "mine-1"]
    # reading now uses the taught model; the name is taken; switching back works
    assert client.post("/api/read", json={"image": b64(digits_png("2057"))}).json()["text"] == "2057"
    assert "already exists" in error(client.post("/api/teach", json={"name": "mine-1"}), 409)
    assert client.post("/api/models/default/use").json()["active"] == "default"
    assert client.post("/api/models/mine-1/use").json()["active"] == "mine-1"


def test_docs_and_page(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/read"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
    assert {"/api/samples", "/api/teach", "/api/jobs/{job_id}", "/api/models",
            "/api/models/{name}/use"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and 'capture="environment"' in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")


def test_serve_subcommand_parses() -> None:
    from mydigits.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)
    args = build_parser().parse_args(["serve", "--port", "8123", "--host", "0.0.0.0"])
    assert (args.host, args.port) == ("0.0.0.0", 8123)


def test_failed_teach_puts_samples_back(client: TestClient) -> None:
    from mydigits.serving import _stage_samples, _unstage_samples, samples_dir

    resp = client.post("/api/samples", json={"image": _crop_of_first_digit(client), "label": "7"})
    assert resp.status_code == 201
    stage = _stage_samples("f" * 32)
    assert stage is not None and client.get("/api/samples").json()["waiting"] == 0
    assert _stage_samples("e" * 32) is None  # nothing left to stage
    _unstage_samples(stage, None)
    assert not stage.exists()
    assert [p.parent.name for p in samples_dir().rglob("*.png")] == ["7"]

"""Hostile clients against a real ``mydigits serve``: uvicorn on 127.0.0.1 with the settings ``serve``
uses, spoken to through raw sockets, so that slow, truncated, oversize and malformed requests reach
the server exactly as a network would deliver them (a test client would tidy them up first).

After every attack the server must still answer, and nothing may be written outside its home.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from mydigits import paths, serving

IDLE, TOTAL = 1.0, 3.0  # the body timeouts for these tests (production: 30 s and 300 s)
MAX_BODY = 2 * 1024 * 1024


def digits_png(text: str = "38") -> bytes:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 3.0, 10)
    img = np.full((h + 60, w + 60), 255, np.uint8)
    cv2.putText(img, text, (30, h + 30), cv2.FONT_HERSHEY_SIMPLEX, 3.0, 0, 10, cv2.LINE_AA)
    return cv2.imencode(".png", img)[1].tobytes()


class Server:
    """A real uvicorn server in a thread; its log records are kept to look for tracebacks."""

    def __init__(self, home: Path) -> None:
        import uvicorn

        self.home = home
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = serving.server_config(serving.create_app(), "127.0.0.1", self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                data = {"raw": raw[:200].decode("latin-1")}
            return resp.status, data if isinstance(data, dict) else {"list": data}
        finally:
            conn.close()

    def read_png(self, png: bytes, name: str = "x.png") -> tuple[int, dict]:
        body = json.dumps({"image": base64.b64encode(png).decode(), "name": name}).encode()
        return self.request("POST", "/api/read", body, {"Content-Type": "application/json"})

    def alive(self) -> None:
        """The server still answers, and still reads."""
        assert self.request("GET", "/api/health")[0] == 200
        status, body = self.read_png(digits_png("38"))
        assert status == 200 and body["text"] == "38", (status, body)

    def raw(self, data: bytes, then_wait: float = 10.0) -> bytes:
        """Send ``data`` as is and return whatever the server answers before closing (or timing out)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=then_wait) as s:
            s.sendall(data)
            return _read_until_closed(s, then_wait)


def _read_until_closed(s: socket.socket, wait: float) -> bytes:
    s.settimeout(wait)
    out = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := s.recv(65536):
            out += chunk
    return out


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[Server]:
    monkeypatch.setattr(serving, "BODY_IDLE_SECONDS", IDLE)
    monkeypatch.setattr(serving, "BODY_TOTAL_SECONDS", TOTAL)
    monkeypatch.setattr(serving, "MAX_BODY_BYTES", MAX_BODY)
    caplog.set_level(logging.WARNING)
    uvicorn_log = logging.getLogger("uvicorn")  # uvicorn's own logging does not reach the root
    with Server(paths.home()) as srv:
        uvicorn_log.addHandler(caplog.handler)
        try:
            yield srv
        finally:
            uvicorn_log.removeHandler(caplog.handler)
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)] + caplog.records
    errors = [r for r in records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]  # no traceback was logged


def files_outside(root: Path, home: Path) -> set[str]:
    """Every path under ``root`` that is not under ``home``, compared by name: other tests leave
    symlink loops beside it, which must not be followed."""
    root, home = root.resolve(), home.resolve()
    return {str(p) for p in root.rglob("*") if not p.is_relative_to(home)}


# ---------------------------------------------------------------- the bind


def test_default_bind_is_loopback() -> None:
    import inspect

    from mydigits.cli import build_parser

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    assert inspect.signature(serving.serve).parameters["host"].default == "127.0.0.1"
    assert serving.server_config(None).host == "127.0.0.1"


# ---------------------------------------------------------------- bodies


def test_stalled_body_gets_408_and_the_server_keeps_serving(server: Server) -> None:
    head = (b"POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n")
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(head + b'{"image": "')
        server.alive()  # others are served while this client stalls
        answer = _read_until_closed(s, 30)
    took = time.monotonic() - t0
    assert status_of(answer) == 408 and b"too slow" in answer
    assert b"connection: close" in answer.lower()
    assert took < TOTAL + 5, took
    server.alive()


def test_trickled_body_is_cut_at_the_total_deadline(server: Server) -> None:
    """One byte every half second never trips the idle limit; the total deadline ends it."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n")
        answer = b""
        for _ in range(40):
            try:
                s.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
            s.settimeout(IDLE / 2)
            with contextlib.suppress(TimeoutError):
                answer += s.recv(65536)
            if answer:
                break
        answer += _read_until_closed(s, 5)
    assert status_of(answer) == 408, answer[:300]
    assert TOTAL - 0.5 < time.monotonic() - t0 < TOTAL + 5
    server.alive()


@pytest.mark.parametrize("path", ["/api/read", "/api/samples", "/api/teach"])
def test_truncated_bodies_are_dropped_quietly(server: Server, path: str) -> None:
    """The client promises 5000 bytes, sends 100 and hangs up: no traceback, the server goes on."""
    for kind in ("application/json", "multipart/form-data; boundary=zz"):
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\nContent-Length: 5000\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(head.encode() + b'--zz\r\nContent-Disposition: form-data; name="file"' + b"x" * 40)
        time.sleep(0.2)
    server.alive()


def test_oversize_uploads(server: Server) -> None:
    # declared too large: refused before a byte of the body is read
    answer = server.raw(f"POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode())
    assert status_of(answer) == 413 and b"too large" in answer
    # chunked, no length: stopped while streaming
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 65536
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(MAX_BODY // len(chunk) + 4):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = _read_until_closed(s, 10)
    assert status_of(answer) == 413
    # a picture within the byte limit but with too many pixels: the header is enough to say no
    status, body = server.read_png(_png_header(9000, 9000))
    assert status == 413 and "pixels" in body["detail"]
    server.alive()


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),  # a TLS hello on the plain port
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",  # a 1 MB header
        b"POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\nhello",
        b"GARBAGE\r\n\r\n",
        b"GET /\x00\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_malformed_http_gets_4xx(server: Server, request_bytes: bytes) -> None:
    answer = server.raw(request_bytes, then_wait=5)
    assert answer == b"" or 400 <= status_of(answer) < 500, answer[:200]
    server.alive()


# ---------------------------------------------------------------- names


TRAVERSALS = ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..",
              "....//....//etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "%00", "a%00b"]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_traversal_names_are_refused(server: Server, name: str, tmp_path_factory) -> None:
    home = paths.home()
    outside_root = home.parent
    before = files_outside(outside_root, home)
    for method, path, body in [
        ("POST", f"/api/models/{name}/use", None),
        ("GET", f"/static/{name}", None),
        ("GET", f"/api/jobs/{name}", None),
        ("POST", "/api/teach", json.dumps({"name": name}).encode()),
    ]:
        status, reply = server.request(method, path, body, {"Content-Type": "application/json"})
        assert 400 <= status < 500, (method, path, status, reply)
        assert "root:" not in json.dumps(reply)
    # raw request lines, which no client library would normalize
    for target in (f"/static/{name}", f"/api/models/{name}/use"):
        answer = server.raw(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(), 5)
        assert answer == b"" or 400 <= status_of(answer) < 500, answer[:200]
        assert b"root:" not in answer
    # as the file name of an upload and of a sample: only a label, never a path
    png = digits_png("7")
    status, reply = server.read_png(png, name=name)
    assert status == 200 and "/" not in reply["file"] and "\\" not in reply["file"]
    crop = _one_crop(server)
    body = json.dumps({"image": crop, "label": "7", "name": name}).encode()
    status, reply = server.request("POST", "/api/samples", body, {"Content-Type": "application/json"})
    assert status == 201, reply
    assert reply["id"].startswith("web-") and ".." not in reply["id"]
    assert files_outside(outside_root, home) == before
    assert all(p.resolve().is_relative_to(home.resolve()) for p in home.rglob("*"))
    assert server.request("GET", "/api/models")[1]["active"] == "default"


def _one_crop(server: Server) -> str:
    status, body = server.request("POST", "/api/read?crops=1",
                                  json.dumps({"image": base64.b64encode(digits_png("7")).decode()}).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 200, body
    return body["lines"][0]["digits"][0]["crop"]


def test_multipart_file_name_traversal(server: Server) -> None:
    png = digits_png("4")
    body = (b"--bb\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../../../tmp/evil\xff.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--bb\r\nContent-Disposition: form-data; "
            b"name=\"label\"\r\n\r\n4\r\n--bb--\r\n")
    status, reply = server.request("POST", "/api/samples", body,
                                   {"Content-Type": "multipart/form-data; boundary=bb"})
    assert status == 201, reply
    assert not list(Path("/tmp").glob("evil*"))
    saved = list((paths.home() / "samples").rglob("*.png"))
    assert [p.parent.name for p in saved] == ["4"] and "evil" not in saved[0].name


# ---------------------------------------------------------------- load


def test_many_concurrent_requests_with_hostile_ones_mixed_in(server: Server) -> None:
    """96 reads and health checks from 24 threads while 20 clients stall their bodies and 20 more
    send garbage: every good request is answered correctly."""
    png = digits_png("2057")
    stalled = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        s.sendall(b"POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 50000\r\n\r\n{")
        stalled.append(s)

    def good(i: int) -> tuple[int, str]:
        if i % 4 == 0:
            return server.request("GET", "/api/health")[0], "ok"
        status, body = server.read_png(png)
        return status, body.get("text", body.get("detail", ""))

    def bad(i: int) -> None:
        with contextlib.suppress(OSError):
            server.raw(os.urandom(64 + i) + b"\r\n\r\n", then_wait=3)

    with ThreadPoolExecutor(24) as pool:
        garbage = [pool.submit(bad, i) for i in range(20)]
        results = list(pool.map(good, range(96)))
        for g in garbage:
            g.result()
    for s in stalled:
        assert status_of(_read_until_closed(s, 30)) == 408
        s.close()
    assert all(r == (200, "ok") or r == (200, "2057") for r in results), [r for r in results if r[0] != 200][:5]
    server.alive()

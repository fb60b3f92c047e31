"""MNIST download and parsing: IDX checks, mirror fallback, checksums, the cache."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from mydigits.errors import MydigitsError
from mydigits.mnist import MNIST, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def test_read_idx_round_trip(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    (tmp_path / "x").write_bytes(idx_bytes(images))
    assert np.array_equal(read_idx(tmp_path / "x"), images)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an IDX file"),
        (b"\x00\x00\x08", "not an IDX file"),
        (b"\x12\x34\x08\x01" + (5).to_bytes(4, "big") + bytes(5), "bad magic number"),
        (b"\x00\x00\x77\x01" + (5).to_bytes(4, "big") + bytes(5), "bad magic number"),
        (b"\x00\x00\x08\x03" + (2).to_bytes(4, "big"), "truncated IDX header"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(3), "truncated"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(9), "trailing bytes"),
    ],
)
def test_read_idx_refuses_corrupt_files(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(MydigitsError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MydigitsError, match="cannot read"):
        read_idx(tmp_path / "nope")


# --- a tiny MNIST served by a local HTTP server -----------------------------------------------

TINY = {
    "train-images-idx3-ubyte": idx_bytes(np.full((4, 28, 28), 7, np.uint8)),
    "train-labels-idx1-ubyte": idx_bytes(np.array([1, 2, 3, 4], np.uint8)),
    "t10k-images-idx3-ubyte": idx_bytes(np.full((2, 28, 28), 9, np.uint8)),
    "t10k-labels-idx1-ubyte": idx_bytes(np.array([5, 6], np.uint8)),
}


class TinyMNIST(MNIST):
    resources = {name: hashlib.sha256(data).hexdigest() for name, data in TINY.items()}


def serve(files: dict[str, bytes]):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture
def good_server():
    server, url = serve({f"{k}.gz": gzip.compress(v) for k, v in TINY.items()})
    yield url
    server.shutdown()


@pytest.fixture
def evil_server():
    """A mirror that serves the right names with the wrong bytes."""
    wrong = {f"{k}.gz": gzip.compress(v[:-1] + b"\x01") for k, v in TINY.items()}
    server, url = serve(wrong)
    yield url
    server.shutdown()


def test_download_falls_back_to_next_mirror(tmp_path: Path, good_server: str) -> None:
    dead = "http://127.0.0.1:9/"  # nothing listens on the discard port
    data = TinyMNIST(tmp_path, mirrors=[dead, good_server], use_npm=False, progress=False, timeout=2)
    train = data.load("train")
    assert train.images.shape == (4, 28, 28)
    assert list(train.labels) == [1, 2, 3, 4]
    assert list(data.load("test").labels) == [5, 6]


def test_checksum_mismatch_is_never_cached(tmp_path: Path, evil_server: str) -> None:
    with pytest.raises(MydigitsError, match="could not download MNIST") as info:
        TinyMNIST(tmp_path, mirrors=[evil_server], use_npm=False, progress=False, timeout=2)
    assert "SHA-256 mismatch" in str(info.value)
    assert not any(tmp_path.iterdir()), "bad bytes must not be cached"


def test_wrong_mirror_then_good_mirror(tmp_path: Path, evil_server: str, good_server: str) -> None:
    data = TinyMNIST(tmp_path, mirrors=[evil_server, good_server], use_npm=False, progress=False)
    assert all(data.is_cached(name) for name in TINY)


def test_corrupt_cache_is_replaced(tmp_path: Path, good_server: str) -> None:
    data = TinyMNIST(tmp_path, mirrors=[good_server], use_npm=False, progress=False)
    victim = tmp_path / "train-labels-idx1-ubyte"
    victim.write_bytes(victim.read_bytes()[:-2])  # truncated on disk
    with pytest.raises(MydigitsError, match="train-labels-idx1-ubyte: IDX file truncated"):
        data.load("train")
    TinyMNIST(tmp_path, mirrors=[good_server], use_npm=False, progress=False)
    assert list(data.load("train").labels) == [1, 2, 3, 4]


def test_warm_cache_needs_no_network(tmp_path: Path, good_server: str) -> None:
    TinyMNIST(tmp_path, mirrors=[good_server], use_npm=False, progress=False)
    offline = TinyMNIST(tmp_path, mirrors=["http://127.0.0.1:9/"], use_npm=False, progress=False)
    assert len(offline.load("test")) == 2


def test_no_source_gives_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(MydigitsError) as info:
        TinyMNIST(tmp_path, mirrors=["http://127.0.0.1:9/"], use_npm=False, progress=False, timeout=2)
    assert "could not download MNIST" in str(info.value)
    assert "\n" not in str(info.value)


def test_real_mnist_shapes(mnist: MNIST) -> None:
    train, test = mnist.load("train"), mnist.load("test")
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert set(np.unique(test.labels)) == set(range(10))


# --- hostile mirrors ------------------------------------------------------------------------------


def serve_raw(handler):
    """A mirror whose every GET is answered by ``handler(request_handler)``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            handler(self)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _send(h, body: bytes, length: int | None = None) -> None:
    h.send_response(200)
    h.send_header("Content-Length", str(len(body) if length is None else length))
    h.end_headers()
    h.wfile.write(body)


def _endless(h) -> None:
    h.send_response(200)
    h.end_headers()  # no length: the body ends when the connection does, which it never does
    try:
        while True:
            h.wfile.write(b"\x1f\x8b" + bytes(1 << 16))
    except OSError:
        pass


BOMB = gzip.compress(bytes(80 << 20), 9)  # 80 MB of zeros in about 80 KB


@pytest.mark.parametrize(
    ("name", "handler", "words"),
    [
        ("not gzip", lambda h: _send(h, b"<html>moved</html>"), "not a valid gzip"),
        ("truncated gzip", lambda h: _send(h, gzip.compress(TINY["t10k-labels-idx1-ubyte"])[:-6]), "gzip"),
        ("body shorter than announced", lambda h: _send(h, b"\x1f\x8b\x08", length=100_000), "could not download"),
        ("gzip bomb", lambda h: _send(h, BOMB), "64 MB"),
        ("endless body", _endless, "more than 64 MB"),
        ("server error", lambda h: h.send_error(500), "500"),
        ("garbage status line", lambda h: h.wfile.write(b"SPAM 99 nonsense\r\n\r\n"), "could not download"),
        ("redirect loop", lambda h: (h.send_response(302), h.send_header("Location", h.path), h.end_headers()),
         "redirect"),
    ],
)
def test_hostile_mirror_is_never_cached(tmp_path: Path, name: str, handler, words: str) -> None:
    """Wrong, endless, bombing or broken answers: one clear line, memory bounded, nothing cached."""
    server, url = serve_raw(handler)
    try:
        with pytest.raises(MydigitsError, match="could not download MNIST") as info:
            TinyMNIST(tmp_path, mirrors=[url], use_npm=False, progress=False, timeout=5)
    finally:
        server.shutdown()
    assert words in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "nothing may be cached from a bad mirror"


def test_bad_cached_file_is_not_trusted(tmp_path: Path, good_server: str) -> None:
    """A cached file with the right name and size but other bytes is downloaded again."""
    data = TinyMNIST(tmp_path, mirrors=[good_server], use_npm=False, progress=False)
    victim = tmp_path / "t10k-labels-idx1-ubyte"
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 0xFF
    victim.write_bytes(bytes(raw))
    assert not data.is_cached("t10k-labels-idx1-ubyte")
    TinyMNIST(tmp_path, mirrors=[good_server], use_npm=False, progress=False)
    assert data.is_cached("t10k-labels-idx1-ubyte")

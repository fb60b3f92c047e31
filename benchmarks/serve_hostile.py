"""Hostile clients against a real ``mydigits serve`` while good clients keep reading pictures.

    python benchmarks/serve_hostile.py [--duration 90] [--good 6] [--hostile 6] [--stalled 20] [--json]

Starts ``python -m mydigits serve`` exactly as a user would (production limits: 20 MB bodies, 30 s
without a byte or 300 s in all for a body) on a free 127.0.0.1 port, with its own temporary home.
For ``--duration`` seconds:

* ``--good`` clients read small pictures of numbers (``POST /api/read``) and check the text;
* ``--stalled`` connections at all times send headers and a few bytes of a body, then nothing (each
  must end in 408 after 30 s, and be replaced);
* ``--hostile`` clients cycle through truncated bodies, oversize uploads (declared and chunked),
  garbage bytes, a TLS hello, a 1 MB header, bad Content-Length, decompression-bomb and non-image
  uploads, path traversal in URLs, model names, sample and upload file names.

Reported: good requests answered correctly and their latency; per attack, the answers' status codes
and whether each was the expected one; that the server is alive at the end, logged no traceback and
wrote nothing outside its home. Loopback only; bounded by ``--duration`` (at most 600 s).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np


def digits_png(text: str) -> bytes:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 3.0, 10)
    img = np.full((h + 60, w + 60), 255, np.uint8)
    cv2.putText(img, text, (30, h + 30), cv2.FONT_HERSHEY_SIMPLEX, 3.0, 0, 10, cv2.LINE_AA)
    return cv2.imencode(".png", img)[1].tobytes()


def png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(1 << 20))) + chunk(b"IEND", b""))


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body: bytes | None = None, ctype: str = "application/json",
                timeout: float = 120) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": ctype} if body is not None else {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def raw(self, data: bytes, wait: float = 10.0, then_close: bool = False) -> int | None:
        """Send bytes as they are; the status code answered, or None if the server just closed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait) as s:
            with contextlib.suppress(OSError):
                s.sendall(data)
            if then_close:
                return None
            out = b""
            with contextlib.suppress(OSError):
                while chunk := s.recv(65536):
                    out += chunk
                    if b"\r\n\r\n" in out:
                        break
        if out.startswith(b"HTTP/1.1 "):
            return int(out.split(b" ", 2)[1])
        return None


def read_body(png: bytes, name: str = "x.png") -> bytes:
    return json.dumps({"image": base64.b64encode(png).decode(), "name": name}).encode()


def attacks(c: Client, pictures: dict[str, bytes]) -> list[tuple[str, object, set[int | None]]]:
    """(name, callable returning a status, the statuses that are right)."""
    head = "POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

    def chunked_oversize() -> int | None:
        with socket.create_connection(("127.0.0.1", c.port), timeout=30) as s:
            s.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
            chunk = b"a" * (1 << 20)
            with contextlib.suppress(OSError):
                for _ in range(24):
                    s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            out = b""
            with contextlib.suppress(OSError):
                out = s.recv(4096)
        return int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.1 ") else None

    def traversal_sample() -> int:
        status, body = c.request("POST", "/api/samples", json.dumps(
            {"image": base64.b64encode(pictures["crop"]).decode(), "label": "1",
             "name": "../../../../tmp/evil.png"}).encode())
        return status

    return [
        ("truncated body", lambda: c.raw((head + "Content-Length: 5000\r\n\r\n").encode() + b'{"image": "',
                                         then_close=True), {None}),
        ("declared oversize", lambda: c.raw((head + f"Content-Length: {21 << 20}\r\n\r\n").encode()), {413}),
        ("chunked oversize", chunked_oversize, {413, None}),
        ("garbage bytes", lambda: c.raw(os.urandom(200) + b"\r\n\r\n", wait=5), {400, None}),
        ("TLS hello", lambda: c.raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), wait=5),
         {400, None}),
        ("1 MB header", lambda: c.raw(b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * (1 << 20) + b"\r\n\r\n", 5),
         {400, 431, None}),
        ("bad Content-Length", lambda: c.raw((head + "Content-Length: 12abc\r\n\r\n").encode(), 5), {400, None}),
        ("bomb picture", lambda: c.request("POST", "/api/read", read_body(png_header(65535, 65535)))[0], {413}),
        ("not a picture", lambda: c.request("POST", "/api/read", read_body(b"MZ\x90\0 not an image"))[0], {415}),
        ("corrupt picture", lambda: c.request("POST", "/api/read", read_body(pictures["good"][:300]))[0], {422}),
        ("traversal URL", lambda: c.raw(b"GET /static/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 5),
         {404, 400, None}),
        ("traversal model name", lambda: c.request("POST", "/api/models/..%2F..%2Fetc%2Fpasswd/use")[0],
         {400, 404}),
        ("traversal teach name", lambda: c.request("POST", "/api/teach", b'{"name": "../../etc/x"}')[0], {400}),
        ("traversal sample name", traversal_sample, {201}),
        ("traversal upload name", lambda: c.request("POST", "/api/read", read_body(pictures["good"],
                                                                                   "../../../etc/passwd"))[0], {200}),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=90.0)
    ap.add_argument("--good", type=int, default=6)
    ap.add_argument("--hostile", type=int, default=6)
    ap.add_argument("--stalled", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not 0 < args.duration <= 600 or not 0 < args.good <= 64 or not 0 <= args.hostile <= 64 \
            or not 0 <= args.stalled <= 200:
        ap.error("--duration <= 600, --good 1-64, --hostile 0-64, --stalled 0-200")

    with tempfile.TemporaryDirectory(prefix="mydigits-hostile-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log_path = root / "server.log"
        env = {**os.environ, "MYDIGITS_HOME": str(home), "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        with open(log_path, "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "mydigits", "serve", "--port", str(port)],
                                      env=env, stdout=log, stderr=log)
        c = Client(port)
        try:
            for _ in range(300):
                with contextlib.suppress(OSError):
                    if c.request("GET", "/api/health", timeout=2)[0] == 200:
                        break
                time.sleep(0.2)
            else:
                raise SystemExit("the server did not start")
            texts = ["2057", "314", "86", "1909", "4711"]
            pictures = {t: digits_png(t) for t in texts}
            status, body = c.request("POST", "/api/read?crops=1", read_body(digits_png("7")))
            crop_url = json.loads(body)["lines"][0]["digits"][0]["crop"]
            pictures_extra = {"good": pictures["2057"], "crop": base64.b64decode(crop_url.split(",", 1)[1])}
            stop = time.monotonic() + args.duration
            lock = threading.Lock()
            good: Counter[str] = Counter()
            latencies: list[float] = []
            hostile: dict[str, Counter] = defaultdict(Counter)
            wrong: Counter[str] = Counter()
            stalled: Counter[str] = Counter()

            def good_client(k: int) -> None:
                i = k
                while time.monotonic() < stop:
                    text = texts[i % len(texts)]
                    i += 1
                    t0 = time.perf_counter()
                    try:
                        status, body = c.request("POST", "/api/read", read_body(pictures[text]))
                        ok = status == 200 and json.loads(body).get("text") == text
                        key = "correct" if ok else f"{status}"
                    except OSError as exc:
                        key = type(exc).__name__
                    with lock:
                        good[key] += 1
                        latencies.append(time.perf_counter() - t0)

            def hostile_client(k: int) -> None:
                plan = attacks(c, pictures_extra)
                i = k
                while time.monotonic() < stop:
                    name, fn, expected = plan[i % len(plan)]
                    i += 1
                    try:
                        status = fn()
                    except OSError as exc:
                        status = type(exc).__name__
                    with lock:
                        hostile[name][str(status)] += 1
                        if status not in expected:
                            wrong[name] += 1

            def stall_keeper() -> None:
                while time.monotonic() < stop:
                    t0 = time.monotonic()
                    status = c.raw(b"POST /api/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 100000\r\n\r\n{\"image\": \"", wait=60)
                    with lock:
                        stalled[f"{status} after {round(time.monotonic() - t0)} s"] += 1

            threads = ([threading.Thread(target=good_client, args=(k,)) for k in range(args.good)]
                       + [threading.Thread(target=hostile_client, args=(k,)) for k in range(args.hostile)]
                       + [threading.Thread(target=stall_keeper) for _ in range(args.stalled)])
            t_start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - t_start
            alive = c.request("GET", "/api/health")[0] == 200
            still_reads = json.loads(c.request("POST", "/api/read", read_body(pictures["314"]))[1]).get("text")
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log_text = log_path.read_text(errors="replace")
        outside = [str(p) for p in root.rglob("*") if not p.resolve().is_relative_to(home.resolve())
                   and p != log_path]
        evil = list(Path("/tmp").glob("evil*"))
        lat = sorted(latencies)

        def pct(q: float) -> float:
            return round(lat[min(len(lat) - 1, int(q * (len(lat) - 1)))] * 1000) if lat else float("nan")

        report = {
            "seconds": round(elapsed, 1),
            "good_requests": sum(good.values()), "good_correct": good["correct"], "good_other": dict(good),
            "good_latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "max": pct(1.0)},
            "hostile_requests": sum(sum(v.values()) for v in hostile.values()),
            "hostile_unexpected": dict(wrong), "hostile": {k: dict(v) for k, v in hostile.items()},
            "stalled_connections": dict(stalled),
            "alive_at_end": alive, "reads_at_end": still_reads == "314",
            "tracebacks_logged": log_text.count("Traceback"), "error_lines_logged": log_text.count("ERROR"),
            "files_outside_home": outside + [str(p) for p in evil],
        }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['seconds']} s against http://127.0.0.1:{port}")
        print(f"good: {report['good_correct']}/{report['good_requests']} read correctly "
              f"(p50 {report['good_latency_ms']['p50']} ms, p95 {report['good_latency_ms']['p95']} ms)")
        print(f"hostile: {report['hostile_requests']} requests, "
              f"unexpected answers: {report['hostile_unexpected'] or 0}")
        for name, statuses in report["hostile"].items():
            print(f"  {name:<24} {statuses}")
        print(f"stalled connections: {report['stalled_connections']}")
        print(f"alive at the end: {alive}, still reads: {report['reads_at_end']}, tracebacks logged: "
              f"{report['tracebacks_logged']}, files outside home: {len(report['files_outside_home'])}")
    bad = (report["good_correct"] != report["good_requests"] or report["hostile_unexpected"] or not alive
           or not report["reads_at_end"] or report["tracebacks_logged"] or report["files_outside_home"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

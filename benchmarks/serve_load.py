"""Load test of ``mydigits serve`` on this machine: N concurrent clients post 1-megapixel photos to
``POST /api/read`` for D seconds, then errors, throughput and latency are reported.

Loopback only: by default it starts its own server (``uvicorn --factory mydigits.serving:create_app``
in a child process on a free 127.0.0.1 port) and stops it afterwards; ``--url`` may point at a
running server, but only on 127.0.0.1 / localhost / ::1. Bounded: at most ``--max-requests``
requests, ``--clients`` <= 256, ``--duration`` <= 600 s.

    python benchmarks/serve_load.py [--clients 32] [--duration 60] [--json] [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

import cv2
import numpy as np

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def make_photo(text: str, seed: int) -> bytes:
    """A 1-megapixel (1156x866) photo-like JPEG of ``text``: grey paper, light gradient, noise."""
    rng = np.random.default_rng(seed)
    h, w = 866, 1156
    yy, xx = np.mgrid[0:h, 0:w]
    paper = 190 + 40 * (xx / w) - 25 * (yy / h)
    img = np.clip(paper + rng.normal(0, 5, (h, w)), 0, 255).astype(np.uint8)
    cv2.putText(img, text, (120 + seed * 7 % 60, 520), cv2.FONT_HERSHEY_SIMPLEX, 5.5, 35, 20,
                cv2.LINE_AA)
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-5, 5), 1.0)
    img = cv2.warpAffine(img, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return jpg.tobytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "mydigits.serving:create_app",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
           "--limit-concurrency", "512"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


async def wait_ready(url: str, proc: subprocess.Popen | None, timeout: float = 60.0) -> None:
    import httpx

    t0 = time.perf_counter()
    async with httpx.AsyncClient() as client:
        while time.perf_counter() - t0 < timeout:
            if proc is not None and proc.poll() is not None:
                raise SystemExit(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if (await client.get(f"{url}/api/health", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"server at {url} not ready after {timeout:.0f} s")


async def run_load(url: str, photos: list[tuple[bytes, str]], clients: int, duration: float,
                   max_requests: int, timeout: float) -> dict:
    import httpx

    # one warm-up request (model loading) outside the measurement
    async with httpx.AsyncClient(timeout=timeout) as client:
        r = await client.post(f"{url}/api/read", files={"file": ("warm.jpg", photos[0][0], "image/jpeg")})
        r.raise_for_status()

    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    wrong = 0
    issued = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one_client(k: int, client: httpx.AsyncClient) -> None:
        nonlocal issued, wrong
        i = k
        while time.perf_counter() < deadline and issued < max_requests:
            issued += 1
            data, expected = photos[i % len(photos)]
            i += clients
            t = time.perf_counter()
            try:
                r = await client.post(f"{url}/api/read",
                                      files={"file": (f"photo{i}.jpg", data, "image/jpeg")})
                latencies.append(time.perf_counter() - t)
                statuses[str(r.status_code)] += 1
                if r.status_code == 200 and r.json().get("text") != expected:
                    wrong += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        await asyncio.gather(*(one_client(k, client) for k in range(clients)))
    elapsed = time.perf_counter() - t0
    ok = statuses.get("200", 0)
    lat = sorted(latencies)

    def pct(q: float) -> float | None:
        if not lat:
            return None
        return round(lat[min(len(lat) - 1, int(round(q * (len(lat) - 1))))] * 1000, 1)

    return {
        "url": url,
        "clients": clients,
        "duration_s": round(elapsed, 2),
        "requests": sum(statuses.values()),
        "ok": ok,
        "errors": sum(statuses.values()) - ok,
        "statuses": dict(statuses),
        "wrong_text": wrong,
        "throughput_rps": round(ok / elapsed, 2) if elapsed > 0 else 0.0,
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0),
                       "mean": round(statistics.fmean(lat) * 1000, 1) if lat else None},
        "photo_bytes": round(statistics.fmean(len(p) for p, _ in photos)),
        "photo_pixels": "1156x866",
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32, max 256)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds (default 60, max 600)")
    ap.add_argument("--max-requests", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    ap.add_argument("--url", default=None, help="a running server on loopback (default: start one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not 1 <= args.clients <= 256:
        ap.error("--clients must be 1-256")
    if not 0 < args.duration <= 600:
        ap.error("--duration must be in (0, 600]")
    if not 1 <= args.max_requests <= 1_000_000:
        ap.error("--max-requests must be 1-1000000")

    texts = ["2057", "314", "86", "1909", "4711", "62", "538", "7420"]
    photos = [(make_photo(t, i), t) for i, t in enumerate(texts)]
    proc = None
    if args.url:
        url = args.url.rstrip("/")
        if urlsplit(url).hostname not in LOOPBACK:
            ap.error("--url must be on 127.0.0.1, localhost or ::1 (loopback only)")
    else:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(port)
    try:
        asyncio.run(wait_ready(url, proc))
        report = asyncio.run(run_load(url, photos, args.clients, args.duration, args.max_requests,
                                      args.timeout))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if args.json:
        print(json.dumps(report))
    else:
        lat = report["latency_ms"]
        print(f"{report['clients']} clients, {report['duration_s']} s, 1 MP photos -> {url}/api/read")
        print(f"  requests {report['requests']}  ok {report['ok']}  errors {report['errors']} "
              f"{report['statuses']}  wrong text {report['wrong_text']}")
        print(f"  throughput {report['throughput_rps']} pictures/s")
        print(f"  latency ms  p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""The web app and REST API behind ``mydigits serve``.

One FastAPI app serves the page (``/``, plain HTML/JS from ``mydigits/web``) and the API:

* ``POST /api/read``: a picture (multipart field ``file``, or JSON ``{"image": "<base64 or data:
  URL>"}``) -> exactly the object ``mydigits read --json`` prints; ``?crops=1`` adds each digit's
  28x28 crop (what the network sees) as a PNG data URL.
* ``POST /api/samples``: a corrected digit (its 28x28 crop, or a picture of one digit) and its label,
  kept under ``paths.home()/samples/<digit>/`` with a name the server makes up.
* ``POST /api/teach``: teaches those samples in a background process (one job at a time, 409 when
  busy); ``GET /api/jobs/{id}`` reports its progress and result.
* ``GET /api/models``, ``POST /api/models/{name}/use``: the store of taught models.

Reading runs on a thread pool (OpenCV and torch release the GIL) behind a small semaphore, so the
event loop keeps answering while pictures are read; teaching runs in a separate process with few
torch threads, so requests are still served while it trains. Requests are limited in size
(:data:`MAX_BODY_BYTES`) and pixels (:data:`MAX_PIXELS`); no name from a request is ever used as a
path except model names, which go through :func:`mydigits.store.validate_name`.

There is no authentication: the server binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import io
import logging
import math
import multiprocessing as mp
import os
import queue
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import cv2
import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import ClientDisconnect

from mydigits import __version__, paths, store
from mydigits.errors import MydigitsError

log = logging.getLogger("mydigits.serving")

# Refuse request bodies bigger than this (a phone photo is 2-12 MB).
MAX_BODY_BYTES = 20 * 1024 * 1024
# 408 when a request body stalls this long, or is still arriving after the total (a 12 MB photo
# over a poor 1 Mbit/s phone connection takes about 100 s).
BODY_IDLE_SECONDS = 30.0
BODY_TOTAL_SECONDS = 300.0
# Refuse pictures with more pixels than this before decoding them (a 12 MP photo is fine).
MAX_PIXELS = 40_000_000
# Pictures read at the same time; more requests wait their turn (two cores do not read faster
# with thirty pictures in flight, they only make every answer late).
READ_WORKERS = max(1, min(4, os.cpu_count() or 1))
# torch threads of the teaching process: leave cores for reading.
TEACH_THREADS = max(1, (os.cpu_count() or 2) // 2)
# Finished jobs remembered for GET /api/jobs/{id}.
KEEP_JOBS = 20
SAMPLES_DIR = "samples"
WEB_DIR = Path(__file__).parent / "web"


def samples_dir() -> Path:
    """Where corrected digits wait to be taught: ``<home>/samples/<digit>/<name>.png``."""
    return paths.home() / SAMPLES_DIR


def _stage_samples(job_id: str) -> Path | None:
    """Move the waiting samples into ``<home>/teaching/<job>/<digit>/`` for one teach job, so that
    samples added meanwhile wait for the next one. None if there were none."""
    stage = paths.home() / "teaching" / job_id
    moved = 0
    for d in range(10):
        folder = samples_dir() / str(d)
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob("*.png")):
            if f.is_file() and not f.is_symlink():
                (stage / str(d)).mkdir(parents=True, exist_ok=True)
                os.replace(f, stage / str(d) / f.name)
                moved += 1
    return stage if moved else None


def _unstage_samples(stage: Path, model: str | None) -> None:
    """After a job: keep taught samples in ``<home>/taught-samples/<model>/`` (the model also keeps
    its own copy), or put them back to wait when teaching failed."""
    if not stage.is_dir():
        return
    if model:
        dest = paths.home() / "taught-samples" / store.validate_name(model)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest = dest.with_name(f"{dest.name}-{stage.name[:8]}")
        os.replace(stage, dest)
        return
    for f in stage.glob("[0-9]/*.png"):
        back = samples_dir() / f.parent.name
        back.mkdir(parents=True, exist_ok=True)
        os.replace(f, back / f.name)
    shutil.rmtree(stage, ignore_errors=True)


# ------------------------------------------------------------------------------- API models


class Error(BaseModel):
    detail: str = Field(description="what is wrong, in one line")


class Digit(BaseModel):
    digit: int | None = Field(description="0-9, or null when not sure (shown as '?')")
    confidence: float = Field(description="probability of the most likely digit")
    box: list[int] = Field(description="x, y, width, height in the picture's pixels")
    probabilities: list[float] = Field(description="probability of each digit 0-9")
    crop: str | None = Field(
        default=None,
        description="only with ?crops=1: the 28x28 crop the network saw (white on black), as a "
        "PNG data URL",
    )


class Line(BaseModel):
    text: str = Field(description="the line's numbers, separated by spaces")
    box: list[int]
    digits: list[Digit]


class RejectedRegion(BaseModel):
    box: list[int]
    reason: str


class ReadResponse(BaseModel):
    """Exactly what ``mydigits read --json`` prints for one picture."""

    file: str
    text: str = Field(description="the numbers read, lines separated by newlines")
    lines: list[Line]
    rejected: list[RejectedRegion]
    timings_ms: dict[str, float]


class ImageJSON(BaseModel):
    """A picture in a JSON body, as the drawing canvas sends it."""

    image: str = Field(description="base64 of the file, or a data: URL (canvas.toDataURL())")
    name: str | None = Field(default=None, max_length=200, description="shown as 'file'")


class SampleJSON(ImageJSON):
    label: str = Field(description="the right digit, 0-9")


class SampleSaved(BaseModel):
    id: str = Field(description="the file name the server gave the sample")
    label: int
    waiting: int = Field(description="samples kept for teaching, this one included")


class SamplesInfo(BaseModel):
    waiting: int
    by_digit: dict[str, int]


class TeachRequest(BaseModel):
    name: str | None = Field(default=None, description="name of the new model (default: mine-N)")
    epochs: int | None = Field(default=None, ge=1, le=50)


class Job(BaseModel):
    id: str
    kind: Literal["teach"] = "teach"
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: float = Field(ge=0, le=1)
    message: str = ""
    log: list[str] = Field(default_factory=list)
    created: str
    finished: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class ModelInfo(BaseModel):
    name: str
    active: bool
    base: str = ""
    date: str = ""
    samples: int | None = None
    samples_total: int | None = None
    report: dict[str, Any] | None = None


class ModelsResponse(BaseModel):
    active: str
    reading_with: str = Field(description="the model file pictures are read with")
    models: list[ModelInfo]


class Health(BaseModel):
    status: str
    version: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": text}
    for code, text in {
        400: "bad input (empty, bad base64, label not a digit, bad name)",
        404: "unknown model or job",
        409: "a teach job is already running, or the model name is taken",
        413: "request or picture too large",
        415: "not an image",
        422: "nothing usable in the input",
    }.items()
}

_IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/json": {"schema": ImageJSON.model_json_schema()},
        },
    }
}

_SAMPLE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "label"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "label": {"type": "string", "pattern": "^[0-9]$"},
                    },
                }
            },
            "application/json": {"schema": SampleJSON.model_json_schema()},
        },
    }
}


def _fail(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


# ------------------------------------------------------------------------------- request bodies


class _BodyLimit:
    """ASGI middleware: 413 for bodies over ``max_bytes`` (by Content-Length, or while streaming),
    408 for bodies that stall for ``idle_seconds`` or take longer than ``total_seconds`` (uvicorn
    itself waits for a body forever, so a client that stops sending would hold its slot)."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES,
                 idle_seconds: float = BODY_IDLE_SECONDS, total_seconds: float = BODY_TOTAL_SECONDS):
        self.app = app
        self.max_bytes = max_bytes
        self.idle_seconds = idle_seconds
        self.total_seconds = total_seconds

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request too large (limit {self.max_bytes // (1024 * 1024)} MB)"
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await _send_json(send, 400, "bad Content-Length header")
                    return
                if length > self.max_bytes:
                    await _send_json(send, 413, too_large)
                    return
        seen = 0
        started = False
        body_done = False
        deadline = asyncio.get_running_loop().time() + self.total_seconds
        close = {"Connection": "close"}  # the rest of the body is not read: end the connection

        async def limited_receive() -> dict:
            nonlocal seen, body_done
            if body_done:  # waiting for a disconnect after the body is not limited
                return await receive()
            wait = min(self.idle_seconds, deadline - asyncio.get_running_loop().time())
            try:
                message = await asyncio.wait_for(receive(), timeout=max(wait, 0.001))
            except TimeoutError:
                raise HTTPException(408, f"request body too slow (nothing for {self.idle_seconds:g} s, "
                                         f"or over {self.total_seconds:g} s in all)", close) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > self.max_bytes:
                    raise HTTPException(413, too_large, close)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except HTTPException as exc:  # raised outside an endpoint (no handler caught it)
            if started:
                raise
            await _send_json(send, exc.status_code, str(exc.detail))


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = JSONResponse({"detail": detail}).body
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _clean_name(name: str | None, fallback: str) -> str:
    """A client's file name, reduced to a short label (it is never used as a path)."""
    if not name:
        return fallback
    base = PurePosixPath(name.replace("\\", "/")).name
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()[:100]
    return base or fallback


def _decode_base64(text: str) -> bytes:
    text = text.strip()
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise _fail(400, "image: a data: URL must be base64 (data:image/png;base64,...)")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _fail(400, "image: not valid base64") from None


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


async def _image_and_fields(request: Request, model: type[ImageJSON]) -> tuple[bytes, str, dict]:
    """The picture from a multipart field ``file`` or a JSON body, its display name and the other
    fields (strings)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=8, max_part_size=64 * 1024)
        except HTTPException:
            raise
        except Exception as exc:  # python-multipart / starlette parse errors
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _fail(400, f"bad multipart body ({why})") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise _fail(400, "multipart body needs a file field named 'file'")
            data = await upload.read()
            name = _clean_name(upload.filename, "upload")
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        finally:
            await form.close()
        return data, name, fields
    if ctype in ("application/json", ""):
        try:
            body = await request.body()
        except ClientDisconnect:  # nobody will read the answer; just do not log a traceback
            raise _fail(400, "request body incomplete (the client went away)") from None
        if not body:
            raise _fail(400, 'empty body: send multipart field "file" or JSON {"image": ...}')
        try:
            parsed = model.model_validate_json(body)
        except ValidationError as exc:
            raise _fail(400, f"bad JSON body: {_validation_message(exc)}") from None
        fields = parsed.model_dump(exclude={"image", "name"})
        return _decode_base64(parsed.image), _clean_name(parsed.name, "canvas.png"), fields
    raise _fail(415, f"unsupported content type {ctype!r}: send multipart/form-data with a "
                     f"'file' field, or application/json {{\"image\": \"<base64>\"}}")


def check_image(data: bytes) -> tuple[int, int]:
    """(width, height) of an encoded picture, from its header; 4xx for anything unusable."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise _fail(400, "empty image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked just below
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except UnidentifiedImageError:
        raise _fail(415, "not an image (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise _fail(413, "image has too many pixels") from None
    except Exception as exc:
        raise _fail(415, f"not a readable image ({type(exc).__name__})") from None
    if w < 1 or h < 1:
        raise _fail(415, "image has no pixels")
    if w * h > MAX_PIXELS:
        raise _fail(413, f"image has too many pixels ({w}x{h}; limit "
                         f"{MAX_PIXELS // 1_000_000} megapixels)")
    return w, h


def png_data_url(crop: np.ndarray) -> str:
    """A 28x28 float crop in [0, 1] as a PNG data URL."""
    img = (np.clip(np.asarray(crop, np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    ok, png = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover
        raise MydigitsError("could not encode a crop as PNG")
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii")


def _finite(value: Any) -> Any:
    """JSON cannot hold NaN or infinity: make them null (deeply)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------- teaching jobs


def _teach_worker(out: Any, folders: list[str], base: str | None, name: str | None,
                  epochs: int | None, settings: Any, threads: int) -> None:
    """Runs in the teaching process: teach, reporting progress and the outcome on ``out``."""
    import torch

    torch.set_num_threads(threads)
    try:
        from mydigits import teaching

        outcome = teaching.teach(folders, base=base, name=name, settings=settings, epochs=epochs,
                                 preprocessed=True, progress=lambda m: out.put(("progress", m)))
        out.put(("done", _finite({
            "model": outcome.name,
            "summary": outcome.summary(),
            "samples": len(outcome.samples),
            "already_known": outcome.already,
            "skipped": [{"source": Path(r.source).name, "reason": r.reason}
                        for r in outcome.rejected],
            "report": asdict(outcome.report),
            "seconds": round(outcome.seconds, 1),
        })))
    except MydigitsError as exc:
        out.put(("error", str(exc)))
    except BaseException as exc:  # report anything, the server must not hang waiting
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def _progress_of(message: str, current: float) -> float:
    m = re.match(r"epoch (\d+)/(\d+)", message)
    if m:
        return 0.1 + 0.8 * int(m.group(1)) / max(1, int(m.group(2)))
    if message.startswith("preparing"):
        return max(current, 0.03)
    if message.startswith("fine-tuning"):
        return max(current, 0.1)
    if message.startswith("measuring"):
        return max(current, 0.92)
    return current


class Jobs:
    """Background teach jobs: one runs at a time, in its own process."""

    def __init__(self, settings: Any = None, threads: int = TEACH_THREADS):
        self.settings = settings
        self.threads = threads
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._running: str | None = None
        self._stages: dict[str, Path] = {}
        self.on_done: list[Any] = []

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.model_copy(deep=True) if job else None

    def busy(self) -> bool:
        with self._lock:
            return self._running is not None

    def start_teach(self, base: str | None, name: str | None, epochs: int | None) -> Job:
        with self._lock:
            if self._running is not None:
                raise _fail(409, f"a teach job is already running ({self._running})")
            job = Job(id=uuid.uuid4().hex, state="queued", progress=0.0, message="starting",
                      created=_now())
            stage = _stage_samples(job.id)
            if stage is None:
                raise _fail(400, "no samples to teach yet: correct some digits first")
            self._stages[job.id] = stage
            self._jobs[job.id] = job
            self._running = job.id
            finished = [j for j in self._jobs.values() if j.finished]
            for old in finished[: max(0, len(self._jobs) - KEEP_JOBS)]:
                self._jobs.pop(old.id, None)
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        proc = ctx.Process(target=_teach_worker, name=f"mydigits-teach-{job.id[:8]}",
                           args=(out, [str(stage)], base, name, epochs, self.settings,
                                 self.threads), daemon=True)
        try:
            proc.start()
        except Exception as exc:
            self._finish(job.id, None, f"could not start teaching ({exc})")
            raise _fail(500, f"could not start teaching ({exc})") from None
        threading.Thread(target=self._watch, args=(job.id, proc, out), daemon=True,
                         name=f"mydigits-watch-{job.id[:8]}").start()
        return job.model_copy(deep=True)

    def _watch(self, job_id: str, proc: Any, out: Any) -> None:
        with self._lock:
            self._jobs[job_id].state = "running"
        result, error = None, None
        while True:
            try:
                kind, payload = out.get(timeout=0.5)
            except queue.Empty:
                if not proc.is_alive():
                    try:  # a last message may have arrived just before it ended
                        kind, payload = out.get(timeout=1.0)
                    except queue.Empty:
                        error = f"teaching process ended unexpectedly (exit code {proc.exitcode})"
                        break
                else:
                    continue
            if kind == "progress":
                with self._lock:
                    job = self._jobs[job_id]
                    job.message = str(payload)
                    job.log = [*job.log[-49:], str(payload)]
                    job.progress = _progress_of(str(payload), job.progress)
                continue
            if kind == "done":
                result = payload
            else:
                error = str(payload)
            break
        proc.join(timeout=10)
        self._finish(job_id, result, error)

    def _finish(self, job_id: str, result: dict | None, error: str | None) -> None:
        with self._lock:
            job = self._jobs[job_id]
            job.finished = _now()
            if error is None:
                job.state, job.progress, job.result = "succeeded", 1.0, result
                job.message = f"taught: model {result.get('model')!r} is active" if result else "done"
            else:
                job.state, job.error, job.message = "failed", error, error
            stage = self._stages.pop(job_id, None)
            if stage is not None:
                try:
                    _unstage_samples(stage, (result or {}).get("model") if error is None else None)
                except (OSError, MydigitsError) as exc:
                    log.warning("could not tidy the samples of job %s: %s", job_id, exc)
            if self._running == job_id:
                self._running = None
        for callback in self.on_done:
            callback()


# ------------------------------------------------------------------------------- the app state


class Service:
    """What the endpoints share: the reader (reloaded when the active model changes) and the jobs.

    The model is the ``model`` argument if given, else the active taught model, else what
    :class:`mydigits.reading.Reader` picks by itself (``MYDIGITS_MODEL``, then the shipped one).
    """

    def __init__(self, model: str | os.PathLike[str] | None = None, teach_settings: Any = None):
        self.model = model
        self.jobs = Jobs(teach_settings)
        self.jobs.on_done.append(self.forget_reader)
        self._reader: Any = None
        self._reader_key: tuple | None = None
        self._reader_lock = threading.Lock()
        self._read_slots = threading.BoundedSemaphore(READ_WORKERS)

    def model_spec(self) -> str | os.PathLike[str] | None:
        if self.model is not None:
            return self.model
        name = store.active()
        return store.model_path(name) if name != store.DEFAULT else None

    def model_file(self) -> Path:
        from mydigits import modelio
        from mydigits.reading import resolve_model

        return modelio.weights_and_meta(resolve_model(self.model_spec()))[0]

    def forget_reader(self) -> None:
        with self._reader_lock:
            self._reader, self._reader_key = None, None

    def reader(self) -> Any:
        from mydigits.reading import Reader

        spec = self.model_spec()
        weights = self.model_file()
        try:
            stamp = weights.stat().st_mtime_ns
        except OSError:
            stamp = None
        key = (str(weights), stamp)
        with self._reader_lock:
            if self._reader is None or self._reader_key != key:
                try:
                    self._reader = Reader(spec)
                except MydigitsError as exc:
                    raise _fail(503, f"no model to read with: {exc}") from None
                self._reader_key = key
            return self._reader

    def read(self, data: bytes, name: str) -> Any:
        """Read encoded picture bytes (called on a worker thread)."""
        with self._read_slots:
            reader = self.reader()
            try:
                return reader.read(data, name=name)
            except MydigitsError as exc:
                raise _fail(422, str(exc)) from None


def _sample_crop(service: Service, data: bytes) -> np.ndarray:
    """The 28x28 white-on-black crop to keep for a sample: the posted crop itself, or the one digit
    the reader finds in a posted picture."""
    from mydigits import teaching

    w, h = check_image(data)
    if (w, h) == (28, 28):
        with tempfile.TemporaryDirectory(prefix="mydigits-sample-") as tmp:
            path = Path(tmp) / "crop.png"
            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                im.convert("L").save(path, format="PNG")
            try:
                return teaching.load_crop(path)  # the very check `teach --preprocessed` applies
            except MydigitsError as exc:
                raise _fail(422, f"sample crop: {exc}") from None
    result = service.read(data, "sample")
    digits = result.digits
    if len(digits) != 1:
        raise _fail(422, f"a sample must show exactly one digit; found {len(digits)}")
    return np.asarray(digits[0].crop, np.float32).reshape(28, 28)


def _save_sample(crop: np.ndarray, label: int) -> str:
    from mydigits import atomic

    img = (np.clip(crop, 0, 1) * 255 + 0.5).astype(np.uint8)
    ok, png = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover
        raise _fail(500, "could not encode the sample")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    fname = f"web-{stamp}-{secrets.token_hex(4)}.png"
    folder = samples_dir() / str(label)
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(folder / fname, png.tobytes())
    return fname


def samples_info() -> SamplesInfo:
    by_digit = {}
    root = samples_dir()
    for d in range(10):
        folder = root / str(d)
        n = sum(1 for p in folder.glob("*.png") if p.is_file()) if folder.is_dir() else 0
        if n:
            by_digit[str(d)] = n
    return SamplesInfo(waiting=sum(by_digit.values()), by_digit=by_digit)


def _models(service: Service) -> ModelsResponse:
    rows = [ModelInfo(**{k: v for k, v in _finite(r).items() if k in ModelInfo.model_fields})
            for r in store.describe()]
    try:
        reading_with = str(service.model_file())
    except MydigitsError as exc:
        reading_with = f"(none: {exc})"
    return ModelsResponse(active=store.active(), reading_with=reading_with, models=rows)


# ------------------------------------------------------------------------------- the app


def create_app(model: str | os.PathLike[str] | None = None, teach_settings: Any = None) -> FastAPI:
    """The FastAPI app. ``model``: read with this model always (default: the active one);
    ``teach_settings``: :class:`mydigits.teaching.Settings` for teach jobs (default: teaching's)."""
    service = Service(model, teach_settings)
    app = FastAPI(
        title="mydigits",
        version=__version__,
        description="Read handwritten digits and numbers in pictures, correct them, and teach the "
        "model your handwriting.",
    )
    app.state.service = service
    app.add_middleware(_BodyLimit, max_bytes=MAX_BODY_BYTES, idle_seconds=BODY_IDLE_SECONDS,
                       total_seconds=BODY_TOTAL_SECONDS)

    @app.exception_handler(MydigitsError)
    async def _mydigits_error(_request: Request, exc: MydigitsError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.get("/api/health", response_model=Health, tags=["server"])
    def health() -> Health:
        return Health(status="ok", version=__version__)

    @app.post("/api/read", response_model=ReadResponse, response_model_exclude_unset=True,
              responses=ERRORS, openapi_extra=_IMAGE_BODY, tags=["reading"])
    async def read(request: Request, crops: bool = False) -> ReadResponse:
        """Read the digits and numbers in a picture: the same JSON as ``mydigits read --json``.

        Send the picture as multipart field ``file``, or as JSON ``{"image": "<base64 or data:
        URL>"}``. With ``?crops=1`` every digit also carries the 28x28 crop the network saw.
        """
        data, name, _ = await _image_and_fields(request, ImageJSON)
        check_image(data)
        result = await run_in_threadpool(service.read, data, name)
        payload = result.to_json()
        if crops:
            for line_json, line in zip(payload["lines"], result.lines, strict=True):
                for digit_json, digit in zip(line_json["digits"], line.digits, strict=True):
                    digit_json["crop"] = png_data_url(digit.crop)
        return ReadResponse.model_validate(payload)

    @app.get("/api/samples", response_model=SamplesInfo, tags=["teaching"])
    def list_samples() -> SamplesInfo:
        """How many corrected digits wait to be taught, per digit."""
        return samples_info()

    @app.post("/api/samples", response_model=SampleSaved, status_code=201, responses=ERRORS,
              openapi_extra=_SAMPLE_BODY, tags=["teaching"])
    async def add_sample(request: Request) -> SampleSaved:
        """Keep a corrected digit for teaching: its 28x28 crop (``crop`` from ``/api/read?crops=1``,
        white on black) or a picture showing that one digit, and ``label``, the right digit."""
        data, _, fields = await _image_and_fields(request, SampleJSON)
        label = str(fields.get("label", "")).strip()
        if not re.fullmatch(r"[0-9]", label):
            raise _fail(400, f"label must be one digit 0-9, got {label[:20]!r}")
        if not data:
            raise _fail(400, "empty image")
        crop = await run_in_threadpool(_sample_crop, service, data)
        fname = await run_in_threadpool(_save_sample, crop, int(label))
        return SampleSaved(id=fname, label=int(label), waiting=samples_info().waiting)

    @app.post("/api/teach", response_model=Job, status_code=202, responses=ERRORS,
              tags=["teaching"])
    def teach(body: TeachRequest | None = None) -> Job:
        """Start teaching the waiting samples to the model in use (a new version becomes active).
        Poll ``GET /api/jobs/{id}``. One job at a time: 409 while one runs."""
        body = body or TeachRequest()
        if service.jobs.busy():
            raise _fail(409, "a teach job is already running")
        if body.name is not None:
            try:
                store.validate_name(body.name)
            except MydigitsError as exc:
                raise _fail(400, str(exc)) from None
            if store.version_dir(body.name).exists():
                raise _fail(409, f"a model named {body.name!r} already exists")
        if samples_info().waiting == 0:
            raise _fail(400, "no samples to teach yet: correct some digits first")
        if service.model is not None:
            base: str | None = os.fspath(service.model)
        elif store.active() != store.DEFAULT:
            base = None
        else:  # read with MYDIGITS_MODEL or the shipped model: teach that one
            base = os.environ.get("MYDIGITS_MODEL") or None
        return service.jobs.start_teach(base, body.name, body.epochs)

    @app.get("/api/jobs/{job_id}", response_model=Job, responses=ERRORS, tags=["teaching"])
    def job(job_id: str) -> Job:
        """A job's state (queued, running, succeeded, failed), progress 0-1 and result."""
        found = service.jobs.get(job_id) if re.fullmatch(r"[0-9a-f]{32}", job_id) else None
        if found is None:
            raise _fail(404, f"no job {job_id[:40]!r}")
        return found

    @app.get("/api/models", response_model=ModelsResponse, tags=["models"])
    def models() -> ModelsResponse:
        """The shipped model and the taught versions; which one is active."""
        return _models(service)

    @app.post("/api/models/{name}/use", response_model=ModelsResponse, responses=ERRORS,
              tags=["models"])
    def use_model(name: str) -> ModelsResponse:
        """Make ``name`` the active model (``default``: the shipped one)."""
        if name != store.DEFAULT:
            try:
                store.validate_name(name)
            except MydigitsError as exc:
                raise _fail(400, str(exc)) from None
            if not store.exists(name):
                raise _fail(404, f"unknown model {name!r}")
        try:
            store.set_active(name)
        except MydigitsError as exc:
            raise _fail(400, str(exc)) from None
        service.forget_reader()
        return _models(service)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(WEB_DIR / "favicon.svg", media_type="image/svg+xml")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app


def server_config(app: Any, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> Any:
    """The uvicorn settings ``serve`` runs with (the hostile-client tests run exactly these)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, limit_concurrency=256,
                          timeout_keep_alive=10)


def serve(host: str = "127.0.0.1", port: int = 8000, model: str | None = None) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: anyone who can reach it can read pictures, add samples and "
                    "teach (there is no authentication)", host)
    app = create_app(model)
    print(f"mydigits {__version__}: http://{host}:{port}/  (API docs: /docs)", flush=True)
    started = time.perf_counter()
    uvicorn.Server(server_config(app, host, port)).run()
    log.info("served for %.0f s", time.perf_counter() - started)

"""Scoring a model: on the MNIST test set, or on any folder of labelled photos.

Folder scores are what a user feels: *digit accuracy* is 1 - (edit distance / length) over the
digits in reading order (whitespace ignored, so a missed, extra or wrong digit each costs one), and
*exact match* is the share of images read entirely right. Both are also given per kind (photo,
canvas, multi...). The HTML report shows every mistake with its picture, because a number without
the pictures behind it does not tell you what to fix.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mydigits.errors import MydigitsError


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def digits_only(text: str) -> str:
    return "".join(text.split())


# ---------------------------------------------------------------- MNIST


@dataclass
class MnistReport:
    model: str
    accuracy: float
    n: int
    confusion: np.ndarray
    rejected: float  # share of test digits the model calls "not a digit"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "accuracy": self.accuracy,
            "n": self.n,
            "rejected": self.rejected,
            "confusion": self.confusion.tolist(),
        }

    def summary(self) -> str:
        lines = [
            f"model {self.model}",
            f"MNIST test accuracy {self.accuracy:.2%} on {self.n} digits "
            f"({round((1 - self.accuracy) * self.n)} wrong); called 'not a digit': {self.rejected:.2%}",
            "",
            "confusion (rows: true digit, columns: predicted)",
            format_confusion(self.confusion),
        ]
        return "\n".join(lines)


def format_confusion(m: np.ndarray) -> str:
    labels = [str(i) for i in range(m.shape[1])]
    width = max(5, len(str(int(m.max(initial=0)))) + 1)
    head = "    " + "".join(s.rjust(width) for s in labels)
    rows = [f"{i:>3} " + "".join(str(int(v)).rjust(width) for v in row) for i, row in enumerate(m)]
    return "\n".join([head, *rows])


def confusion_png(m: np.ndarray, path: str | os.PathLike[str], title: str = "") -> Path:
    """Draw a confusion matrix as a PNG (OpenCV only: no plotting library needed)."""
    n = m.shape[0]
    cell, margin = 48, 60
    img = np.full((margin + n * cell + 20, margin + n * cell + 20, 3), 255, np.uint8)
    off = m.astype(np.float64).copy()
    np.fill_diagonal(off, 0)
    scale = max(off.max(), 1.0)
    for i in range(n):
        for j in range(n):
            x, y = margin + j * cell, margin + i * cell
            if i == j:
                color = (200, 235, 200)
            else:
                shade = int(255 - 200 * min(1.0, off[i, j] / scale))
                color = (shade, shade, 255)
            cv2.rectangle(img, (x, y), (x + cell, y + cell), color, -1)
            cv2.rectangle(img, (x, y), (x + cell, y + cell), (180, 180, 180), 1)
            txt = str(int(m[i, j]))
            size = 0.35 if len(txt) > 3 else 0.45
            cv2.putText(img, txt, (x + 4, y + cell // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 1,
                        cv2.LINE_AA)
        cv2.putText(img, str(i), (margin - 20, margin + i * cell + cell // 2 + 5),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, str(i), (margin + i * cell + cell // 2 - 5, margin - 8),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, title or "true (rows) vs predicted (columns)", (8, 20), cv2.FONT_HERSHEY_SIMPLEX,
                0.45, (0, 0, 0), 1, cv2.LINE_AA)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise MydigitsError(f"{path}: cannot write PNG")
    return path


def eval_mnist(
    model: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
) -> MnistReport:
    """Score a model on the 10,000 MNIST test digits."""
    from mydigits import modelio
    from mydigits.mnist import MNIST
    from mydigits.normalizing import SIZE
    from mydigits.training import confusion

    path = Path(model) if model is not None else modelio.default_model_path()
    clf = modelio.Classifier.load(path)
    test = MNIST(data_dir, progress=False).load("test")
    assert test.images.shape[1:] == (SIZE, SIZE)
    # through the classifier the reader uses (its precision, batches, and the digits it wavers on
    # weighed over their variants: modelio.WAVERING), so the score is the reader's; training
    # scores the model alone, which can differ by a digit or two
    probs = clf.predict_proba(test.images.astype(np.float32) / 255.0)
    pred = probs[:, :10].argmax(1)
    rejected = float((probs.argmax(1) == 10).mean()) if clf.has_reject_class else 0.0
    m = confusion(test.labels, pred)
    report = MnistReport(str(path), float((pred == test.labels).mean()), len(test), m, rejected)
    if plot:
        confusion_png(m, plot, f"{path.name}: {report.accuracy:.2%} on MNIST test")
    return report


# ---------------------------------------------------------------- labelled folders


@dataclass
class ImageScore:
    file: str
    kind: str
    truth: str
    read: str
    errors: int
    result: Any = None  # the ReadResult, for the report
    error: str = ""  # a loading error, if the image could not be read


@dataclass
class FolderReport:
    folder: str
    model: str
    scores: list[ImageScore] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((10, 11), np.int64))

    @staticmethod
    def _summarize(scores: list[ImageScore]) -> dict[str, Any]:
        digits = sum(len(digits_only(s.truth)) for s in scores)
        errors = sum(min(s.errors, len(digits_only(s.truth))) for s in scores)
        exact = sum(1 for s in scores if s.errors == 0)
        return {
            "digit_accuracy": 1 - errors / digits if digits else 0.0,
            "exact_match": exact / len(scores) if scores else 0.0,
            "images": len(scores),
            "digits": digits,
        }

    def to_json(self) -> dict[str, Any]:
        out = self._summarize(self.scores)
        kinds = sorted({s.kind for s in self.scores if s.kind})
        out["per_kind"] = {k: self._summarize([s for s in self.scores if s.kind == k]) for k in kinds}
        out["model"] = self.model
        out["confusion"] = self.confusion.tolist()
        out["skipped"] = [{"file": f, "reason": r} for f, r in self.skipped]
        out["mistakes"] = [
            {"file": s.file, "truth": s.truth, "read": s.read, "errors": s.errors}
            for s in self.scores
            if s.errors
        ]
        return out

    def summary(self) -> str:
        j = self.to_json()
        lines = [
            f"{self.folder}: {j['images']} images, {j['digits']} digits, model {self.model}",
            f"digit accuracy {j['digit_accuracy']:.2%}, exact match {j['exact_match']:.2%}",
        ]
        for kind, k in j["per_kind"].items():
            lines.append(
                f"  {kind:<10} {k['images']:>4} images  digits {k['digit_accuracy']:.2%}  "
                f"exact {k['exact_match']:.2%}"
            )
        lines.append("confusion of aligned single digits (rows: true, columns: read; last column '?')")
        lines.append(format_confusion(self.confusion))
        for s in self.scores:
            if s.errors:
                lines.append(f"  wrong: {s.file}: truth {s.truth!r} read {s.read!r}{' ' + s.error if s.error else ''}")
        for f, r in self.skipped:
            lines.append(f"  skipped: {f}: {r}")
        return "\n".join(lines)


def _align(truth: str, read: str) -> list[tuple[str, str]]:
    """Pairs of (true digit, read digit) along an edit-distance alignment, substitutions included."""
    n, m = len(truth), len(read)
    d = np.zeros((n + 1, m + 1), np.int32)
    d[:, 0], d[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (truth[i - 1] != read[j - 1]))
    pairs = []
    i, j = n, m
    while i > 0 and j > 0:
        if d[i, j] == d[i - 1, j - 1] + (truth[i - 1] != read[j - 1]):
            pairs.append((truth[i - 1], read[j - 1]))
            i, j = i - 1, j - 1
        elif d[i, j] == d[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def eval_folder(
    folder: str | os.PathLike[str],
    model: str | os.PathLike[str] | None = None,
    html: str | os.PathLike[str] | None = None,
) -> FolderReport:
    """Read every labelled image in ``folder`` and score the readings."""
    from mydigits.labelling import find_labelled

    items, skipped = find_labelled(folder)
    if not items:
        raise MydigitsError(f"{folder}: no labelled images found")
    from mydigits.reading import Reader

    reader = Reader(model)
    report = FolderReport(str(folder), str(getattr(reader, "model_path", model or "default")))
    report.skipped = [(str(s.path), s.reason) for s in skipped]
    for item in items:
        truth = digits_only(item.label)
        try:
            result = reader.read(item.path)
            read, err = result.text, ""
        except MydigitsError as exc:
            result, read, err = None, "", str(exc)
        got = digits_only(read)
        score = ImageScore(str(item.path), item.kind, item.label, read, edit_distance(truth, got), result, err)
        report.scores.append(score)
        for t, r in _align(truth, got):
            report.confusion[int(t), int(r) if r.isdigit() else 10] += 1
    if html:
        write_html(report, html)
    return report


def _thumb(path: str, max_side: int = 320) -> str:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        return ""
    scale = max_side / max(img.shape[:2])
    if scale < 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return base64.b64encode(buf.tobytes()).decode() if ok else ""


def _crop_png(crop: np.ndarray) -> str:
    img = (np.clip(crop, 0, 1) * 255).astype(np.uint8)
    img = cv2.resize(img, (56, 56), interpolation=cv2.INTER_NEAREST)
    ok, buf = cv2.imencode(".png", img)
    return base64.b64encode(buf.tobytes()).decode() if ok else ""


def write_html(report: FolderReport, path: str | os.PathLike[str]) -> Path:
    """A self-contained HTML page: the figures, then every mistake with its picture and crops."""
    from mydigits import atomic

    j = report.to_json()
    esc = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'><title>mydigits eval</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px}"
        ".m{display:inline-block;margin:8px;padding:8px;border:1px solid #ccc;vertical-align:top}"
        "img.c{image-rendering:pixelated;margin:1px;border:1px solid #888}</style>",
        f"<h1>{esc(report.folder)}</h1><p>model {esc(report.model)}</p>",
        f"<p>digit accuracy <b>{j['digit_accuracy']:.2%}</b>, exact match <b>{j['exact_match']:.2%}</b>"
        f" ({j['images']} images, {j['digits']} digits)</p><table><tr><th>kind</th><th>images</th>"
        "<th>digit accuracy</th><th>exact</th></tr>",
    ]
    for kind, k in j["per_kind"].items():
        parts.append(
            f"<tr><td>{esc(kind)}</td><td>{k['images']}</td><td>{k['digit_accuracy']:.2%}</td>"
            f"<td>{k['exact_match']:.2%}</td></tr>"
        )
    parts.append(f"</table><h2>Confusion</h2><pre>{esc(format_confusion(report.confusion))}</pre>")
    mistakes = [s for s in report.scores if s.errors]
    parts.append(f"<h2>Mistakes ({len(mistakes)})</h2>")
    for s in mistakes:
        parts.append(f"<div class='m'><div>{esc(Path(s.file).name)}: truth <b>{esc(s.truth)}</b>, read "
                     f"<b>{esc(s.read or '(nothing)')}</b> {esc(s.error)}</div>")
        thumb = _thumb(s.file)
        if thumb:
            parts.append(f"<img src='data:image/jpeg;base64,{thumb}'><br>")
        if s.result is not None:
            for line in s.result.lines:
                for d in line.digits:
                    crop = getattr(d, "crop", None)
                    if crop is not None:
                        label = "?" if d.digit is None else str(d.digit)
                        parts.append(f"<img class='c' title='{label} {d.confidence:.2f}' "
                                     f"src='data:image/png;base64,{_crop_png(crop)}'>")
        parts.append("</div>")
    if report.skipped:
        parts.append("<h2>Skipped</h2><ul>")
        parts.extend(f"<li>{esc(f)}: {esc(r)}</li>" for f, r in report.skipped)
        parts.append("</ul>")
    out = Path(path)
    atomic.write_bytes(out, "\n".join(parts).encode("utf-8"))
    return out

"""Finding labelled images in a folder, the three ways users label them.

1. ``labels.csv`` with columns ``file,label[,kind,writer]`` (a label may hold several digits, rows
   separated by spaces);
2. a digit subfolder: ``3/anything.png``;
3. the file name: the digits after the last ``_`` (``test_3.png``, ``invoice_4821.jpg``) or a name
   that is all digits (``4821.png``). The seeds' convention is "the last character before the
   extension", which this includes.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mydigits.errors import MydigitsError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm"}
_LABEL = re.compile(r"^[0-9]+( [0-9]+)*$")


@dataclass(frozen=True)
class Labelled:
    path: Path
    label: str  # digits in reading order, rows separated by single spaces
    kind: str = ""
    writer: str = ""


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def clean_label(raw: str) -> str | None:
    """Normalize a label's whitespace; None if it is not made of digits."""
    label = " ".join(raw.split())
    return label if label and _LABEL.match(label) else None


def label_from_name(path: Path) -> str | None:
    """The label a file name carries, or None."""
    stem = path.stem
    if stem.isdigit() and stem.isascii():
        return stem
    tail = stem.rsplit("_", 1)[-1] if "_" in stem else stem[-1:]
    if tail.isdigit() and tail.isascii():
        return tail
    parent = path.parent.name
    if len(parent) == 1 and parent.isdigit():
        return parent
    return None


def find_labelled(folder: str | os.PathLike[str]) -> tuple[list[Labelled], list[Skipped]]:
    """All labelled images below ``folder`` and the files that could not be used, with why."""
    root = Path(folder)
    if not root.is_dir():
        raise MydigitsError(f"{root}: not a folder")
    csv_path = root / "labels.csv"
    if csv_path.is_file():
        return _from_csv(root, csv_path)
    found: list[Labelled] = []
    skipped: list[Skipped] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        parent = path.parent.name if path.parent != root else ""
        if len(parent) == 1 and parent.isdigit():
            found.append(Labelled(path, parent))
            continue
        label = label_from_name(path)
        if label is None:
            skipped.append(Skipped(path, "no digit label in the file name"))
        else:
            found.append(Labelled(path, label))
    return found, skipped


def _from_csv(root: Path, csv_path: Path) -> tuple[list[Labelled], list[Skipped]]:
    found: list[Labelled] = []
    skipped: list[Skipped] = []
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MydigitsError(f"{csv_path}: cannot read ({exc})") from None
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:  # a field over the csv module's size limit, a stray quote at the end
        raise MydigitsError(f"{csv_path}: not a valid CSV file ({exc})") from None
    if not rows:
        raise MydigitsError(f"{csv_path}: empty")
    header = [h.strip().lower() for h in rows[0]]
    if "file" not in header or "label" not in header:
        raise MydigitsError(f"{csv_path}: needs a header with columns file,label")
    col = {name: header.index(name) for name in header}
    root_resolved = root.resolve()
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or len(row) < max(col["file"], col["label"]) + 1:
            skipped.append(Skipped(csv_path, f"line {line_no}: missing columns"))
            continue
        name = row[col["file"]].strip()
        path = root / name
        try:
            inside = path.resolve().is_relative_to(root_resolved)
            is_file = path.is_file()
        except (OSError, ValueError, RuntimeError):  # a NUL byte, a name too long, a symlink loop
            skipped.append(Skipped(path, f"line {line_no}: not a usable file name"))
            continue
        if not inside:
            skipped.append(Skipped(path, f"line {line_no}: file is outside the folder"))
            continue
        label = clean_label(row[col["label"]])
        if label is None:
            skipped.append(Skipped(path, f"line {line_no}: label {row[col['label']][:40]!r} is not digits"))
            continue
        if not is_file:
            skipped.append(Skipped(path, f"line {line_no}: file not found"))
            continue
        kind = row[col["kind"]].strip() if "kind" in col and len(row) > col["kind"] else ""
        writer = row[col["writer"]].strip() if "writer" in col and len(row) > col["writer"] else ""
        found.append(Labelled(path, label, kind, writer))
    return found, skipped

"""The command line: errors are one clear line and a non-zero exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mydigits", *args], capture_output=True, text=True,
                          timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_bad_option() -> None:
    assert_one_line_error(run("train", "--arch", "resnet"), "invalid choice")


def test_bad_continuation_options() -> None:
    # refused before MNIST is loaded or downloaded
    assert_one_line_error(run("train", "--letters", "-5"), "must not be negative")
    assert_one_line_error(run("train", "--distill", "1"), "needs a model to start from (--init)")


def test_unknown_command() -> None:
    assert_one_line_error(run("fly"), "invalid choice")


def test_missing_model_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    assert_one_line_error(run("eval", "--mnist", "--model", str(missing)), str(missing), "not found")


def test_eval_missing_folder(tmp_path: Path) -> None:
    assert_one_line_error(run("eval", str(tmp_path / "nowhere")), "nowhere", "not a folder")


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("mydigits ")


def test_read_a_folder_keeps_going_past_a_bad_file(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[1] / "examples"
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "form.png").write_bytes((examples / "form_boxes.png").read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not a picture, skipped by suffix")
    proc = run("read", str(folder), str(examples / "canvas_dark.png"))
    assert proc.returncode == 1
    assert_one_line_error(proc, "broken.jpg")
    assert proc.stdout.splitlines() == [f"{folder / 'sub' / 'form.png'}: 2024", f"{examples / 'canvas_dark.png'}: 385"]


def test_output_into_a_closed_pipe_is_no_traceback() -> None:
    # `mydigits read ... | head -1`: the reader of our output goes away after the first line
    examples = sorted(str(p) for p in (Path(__file__).resolve().parents[1] / "examples").iterdir())
    proc = subprocess.Popen([sys.executable, "-m", "mydigits", "read", *examples * 4],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 141)
    assert first.startswith(examples[0].encode())
    assert "Traceback" not in err and "BrokenPipe" not in err, err

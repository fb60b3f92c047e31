"""Hostile model files: wrong shapes, metadata that lies, pickles and ``.pt`` files, weights of another
architecture, a mangled store. Each is refused with one clear line naming the file, and nothing in
the project can unpickle or evaluate what a user hands it."""

from __future__ import annotations

import ast
import hashlib
import io
import json
import pickle
import re
import struct
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save

from mydigits import modelio, models, paths, store
from mydigits.errors import MydigitsError

SRC = Path(__file__).parents[1] / "src" / "mydigits"


def write_model(folder: Path, tensors: dict[str, torch.Tensor], meta: dict, name: str = "m",
                vouch: bool = True) -> Path:
    """Weights as given and metadata that (with ``vouch``) carries their true SHA-256, so that only
    the content checks stand between the file and the model."""
    blob = st_save(tensors)
    (folder / f"{name}.safetensors").write_bytes(blob)
    meta = {"preprocessing_version": 1, **meta}
    if vouch:
        meta["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    (folder / f"{name}.json").write_text(json.dumps(meta))
    return folder / name


def state(arch: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in models.build(arch).state_dict().items()}


def refused(path: Path | str, *words: str) -> str:
    with pytest.raises(MydigitsError) as info:
        modelio.load(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.strip(), msg
    assert Path(str(path)).name.split(".")[0] in msg, msg  # names the file
    for w in words:
        assert w in msg, msg
    return msg


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("narrower layer", "has shape"),
        ("transposed matrix", "has shape"),
        ("scalar for a matrix", "has shape"),
        ("float64 weights", "has shape"),
        ("int weights", "has shape"),
        ("missing tensor", "do not belong"),
        ("extra tensor", "do not belong"),
        ("renamed tensor", "do not belong"),
        ("NaN weights", "NaN"),
        ("infinite weights", "NaN or infinite"),
        ("no tensors at all", "do not belong"),
    ],
)
def test_wrong_tensors_are_refused(tmp_path: Path, case: str, words: str) -> None:
    t = state("mlp")
    if case == "narrower layer":
        t["4.weight"] = torch.zeros(64, 128)
    elif case == "transposed matrix":
        t["2.weight"] = t["2.weight"].T.contiguous()
    elif case == "scalar for a matrix":
        t["2.weight"] = torch.tensor(1.0)
    elif case == "float64 weights":
        t["2.weight"] = t["2.weight"].double()
    elif case == "int weights":
        t["2.bias"] = t["2.bias"].long()
    elif case == "missing tensor":
        del t["6.bias"]
    elif case == "extra tensor":
        t["7.weight"] = torch.zeros(3)
    elif case == "renamed tensor":
        t["9.bias"] = t.pop("6.bias")
    elif case == "NaN weights":
        t["2.weight"][0, 0] = float("nan")
    elif case == "infinite weights":
        t["6.bias"][3] = float("inf")
    elif case == "no tensors at all":
        t = {}
    refused(write_model(tmp_path, t, {"arch": "mlp"}), *words)


@pytest.mark.parametrize(
    ("weights_of", "claims"),
    [("cnn2", "net"), ("net", "cnn2"), ("mlp", "softmax"), ("softmax", "mlp"), ("net", "fast"), ("fast", "net")],
)
def test_weights_of_another_architecture(tmp_path: Path, weights_of: str, claims: str) -> None:
    if weights_of not in models.ARCHITECTURES or claims not in models.ARCHITECTURES:
        pytest.skip("architecture not in this version")
    refused(write_model(tmp_path, state(weights_of), {"arch": claims}), "architecture")


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x00" * 7,
        struct.pack("<Q", 2**63) + b"{}",  # a header longer than the file
        struct.pack("<Q", 5) + b"[1,2]",  # a header that is not an object
        struct.pack("<Q", 2) + b"{}" + b"junk",
        struct.pack("<Q", 70) + b'{"2.weight":{"dtype":"F32","shape":[128,784],"data_offsets":[0,99]}}  ',
        struct.pack("<Q", 66) + b'{"2.weight":{"dtype":"XX","shape":[1],"data_offsets":[0,4]}}    ' + bytes(4),
        b"\x89PNG\r\n\x1a\n" + bytes(64),
    ],
)
def test_broken_safetensors_are_refused(tmp_path: Path, blob: bytes) -> None:
    (tmp_path / "m.safetensors").write_bytes(blob)
    meta = {"arch": "mlp", "preprocessing_version": 1, "weights_sha256": hashlib.sha256(blob).hexdigest()}
    (tmp_path / "m.json").write_text(json.dumps(meta))
    refused(tmp_path / "m")


# ---------------------------------------------------------------- metadata


def saved(tmp_path: Path, arch: str = "softmax") -> Path:
    torch.manual_seed(0)
    modelio.save(models.build(arch), tmp_path / "m", {"arch": arch})
    return tmp_path / "m"


def set_meta(path: Path, text: str | bytes) -> None:
    target = path.with_suffix(".json")
    target.write_bytes(text if isinstance(text, bytes) else text.encode())


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"arch": "mlp"}, "do not belong"),  # lies about what the weights are
        ({"arch": "resnet50"}, "unknown architecture"),
        ({"arch": "x" * 100_000}, "unknown architecture"),
        ({"arch": ["softmax"]}, "no architecture"),
        ({"arch": None}, "no architecture"),
        ({"weights_sha256": "0" * 64}, "do not match"),
        ({"weights_sha256": None}, "do not match"),
        ({"preprocessing_version": 99}, "preprocessing version"),
        ({"preprocessing_version": "1"}, "preprocessing version"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 0}, "temperature"),
        ({"temperature": -1.5}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"temperature": None}, "temperature"),
        ({"temperature": 1e308 * 10}, "temperature"),  # json writes Infinity
        ({"temperature": float("nan")}, "temperature"),
    ],
)
def test_lying_metadata(tmp_path: Path, change: dict, words: str) -> None:
    path = saved(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta.update(change)
    set_meta(path, json.dumps(meta))
    refused(path, words)


@pytest.mark.parametrize(
    "text",
    [b"", b"null", b"[]", b'"softmax"', b"{", b"\xff\xfe{\x00}\x00", b"[" * 100_000 + b"]" * 100_000,
     b'{"arch": "softmax", "n": ' + b"9" * 5000 + b"}", b'{"arch": "softmax"}\x00', b"\xef\xbb\xbf{}"],
)
def test_unparsable_metadata(tmp_path: Path, text: bytes) -> None:
    path = saved(tmp_path)
    set_meta(path, text)
    refused(path)


META_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=st.dictionaries(
    st.sampled_from(["arch", "temperature", "preprocessing_version", "weights_sha256", "teach", "date",
                     "classes", "mnist_test_accuracy"]), META_VALUES, max_size=4))
def test_any_metadata_is_loaded_or_refused_and_listed(tmp_path_factory, changes: dict) -> None:
    """Whatever a metadata file holds, loading gives a working model or one clear line, and
    ``models list`` (and the web app's model list) shows the version instead of crashing."""
    home = tmp_path_factory.mktemp("home")
    folder = home / "models" / "v1"
    folder.mkdir(parents=True)
    path = saved(folder)
    for suffix in (".safetensors", ".json"):
        path.with_suffix(suffix).rename(folder / f"model{suffix}")
    meta = json.loads((folder / "model.json").read_text())
    meta.update(changes)
    (folder / "model.json").write_text(json.dumps(meta))
    try:
        model, got = modelio.load(folder / "model")
        assert isinstance(got, dict) and models.n_classes(model) in (10, 11)
        clf = modelio.Classifier.load(folder / "model")
        assert 0 < clf.temperature < float("inf")
    except MydigitsError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MYDIGITS_HOME", str(home))
        rows = store.describe()
        assert [r["name"] for r in rows] == ["default", "v1"]
        assert "v1" in store.format_table(rows)
        from mydigits.serving import ModelInfo

        for r in rows:  # what GET /api/models builds from them
            ModelInfo(**{k: v for k, v in r.items() if k in ModelInfo.model_fields})


# ---------------------------------------------------------------- executable formats


class Boom:
    """Unpickling this creates a file: proof that a pickle ran."""

    marker: Path

    def __reduce__(self) -> tuple:
        return (Path.touch, (Boom.marker,))


@pytest.fixture
def boom(tmp_path: Path) -> Path:
    Boom.marker = tmp_path / "PWNED"
    return Boom.marker


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".pkl", ".ckpt", ".PT"])
def test_pt_and_pickle_files_are_refused_by_name(tmp_path: Path, boom: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    torch.save({"state": state("softmax"), "boom": Boom()}, path)
    msg = refused(path, "never loaded")
    assert str(path) in msg
    assert not boom.exists()


@pytest.mark.parametrize("fmt", ["pickle", "torch.save zip", "torch.save legacy"])
def test_pickles_in_disguise_are_never_unpickled(tmp_path: Path, boom: Path, fmt: str) -> None:
    """A pickle renamed ``.safetensors``, with metadata that vouches for it: the safetensors parser
    refuses it, and the pickle never runs."""
    buf = io.BytesIO()
    if fmt == "pickle":
        pickle.dump({"2.weight": Boom()}, buf)
    else:
        torch.save({"2.weight": Boom()}, buf, _use_new_zipfile_serialization=fmt.endswith("zip"))
    blob = buf.getvalue()
    (tmp_path / "m.safetensors").write_bytes(blob)
    (tmp_path / "m.json").write_text(json.dumps({"arch": "softmax", "preprocessing_version": 1,
                                                 "weights_sha256": hashlib.sha256(blob).hexdigest()}))
    refused(tmp_path / "m", "not a valid safetensors file")
    assert not boom.exists()


def test_cli_refuses_a_pt_model_in_one_line(tmp_path: Path, boom: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"boom": Boom()}, path)
    picture = tmp_path / "x.png"
    picture.write_bytes(b"\x89PNG")
    proc = subprocess.run([sys.executable, "-m", "mydigits", "read", "--model", str(path), str(picture)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "never loaded" in proc.stderr, proc.stderr
    assert not boom.exists()


@pytest.mark.parametrize("spec", ["", ".", "..", "/", "models/"])
def test_empty_model_paths(spec: str) -> None:
    with pytest.raises(MydigitsError, match="not a model path|model file not found"):
        modelio.load(spec)


# ---------------------------------------------------------------- the store


def test_store_with_a_lying_version(tmp_path: Path) -> None:
    """A version whose weights were swapped for another architecture's: `models use` refuses it, the
    active model stays, and reading keeps working."""
    folder = paths.models_dir() / "liar"
    folder.mkdir(parents=True)
    write_model(folder, state("mlp"), {"arch": "softmax", "teach": {"base": "default"}}, name="model")
    assert store.names() == ["liar"]
    with pytest.raises(MydigitsError, match="do not belong"):
        store.set_active("liar")
    assert store.active() == "default"
    (paths.models_dir() / "ACTIVE").write_text("liar\n")  # forced by hand
    assert store.active() == "liar"
    from mydigits.reading import Reader

    with pytest.raises(MydigitsError, match="do not belong"):
        Reader()
    (paths.models_dir() / "ACTIVE").write_bytes(b"\xff\xfe../../etc\x00" + b"x" * 5000)
    assert store.active() == "default" and modelio.default_model_path().parent == paths.shipped_weights_dir()


def test_mangled_store_samples(tmp_path: Path) -> None:
    folder = paths.models_dir() / "v1"
    folder.mkdir(parents=True)
    write_model(folder, state("softmax"), {"arch": "softmax"}, name="model")
    samples = folder / "samples"
    samples.mkdir()
    crop = torch.zeros(28, 28, dtype=torch.uint8)
    crop[5:20, 12:15] = 255
    import cv2

    (samples / "000000.png").write_bytes(cv2.imencode(".png", crop.numpy())[1].tobytes())
    (samples / "000001.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x1c\0\0\0\x1c\x08\0\0\0\0" + bytes(40))
    rows = ["file,label,source,sha256,part,origin,role", "000000.png,3,a.png,ab,0,v1,train",
            "000000.png,x,a,b,0,v1,train", "000000.png,3,a,b,zero,v1,train", "000000.png,42,a,b,0,v1,train",
            "000001.png,4,a,b,0,v1,train", "../000000.png,5,a,b,0,v1,train", "000000.png,6"]
    (samples / "labels.csv").write_text("\n".join(rows) + "\n")
    got = store.load_samples("v1")
    assert [(s.label, s.part, s.source) for s in got] == [(3, 0, "a.png"), (6, 0, "")]
    (samples / "labels.csv").write_bytes(b"file,label\n\xff\xfe")
    with pytest.raises(MydigitsError, match="cannot read the samples"):
        store.load_samples("v1")


# ---------------------------------------------------------------- nothing executes user input


FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "yaml"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_ATTRS = {"torch.load", "torch.jit.load", "torch.hub.load", "np.load", "numpy.load", "pickle.load",
                   "pickle.loads", "pd.read_pickle", "torch.package"}


def _code_only(source: str) -> str:
    """The source with comments and string literals (docstrings included) blanked out."""
    out, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.STRING):
            continue
        words = (tokenize.NAME, tokenize.NUMBER)
        out.append((" " if prev in words and tok.type in words else "") + tok.string)
        prev = tok.type
    return "".join(out)


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.append(node.id if isinstance(node, ast.Name) else "<expression>")  # x().eval() is not eval()
    return ".".join(reversed(parts))


def test_nothing_unpickles_or_evaluates_user_input() -> None:
    """grep src/ for pickle, torch.load, eval( and exec( (in code, not in the prose that explains why
    they are avoided), and check the syntax tree for the same and their cousins."""
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    found = []
    grep = re.compile(r"\bpickle\b|\btorch\s*\.\s*load\b|(?<![\w.])eval\s*\(|(?<![\w.])exec\s*\(")
    for f in files:
        text = f.read_text(encoding="utf-8")
        found += [f"{f.name}: {m.group()}" for m in grep.finditer(_code_only(text))]
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                found += [f"{f.name}: import {a.name}" for a in node.names
                          if a.name.split(".")[0] in FORBIDDEN_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{f.name}: from {node.module} import")
            elif isinstance(node, ast.Call):
                name = _dotted(node.func)
                if name in FORBIDDEN_CALLS or name in FORBIDDEN_ATTRS:
                    found.append(f"{f.name}:{node.lineno}: {name}(...)")
    for js in sorted((SRC / "web").glob("*.js")):
        code = js.read_text(encoding="utf-8")
        found += [f"{js.name}: {m.group()}" for m in re.finditer(r"(?<![\w.])eval\s*\(|new\s+Function\s*\(", code)]
    assert not found, found
    # and the loader really is the safetensors one
    assert "from safetensors.torch import load as st_load" in (SRC / "modelio.py").read_text()

"""The ``mydigits`` command: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mydigits.errors import MydigitsError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other error
        print(f"mydigits: error: {message}", file=sys.stderr)
        sys.exit(2)


def _train(args: argparse.Namespace) -> int:
    from mydigits import modelio, paths, training

    result = training.train(args.arch, args.epochs, args.data_dir, args.threads, args.seed, progress=not args.quiet,
                            init=args.init, lr=args.lr, letters=args.letters, distill=args.distill,
                            teachers=args.teacher)
    out = Path(args.out) if args.out else paths.home() / "trained" / args.arch
    path = modelio.save(result.model, out, result.meta)
    acc = result.meta["mnist_test_accuracy"]
    print(f"{args.arch}: MNIST test accuracy {acc:.2%} in {result.meta['train_seconds']:.0f} s -> {path}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.mnist:
        from mydigits import evaluating

        report = evaluating.eval_mnist(args.model, args.data_dir, plot=args.plot)
        if args.json:
            print(json.dumps(report.to_json()))
        else:
            print(report.summary())
        return 0
    if not args.folder:
        raise MydigitsError("eval needs a FOLDER of labelled images, or --mnist")
    from mydigits import evaluating

    report = evaluating.eval_folder(args.folder, args.model, html=args.report)
    print(json.dumps(report.to_json()) if args.json else report.summary())
    return 0


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def _expand_folders(items: list[str]):
    """A folder stands for the pictures in it (recursively, sorted); files are read as given."""
    for item in items:
        path = Path(item)
        if path.is_dir():
            yield from (str(p) for p in sorted(path.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            yield item


def _read(args: argparse.Namespace) -> int:
    from mydigits.reading import Reader

    reader = Reader(args.model)
    failed = 0
    for item, result in reader.read_many(_expand_folders(args.images)):
        if isinstance(result, MydigitsError):
            print(f"mydigits: {result}", file=sys.stderr)
            failed += 1
            continue
        if args.annotate:
            result.save_annotated(args.annotate)
        if args.save_crops:
            result.save_crops(args.save_crops)
        if args.json:
            print(json.dumps(result.to_json()), flush=True)
        else:
            print(f"{item}: {result.text.replace(chr(10), ' / ') or '(no digits)'}", flush=True)
    return 1 if failed else 0


def _teach(args: argparse.Namespace) -> int:
    from mydigits import teaching

    def say(msg: str) -> None:
        if msg.startswith("skipped ") or not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    outcome = teaching.teach(
        args.folders,
        base=args.model,
        name=args.name,
        epochs=args.epochs,
        preprocessed=args.preprocessed,
        progress=say,
        data_dir=args.data_dir,
    )
    print(outcome.summary())
    if outcome.folder:
        print(f"saved in {outcome.folder} (training curve: curve.png)")
    return 0


def _models(args: argparse.Namespace) -> int:
    from mydigits import store

    if args.action == "list":
        rows = store.describe()
        if args.json:
            print(json.dumps(rows))
        else:
            print(store.format_table(rows))
        return 0
    if not args.name:
        raise MydigitsError(f"models {args.action} needs a NAME")
    if args.action == "use":
        name = args.name if args.name == store.DEFAULT else store.validate_name(args.name)
        store.set_active(name)
        print(f"active model: {store.active()}")
    else:
        now = store.remove(args.name)
        print(f"removed {args.name}; active model: {now}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from mydigits import serving

    serving.serve(args.host, args.port, model=args.model)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from mydigits import __version__

    p = _Parser(prog="mydigits", description=__doc__)
    p.add_argument("--version", action="version", version=f"mydigits {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model on MNIST (net: also on handwriting fonts and doodles)")
    t.add_argument("--arch", default="net", choices=["softmax", "mlp", "cnn2", "fast", "net", "net-v1", "gate"])
    t.add_argument("--epochs", type=int, default=None, help="default: the architecture's recipe")
    t.add_argument("--out", help="model path without extension (default: MYDIGITS_HOME/trained/ARCH)")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--init", metavar="MODEL", default=None,
                   help="start from this model's weights (same architecture) instead of random ones")
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
    t.add_argument("--letters", type=int, default=None, metavar="N",
                   help="add N generated letters and word fragments as 'not a digit' (default: the recipe's)")
    t.add_argument("--distill", type=float, default=None, metavar="W",
                   help="with --init: keep the starting model's outputs on the digits, with weight W; "
                        "with --teacher: learn the teachers' answers with weight W (default 1)")
    t.add_argument("--teacher", metavar="MODEL", action="append", default=None,
                   help="also learn from this trained model's answers (repeat for an ensemble)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--data-dir", default=None, help="training-data cache folder (MNIST, fonts, doodles)")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="score a model on MNIST or on a labelled folder")
    e.add_argument("folder", nargs="?", help="folder with labels.csv or files named by label")
    e.add_argument("--mnist", action="store_true", help="score on the MNIST test set")
    e.add_argument("--model", default=None, help="model path (default: the active model)")
    e.add_argument("--json", action="store_true")
    e.add_argument("--plot", default=None, metavar="PNG", help="write the confusion matrix as PNG")
    e.add_argument("--report", default=None, metavar="HTML", help="HTML report of mistakes")
    e.add_argument("--data-dir", default=None)
    e.set_defaults(func=_eval)

    r = sub.add_parser("read", help="read digits and numbers in images")
    r.add_argument("images", nargs="+", help="image files, or folders of them (read recursively)")
    r.add_argument("--json", action="store_true")
    r.add_argument("--annotate", metavar="DIR")
    r.add_argument("--save-crops", metavar="DIR")
    r.add_argument("--model", default=None)
    r.set_defaults(func=_read)

    tc = sub.add_parser("teach", help="learn your own handwriting from labelled samples")
    tc.add_argument("folders", nargs="+", metavar="FOLDER",
                    help="labels.csv, digit subfolders (3/) or names ending in the digit (x_3.png)")
    tc.add_argument("--model", default=None, help="base model: a taught model's name, 'default' or "
                    "a path (default: the active model)")
    tc.add_argument("--name", default=None, help="name of the new version (default: mine-N)")
    tc.add_argument("--epochs", type=int, default=None, help="default: 6 (25 steps each)")
    tc.add_argument("--preprocessed", action="store_true",
                    help="samples are 28x28 white-on-black crops (as `read --save-crops` writes)")
    tc.add_argument("--data-dir", default=None, help="MNIST cache folder")
    tc.add_argument("--quiet", action="store_true")
    tc.set_defaults(func=_teach)

    m = sub.add_parser("models", help="list, choose or remove taught models")
    m.add_argument("action", choices=["list", "use", "remove"])
    m.add_argument("name", nargs="?", help="model name ('default': the shipped model)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_models)

    sv = sub.add_parser("serve", help="web app and REST API: draw, photograph, correct, teach")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default: 127.0.0.1; there is no authentication)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--model", default=None, help="always read with this model (default: the "
                    "active one, following `models use`)")
    sv.set_defaults(func=_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # a file name that is not valid UTF-8 arrives with surrogates; print it, do not crash
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MydigitsError as exc:
        print(f"mydigits: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mydigits: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the program reading our output stopped (`mydigits read ... | head`): not our error, and
        # Python's own flush at exit must not print a traceback for it either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())

"""Command line (a face of the app): ``python -m tryon {render,bench,eval,export,lookbook,load,...}``.

A thin layer over the package: ``render`` calls :func:`tryon.pipeline.try_on`
like the UI does. Bad input exits with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import TryOnError

EXIT_BAD_INPUT = 2


def _render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--person", required=True, type=Path, help="photo of one person")
    parser.add_argument("--garment", type=Path, help="product photo of a garment")
    parser.add_argument("--description", "-d", help="words about the garment (English or Chinese)")
    parser.add_argument("--category", default="auto", choices=("auto", "upper", "lower", "dress"))
    parser.add_argument("--renderer", choices=("warp", "diffusion"), help="default: TRYON_RENDERER or warp")
    parser.add_argument("-o", "--output", required=True, type=Path, help="where to write the PNG")


def _render(args: argparse.Namespace) -> int:
    from PIL import Image

    from .pipeline import try_on

    result = try_on(
        args.person, args.garment, args.description, category=args.category, renderer=args.renderer
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(result.image).save(args.output)
    stages = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in result.timings.items())
    print(f"wrote {args.output} ({result.category}, {result.renderer}; {stages})")
    for note in result.notes:
        print(f"note: {note}")
    return 0


@contextlib.contextmanager
def _quiet_native_logs() -> Iterator[None]:
    """Keep MediaPipe/TFLite's C++ log lines (written straight to file descriptor 2) off the terminal.

    Python's own ``sys.stderr`` (our messages, warnings, tracebacks) still reaches it.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    python_stderr = sys.stderr
    sys.stderr = open(os.dup(saved), "w", buffering=1)  # noqa: SIM115 (closed in finally)
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    from .lookbook import command as lookbook
    from .measure import bench, evaluate, lookbook_bench, search_bench
    from .store import export
    from .ui import edit_bench, load

    parser = argparse.ArgumentParser(prog="python -m tryon", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="dress one person photo and write the result")
    _render_arguments(render)
    render.set_defaults(func=_render)
    for name, module, help_text in (
        ("bench", bench, "latency, cold start and memory over the eval cases"),
        ("eval", evaluate, "quality metrics and a contact sheet over a cases file"),
        ("export", export, "export flagged results as a dataset"),
        ("search-bench", search_bench, "catalog search quality: recall@3 and MRR over a query file"),
        ("load", load, "shoppers in parallel against a server on this machine: latency, errors, server RSS"),
        ("edit-bench", edit_bench, "Try on against Correct the edit area, through a server on this machine"),
        ("lookbook", lookbook, "every garment on every person (Ray), with a contact sheet and a table"),
        ("lookbook-bench", lookbook_bench, "lookbook wall time with 1 and 2 workers against a plain try_on loop"),
    ):
        sub = commands.add_parser(name, help=help_text)
        module.add_arguments(sub)
        sub.set_defaults(func=module.run)
    args = parser.parse_args(argv)
    with _quiet_native_logs():
        try:
            return args.func(args)
        except TryOnError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT


"""``python -m tryon lookbook``: every garment on every person, scheduled by Ray (arguments and the run).

    python -m tryon lookbook --people DIR --garments DIR|--catalog CSV --out DIR
        [--renderer warp|diffusion] [--categories upper lower dress] [--address ADDR] [--workers N]
    python -m tryon lookbook --pairs cases.csv --out DIR ...      (listed pairs instead of the grid)

Exit status: 0 when every pair is rendered or refused (refusals are in the table with their message),
1 when some failed (the rerun tries them again), 2 for bad arguments, 130 when interrupted (Ctrl-C; the
folder is consistent and the same command finishes it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..config import get_settings
from ..errors import TryOnError
from .plan import (
    CATEGORIES,
    FAILED,
    INDEX,
    OK,
    PENDING,
    REFUSED,
    RENDERERS,
    RESULT_FORMATS,
    Journal,
    Plan,
    make_plan,
    read_catalog,
    read_garments,
    read_pairs,
    read_people,
)
from .runner import LookbookRun

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--people", type=Path, help="folder of person photos (one person each)")
    garments = parser.add_mutually_exclusive_group()
    garments.add_argument("--garments", type=Path,
                          help="folder of garment photos; captions and categories from a catalog.csv inside it")
    garments.add_argument("--catalog", type=Path,
                          help="catalog CSV: file (relative to the CSV), caption, category, description, id")
    parser.add_argument("--pairs", type=Path,
                        help="instead of the grid: a CSV of person, garment[, category, description] rows "
                             "(paths relative to it), e.g. the evaluation set's cases.csv")
    parser.add_argument("--out", required=True, type=Path, help="output folder (a rerun completes it)")
    parser.add_argument("--renderer", choices=RENDERERS, help="default: TRYON_RENDERER or warp")
    parser.add_argument("--categories", nargs="+", metavar="CATEGORY",
                        help=f"only garments of these categories ({', '.join(CATEGORIES)})")
    parser.add_argument("--address", help="a running Ray cluster (default: RAY_ADDRESS, else Ray on this machine)")
    parser.add_argument("--workers", type=int,
                        help="CPU workers (warp) or GPU actors (diffusion); default: every core / GPU")
    parser.add_argument("--num-gpus", type=int, help="GPUs the Ray started here offers (default: those detected)")
    parser.add_argument("--format", choices=RESULT_FORMATS, default="png", help="result files (default: png)")
    parser.add_argument("--retry-refused", action="store_true", help="render refused pairs again")
    parser.add_argument("--force", action="store_true", help="render every pair again")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _categories(values: list[str] | None) -> tuple[str, ...]:
    out = []
    for value in values or ():
        for part in value.replace(",", " ").split():
            if part.lower() not in CATEGORIES:
                raise TryOnError(f"--categories: unknown category {part!r}: use {', '.join(CATEGORIES)}.")
            out.append(part.lower())
    return tuple(dict.fromkeys(out))


def plan_from_args(args: argparse.Namespace) -> Plan:
    """The plan the arguments describe (raises TryOnError with the fix for a wrong combination)."""
    renderer = args.renderer or get_settings().renderer
    options = {"renderer": renderer, "fmt": args.format, "categories": _categories(args.categories)}
    if args.pairs is not None:
        if args.people or args.garments or args.catalog:
            raise TryOnError("Give either --pairs, or --people with --garments/--catalog, not both.")
        return make_plan(pairs=read_pairs(args.pairs), **options)
    if args.people is None or (args.garments is None and args.catalog is None):
        raise TryOnError("Give --people DIR and --garments DIR (or --catalog CSV), or --pairs CSV.")
    garments = read_garments(args.garments) if args.garments is not None else read_catalog(args.catalog)
    return make_plan(read_people(args.people), garments, **options)


def _executor(args: argparse.Namespace, renderer: str):  # -> ContextManager[RayExecutor]
    def make():
        from .ray_runner import ray_executor

        return ray_executor(args.address, renderer=renderer, workers=args.workers, num_gpus=args.num_gpus)

    return make


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.workers is not None and args.workers < 1:
        raise TryOnError("--workers must be at least 1.")
    plan = plan_from_args(args)
    job = LookbookRun(plan, args.out, _executor(args, plan.renderer), retry_refused=args.retry_refused,
                      force=args.force)
    todo = job.todo()
    total = len(job.plan.pairs)
    print(f"lookbook: {total} pairs ({_count(len(job.plan.people), 'person', 'people')}, "
          f"{_count(len(job.plan.garments), 'garment', 'garments')}), {total - len(todo)} already done, "
          f"{len(todo)} to render -> {args.out}", flush=True)
    start = time.perf_counter()
    bar = tqdm(total=total, initial=total - len(todo), unit="pair", disable=args.no_progress or None,
               file=sys.stderr, dynamic_ncols=True, desc="starting Ray" if todo else "")
    try:
        for progress in job.run():
            bar.total = progress.total
            bar.n = progress.done
            photos = f"photos {progress.photos_done}/{progress.photos_total}"
            bar.set_description("rendering" if progress.photos_done == progress.photos_total else photos, False)
            bar.set_postfix({s: progress.counts.get(s, 0) for s in (OK, REFUSED, FAILED)}, refresh=False)
            bar.refresh()
    except KeyboardInterrupt:
        bar.close()
        # Read back from the journal: Ctrl-C can land after a record is written but before the run saw it.
        journal = Journal(args.out).pairs
        done = sum(1 for p in job.plan.pairs if p.key in journal)
        print(f"interrupted: {done} of {len(job.plan.pairs)} pairs done; the folder is consistent: run the same "
              "command again to finish.", file=sys.stderr)
        return EXIT_INTERRUPTED
    bar.close()
    return _summary(job, args.out, time.perf_counter() - start)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _summary(job: LookbookRun, out: Path, seconds: float) -> int:
    counts = {s: 0 for s in (OK, REFUSED, FAILED, PENDING)}
    for pair in job.plan.pairs:
        counts[job.records.get(pair.key, {}).get("status", PENDING)] += 1
    peaks = job.stats["worker_peak_rss_mb"]
    workers = job.executor_info.get("workers")
    kind = ("GPU actor", "GPU actors") if job.plan.renderer == "diffusion" else ("worker", "workers")
    extra = f" with {_count(workers, *kind)}" if workers else " (nothing to render)"
    memory = f"; peak RSS per worker up to {max(peaks.values()):.0f} MB" if peaks else ""
    print(f"lookbook: {counts[OK]} rendered, {counts[REFUSED]} refused, {counts[FAILED]} failed in {seconds:.1f} s"
          f"{extra}{memory} -> {out / INDEX}")
    if job.excluded:
        print(f"left out {_count(len(job.excluded), 'garment', 'garments')} not in --categories: "
              + ", ".join(f"{g} ({c})" for g, c in sorted(job.excluded.items())))
    if counts[FAILED] or counts[PENDING]:
        print(f"{counts[FAILED] + counts[PENDING]} pairs are not done (see lookbook.csv): run the same command "
              "again to retry them.", file=sys.stderr)
        return EXIT_FAILED
    return 0

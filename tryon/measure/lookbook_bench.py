"""``python -m tryon lookbook-bench``: the lookbook's figures on this machine (printed, never asserted).

For a set of pairs (the evaluation cases as listed pairs, and a grid of the first N people × N garments):

1. a plain loop over :func:`tryon.pipeline.try_on` in one fresh process (decode, try on, write the PNG), timed
   from outside like a user's script, once with the default threads and once single-threaded (as Ray runs
   each worker: ``OMP_NUM_THREADS=1``, OpenCV's pool at one thread, which that variable does not reach, and
   ``TRYON_SIDE_THREAD=0``: the garment analysed after the person, not beside it);
2. ``python -m tryon lookbook`` with 1 worker, then with 2, into fresh folders, timed the same way (Ray's
   start and stop included).

Prints wall times, the 1 → 2 worker speed-up, per-pair cost against the loop (wall, and in the worker), and
peak RSS per worker. Each command runs alone, one after the other.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import get_settings
from ..lookbook.plan import Pair, make_plan, read_pairs

TARGET_SPEEDUP = 1.7
TARGET_PER_PAIR_RATIO = 1.1
LOOP_SCRIPT = """
import json, os, resource, sys, time
from pathlib import Path
import cv2
if os.environ.get("OMP_NUM_THREADS") == "1":
    cv2.setNumThreads(1)  # as each Ray worker does (tryon.lookbook.ray_runner._limit_threads)
from tryon.errors import TryOnError
from tryon.lookbook.report import encode_result
from tryon.pipeline import try_on
pairs, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
per_pair, try_on_only, cpu = [], [], time.process_time()
for n, (person, garment, category) in enumerate(pairs):
    start = time.perf_counter()
    try:
        result = try_on(person, garment, category=category)
    except TryOnError:
        continue
    middle = time.perf_counter()
    (out / f"{n}.png").write_bytes(encode_result(result.image, "png"))
    per_pair.append(time.perf_counter() - start)
    try_on_only.append(middle - start)
cpu_per_pair = (time.process_time() - cpu) / max(len(per_pair), 1)
print(json.dumps({"per_pair": per_pair, "try_on": try_on_only, "cpu_per_pair": cpu_per_pair,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", type=Path, default=None, help="cases.csv (default: ../shared/eval/cases.csv)")
    parser.add_argument("--grid", type=int, default=8, help="also an N x N grid of the cases' people and garments "
                                                             "(default 8; 0: skip)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default: 1 2)")
    parser.add_argument("--keep", type=Path, help="keep the lookbooks and loop outputs in this folder")


def _grid_pairs(pairs: tuple[Pair, ...], side: int) -> list[tuple[str, str, str]]:
    people = list(dict.fromkeys(str(p.person.path) for p in pairs))[:side]
    garments = list(dict.fromkeys((str(p.garment.path), p.garment.category) for p in pairs))[:side]
    return [(person, garment, category) for person in people for garment, category in garments]


def _timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode not in (0,):
        raise RuntimeError(f"{' '.join(command[:4])}... exited {proc.returncode}: {proc.stderr[-2000:]}")
    return time.perf_counter() - start, proc.stdout


def _loop(pairs: list[tuple[str, str, str]], work: Path, single_thread: bool) -> dict:
    listing = work / "pairs.json"
    listing.write_text(json.dumps(pairs))
    out = Path(tempfile.mkdtemp(dir=work))
    # One thread: OpenCV's pool and try_on's garment thread too (a Ray worker has one CPU).
    env = {**os.environ, **({"OMP_NUM_THREADS": "1", "TRYON_SIDE_THREAD": "0"} if single_thread else {})}
    wall, stdout = _timed([sys.executable, "-c", LOOP_SCRIPT, str(listing), str(out)], env)
    figures = json.loads(stdout.strip().splitlines()[-1])
    return {"wall": wall, "rendered": len(figures["per_pair"]), **figures}


def _lookbook(pairs: list[tuple[str, str, str]], work: Path, workers: int) -> dict:
    listing = work / f"pairs-{workers}.csv"
    with open(listing, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("person", "garment", "category"))
        writer.writerows(pairs)
    out = work / f"lookbook-{workers}"
    wall, _ = _timed([sys.executable, "-m", "tryon", "lookbook", "--pairs", str(listing), "--out", str(out),
                      "--workers", str(workers), "--no-progress"])
    summary = json.loads((out / "run.json").read_text())
    with open(out / "lookbook.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] == "ok"]
    stages = {s: _mean([float(r[f"time_{s}_ms"]) for r in rows if r.get(f"time_{s}_ms")]) for s in ("body", "garment")}
    return {"wall": wall, "stage_ms_in_pairs": stages, **summary}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _report(name: str, loops: dict[str, dict], runs: dict[int, dict]) -> None:
    pairs = next(iter(runs.values()))["pairs"]
    rendered = next(iter(runs.values()))["counts"]["ok"]
    print(f"\n{name}: {pairs} pairs ({rendered} rendered)")
    for label, loop in loops.items():
        print(f"  plain loop over try_on ({label}): {loop['wall']:.1f} s wall, {loop['wall'] / pairs:.3f} s/pair; "
              f"in-process {_mean(loop['per_pair']):.3f} s/pair (try_on {_mean(loop['try_on']):.3f} s + PNG; "
              f"CPU {loop['cpu_per_pair']:.3f} s/pair), "
              f"peak RSS {loop['peak_rss_mb']:.0f} MB")
    for workers, run in runs.items():
        peaks = run["worker_peak_rss_mb"].values()
        timeline = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in run["timeline_seconds"].items())
        print(f"  lookbook, {workers} worker{'s' if workers > 1 else ''}: {run['wall']:.1f} s wall "
              f"({run['wall'] / pairs:.3f} s/pair; {timeline}), {run['work_seconds_per_pair']:.3f} s/pair "
              f"in the workers (CPU {run['work_cpu_seconds_per_pair']:.3f} s/pair; analyses included), "
              f"peak RSS per worker {min(peaks):.0f}-{max(peaks):.0f} MB, "
              f"driver CPU {run['driver_cpu_seconds']:.1f} s, "
              f"{run['photos_analysed_this_run']} photos analysed, body from cache in "
              f"{run['bodies_from_cache']}/{rendered} pairs (try_on's body / garment stages "
              f"{run['stage_ms_in_pairs']['body']:.1f} / {run['stage_ms_in_pairs']['garment']:.1f} ms per pair)")
    if 1 in runs and 2 in runs:
        speedup = runs[1]["wall"] / runs[2]["wall"]
        work = [r["timeline_seconds"]["last_pair"] - r["timeline_seconds"]["executor_ready"]
                for r in (runs[1], runs[2])]
        print(f"  speed-up 1 -> 2 workers: {speedup:.2f}x wall (target >= {TARGET_SPEEDUP}x); {work[0] / work[1]:.2f}x "
              f"from Ray ready to the last pair ({work[0]:.1f} s -> {work[1]:.1f} s)")
    if 1 in runs:
        for label, loop in loops.items():
            wall_ratio = runs[1]["wall"] / loop["wall"]
            worker_ratio = runs[1]["work_seconds_per_pair"] / _mean(loop["per_pair"])
            cpu_ratio = runs[1]["work_cpu_seconds_per_pair"] / loop["cpu_per_pair"]
            print(f"  per-pair cost, 1 worker vs the {label} loop: {wall_ratio:.2f}x wall, "
                  f"{worker_ratio:.2f}x in the workers, {cpu_ratio:.2f}x CPU (target <= {TARGET_PER_PAIR_RATIO}x)")


def run(args: argparse.Namespace) -> int:
    cases = (args.cases or (get_settings().eval_dir / "cases.csv")).resolve()  # the lists go to other folders
    plan = make_plan(pairs=read_pairs(cases))
    sets = {f"{cases.name} as listed pairs": [(str(p.person.path), str(p.garment.path), p.garment.category)
                                               for p in plan.pairs]}
    if args.grid:
        sets[f"{args.grid} x {args.grid} grid of its people and garments"] = _grid_pairs(plan.pairs, args.grid)
    print(f"lookbook-bench on {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="lookbook-bench-") as tmp:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        for name, pairs in sets.items():
            work = Path(tempfile.mkdtemp(dir=args.keep or tmp))
            loops = {"default threads": _loop(pairs, work, False), "single thread": _loop(pairs, work, True)}
            runs = {workers: _lookbook(pairs, work, workers) for workers in args.workers}
            _report(name, loops, runs)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0

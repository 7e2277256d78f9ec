"""``python -m tryon bench``: latency, cold start and memory figures (printed, never asserted).

Runs every case of a cases file twice through :func:`tryon.pipeline.try_on`:
for each case, the case's garment on the photo with an empty person cache, then
another garment of the same category on the same photo (person analysis cached).
The first pass only warms models and caches; the figures come from the later ones. Prints per-stage p50/p95, cold
start (a fresh interpreter importing the package and loading its models), peak
RSS, and the text stages (parse, text-only render, catalog index build).

``--renderer diffusion`` prints the GPU renderer's figures instead (cold load, latency at 768x1024, peak
VRAM; see :mod:`tryon.measure.gpu_bench`).
"""

from __future__ import annotations

import argparse
import csv
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..config import get_settings
from . import gpu_bench

# Targets from the issues, printed next to the figures (warp renderer, 768x1024, 2 cores).
TARGET_E2E_P50_S = 1.0
TARGET_COLD_START_S = 5.0
TARGET_PEAK_RSS_MB = 1536
TARGET_PARSE_P50_S = 0.030
TARGET_TEXT_RENDER_P50_S = 1.5
TARGET_INDEX_100_S = 10.0
CATALOG_ITEMS = 100
PARSE_SAMPLES = (
    "a red long-sleeve shirt", "一件蓝色的牛仔裤", "navy striped tee with short sleeves",
    "黑色连衣裙", "make it navy, short sleeves", "beige linen midi skirt", "白色短袖T恤",
    "green checked flannel shirt", "酒红色长袖针织衫", "light blue denim jeans",
)
TEXT_ONLY_DESCRIPTIONS = ("a red long-sleeve shirt", "一件蓝色的牛仔裤", "黑色连衣裙")

COLD_START_SCRIPT = """
import time; t0 = time.perf_counter()
import tryon.pipeline, tryon.stages.body, tryon.stages.garment, tryon.stages.warp, tryon.stages.composite
from tryon.models import load_model
for name in ("pose", "selfie", "faces", "hands"):
    load_model(name)
print(time.perf_counter() - t0)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", type=Path, default=None, help="cases.csv (default: ../shared/eval/cases.csv)")
    parser.add_argument("--renderer", default="warp", choices=("warp", "diffusion"),
                        help="warp: the pipeline over the cases; diffusion: the GPU renderer's figures")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the cases (default 2)")
    parser.add_argument("--no-text", action="store_true", help="skip the text stages")
    gpu_bench.add_arguments(parser.add_argument_group("diffusion renderer (--renderer diffusion)"))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def cold_start_seconds() -> float:
    """Import + model load in a fresh interpreter, in seconds."""
    out = subprocess.run(
        [sys.executable, "-c", COLD_START_SCRIPT], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _read_cases(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _row(name: str, values: list[float], target: float | None = None) -> str:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    mark = "" if target is None else ("  ok" if p50 <= target else "  MISSED") + f" (target p50 <= {target:g} s)"
    return f"  {name:<22} p50 {p50 * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms   n={len(values)}{mark}"


def bench_pipeline(cases_path: Path, renderer: str, repeat: int) -> dict[str, list[float]]:
    """Per-stage times over all cases; 'first'/'second' = total with a cold/warm person cache."""
    from ..errors import TryOnError
    from ..pipeline import clear_cache, try_on

    root = cases_path.parent
    cases = _read_cases(cases_path)
    stages: dict[str, list[float]] = {"first_garment": [], "second_garment": []}
    for pass_index in range(repeat):
        for index, case in enumerate(cases):
            # The second garment: the next case's garment of the same category (a different photo).
            others = [c for c in cases[index + 1 :] + cases[:index]
                      if c.get("category") == case.get("category") and c.get("garment") != case.get("garment")]
            garments = [case, *others[:1]]
            clear_cache()
            for attempt, source in zip(("first_garment", "second_garment"), garments, strict=False):
                garment = root / source["garment"] if source.get("garment") else None
                try:
                    result = try_on(root / case["person"], garment, source.get("description") or None,
                                    category=source.get("category") or "auto", renderer=renderer)
                except TryOnError as exc:
                    print(f"  {case['id']}: failed: {exc}")
                    break
                if pass_index == 0:
                    continue  # the first pass warms the models and the garment cache
                stages[attempt].append(result.timings["total"])
                if attempt == "first_garment":
                    for stage, seconds in result.timings.items():
                        stages.setdefault(stage, []).append(seconds)
    return stages


def bench_text(cases_path: Path, renderer: str) -> dict[str, list[float]]:
    """parse latency, text-only render latency, and a 100-item catalog index build."""
    from PIL import Image

    from ..pipeline import try_on
    from ..stages import search, synth, text

    out: dict[str, list[float]] = {"parse": [], "text_only_render": [], "index_100": []}
    for sample in PARSE_SAMPLES:  # warm up the encoder
        text.parse(sample)
    for _ in range(3):
        for sample in PARSE_SAMPLES:
            start = time.perf_counter()
            text.parse(sample)
            out["parse"].append(time.perf_counter() - start)
    # A full-body photo, so that trousers and dresses can be shown.
    cases = _read_cases(cases_path)
    full_body = [c for c in cases if c.get("category") in ("lower", "dress")] or cases
    person = cases_path.parent / full_body[0]["person"]
    for description in TEXT_ONLY_DESCRIPTIONS * 2:
        start = time.perf_counter()
        try_on(person, None, description, renderer=renderer)
        out["text_only_render"].append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        colours = ("red", "navy", "black", "white", "green", "beige", "pink", "grey", "yellow", "brown")
        kinds = ("long-sleeve shirt", "short-sleeve tee", "jeans", "midi dress", "striped top")
        rows = []
        for i in range(CATALOG_ITEMS):
            caption = f"{colours[i % len(colours)]} {kinds[(i // len(colours)) % len(kinds)]}"
            image = synth.synthesize_garment(text.parse(caption), size=(256, 192))
            Image.fromarray(image).save(folder / f"item{i:03d}.png")
            rows.append((f"item{i:03d}.png", caption))
        with open(folder / "catalog.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "caption", "category"])
            writer.writerows((f, c, "") for f, c in rows)
        start = time.perf_counter()
        search.build_catalog_index([folder])
        out["index_100"].append(time.perf_counter() - start)
    return out


def run(args: argparse.Namespace) -> int:
    if args.renderer == "diffusion":
        return gpu_bench.run(args)
    settings = get_settings()
    cases_path = args.cases or settings.eval_dir / "cases.csv"
    if not cases_path.is_file():
        print(f"error: no cases file at {cases_path}: pass --cases PATH", file=sys.stderr)
        return 2
    print(f"tryon bench: renderer={args.renderer}, cases={cases_path}, passes={args.repeat}")
    cold = cold_start_seconds()
    print(f"cold start (import + model load): {cold:.2f} s  "
          f"({'ok' if cold <= TARGET_COLD_START_S else 'MISSED'}, target <= {TARGET_COLD_START_S:g} s)")

    stages = bench_pipeline(cases_path, args.renderer, args.repeat)
    print("per-stage latency (warm models; 'first_garment' = empty person cache):")
    for name, values in stages.items():
        target = TARGET_E2E_P50_S if name in ("first_garment", "total") else None
        print(_row(name, values, target))
    first, second = percentile(stages["first_garment"], 50), percentile(stages["second_garment"], 50)
    ratio = second / first if first else float("nan")
    print(f"same person, second garment: p50 {second * 1000:.1f} ms = {ratio:.2f} x the first "
          f"({'ok' if ratio <= 0.5 else 'MISSED'}, target <= 0.5)")

    if not args.no_text:
        text_stages = bench_text(cases_path, args.renderer)
        print("text stages:")
        print(_row("parse", text_stages["parse"], TARGET_PARSE_P50_S))
        print(_row("text_only_render", text_stages["text_only_render"], TARGET_TEXT_RENDER_P50_S))
        print(_row("index_build_100", text_stages["index_100"], TARGET_INDEX_100_S))

    rss = peak_rss_mb()
    print(f"peak RSS: {rss:.0f} MB ({'ok' if rss <= TARGET_PEAK_RSS_MB else 'MISSED'}, "
          f"target <= {TARGET_PEAK_RSS_MB} MB)")
    print(f"median of all first-garment totals: {statistics.median(stages['first_garment']):.3f} s"
          if stages["first_garment"] else "no successful cases")
    return 0

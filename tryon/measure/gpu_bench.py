"""``python -m tryon bench --renderer diffusion [--recipe kandinsky21|sd15] [--random-weights]``: the GPU
renderer's figures, printed (never asserted): cold load, per-image latency at 768x1024, peak memory.

- **cold load**: a fresh interpreter importing the package, loading the configured pipeline from disk and moving
  it to the device (what a Space's start-up pays once);
- **per-image latency**: the one GPU function on a 768x1024 photo (the whole frame is the model's working
  size) after a warm-up image, median of ``--images``: painting from noise with the garment photo (all
  ``--steps``), and refining a warp result with photo and words (Kandinsky's prior interpolation, ``steps x
  strength`` denoising steps);
- **peak memory**: ``torch.cuda.max_memory_allocated`` on a GPU, the process's peak RSS on a CPU.

``--random-weights`` builds random weights of the published architectures (:mod:`tryon.models.random_weights`)
in a temporary folder first, so figures can be taken where the real weights cannot be downloaded; otherwise
the weights come from the settings (``TRYON_DIFFUSION_*``), as for the app.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings, get_settings

# Targets from issue 14, per image on one H100-class GPU.
TARGET_LATENCY_S = 3.0  # at 25 steps, 768x1024
TARGET_STEPS = 25
TARGET_COLD_LOAD_S = 60.0
TARGET_PEAK_VRAM_GB = 12.0
DEFAULT_SIZE = "768x1024"  # width x height
DEFAULT_IMAGES = 3
BYTES_PER_GB = 1e9
# The synthetic photo: a torso-sized edit area, and a garment photo the size of a catalog image.
MASK_BOX = (0.25, 0.2, 0.75, 0.7)  # x0, y0, x1, y1 as fractions of the frame
GARMENT_SIDE = 512
PROMPT = "一件红色的长袖衬衫"  # Chinese as it is: the kandinsky21 text encoder reads it
CAPTION = "a red long-sleeve shirt"

COLD_LOAD_SCRIPT = """
import time
start = time.perf_counter()
import torch
from tryon.config import Settings
from tryon.models import diffusion as loader
pipe = loader.load_pipeline(loader.PipelineKey.from_settings(Settings.from_env()))
if torch.cuda.is_available():
    torch.cuda.synchronize()
print(time.perf_counter() - start)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The diffusion-only options of ``python -m tryon bench``."""
    parser.add_argument("--recipe", choices=("kandinsky21", "sd15"), default=None,
                        help="diffusion recipe (default: TRYON_DIFFUSION_RECIPE or kandinsky21)")
    parser.add_argument("--random-weights", action="store_true",
                        help="benchmark random weights of the published sizes (no download)")
    parser.add_argument("--steps", type=int, default=TARGET_STEPS, help=f"denoising steps (default {TARGET_STEPS})")
    parser.add_argument("--size", default=DEFAULT_SIZE, help=f"photo WIDTHxHEIGHT (default {DEFAULT_SIZE})")
    parser.add_argument("--images", type=int, default=DEFAULT_IMAGES,
                        help="timed images per scenario (0: cold load only, e.g. on a CPU)")
    parser.add_argument("--device", default=None, help="torch device (default: TRYON_DEVICE or auto)")
    parser.add_argument("--workdir", type=Path, default=None, help="where --random-weights are written")


def run(args: argparse.Namespace) -> int:
    """Print the diffusion renderer's figures; 2 when it cannot run here (the reason is printed)."""
    from ..models import diffusion as loader

    settings = dataclasses.replace(get_settings(), diffusion_recipe=args.recipe or get_settings().diffusion_recipe,
                                   device=args.device or get_settings().device)
    width, height = (int(side) for side in args.size.lower().split("x"))
    device = loader.resolve_device(settings)
    print(f"tryon bench: renderer=diffusion, recipe={settings.diffusion_recipe}, device={device} "
          f"({_device_name(device)}), {width}x{height}, {args.steps} steps, "
          f"{'random weights of the published sizes' if args.random_weights else 'configured weights'}")
    workdir = None
    try:
        if args.random_weights:
            workdir = Path(tempfile.mkdtemp(prefix="tryon-random-weights-", dir=args.workdir))
            settings = _random_weights(settings, workdir, loader.dtype_name(device))
        reason = loader.unavailable_reason(settings)
        if reason is not None:
            print(f"error: the diffusion renderer cannot run here: {reason}", file=sys.stderr)
            return 2
        _report_cold_load(settings)
        _report_latency_and_memory(settings, width, height, args.steps, args.images, device)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device.startswith("cuda") and torch.cuda.is_available() else "CPU"


def _random_weights(settings: Settings, root: Path, dtype: str) -> Settings:
    from ..models import random_weights

    start = time.perf_counter()
    paths = random_weights.save_random_weights(settings.diffusion_recipe, root, dtype)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    print(f"random weights: built and saved in {time.perf_counter() - start:.1f} s, {size / BYTES_PER_GB:.2f} GB "
          f"on disk ({dtype})")
    extras = {"diffusion_prior": paths.get("prior", ""), "diffusion_ip_adapter": paths.get("ip_adapter", "")}
    return dataclasses.replace(settings, diffusion_model=paths["model"], **extras)


def _settings_env(settings: Settings) -> dict[str, str]:
    names = ("diffusion_recipe", "diffusion_model", "diffusion_prior", "diffusion_ip_adapter",
             "diffusion_controlnet", "device")
    return {f"TRYON_{name.upper()}": str(getattr(settings, name)) for name in names}


def _report_cold_load(settings: Settings) -> None:
    env = os.environ | _settings_env(settings)
    done = subprocess.run([sys.executable, "-c", COLD_LOAD_SCRIPT], env=env, capture_output=True, text=True,
                          check=True)
    seconds = float(done.stdout.strip().splitlines()[-1])
    print(f"cold load (fresh interpreter: import, load from disk, move to the device): {seconds:.1f} s  "
          f"({_mark(seconds <= TARGET_COLD_LOAD_S)}, target <= {TARGET_COLD_LOAD_S:g} s)")


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def synthetic_request(settings: Settings, width: int, height: int, steps: int, words: bool, refine: bool) -> Any:
    """A :class:`tryon.stages.diffusion.GenerateRequest` on a ``width x height`` photo whose whole frame is the
    working size: a torso-sized edit area, a garment photo, optionally words and a warp result to refine."""
    from ..models import diffusion as loader
    from ..stages import diffusion

    yy, xx = np.mgrid[0:height, 0:width]
    person = np.stack([60 + 120 * xx / width, 80 + 100 * yy / height, np.full_like(xx, 150.0)], -1).astype(np.uint8)
    mask = np.zeros((height, width), bool)
    x0, y0, x1, y1 = MASK_BOX
    mask[round(y0 * height):round(y1 * height), round(x0 * width):round(x1 * width)] = True
    init = person.copy()
    init[mask] = (200, 40, 40)
    garment = np.full((GARMENT_SIDE, GARMENT_SIDE, 3), 255, np.uint8)
    garment_mask = np.zeros((GARMENT_SIDE, GARMENT_SIDE), bool)
    garment_mask[GARMENT_SIDE // 8: -GARMENT_SIDE // 8, GARMENT_SIDE // 4: -GARMENT_SIDE // 4] = True
    garment[garment_mask] = (200, 40, 40)
    options = dataclasses.replace(diffusion.DiffusionOptions.from_settings(settings), steps=steps,
                                  side=max(width, height), strength=settings.diffusion_strength if refine else 1.0)
    return diffusion.GenerateRequest(
        key=loader.PipelineKey.from_settings(settings), person=person, mask=mask, init=init if refine else None,
        garment=garment, garment_mask=garment_mask,
        prompt=diffusion.PROMPT_TEMPLATE.format(garment=PROMPT if settings.diffusion_recipe == "kandinsky21"
                                                else CAPTION),
        caption=CAPTION if words else "", options=options,
    )


def _report_latency_and_memory(settings: Settings, width: int, height: int, steps: int, images: int,
                               device: str) -> None:
    import torch

    from ..models import diffusion as loader
    from ..stages import diffusion

    cuda = device.startswith("cuda")
    if images < 1:
        print("per image: not measured (--images 0)")
        return
    loader.load_pipeline(loader.PipelineKey.from_settings(settings))
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else lambda: None
    scenarios = (("photo, from noise", False, False), ("photo + words, refining the warp result", True, True))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for label, words, refine in scenarios:
        request = synthetic_request(settings, width, height, steps, words, refine)
        diffusion.generate_image(request)  # warm-up: kernels, allocator, cuDNN autotuning
        seconds = []
        for _ in range(images):
            sync()
            start = time.perf_counter()
            diffusion.generate_image(request)
            sync()
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        target = (f"  ({_mark(median <= TARGET_LATENCY_S)}, target <= {TARGET_LATENCY_S:g} s at {TARGET_STEPS} "
                  "steps)" if request.steps_run == TARGET_STEPS else "")
        print(f"per image, {label} ({request.steps_run} steps): median {median:.2f} s over {images}, "
              f"min {min(seconds):.2f} s{target}")
    if cuda:
        peak = torch.cuda.max_memory_allocated() / BYTES_PER_GB
        reserved = torch.cuda.max_memory_reserved() / BYTES_PER_GB
        print(f"peak VRAM: {peak:.2f} GB allocated, {reserved:.2f} GB reserved  "
              f"({_mark(peak <= TARGET_PEAK_VRAM_GB)}, target <= {TARGET_PEAK_VRAM_GB:g} GB)")
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / BYTES_PER_GB  # Linux: KiB
        print(f"peak memory: {rss:.2f} GB RSS (no GPU here: VRAM not measured)")

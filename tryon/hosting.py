"""Start-up where the app is hosted: a Hugging Face Space (CPU or ZeroGPU) or a local machine.

``app.py`` calls :func:`start_up` at import, on the main thread, before it builds the UI:

1. on a Space, ``TRYON_DATA_DIR`` (flags, stored images, Gradio's cache) must be an attached storage bucket
   that is mounted and writable: a missing mount stops the start with a message that says what to set,
   instead of a crash deep in the first write. The folder is prepared and Gradio's file cache pointed into
   it before anything imports Gradio (Gradio reads ``GRADIO_TEMP_DIR`` once, at import);
2. the one GPU function is registered (ZeroGPU's scheduler only knows functions decorated when ``launch()``
   runs);
3. the diffusion pipeline is loaded and moved to its device here, on the main thread, when the renderer is
   ``diffusion`` or the Space runs on ZeroGPU (which emulates CUDA only on the main thread at start-up, so a
   first request's ``.to("cuda")`` in a worker thread would fail). Without weights or a GPU it loads nothing
   and the UI says why; the warp renderer serves.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import Settings, get_settings
from .errors import TryOnError
from .models import diffusion as loader

LOG = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The app cannot start here; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Startup:
    """What :func:`start_up` did.

    Attributes:
        gpu_function: the one GPU function (``spaces.GPU``-wrapped where the ``spaces`` package is installed).
        preloaded: the diffusion pipeline is in memory.
        diffusion_unavailable: why the diffusion renderer cannot run here, or None.
    """

    gpu_function: Callable[..., Any]
    preloaded: bool
    diffusion_unavailable: str | None


def check_data_dir(settings: Settings) -> None:
    """On a Space, the data directory must be a mounted, writable storage bucket.

    Locally any folder works (it is created on first use).

    Raises:
        StartupError: on a Space, an absolute ``TRYON_DATA_DIR`` that does not exist or cannot be written.
    """
    if not loader.on_space():
        return
    data_dir = Path(settings.data_dir).expanduser()
    if not data_dir.is_absolute():
        LOG.warning("TRYON_DATA_DIR=%s is inside the Space's own disk: flags are lost when it restarts; attach a "
                    "storage bucket and set TRYON_DATA_DIR to its mount path", data_dir)
        return
    if not data_dir.is_dir():
        raise StartupError(
            f"TRYON_DATA_DIR={data_dir} is not mounted: attach a storage bucket to this Space with that mount path "
            "(Settings -> Storage), or unset TRYON_DATA_DIR to keep flags on the Space's disk until it restarts."
        )
    if not os.access(data_dir, os.W_OK):
        raise StartupError(
            f"TRYON_DATA_DIR={data_dir} is read-only: attach the storage bucket with write access, or point "
            "TRYON_DATA_DIR at a writable folder."
        )


def start_up(settings: Settings | None = None) -> Startup:
    """Check the data directory, register the GPU function, preload the diffusion pipeline where it is asked
    for. Call on the main thread, before building the UI.

    Raises:
        StartupError: the app cannot start here (the message says what to change).
    """
    from . import pipeline
    from .store.annotations import gradio_cache_dir, prepare_data_dir

    settings = settings or get_settings()
    check_data_dir(settings)
    prepare_data_dir(settings)
    # Gradio fixes its cache folder when it is imported (some of its folders are made when the server app is
    # built), so it is set here, before app.py imports the UI.
    os.environ["GRADIO_TEMP_DIR"] = str(gradio_cache_dir(settings))
    gpu_function = pipeline.gpu_entry_point()
    reason = None
    wanted = settings.renderer == "diffusion" or loader.on_zero_gpu()
    if wanted:
        try:
            reason = pipeline.preload_diffusion(settings)
        except TryOnError as exc:  # weights present but broken: the UI says so, warp serves
            reason = str(exc)
        if reason is None:
            LOG.info("diffusion pipeline loaded at start-up (%s)", settings.diffusion_recipe)
        else:
            LOG.warning("diffusion renderer unavailable, the warp renderer serves: %s", reason)
    return Startup(gpu_function, wanted and reason is None, reason)

"""The diffusion pipelines behind the GPU renderer: where their weights are, and loading them (once).

Two recipes, both inpainting the garment region of the person photo (see :mod:`tryon.stages.diffusion`):

- ``kandinsky21`` (default): Kandinsky 2.1. Its text encoder is MultilingualCLIP (XLM-RoBERTa-Large, a
  BERT-family model, plus a linear projection), so descriptions in any language go in as they are; its
  prior's CLIP image encoder turns the garment photo into an image embedding, and the UNet's
  cross-attention reads the text token states together with tokens made from that image embedding.
  Weights: ``TRYON_DIFFUSION_MODEL`` (the inpainting decoder, default
  ``kandinsky-community/kandinsky-2-1-inpaint``) and ``TRYON_DIFFUSION_PRIOR`` (default
  ``kandinsky-community/kandinsky-2-1-prior``), both Apache-2.0.
- ``sd15``: Stable Diffusion 1.5 inpainting with an IP-Adapter for the garment photo (decoupled
  cross-attention next to the CLIP text tokens) and an optional pose ControlNet. Weights:
  ``TRYON_DIFFUSION_MODEL`` (default ``stable-diffusion-v1-5/stable-diffusion-inpainting``),
  ``TRYON_DIFFUSION_IP_ADAPTER`` (default ``h94/IP-Adapter/models/ip-adapter_sd15.safetensors``),
  ``TRYON_DIFFUSION_CONTROLNET`` (optional).

Weights are a local folder or a hub id already in the Hugging Face cache (on a Space, ``preload_from_hub``
puts them there at build time). Nothing is downloaded unless the user set ``TRYON_DIFFUSION_MODEL`` in the
environment and not ``HF_HUB_OFFLINE``. fp16 weight files (``variant="fp16"``) are read where the folder
has them; otherwise fp32 files are cast to fp16 on a GPU as they load.

One pipeline is kept in memory at a time (:func:`load_pipeline`, under a lock: two cold requests never
load it twice, and asking for other weights releases the old pipeline before the new one loads). On
ZeroGPU Spaces CUDA is emulated only on the main thread at start-up, so :func:`preload` must run there;
:func:`gpu_function` wraps the one GPU entry point in ``spaces.GPU`` (a no-op anywhere else).
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import TryOnError

if TYPE_CHECKING:
    import torch

LOG = logging.getLogger(__name__)

RECIPES = ("kandinsky21", "sd15")
# Published weights each recipe reads when its settings are empty (from the cache or a Space's preload).
DEFAULT_WEIGHTS: dict[str, dict[str, str]] = {
    "kandinsky21": {
        "model": "kandinsky-community/kandinsky-2-1-inpaint",
        "prior": "kandinsky-community/kandinsky-2-1-prior",
    },
    "sd15": {
        "model": "stable-diffusion-v1-5/stable-diffusion-inpainting",
        "ip_adapter": "h94/IP-Adapter/models/ip-adapter_sd15.safetensors",
    },
}
# The files each recipe reads from its published weights (safetensors and configs; no .bin duplicates). A
# Space's README preloads exactly these (`preload_from_hub`), and `make check-space` checks that it does.
# The Kandinsky 2.1 repositories publish no fp16 files (their fp32 files are cast to fp16 as they load);
# XLM-R's tokenizer loads from tokenizer.json, so its sentencepiece model stays on the hub.
PUBLISHED_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "kandinsky21": {
        "kandinsky-community/kandinsky-2-1-inpaint": (
            "model_index.json",
            "movq/config.json",
            "movq/diffusion_pytorch_model.safetensors",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer.json",
            "tokenizer/tokenizer_config.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
        ),
        "kandinsky-community/kandinsky-2-1-prior": (
            "model_index.json",
            "image_encoder/config.json",
            "image_encoder/model.safetensors",
            "image_processor/preprocessor_config.json",
            "prior/config.json",
            "prior/diffusion_pytorch_model.safetensors",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer/vocab.json",
        ),
    },
}
# Weight of the garment image tokens against the text tokens in each cross-attention layer (sd15).
IP_ADAPTER_SCALE = 0.8
# The fp16 weight files diffusers writes and reads with variant="fp16".
FP16_VARIANT = "fp16"
# Files whose presence says the folder has fp16 / fp32 weights (every diffusers pipeline here has a UNet).
FP16_PROBE = "unet/diffusion_pytorch_model.fp16.safetensors"
FP32_PROBE = "unet/diffusion_pytorch_model.safetensors"
# Environment variables that ZeroGPU Spaces set (read by the `spaces` package and by Gradio).
ZERO_GPU_ENV = "SPACES_ZERO_GPU"
SPACE_ENV = "SYSTEM"
SPACE_ENV_VALUE = "spaces"


# ---------------------------------------------------------------------------------------------------
# Where the code runs
# ---------------------------------------------------------------------------------------------------


def on_zero_gpu() -> bool:
    """True on a ZeroGPU Space (a GPU is attached only inside ``spaces.GPU`` calls)."""
    return os.environ.get(ZERO_GPU_ENV, "").strip().lower() in ("1", "t", "true")


def on_space() -> bool:
    """True on a Hugging Face Space (any hardware)."""
    return os.environ.get(SPACE_ENV) == SPACE_ENV_VALUE


def gpu_present() -> bool:
    """A CUDA GPU is usable by this process (or, on ZeroGPU, by its ``spaces.GPU`` calls)."""
    if on_zero_gpu():
        return True
    import torch

    return torch.cuda.is_available()


def resolve_device(settings: Settings) -> str:
    """The torch device for ``settings.device``: "auto" is "cuda" where a GPU is present, else "cpu"."""
    if settings.device != "auto":
        return settings.device
    return "cuda" if gpu_present() else "cpu"


def dtype_name(device: str) -> str:
    """float16 on a GPU (half the memory, tensor cores), float32 on the CPU (no fast fp16 kernels there)."""
    return "float16" if device.startswith("cuda") else "float32"


def torch_dtype(name: str) -> torch.dtype:
    import torch

    return getattr(torch, name)


def downloads_allowed() -> bool:
    """True only when the user set ``TRYON_DIFFUSION_MODEL`` in the environment and not ``HF_HUB_OFFLINE``."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(os.environ.get("TRYON_DIFFUSION_MODEL", "").strip()) and not offline


def gpu_function(duration: Callable[..., float]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for the one function that uses the GPU: ``spaces.GPU(duration=duration)`` where the
    ``spaces`` package is installed (it schedules the call on a ZeroGPU device and does nothing elsewhere),
    else the function unchanged. ``duration`` takes the function's arguments and returns seconds."""
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


# ---------------------------------------------------------------------------------------------------
# Which weights
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PipelineKey:
    """Everything that decides which pipeline object serves a request (picklable, hashable).

    ``model`` is the inpainting pipeline (Kandinsky decoder or SD 1.5), ``prior`` the Kandinsky prior,
    ``ip_adapter`` / ``controlnet`` the SD 1.5 extras; unused fields are "".
    """

    recipe: str
    model: str
    prior: str = ""
    ip_adapter: str = ""
    controlnet: str = ""
    device: str = "cpu"
    dtype: str = "float32"

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineKey:
        """The weights ``settings`` name, with the recipe's published defaults for empty fields."""
        recipe = settings.diffusion_recipe
        if recipe not in RECIPES:
            raise TryOnError(f"Unknown diffusion recipe {recipe!r}: set TRYON_DIFFUSION_RECIPE to one of "
                             f"{', '.join(RECIPES)}.")
        defaults = DEFAULT_WEIGHTS[recipe]
        device = resolve_device(settings)
        if recipe == "kandinsky21":
            extras = {"prior": settings.diffusion_prior or defaults["prior"]}
        else:
            extras = {"ip_adapter": settings.diffusion_ip_adapter or defaults["ip_adapter"],
                      "controlnet": settings.diffusion_controlnet}
        return cls(recipe, settings.diffusion_model or defaults["model"], device=device,
                   dtype=dtype_name(device), **extras)


@dataclasses.dataclass(frozen=True)
class WeightRef:
    """Where one weight lives: a local folder, or a hub repo (+ subfolder) that may be in the cache."""

    root: str  # local folder or hub repo id
    subfolder: str = ""
    filename: str = ""  # a single weight file inside root/subfolder (IP-Adapter), else ""
    local: bool = True

    def probe(self, name: str) -> bool:
        """Whether file ``name`` (relative to root/subfolder) is on this machine."""
        relative = "/".join(part for part in (self.subfolder, name) if part)
        if self.local:
            return (Path(self.root).expanduser() / relative).is_file()
        from huggingface_hub import try_to_load_from_cache

        try:
            return isinstance(try_to_load_from_cache(self.root, relative), str)
        except ValueError:  # not a valid repo id either (e.g. a local path that does not exist)
            return False

    def available(self, name: str) -> bool:
        """On this machine, or a hub file that may be downloaded (:func:`downloads_allowed`)."""
        return self.probe(name) or (not self.local and downloads_allowed())


def folder_ref(spec: str) -> WeightRef:
    """A pipeline or model folder: a local folder, else a hub id."""
    return WeightRef(spec, local=Path(spec).expanduser().exists())


def file_ref(spec: str) -> WeightRef:
    """A single weight file: a local path, else ``owner/repo[/subfolder...]/file``."""
    path = Path(spec).expanduser()
    if path.exists():
        return WeightRef(str(path.parent), "", path.name, local=True)
    parts = spec.strip("/").split("/")
    if len(parts) < 3:
        return WeightRef(spec, "", "", local=True)  # neither a file here nor a hub path: reported as missing
    return WeightRef("/".join(parts[:2]), "/".join(parts[2:-1]), parts[-1], local=False)


def _missing(what: str, spec: str, variable: str) -> str:
    return (f"no {what} at {spec!r}: put them in the Hugging Face cache (on a Space, `preload_from_hub` in the "
            f"README does it) or set {variable} to a local folder")


def unavailable_reason(settings: Settings) -> str | None:
    """Why the diffusion renderer cannot run with ``settings``, as one sentence; None when it can.

    It can run when diffusers is installed, a CUDA GPU is present (or ``settings.device`` is set to "cpu"
    explicitly: slow, for tests) and the recipe's weights are on this machine, or may be downloaded
    (:func:`downloads_allowed`). Nothing is loaded.
    """
    if importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("torch") is None:
        return "diffusers is not installed (pip install -r requirements-local.txt)"
    if settings.diffusion_recipe not in RECIPES:
        return f"unknown recipe {settings.diffusion_recipe!r} (TRYON_DIFFUSION_RECIPE: {' or '.join(RECIPES)})"
    if settings.device != "cpu" and not gpu_present():
        return "no GPU found (the diffusion renderer needs CUDA)"
    key = PipelineKey.from_settings(settings)
    if not folder_ref(key.model).available("model_index.json"):
        return _missing("diffusion weights", key.model, "TRYON_DIFFUSION_MODEL")
    if key.recipe == "kandinsky21" and not folder_ref(key.prior).available("model_index.json"):
        return _missing("Kandinsky prior weights", key.prior, "TRYON_DIFFUSION_PRIOR")
    reason = _sd15_extras_reason(key) if key.recipe == "sd15" else None
    return reason or _failures.get(key)


def _sd15_extras_reason(key: PipelineKey) -> str | None:
    ip_adapter = file_ref(key.ip_adapter)
    if not ip_adapter.filename or not ip_adapter.available(ip_adapter.filename):
        return _missing("IP-Adapter weights", key.ip_adapter, "TRYON_DIFFUSION_IP_ADAPTER")
    encoder = "image_encoder/config.json"
    if not (folder_ref(key.model).probe(encoder) or ip_adapter.available(encoder)):
        return (f"no CLIP image encoder for the IP-Adapter: put its 'image_encoder' folder next to "
                f"{ip_adapter.filename!r} or in the diffusion model folder")
    if key.controlnet and not folder_ref(key.controlnet).available("config.json"):
        return _missing("ControlNet weights", key.controlnet, "TRYON_DIFFUSION_CONTROLNET")
    return None


# ---------------------------------------------------------------------------------------------------
# Loading: one pipeline in memory, built once
# ---------------------------------------------------------------------------------------------------

_LOAD_LOCK = threading.Lock()
_loaded: tuple[PipelineKey, Any] | None = None
# Why weights that are present failed to load (said by unavailable_reason until they load).
_failures: dict[PipelineKey, str] = {}


def load_pipeline(key: PipelineKey) -> Any:
    """The pipeline for ``key``, on ``key.device`` in ``key.dtype``; built on first use, then cached.

    Thread-safe: concurrent first calls build it once. Only one pipeline stays in memory: a call with
    another key releases the cached one first (two pipelines would not fit next to each other on a
    shared GPU).

    Returns:
        ``KandinskyInpaintCombinedPipeline`` (kandinsky21: ``.prior_pipe`` and ``.decoder_pipe``), or
        ``StableDiffusionInpaintPipeline`` / ``StableDiffusionControlNetInpaintPipeline`` (sd15).

    Raises:
        TryOnError: weights missing or of the wrong kind (the message says which setting to fix).
    """
    global _loaded
    with _LOAD_LOCK:
        if _loaded is not None and _loaded[0] == key:
            return _loaded[1]
        if _loaded is not None:
            LOG.info("releasing the %s pipeline to load %s", _loaded[0].recipe, key.recipe)
            _loaded = None
            _free_memory()
        builder = _build_kandinsky if key.recipe == "kandinsky21" else _build_sd15
        try:
            pipe = builder(key)
        except TryOnError as exc:
            _failures[key] = f"the diffusion weights did not load ({exc})"
            raise
        pipe.set_progress_bar_config(disable=True)
        pipe = pipe.to(key.device)
        _failures.pop(key, None)
        _loaded = (key, pipe)
        return pipe


def loaded_key() -> PipelineKey | None:
    """The key of the pipeline in memory, or None."""
    current = _loaded
    return None if current is None else current[0]


def release_pipeline() -> None:
    """Drop the cached pipeline and give its memory back (benchmarks measure cold loads with it)."""
    global _loaded
    with _LOAD_LOCK:
        _loaded = None
        _free_memory()


def _free_memory() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def preload(settings: Settings) -> str | None:
    """Load the configured pipeline now, on the calling thread (app start-up; needed on ZeroGPU).

    Returns:
        Why the diffusion renderer cannot run (nothing loaded), or None once the pipeline is in memory.
    """
    reason = unavailable_reason(settings)
    if reason is None:
        load_pipeline(PipelineKey.from_settings(settings))
    return reason


def _load_kwargs(root: str, key: PipelineKey) -> dict[str, Any]:
    """``from_pretrained`` arguments: the dtype; the fp16 files where the folder has them and fp16 is wanted
    (or they are all it has: cast up on a CPU); offline unless downloads are allowed."""
    kwargs: dict[str, Any] = {"dtype": torch_dtype(key.dtype), "local_files_only": not downloads_allowed()}
    folder = folder_ref(root)
    if folder.probe(FP16_PROBE) and (key.dtype == "float16" or not folder.probe(FP32_PROBE)):
        kwargs["variant"] = FP16_VARIANT
    return kwargs


def _load_error(what: str, spec: str, variable: str, exc: Exception) -> TryOnError:
    return TryOnError(f"Could not load the {what} {spec!r} ({exc}): set {variable} to downloaded weights.")


def _build_kandinsky(key: PipelineKey) -> Any:
    """Kandinsky 2.1: the prior (CLIP text and image encoders, prior transformer) and the inpainting decoder
    (MultilingualCLIP text encoder, 9-channel UNet, MoVQ), joined in one combined pipeline."""
    from diffusers import KandinskyInpaintCombinedPipeline, KandinskyInpaintPipeline, KandinskyPriorPipeline

    try:
        decoder = KandinskyInpaintPipeline.from_pretrained(key.model, **_load_kwargs(key.model, key))
    except (OSError, ValueError, TypeError) as exc:
        raise _load_error("Kandinsky inpainting weights", key.model, "TRYON_DIFFUSION_MODEL", exc) from exc
    try:
        prior = KandinskyPriorPipeline.from_pretrained(key.prior, **_load_kwargs(key.prior, key))
    except (OSError, ValueError, TypeError) as exc:
        raise _load_error("Kandinsky prior weights", key.prior, "TRYON_DIFFUSION_PRIOR", exc) from exc
    _check_inpainting_unet(decoder.unet, key.model, expected=decoder.movq.config.latent_channels * 2 + 1)
    return KandinskyInpaintCombinedPipeline(
        **decoder.components, **{f"prior_{name}": part for name, part in prior.components.items()}
    )


def _build_sd15(key: PipelineKey) -> Any:
    """Stable Diffusion 1.5 inpainting with the IP-Adapter (and the ControlNet) in it."""
    from diffusers import ControlNetModel, StableDiffusionControlNetInpaintPipeline, StableDiffusionInpaintPipeline

    try:
        if key.controlnet:
            control = ControlNetModel.from_pretrained(key.controlnet, **_load_kwargs(key.controlnet, key))
            pipe = StableDiffusionControlNetInpaintPipeline.from_pretrained(
                key.model, controlnet=control, **_load_kwargs(key.model, key)
            )
        else:
            pipe = StableDiffusionInpaintPipeline.from_pretrained(key.model, **_load_kwargs(key.model, key))
    except (OSError, ValueError, TypeError) as exc:
        spec = f"{key.model!r} / {key.controlnet!r}" if key.controlnet else key.model
        raise _load_error("diffusion weights", spec, "TRYON_DIFFUSION_MODEL (and TRYON_DIFFUSION_CONTROLNET)",
                          exc) from exc
    _check_inpainting_unet(pipe.unet, key.model, expected=pipe.vae.config.latent_channels * 2 + 1)
    ref = file_ref(key.ip_adapter)
    try:
        pipe.load_ip_adapter(
            ref.root,
            subfolder=ref.subfolder,
            weight_name=ref.filename,
            image_encoder_folder="image_encoder",
            local_files_only=ref.local or not downloads_allowed(),
        )
    except (OSError, ValueError) as exc:
        raise TryOnError(
            f"Could not load the IP-Adapter {key.ip_adapter!r} ({exc}): set TRYON_DIFFUSION_IP_ADAPTER to a "
            "downloaded weight file with its 'image_encoder' folder beside it."
        ) from exc
    pipe.set_ip_adapter_scale(IP_ADAPTER_SCALE)
    return pipe


def _check_inpainting_unet(unet: Any, model: str, expected: int) -> None:
    """Refuse a text-to-image checkpoint: an inpainting UNet reads latents + masked-image latents + mask."""
    channels = unet.config.in_channels
    if channels != expected:
        raise TryOnError(
            f"{model!r} is not an inpainting model (its UNet reads {channels} channels, not {expected}): "
            "set TRYON_DIFFUSION_MODEL to an inpainting checkpoint."
        )

"""Diffusion renderer: repaint the garment region of the person photo with Stable Diffusion inpainting.

    person photo ─ edit mask (body regions) ─> masked photo ─┐
    description / caption ─> CLIP text encoder ──────────────┤ text cross-attention
    garment photo ─> CLIP image encoder ─> IP-Adapter ───────┤ decoupled (extra) cross-attention
    pose landmarks ─> OpenPose-style skeleton ─> ControlNet ─┤ optional residuals
                                                             └─> 9-channel inpainting UNet ─> paste back

Input: the person photo (RGB ``uint8`` ``(H, W, 3)``), its BodyAnalysis, the GarmentAnalysis, the parsed
description (or None), Settings and an optional user edit mask (``bool`` ``(H, W)``).
Output: :class:`tryon.stages.composite.Composite`; every pixel outside ``edit_mask`` equals the input.

Needs a CUDA GPU and weights in practice (:func:`unavailable_reason` says what is missing, and
:func:`tryon.pipeline.try_on` then falls back to the warp renderer). Weights are three settings:

- ``TRYON_DIFFUSION_MODEL``: a Stable Diffusion 1.x/2.x *inpainting* pipeline (UNet with 9 input channels),
  a local folder or a hub id, e.g. ``stable-diffusion-v1-5/stable-diffusion-inpainting``;
- ``TRYON_DIFFUSION_IP_ADAPTER``: the IP-Adapter weight file, a local ``.safetensors``/``.bin`` path or a
  hub path ``owner/repo/subfolder/file``, e.g. ``h94/IP-Adapter/models/ip-adapter_sd15.safetensors``; its
  CLIP image encoder is read from the ``image_encoder`` folder beside the file unless the pipeline has one;
- ``TRYON_DIFFUSION_CONTROLNET`` (optional): an OpenPose ControlNet, local folder or hub id.

Nothing is downloaded unless the user asks for it: downloads happen only when ``TRYON_DIFFUSION_MODEL`` is set
in the environment and ``HF_HUB_OFFLINE`` is not; otherwise weights must be a local folder or already in the
Hugging Face cache. On ZeroGPU Spaces, :func:`generate` is the one ``spaces.GPU`` function and :func:`preload`
loads the models at start-up.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image

from ..config import Settings
from ..errors import TryOnError
from . import body as body_stage
from .composite import Composite

if TYPE_CHECKING:
    import torch

    from .body import BodyAnalysis
    from .garment import GarmentAnalysis
    from .text import GarmentSpec

# --- Edit mask -------------------------------------------------------------------------------------
# Body regions each category may repaint (see tryon.stages.body.REGION_NAMES).
ARM_REGIONS = ("upper_arm_left", "upper_arm_right", "lower_arm_left", "lower_arm_right")
LEG_REGIONS = ("thigh_left", "thigh_right", "shin_left", "shin_right")
REGIONS_BY_CATEGORY = {
    "upper": ("torso", *ARM_REGIONS),
    "lower": LEG_REGIONS,  # plus the torso below the waist, see prepare_mask
    "dress": ("torso", *ARM_REGIONS, *LEG_REGIONS),
}
# Regions that always stay as they are: they sit on top of any garment.
KEEP_REGIONS = ("face_hair", "hand_left", "hand_right", "feet")
# The new garment may be looser than the old one: grow the region by this fraction of the image's long side.
MASK_DILATE_FRACTION = 0.025
# A waistband sits above the hip landmarks: by this fraction of the shoulder-to-hip distance.
WAIST_ABOVE_HIP_FRACTION = 0.2

# --- Crop and paste-back ---------------------------------------------------------------------------
# The model sees a crop around the edit mask (more pixels on the garment), padded by this fraction per side.
CROP_MARGIN_FRACTION = 0.12
# Inside the edit mask the result fades in over this fraction of the long side (no seam at the mask edge).
FEATHER_FRACTION = 0.008

# --- Conditioning ----------------------------------------------------------------------------------
PROMPT_TEMPLATE = "a photo of a person wearing {garment}, high quality, detailed fabric, natural light"
NEGATIVE_PROMPT = "deformed, blurry, low quality, extra arms, extra hands, bad anatomy, text, watermark"
# Weight of the garment image tokens against the text tokens in each cross-attention layer.
IP_ADAPTER_SCALE = 0.8
# Strength of the pose ControlNet's residuals.
CONTROLNET_SCALE = 0.7
DEFAULT_SEED = 0
# diffusers' inpainting pipelines refuse sides that are not multiples of 8.
PIPELINE_SIZE_MULTIPLE = 8
# The garment photo is cropped to its mask and padded to a square by this fraction before CLIP sees it.
GARMENT_PAD_FRACTION = 0.05
WHITE = (255, 255, 255)
# tryon.stages.text pattern names -> caption adjectives ("solid" says nothing).
PATTERN_WORDS = {
    "stripes": "striped",
    "checks": "checked",
    "dots": "polka-dot",
    "floral": "floral",
    "denim": "denim",
    "print": "printed",
}
SLEEVE_WORDS = {
    "none": "sleeveless",
    "short": "short-sleeve",
    "three_quarter": "three-quarter-sleeve",
    "long": "long-sleeve",
}
# A few basic colour names for the caption, as sRGB: the nearest in Lab names the garment's mean colour.
COLOUR_NAMES = {
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "grey": (128, 128, 128),
    "red": (200, 30, 35),
    "orange": (240, 130, 30),
    "yellow": (240, 215, 40),
    "green": (40, 140, 60),
    "blue": (40, 80, 190),
    "navy": (25, 35, 80),
    "purple": (115, 50, 150),
    "pink": (240, 150, 180),
    "brown": (115, 75, 40),
    "beige": (220, 200, 160),
    "lavender": (190, 170, 220),
    "light blue": (160, 200, 236),
    "teal": (20, 120, 130),
    "olive": (110, 110, 40),
    "maroon": (120, 20, 40),
}

# --- Pose skeleton (OpenPose COCO-18 layout, which pose ControlNets were trained on) -------------
# COCO-18 joint -> MediaPipe landmark index; None is the neck, the midpoint of the shoulders.
# fmt: off
COCO18_FROM_MEDIAPIPE: tuple[int | None, ...] = (
    body_stage.NOSE, None,
    body_stage.RIGHT_SHOULDER, body_stage.RIGHT_ELBOW, body_stage.RIGHT_WRIST,
    body_stage.LEFT_SHOULDER, body_stage.LEFT_ELBOW, body_stage.LEFT_WRIST,
    body_stage.RIGHT_HIP, body_stage.RIGHT_KNEE, body_stage.RIGHT_ANKLE,
    body_stage.LEFT_HIP, body_stage.LEFT_KNEE, body_stage.LEFT_ANKLE,
    5, 2,  # MediaPipe's right and left eye centres
    body_stage.RIGHT_EAR, body_stage.LEFT_EAR,
)
# Limbs as pairs of COCO-18 joints, in OpenPose's drawing order (each limb has its own colour).
COCO18_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
# fmt: on
POSE_MIN_VISIBILITY = 0.5
# Line width and joint radius of the skeleton, as fractions of the image's long side.
POSE_LIMB_WIDTH_FRACTION = 0.008
POSE_JOINT_RADIUS_FRACTION = 0.008
# OpenPose draws limbs dimmer than joints.
POSE_LIMB_BRIGHTNESS = 0.6

# --- Garment mask estimate -------------------------------------------------------------------------
# Output pixels this close to the skin model (Mahalanobis distance in Lab) are skin, not garment.
SKIN_MAHALANOBIS = 3.0
# Background pixels of the edit region that changed less than this (mean abs, 0-255) stayed background.
BACKGROUND_TOLERANCE = 12.0
GARMENT_MASK_OPEN_PX = 3

# --- Runtime ---------------------------------------------------------------------------------------
# Seconds of ZeroGPU time asked for per try-on (30 steps at 512 px take a few seconds on an A100/H200).
GPU_DURATION_S = 60
# The wrapped pipeline's scheduler keeps per-call state: one generation at a time per process.
_GENERATE_LOCK = threading.Lock()

try:  # ZeroGPU: `spaces.GPU` schedules the decorated function on a GPU; elsewhere it does nothing.
    import spaces

    _gpu: Callable[[Callable[..., Any]], Callable[..., Any]] = spaces.GPU(duration=GPU_DURATION_S)
except ImportError:

    def _gpu(fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn


# ---------------------------------------------------------------------------------------------------
# Availability and loading
# ---------------------------------------------------------------------------------------------------


def resolve_device(settings: Settings) -> str:
    """The torch device for ``settings.device``: "auto" is "cuda" where a GPU is visible, else "cpu"."""
    if settings.device != "auto":
        return settings.device
    return "cuda" if _gpu_present() else "cpu"


def _gpu_present() -> bool:
    if os.environ.get("SPACES_ZERO_GPU") == "true":  # the GPU is attached only inside spaces.GPU calls
        return True
    import torch

    return torch.cuda.is_available()


def torch_dtype(device: str) -> torch.dtype:
    """float16 on a GPU (half the memory, tensor cores), float32 on the CPU (no fast fp16 kernels there)."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


def downloads_allowed() -> bool:
    """True only when the user set ``TRYON_DIFFUSION_MODEL`` in the environment and not ``HF_HUB_OFFLINE``."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(os.environ.get("TRYON_DIFFUSION_MODEL", "").strip()) and not offline


@dataclasses.dataclass(frozen=True)
class _WeightRef:
    """Where one weight lives: a local folder, or a hub repo (+ subfolder) that may be in the cache."""

    root: str  # local folder or hub repo id
    subfolder: str = ""
    filename: str = ""  # a single weight file inside root/subfolder (IP-Adapter), else ""
    local: bool = True

    def probe(self, name: str) -> bool:
        """Whether file ``name`` (relative to root/subfolder) is on this machine."""
        relative = "/".join(part for part in (self.subfolder, name) if part)
        if self.local:
            return (Path(self.root) / relative).is_file()
        from huggingface_hub import try_to_load_from_cache

        try:
            return isinstance(try_to_load_from_cache(self.root, relative), str)
        except ValueError:  # not a valid repo id either (e.g. a local path that does not exist)
            return False


def _model_ref(spec: str) -> _WeightRef:
    """A pipeline or ControlNet: a local folder, else a hub id."""
    return _WeightRef(spec, local=Path(spec).expanduser().exists())


def _ip_adapter_ref(spec: str) -> _WeightRef:
    """An IP-Adapter file: a local path, else ``owner/repo[/subfolder...]/file``."""
    path = Path(spec).expanduser()
    if path.exists():
        return _WeightRef(str(path.parent), "", path.name, local=True)
    parts = spec.strip("/").split("/")
    if len(parts) < 3:
        return _WeightRef(spec, "", "", local=True)  # neither a file here nor a hub path: reported as missing
    return _WeightRef("/".join(parts[:2]), "/".join(parts[2:-1]), parts[-1], local=False)


def unavailable_reason(settings: Settings) -> str | None:
    """Why the diffusion renderer cannot run with ``settings``, as one sentence; None when it can.

    It can run when diffusers is installed, a CUDA GPU is visible (or ``settings.device`` is set to
    "cpu" explicitly: slow, for tests) and the pipeline and IP-Adapter weights (and the ControlNet, if set)
    are on this machine, or may be downloaded (see :func:`downloads_allowed`). Nothing is loaded.
    """
    if importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("torch") is None:
        return "diffusers is not installed (pip install -r requirements.txt)"
    if settings.device != "cpu" and not _gpu_present():
        return "no GPU found (the diffusion renderer needs CUDA)"
    may_download = downloads_allowed()
    if not settings.diffusion_model:
        return (
            "no diffusion weights: set TRYON_DIFFUSION_MODEL to a local folder or hub id "
            "that is already downloaded"
        )
    model = _model_ref(settings.diffusion_model)
    has_own_encoder = model.probe("image_encoder/config.json")
    if not model.probe("model_index.json") and not (may_download and not model.local):
        return (
            f"no diffusion weights at {settings.diffusion_model!r}: set TRYON_DIFFUSION_MODEL to a local "
            "folder or hub id that is already downloaded"
        )
    if not settings.diffusion_ip_adapter:
        return (
            "no IP-Adapter weights for the garment photo: set TRYON_DIFFUSION_IP_ADAPTER to a local file or "
            "hub path such as h94/IP-Adapter/models/ip-adapter_sd15.safetensors"
        )
    ip_adapter = _ip_adapter_ref(settings.diffusion_ip_adapter)
    if not ip_adapter.filename or not (
        ip_adapter.probe(ip_adapter.filename) or (may_download and not ip_adapter.local)
    ):
        return (
            f"no IP-Adapter weights at {settings.diffusion_ip_adapter!r}: "
            "set TRYON_DIFFUSION_IP_ADAPTER to a "
            "local .safetensors/.bin file or a downloaded hub path"
        )
    if not (
        has_own_encoder
        or ip_adapter.probe("image_encoder/config.json")
        or (may_download and not ip_adapter.local)
    ):
        return (
            f"no CLIP image encoder for the IP-Adapter: put its 'image_encoder' folder next to "
            f"{ip_adapter.filename!r} or in the diffusion model folder"
        )
    if settings.diffusion_controlnet:
        controlnet = _model_ref(settings.diffusion_controlnet)
        if not controlnet.probe("config.json") and not (may_download and not controlnet.local):
            return (
                f"no ControlNet weights at {settings.diffusion_controlnet!r}: set TRYON_DIFFUSION_CONTROLNET "
                "to a local folder or downloaded hub id, or leave it empty"
            )
    return None


@functools.lru_cache(maxsize=2)
def load_pipeline(
    model: str, device: str, dtype: torch.dtype, ip_adapter: str = "", controlnet: str = ""
) -> Any:
    """Load (once per argument set) a diffusers inpainting pipeline with the IP-Adapter and ControlNet in it.

    Args:
        model: local folder or hub id of a Stable Diffusion inpainting pipeline (9-channel UNet).
        device: torch device, "cuda" or "cpu".
        dtype: torch dtype of the weights (:func:`torch_dtype`).
        ip_adapter: IP-Adapter weight file, local path or ``owner/repo/subfolder/file``; "" for none
            (then the garment photo is not seen and only the prompt guides the garment).
        controlnet: local folder or hub id of a pose ControlNet, or "".

    Weights load with ``local_files_only=True`` (a local folder, or a hub id already in the cache) unless
    :func:`downloads_allowed`: ``TRYON_DIFFUSION_MODEL`` set in the environment, ``HF_HUB_OFFLINE`` not set.

    Returns:
        ``StableDiffusionInpaintPipeline`` or ``StableDiffusionControlNetInpaintPipeline`` on ``device``.

    Raises:
        TryOnError: weights missing or not an inpainting model (the message says which setting to fix).
    """
    from diffusers import (
        ControlNetModel,
        StableDiffusionControlNetInpaintPipeline,
        StableDiffusionInpaintPipeline,
    )

    local_only = not downloads_allowed()
    try:
        if controlnet:
            control = ControlNetModel.from_pretrained(controlnet, dtype=dtype, local_files_only=local_only)
            pipe = StableDiffusionControlNetInpaintPipeline.from_pretrained(
                model, controlnet=control, dtype=dtype, local_files_only=local_only
            )
        else:
            pipe = StableDiffusionInpaintPipeline.from_pretrained(
                model, dtype=dtype, local_files_only=local_only
            )
    except (OSError, ValueError) as exc:
        raise TryOnError(
            f"Could not load the diffusion weights {model!r}"
            f"{f' / {controlnet!r}' if controlnet else ''} ({exc}): "
            "set TRYON_DIFFUSION_MODEL (and TRYON_DIFFUSION_CONTROLNET) to downloaded weights."
        ) from exc
    if pipe.unet.config.in_channels != 9:
        raise TryOnError(
            f"{model!r} is not an inpainting model (its UNet reads {pipe.unet.config.in_channels} channels, "
            "not 9): set TRYON_DIFFUSION_MODEL to an inpainting checkpoint."
        )
    if ip_adapter:
        ref = _ip_adapter_ref(ip_adapter)
        try:
            pipe.load_ip_adapter(
                ref.root,
                subfolder=ref.subfolder,
                weight_name=ref.filename,
                image_encoder_folder="image_encoder",
                local_files_only=local_only or ref.local,
            )
        except (OSError, ValueError) as exc:
            raise TryOnError(
                f"Could not load the IP-Adapter {ip_adapter!r} ({exc}): set TRYON_DIFFUSION_IP_ADAPTER to a "
                "downloaded weight file with its 'image_encoder' folder beside it."
            ) from exc
        pipe.set_ip_adapter_scale(IP_ADAPTER_SCALE)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def preload(settings: Settings) -> str | None:
    """Load the pipeline now (app start-up; needed on ZeroGPU Spaces): why not, or None once loaded."""
    reason = unavailable_reason(settings)
    if reason is None:
        device = resolve_device(settings)
        load_pipeline(
            settings.diffusion_model,
            device,
            torch_dtype(device),
            settings.diffusion_ip_adapter,
            settings.diffusion_controlnet,
        )
    return reason


# ---------------------------------------------------------------------------------------------------
# The try-on pipeline
# ---------------------------------------------------------------------------------------------------


class TryOnDiffusion:
    """Virtual try-on by masked inpainting, conditioned on a garment photo, a prompt and optionally the pose.

    Wraps a loaded diffusers inpainting pipeline (:func:`load_pipeline`). Components:

    - ``vae`` (``AutoencoderKL``): encodes the photo with the edit region blanked, decodes the result.
    - ``text_encoder`` (``CLIPTextModel``) and ``tokenizer`` (``CLIPTokenizer``): the prompt, which the UNet
      reads through its cross-attention layers.
    - ``unet`` (``UNet2DConditionModel``, ``in_channels=9``: noisy latents + mask + masked-photo latents):
      the denoiser; with an IP-Adapter loaded, each cross-attention layer also attends to 4 garment tokens
      through its own key/value projections (decoupled cross-attention).
    - ``image_encoder`` (``CLIPVisionModelWithProjection``) and ``feature_extractor``
      (``CLIPImageProcessor``):
      the garment photo -> one CLIP image embedding, which the IP-Adapter projects into those tokens.
    - ``scheduler``: the sampler (the checkpoint's own).
    - ``controlnet`` (``ControlNetModel``, optional): adds residuals from an OpenPose skeleton of the person.

    Arrays in and out are numpy (RGB ``uint8``, masks ``bool``); tensors stay inside.
    """

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe

    @property
    def device(self) -> torch.device:
        return self.pipe.unet.device

    @property
    def has_ip_adapter(self) -> bool:
        return getattr(self.pipe.unet, "encoder_hid_proj", None) is not None

    @property
    def has_controlnet(self) -> bool:
        return getattr(self.pipe, "controlnet", None) is not None

    @property
    def size_multiple(self) -> int:
        """Sides must be multiples of this: the VAE's factor times the UNet's down-sampling (and of 8)."""
        unet_factor = 2 ** (len(self.pipe.unet.config.block_out_channels) - 1)
        return max(PIPELINE_SIZE_MULTIPLE, self.pipe.vae_scale_factor * unet_factor)

    @property
    def native_side(self) -> int:
        """The long side, in pixels, that the checkpoint was trained at (512 for SD 1.5)."""
        return self.pipe.unet.config.sample_size * self.pipe.vae_scale_factor

    def check_inputs(
        self,
        person: np.ndarray,
        mask: np.ndarray,
        garment: np.ndarray,
        garment_mask: np.ndarray,
        prompt: str,
        pose: np.ndarray | None,
    ) -> None:
        """Raise TryOnError (user inputs) or ValueError (programming errors) on inputs that cannot run."""
        if person.ndim != 3 or person.shape[2] != 3 or person.dtype != np.uint8:
            raise ValueError(f"person must be RGB uint8 (H, W, 3), got {person.dtype} {person.shape}")
        if garment.ndim != 3 or garment.shape[2] != 3 or garment.dtype != np.uint8:
            raise ValueError(f"garment must be RGB uint8 (H, W, 3), got {garment.dtype} {garment.shape}")
        if mask.shape != person.shape[:2] or mask.dtype != np.bool_:
            raise ValueError(f"mask must be bool {person.shape[:2]}, got {mask.dtype} {mask.shape}")
        if garment_mask.shape != garment.shape[:2]:
            raise ValueError(f"garment_mask must be {garment.shape[:2]}, got {garment_mask.shape}")
        if pose is not None and pose.shape != person.shape:
            raise ValueError(f"pose must be {person.shape}, got {pose.shape}")
        if not mask.any():
            raise TryOnError("The area to repaint is empty: draw over the clothing you want to replace.")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt must be a non-empty string")
        if not self.has_ip_adapter:
            raise TryOnError(
                "The diffusion model has no IP-Adapter, so it cannot see the garment photo: "
                "set TRYON_DIFFUSION_IP_ADAPTER."
            )

    def encode_prompt(
        self, prompt: str, negative_prompt: str, guidance: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP text embeddings ``(1, 77, D)`` of the prompt and negative prompt (the pipeline's encoder)."""
        positive, negative = self.pipe.encode_prompt(
            prompt,
            self.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=guidance,
            negative_prompt=negative_prompt,
        )
        return positive, negative

    @staticmethod
    def prepare_mask(body: BodyAnalysis, category: str, edit_mask: np.ndarray | None = None) -> np.ndarray:
        """The region the model may repaint, bool ``(H, W)``.

        The user's ``edit_mask`` when given; else the body regions ``category`` covers (torso and arms for
        "upper", legs and the hips below the waist for "lower", both for "dress"), grown by
        :data:`MASK_DILATE_FRACTION`, minus face, hair, hands and feet.

        Raises:
            TryOnError: an ``edit_mask`` of the wrong size or empty; no body region found.
        """
        height, width = body.size
        if edit_mask is not None:
            edit_mask = np.asarray(edit_mask)
            if edit_mask.shape != (height, width):
                raise TryOnError(
                    f"The edited mask is {edit_mask.shape[1]}x{edit_mask.shape[0]} but the photo is "
                    f"{width}x{height}: draw the mask on the photo shown."
                )
            if not edit_mask.any():
                raise TryOnError("The edited mask is empty: draw over the clothing you want to replace.")
            return edit_mask.astype(bool)
        if category not in REGIONS_BY_CATEGORY:
            raise ValueError(f"unknown category {category!r}")
        mask = np.zeros((height, width), bool)
        for name in REGIONS_BY_CATEGORY[category]:
            mask |= body.regions.get(name, False)
        if category == "lower":
            mask |= _below_waist(body) & body.regions.get("torso", np.zeros_like(mask))
        if not mask.any():
            raise TryOnError(
                f"Could not find the body parts a {category} garment covers: use a photo that shows "
                "you from the shoulders to the knees, facing the camera."
            )
        radius = max(1, round(MASK_DILATE_FRACTION * max(height, width)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask.astype(np.uint8), kernel) > 0
        for name in KEEP_REGIONS:
            if name in body.regions:
                mask &= ~body.regions[name]
        return mask

    def prepare_garment_embeds(
        self, garment: np.ndarray, garment_mask: np.ndarray, guidance: bool
    ) -> list[Any]:
        """IP-Adapter input: the garment cut out on white, cropped square -> CLIP image embeddings.

        Returns:
            the pipeline's ``ip_adapter_image_embeds``: one tensor ``(2 if guidance else 1, 1, D)``
            (unconditional first).
        """
        return self.pipe.prepare_ip_adapter_image_embeds(
            ip_adapter_image=Image.fromarray(garment_cutout(garment, garment_mask)),
            ip_adapter_image_embeds=None,
            device=self.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=guidance,
        )

    def work_size(self, height: int, width: int, side: int = 0) -> tuple[int, int]:
        """Model-side ``(h, w)`` for a ``height x width`` crop: long side ``side`` (0: native size)."""
        side = side or self.native_side
        multiple = self.size_multiple
        scale = side / max(height, width)
        return (
            max(multiple, round(height * scale / multiple) * multiple),
            max(multiple, round(width * scale / multiple) * multiple),
        )

    def __call__(
        self,
        person: np.ndarray,
        mask: np.ndarray,
        garment: np.ndarray,
        garment_mask: np.ndarray,
        prompt: str,
        *,
        pose: np.ndarray | None = None,
        negative_prompt: str = NEGATIVE_PROMPT,
        num_inference_steps: int = 30,
        guidance_scale: float = 2.5,
        side: int = 0,
        seed: int = DEFAULT_SEED,
    ) -> np.ndarray:
        """Repaint ``mask`` of ``person`` so it shows the garment.

        Args:
            person: RGB uint8 ``(H, W, 3)`` (a crop around the mask is best: more pixels on the garment).
            mask: bool ``(H, W)``, the pixels that may change.
            garment: RGB uint8 ``(h, w, 3)`` product photo; garment_mask: bool ``(h, w)`` its garment pixels.
            prompt: English text for the CLIP text encoder.
            pose: RGB uint8 ``(H, W, 3)`` OpenPose skeleton (:func:`draw_pose`), read by a ControlNet.
            side: the long side the model works at (0: the checkpoint's native size); sides round to
                :attr:`size_multiple`.
            seed: fixes the initial noise (same inputs + seed -> same output).

        Returns:
            RGB uint8 ``(H, W, 3)``: equal to ``person`` outside ``mask``, the generated image inside it
            (faded in over :data:`FEATHER_FRACTION` from the mask's edge).
        """
        import torch

        # 1. Check inputs.
        self.check_inputs(person, mask, garment, garment_mask, prompt, pose)
        height, width = person.shape[:2]
        work_h, work_w = self.work_size(height, width, side)
        guidance = guidance_scale > 1.0

        with torch.inference_mode():
            # 2. Encode the prompt (text cross-attention) and the garment photo (IP-Adapter tokens).
            prompt_embeds, negative_embeds = self.encode_prompt(prompt, negative_prompt, guidance)
            garment_embeds = self.prepare_garment_embeds(garment, garment_mask, guidance)

            # 3. Resize photo, mask and pose to the model's size; the pipeline blanks the mask in the photo.
            image = Image.fromarray(person).resize((work_w, work_h), Image.Resampling.LANCZOS)
            mask_image = Image.fromarray(mask.astype(np.uint8) * 255).resize(
                (work_w, work_h), Image.Resampling.NEAREST
            )
            extra: dict[str, Any] = {}
            if self.has_controlnet:
                if pose is None:
                    raise ValueError("this pipeline has a ControlNet: pass pose")
                extra = {
                    "control_image": Image.fromarray(pose).resize((work_w, work_h), Image.Resampling.NEAREST),
                    "controlnet_conditioning_scale": CONTROLNET_SCALE,
                }

            # 4. Denoise from seeded noise.
            generator = torch.Generator(device=self.device).manual_seed(seed)
            with _GENERATE_LOCK:
                result = self.pipe(
                    prompt_embeds=prompt_embeds,
                    negative_prompt_embeds=negative_embeds if guidance else None,
                    image=image,
                    mask_image=mask_image,
                    height=work_h,
                    width=work_w,
                    strength=1.0,
                    num_inference_steps=num_inference_steps,
                    guidance_scale=guidance_scale,
                    generator=generator,
                    ip_adapter_image_embeds=garment_embeds,
                    output_type="np",
                    **extra,
                ).images[0]

        # 5. Back to the input size, pasted inside the mask only.
        generated = Image.fromarray(np.clip(result * 255 + 0.5, 0, 255).astype(np.uint8))
        generated = np.asarray(generated.resize((width, height), Image.Resampling.LANCZOS))
        return paste_inside(person, generated, mask, feather_px=FEATHER_FRACTION * max(height, width))


# ---------------------------------------------------------------------------------------------------
# Pure helpers (numpy in, numpy out)
# ---------------------------------------------------------------------------------------------------


def _below_waist(body: BodyAnalysis) -> np.ndarray:
    """bool ``(H, W)``: rows below the waist line (a little above the hip landmarks)."""
    height, width = body.size
    shoulder_y = (body.point(body_stage.LEFT_SHOULDER)[1] + body.point(body_stage.RIGHT_SHOULDER)[1]) / 2
    hip_y = (body.point(body_stage.LEFT_HIP)[1] + body.point(body_stage.RIGHT_HIP)[1]) / 2
    waist_y = hip_y - WAIST_ABOVE_HIP_FRACTION * max(hip_y - shoulder_y, 0.0)
    rows = np.arange(height)[:, None] >= waist_y
    return np.broadcast_to(rows, (height, width))


def garment_cutout(garment: np.ndarray, garment_mask: np.ndarray) -> np.ndarray:
    """The garment on white, cropped to its mask and padded to a square: RGB uint8 ``(S, S, 3)``.

    CLIP resizes and centre-crops its input: a square keeps the whole garment in view, and white hides the
    product photo's background from the IP-Adapter.
    """
    mask = garment_mask.astype(bool)
    if not mask.any():
        mask = np.ones_like(mask)
    cut = np.where(mask[..., None], garment, np.uint8(WHITE[0]))
    ys, xs = np.nonzero(mask)
    cut = cut[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    side = round(max(cut.shape[:2]) * (1 + 2 * GARMENT_PAD_FRACTION))
    square = np.full((side, side, 3), WHITE, np.uint8)
    top, left = (side - cut.shape[0]) // 2, (side - cut.shape[1]) // 2
    square[top : top + cut.shape[0], left : left + cut.shape[1]] = cut
    return square


def paste_inside(
    person: np.ndarray, generated: np.ndarray, mask: np.ndarray, feather_px: float
) -> np.ndarray:
    """``generated`` over ``person`` inside ``mask`` only, faded in over ``feather_px`` from the mask's edge.

    Returns RGB uint8 ``(H, W, 3)``, bit-identical to ``person`` outside ``mask``.
    """
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    alpha = np.clip(distance / max(feather_px, 1.0), 0.0, 1.0)[..., None]
    blended = person.astype(np.float32) * (1 - alpha) + generated.astype(np.float32) * alpha
    out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    out[~mask] = person[~mask]
    return out


def crop_box(mask: np.ndarray, aspect: float | None = None) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` around ``mask`` with :data:`CROP_MARGIN_FRACTION` margins, inside the image.

    With ``aspect`` (width / height) the box grows along one side to that shape where the image allows.
    """
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    pad_x, pad_y = CROP_MARGIN_FRACTION * (x1 - x0), CROP_MARGIN_FRACTION * (y1 - y0)
    box_w, box_h = (x1 - x0) + 2 * pad_x, (y1 - y0) + 2 * pad_y
    if aspect is not None:
        box_w, box_h = max(box_w, box_h * aspect), max(box_h, box_w / aspect)
    box_w, box_h = min(box_w, width), min(box_h, height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = round(min(max(cx - box_w / 2, 0), width - box_w))
    top = round(min(max(cy - box_h / 2, 0), height - box_h))
    return left, top, min(width, left + round(box_w)), min(height, top + round(box_h))


def _hue_colour(index: int, count: int) -> tuple[int, int, int]:
    """Fully saturated RGB at hue ``index / count`` of the wheel (OpenPose colours joints and limbs so)."""
    hsv = np.uint8([[[round(180 * index / count) % 180, 255, 255]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def draw_pose(body: BodyAnalysis) -> np.ndarray:
    """An OpenPose-style (COCO-18) skeleton of the body on black, RGB uint8 ``(H, W, 3)``.

    Joints below :data:`POSE_MIN_VISIBILITY` and the limbs touching them are left out.
    """
    height, width = body.size
    canvas = np.zeros((height, width, 3), np.uint8)
    points: list[tuple[int, int] | None] = []
    for index in COCO18_FROM_MEDIAPIPE:
        if index is None:  # neck
            pair = (body_stage.LEFT_SHOULDER, body_stage.RIGHT_SHOULDER)
            visible = min(body.visibility[i] for i in pair) >= POSE_MIN_VISIBILITY
            xy = (body.point(pair[0]) + body.point(pair[1])) / 2
        else:
            visible = body.visibility[index] >= POSE_MIN_VISIBILITY
            xy = body.point(index)
        points.append((round(xy[0]), round(xy[1])) if visible else None)
    long_side = max(height, width)
    limb_width = max(1, round(POSE_LIMB_WIDTH_FRACTION * long_side))
    radius = max(1, round(POSE_JOINT_RADIUS_FRACTION * long_side))
    for i, (a, b) in enumerate(COCO18_LIMBS):
        if points[a] is not None and points[b] is not None:
            colour = tuple(
                round(c * POSE_LIMB_BRIGHTNESS) for c in _hue_colour(i, len(COCO18_FROM_MEDIAPIPE))
            )
            cv2.line(canvas, points[a], points[b], colour, limb_width, cv2.LINE_AA)
    for i, point in enumerate(points):
        if point is not None:
            cv2.circle(canvas, point, radius, _hue_colour(i, len(COCO18_FROM_MEDIAPIPE)), -1, cv2.LINE_AA)
    return canvas


def colour_name(rgb: np.ndarray) -> str:
    """The nearest of :data:`COLOUR_NAMES` to an RGB colour, in CIE Lab."""
    names = list(COLOUR_NAMES)
    table = np.uint8([[COLOUR_NAMES[n] for n in names] + [tuple(int(v) for v in rgb)]])
    lab = cv2.cvtColor(table, cv2.COLOR_RGB2LAB).astype(np.float32)[0]
    return names[int(np.argmin(np.linalg.norm(lab[:-1] - lab[-1], axis=1)))]


def build_prompt(garment: GarmentAnalysis, spec: GarmentSpec | None = None) -> str:
    """The text prompt: an English caption of the garment, e.g. "a photo of a person wearing a red striped
    linen long-sleeve shirt with a collar, ...".

    Words come from the parsed description (English or Chinese, negations already resolved by the parser),
    and, where it says nothing, from the garment photo (its mean colour's name, its sleeve length, its
    category). The raw description is not used: CLIP reads "not blue" as blue.
    """
    said = spec is not None and spec.category in (None, garment.category)
    colours = " and ".join(name for name, _ in spec.colours) if spec is not None and spec.colours else ""
    colour = colours or colour_name(garment.mean_rgb)
    pattern = PATTERN_WORDS.get(spec.pattern or "", "") if spec is not None else ""
    material = spec.material if spec is not None and spec.material and spec.material not in pattern else ""
    if said and spec.garment_type:
        noun = spec.garment_type
    elif garment.category == "lower":
        noun = "trousers" if "crotch" in garment.keypoints else "skirt"
    else:
        noun = "dress" if garment.category == "dress" else "top"
    sleeve = ""
    if garment.category != "lower":
        sleeve = SLEEVE_WORDS.get(
            (spec.sleeve if spec is not None and spec.sleeve else garment.sleeve) or "", ""
        )
    fit = spec.fit if spec is not None and spec.fit else ""
    length = spec.length if spec is not None and spec.length not in (None, "regular") else ""
    article = "" if noun.endswith("s") and noun != "dress" else "a"  # jeans, trousers, shorts
    words = [article, fit, length, colour, pattern, material, sleeve, noun]
    if spec is not None and spec.neckline:
        words += ["with a", spec.neckline.replace("_", "-")]
    return PROMPT_TEMPLATE.format(garment=" ".join(w for w in words if w))


def estimate_garment_mask(
    output: np.ndarray, person: np.ndarray, edit_mask: np.ndarray, body: BodyAnalysis
) -> dict[str, np.ndarray]:
    """Which repainted pixels show the garment: bool ``(H, W)`` masks by name.

    The model paints garment, skin and background alike inside the edit mask; pixels that look like the
    person's skin (Lab Mahalanobis distance under :data:`SKIN_MAHALANOBIS`) or that stayed background are
    not garment. Returns ``garment``, ``skin`` and ``background_kept``.
    """
    lab = cv2.cvtColor(output, cv2.COLOR_RGB2LAB).astype(np.float32)
    delta = lab - body.skin_lab_mean.astype(np.float32)
    inverse = np.linalg.pinv(body.skin_lab_cov.astype(np.float64)).astype(np.float32)
    distance = np.sqrt(np.maximum(np.einsum("hwi,ij,hwj->hw", delta, inverse, delta), 0))
    skin = edit_mask & (distance < SKIN_MAHALANOBIS)
    changed = np.abs(output.astype(np.int16) - person.astype(np.int16)).mean(axis=2)
    background_kept = edit_mask & ~body.person_mask & (changed < BACKGROUND_TOLERANCE)
    garment = (edit_mask & ~skin & ~background_kept).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (GARMENT_MASK_OPEN_PX, GARMENT_MASK_OPEN_PX))
    garment = cv2.morphologyEx(garment, cv2.MORPH_OPEN, kernel) > 0
    return {"garment": garment, "skin": skin, "background_kept": background_kept}


# ---------------------------------------------------------------------------------------------------
# GPU entry point and renderer
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class GenerateRequest:
    """Everything one generation needs, picklable (ZeroGPU runs :func:`generate` in another process).

    Arrays as in :meth:`TryOnDiffusion.__call__`; the rest names the weights and sampling options.
    """

    person: np.ndarray
    mask: np.ndarray
    garment: np.ndarray
    garment_mask: np.ndarray
    prompt: str
    pose: np.ndarray | None
    model: str
    ip_adapter: str
    controlnet: str
    device: str
    steps: int
    guidance: float
    side: int = 0
    seed: int = DEFAULT_SEED


@_gpu
def generate(request: GenerateRequest) -> np.ndarray:
    """The one GPU function: run :class:`TryOnDiffusion` on a request; RGB uint8 like ``request.person``."""
    pipe = load_pipeline(
        request.model, request.device, torch_dtype(request.device), request.ip_adapter, request.controlnet
    )
    return TryOnDiffusion(pipe)(
        request.person,
        request.mask,
        request.garment,
        request.garment_mask,
        request.prompt,
        pose=request.pose,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance,
        side=request.side,
        seed=request.seed,
    )


def render(
    person_rgb: np.ndarray,
    body: BodyAnalysis,
    garment_info: GarmentAnalysis,
    spec: GarmentSpec | None,
    settings: Settings,
    edit_mask: np.ndarray | None = None,
) -> Composite:
    """Dress the person by inpainting (call only when :func:`unavailable_reason` is None).

    Args:
        person_rgb: RGB uint8 ``(H, W, 3)``; body: its BodyAnalysis; garment_info: the GarmentAnalysis.
        spec: the parsed description (:class:`tryon.stages.text.GarmentSpec`) or None; its words become the prompt.
        settings: weights, device, steps, guidance and working size.
        edit_mask: bool ``(H, W)``, a user-drawn area to repaint (replaces the automatic one).

    Returns:
        :class:`Composite` with pixels outside ``edit_mask`` identical to ``person_rgb``; layers
        ``edit_region``, ``skin`` and ``background_kept`` (bool ``(H, W)``).

    Raises:
        TryOnError: empty or mis-sized edit mask, body region not found, weights that do not load.
    """
    # 1. Where to paint: body regions of the category (or the user's mask), and a crop around them.
    mask = TryOnDiffusion.prepare_mask(body, garment_info.category, edit_mask)
    device = resolve_device(settings)
    pose = draw_pose(body) if settings.diffusion_controlnet else None
    x0, y0, x1, y1 = crop_box(mask, aspect=_work_aspect(mask, settings, device))

    # 2. What to paint: the prompt from the description or a caption of the garment photo.
    prompt = build_prompt(garment_info, spec)

    # 3. Generate on the GPU (ZeroGPU: in its own process) on the crop, pasted inside the mask.
    request = GenerateRequest(
        person=np.ascontiguousarray(person_rgb[y0:y1, x0:x1]),
        mask=np.ascontiguousarray(mask[y0:y1, x0:x1]),
        garment=garment_info.image,
        garment_mask=garment_info.mask,
        prompt=prompt,
        pose=None if pose is None else np.ascontiguousarray(pose[y0:y1, x0:x1]),
        model=settings.diffusion_model,
        ip_adapter=settings.diffusion_ip_adapter,
        controlnet=settings.diffusion_controlnet,
        device=device,
        steps=settings.diffusion_steps,
        guidance=settings.diffusion_guidance,
        side=settings.diffusion_side,
    )
    image = person_rgb.copy()
    image[y0:y1, x0:x1] = generate(request)

    # 4. Which new pixels show the garment (for the consistency check and the UI overlay).
    layers = estimate_garment_mask(image, person_rgb, mask, body)
    return Composite(
        image=image,
        edit_mask=mask,
        garment_mask=layers.pop("garment"),
        layers={"edit_region": mask, **layers},
    )


def _work_aspect(mask: np.ndarray, settings: Settings, device: str) -> float:
    """Width / height of the model's working size for the crop, so the crop needs no stretching."""
    x0, y0, x1, y1 = crop_box(mask)
    pipe = load_pipeline(
        settings.diffusion_model,
        device,
        torch_dtype(device),
        settings.diffusion_ip_adapter,
        settings.diffusion_controlnet,
    )
    work_h, work_w = TryOnDiffusion(pipe).work_size(y1 - y0, x1 - x0, settings.diffusion_side)
    return work_w / work_h

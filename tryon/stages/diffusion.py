"""Diffusion renderer: repaint the garment region of the person photo with an inpainting diffusion model.

Two recipes (``TRYON_DIFFUSION_RECIPE``) share the edit mask, the crop, the paste-back, the request and the
one GPU entry point (:func:`generate`); their weights load through :mod:`tryon.models.diffusion`.

``kandinsky21`` (default): BERT-family text and garment image features meeting in cross-attention::

    description (any language, as is) ─> MultilingualCLIP (XLM-RoBERTa-Large + linear) ─> text tokens ─┐
    garment photo cut-out ─> prior's CLIP image encoder ─┐                                             │
    English caption (parsed description) ─> prior ───────┴─> image embedding ─> image tokens ──────────┤
                                                              (photo + words: the prior's interpolation)│
    warp result (init) + edit mask ─> MoVQ latents ─> 9-channel UNet, cross-attention over both ───────┘
                                                      ─> MoVQ decode ─> pasted inside the mask

``sd15``: Stable Diffusion 1.5 inpainting; the English caption in CLIP text cross-attention, the garment photo's
CLIP image features in IP-Adapter's decoupled cross-attention, optionally a pose ControlNet.

With a warp result (:func:`render_steps`, the app's instant preview) the model starts from it, noised to
``strength``: it refines the preview instead of painting from scratch. Without one it starts from noise.

Input: the person photo (RGB ``uint8`` ``(H, W, 3)``), its BodyAnalysis, the GarmentAnalysis, the parsed
description (or None), Settings and an optional user edit mask (``bool`` ``(H, W)``).
Output: :class:`tryon.stages.composite.Composite`; every pixel outside ``edit_mask`` equals the input.

Needs a CUDA GPU and weights in practice (:func:`unavailable_reason` says what is missing, and
:func:`tryon.pipeline.try_on` then falls back to the warp renderer). On ZeroGPU Spaces :func:`generate` is
the one ``spaces.GPU`` function (a generator: step progress and the image come back from the GPU worker).
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image

from ..config import Settings
from ..errors import TryOnError
from ..models import diffusion as loader
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
# Classifier-free guidance each recipe was tuned with by its authors (TRYON_DIFFUSION_GUIDANCE=0 picks it).
RECIPE_GUIDANCE = {"kandinsky21": 4.0, "sd15": 2.5}
# The long side each recipe's checkpoint was trained at (TRYON_DIFFUSION_SIDE=0 picks it).
RECIPE_NATIVE_SIDE = {"kandinsky21": 768, "sd15": 512}
# Strength of the pose ControlNet's residuals (sd15).
CONTROLNET_SCALE = 0.7
# Kandinsky's prior: guidance (the pipeline's default), and how a garment photo and a description mix into
# one image embedding (the prior's interpolation weights; the photo leads).
PRIOR_GUIDANCE = 4.0
PHOTO_WEIGHT = 0.7
TEXT_WEIGHT = 0.3
# More denoising steps than this only cost time.
MAX_STEPS = 200
# Kandinsky's text encoder reads this many tokens (its pipeline's own limit).
KANDINSKY_MAX_TOKENS = 77
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

# --- GPU time asked of ZeroGPU per request (spaces.GPU duration) ------------------------------------
# Not measured (no GPU on this project's machines): generous guesses for one ZeroGPU slice (a MIG part of an
# H200, slower than a whole H100, whose target is 25 steps in 3 s). A call running past its duration is cut
# off; a shorter one queues ahead of longer ones.
# The call's fixed part: process hand-off, text and image encoders, Kandinsky's prior, VAE/MoVQ encode+decode.
GPU_SECONDS_FIXED = 6.0
# One UNet step with guidance (a batch of 2) at GPU_REFERENCE_PIXELS:
GPU_SECONDS_PER_STEP = 0.25
GPU_REFERENCE_PIXELS = 768 * 1024
GPU_SECONDS_MIN = 10.0
GPU_SECONDS_MAX = 120.0
# The wrapped pipelines keep per-call state (schedulers, IP-Adapter scale): one generation at a time.
_GENERATE_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------------
# Options, progress and the request (all picklable: ZeroGPU runs generate() in another process)
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DiffusionOptions:
    """How one image is sampled (the app's Advanced panel; defaults from Settings).

    Attributes:
        steps: denoising steps of the schedule (``ceil(steps * strength)`` run when refining a warp result).
        guidance: classifier-free guidance scale; 0 picks the recipe's own (:data:`RECIPE_GUIDANCE`).
        strength: in (0, 1], how much noise is put on the warp result before denoising (1: from noise).
        seed: fixes the initial noise (same inputs + seed -> same image).
        side: the long side the model works at, px (0: the recipe's native side, :data:`RECIPE_NATIVE_SIDE`).
        prior_steps: denoising steps of Kandinsky's prior (words -> image embedding).
    """

    steps: int = 25
    guidance: float = 0.0
    strength: float = 0.7
    seed: int = 0
    side: int = 0
    prior_steps: int = 25

    @classmethod
    def from_settings(cls, settings: Settings) -> DiffusionOptions:
        return cls(settings.diffusion_steps, settings.diffusion_guidance, settings.diffusion_strength,
                   settings.diffusion_seed, settings.diffusion_side, settings.diffusion_prior_steps)

    def check(self) -> None:
        """Raise TryOnError for values no pipeline accepts (the message names the field)."""
        for name, steps in (("Steps", self.steps), ("Prior steps", self.prior_steps)):
            if not 1 <= steps <= MAX_STEPS:
                raise TryOnError(f"{name} must be between 1 and {MAX_STEPS}, not {steps}.")
        if not 0.0 < self.strength <= 1.0:
            raise TryOnError(f"Strength must be above 0 and at most 1, not {self.strength}.")
        if self.guidance < 0:
            raise TryOnError(f"Guidance must be 0 (the model's default) or more, not {self.guidance}.")
        if self.side < 0 or self.seed < 0:
            raise TryOnError("The working side and the seed must not be negative.")

    def guidance_for(self, recipe: str) -> float:
        return self.guidance or RECIPE_GUIDANCE[recipe]


@dataclasses.dataclass(frozen=True)
class Progress:
    """A denoising step finished: ``step`` of ``total`` (1-based)."""

    step: int
    total: int


@dataclasses.dataclass(frozen=True, eq=False)
class GenerateRequest:
    """Everything one generation needs. Arrays as in the recipes' ``__call__``; crops of the photo.

    Attributes:
        key: which pipeline (recipe, weights, device, dtype).
        person: RGB uint8 ``(H, W, 3)`` crop of the photo; mask: bool ``(H, W)``, the pixels to repaint.
        init: RGB uint8 ``(H, W, 3)`` warp result to refine, or None to paint from noise.
        garment: RGB uint8 product photo and garment_mask its bool garment pixels, or None (words only).
        prompt: the text for the recipe's text encoder (kandinsky21: the description as given; sd15: English).
        caption: an English caption of the garment (kandinsky21's prior reads it), or "" (no description).
        pose: RGB uint8 ``(H, W, 3)`` OpenPose skeleton for an sd15 ControlNet, or None.
        options: steps, guidance, strength, seed, working side.
    """

    key: loader.PipelineKey
    person: np.ndarray
    mask: np.ndarray
    init: np.ndarray | None
    garment: np.ndarray | None
    garment_mask: np.ndarray | None
    prompt: str
    caption: str = ""
    pose: np.ndarray | None = None
    options: DiffusionOptions = DiffusionOptions()

    @property
    def strength(self) -> float:
        """The strength that applies: 1 (from noise) without a warp result to start from."""
        return self.options.strength if self.init is not None else 1.0

    @property
    def steps_run(self) -> int:
        return max(1, math.ceil(self.options.steps * self.strength))


# ---------------------------------------------------------------------------------------------------
# The one GPU entry point
# ---------------------------------------------------------------------------------------------------


def gpu_seconds(request: GenerateRequest) -> float:
    """ZeroGPU time to ask for ``request``: a fixed part plus the UNet steps scaled by the working area."""
    height, width = request.person.shape[:2]
    side = request.options.side or RECIPE_NATIVE_SIDE[request.key.recipe]
    pixels = height * width * (side / max(height, width)) ** 2
    seconds = GPU_SECONDS_FIXED + GPU_SECONDS_PER_STEP * request.steps_run * pixels / GPU_REFERENCE_PIXELS
    return float(min(GPU_SECONDS_MAX, max(GPU_SECONDS_MIN, seconds)))


@loader.gpu_function(duration=gpu_seconds)
def generate(request: GenerateRequest) -> Iterator[Progress | np.ndarray]:
    """The one GPU function: run the request's recipe; yields :class:`Progress` per denoising step, then the
    image (RGB uint8 like ``request.person``, equal to it outside ``request.mask``).

    A generator, so that step progress comes back from ZeroGPU's worker process as it happens.
    """
    with _GENERATE_LOCK:
        pipe = loader.load_pipeline(request.key)
        recipe = RECIPE_CLASSES[request.key.recipe](pipe)
        yield from recipe(
            request.person,
            request.mask,
            request.garment,
            request.garment_mask,
            request.prompt,
            caption=request.caption,
            init=request.init,
            pose=request.pose,
            options=request.options,
        )


def generate_image(request: GenerateRequest, on_step: Callable[[Progress], None] | None = None) -> np.ndarray:
    """Run :func:`generate` to the end: the image; ``on_step`` sees each :class:`Progress`."""
    for event in generate(request):
        if isinstance(event, Progress):
            if on_step is not None:
                on_step(event)
        else:
            return event
    raise RuntimeError("the diffusion recipe finished without an image")


# ---------------------------------------------------------------------------------------------------
# Availability, start-up, and the renderer
# ---------------------------------------------------------------------------------------------------


def unavailable_reason(settings: Settings) -> str | None:
    """Why the diffusion renderer cannot run with ``settings`` (one sentence), or None: see
    :func:`tryon.models.diffusion.unavailable_reason`. Nothing is loaded."""
    return loader.unavailable_reason(settings)


def preload(settings: Settings) -> str | None:
    """Load the configured pipeline now (app start-up, main thread): why not, or None once loaded."""
    return loader.preload(settings)


@dataclasses.dataclass(frozen=True, eq=False)
class _Job:
    """A request and where its result goes back: the crop box ``(x0, y0, x1, y1)`` and the full-size mask."""

    request: GenerateRequest
    box: tuple[int, int, int, int]
    mask: np.ndarray


def render(
    person_rgb: np.ndarray,
    body: BodyAnalysis,
    garment_info: GarmentAnalysis,
    spec: GarmentSpec | None,
    settings: Settings,
    edit_mask: np.ndarray | None = None,
    *,
    init: Composite | None = None,
    garment_photo: bool = True,
    options: DiffusionOptions | None = None,
) -> Composite:
    """Dress the person by inpainting (call only when :func:`unavailable_reason` is None).

    Args:
        person_rgb: RGB uint8 ``(H, W, 3)``; body: its BodyAnalysis; garment_info: the GarmentAnalysis.
        spec: the parsed description (:class:`tryon.stages.text.GarmentSpec`) or None.
        settings: recipe, weights, device and the default sampling options.
        edit_mask: bool ``(H, W)``, a user-drawn area to repaint (replaces the automatic one).
        init: the warp renderer's result to refine (its edit area joins the repainted one), or None.
        garment_photo: False when ``garment_info`` was synthesized from the description (no photo given):
            kandinsky21 then conditions on the words alone, through its prior.
        options: sampling options (default: from ``settings``).

    Returns:
        :class:`Composite` with pixels outside ``edit_mask`` identical to ``person_rgb``; layers
        ``edit_region``, ``skin`` and ``background_kept`` (bool ``(H, W)``).

    Raises:
        TryOnError: empty or mis-sized edit mask, body region not found, options out of range, weights that
            do not load.
    """
    events = render_steps(person_rgb, body, garment_info, spec, settings, edit_mask, init=init,
                          garment_photo=garment_photo, options=options)
    for event in events:
        if isinstance(event, Composite):
            return event
    raise RuntimeError("the diffusion renderer finished without an image")


def render_steps(
    person_rgb: np.ndarray,
    body: BodyAnalysis,
    garment_info: GarmentAnalysis,
    spec: GarmentSpec | None,
    settings: Settings,
    edit_mask: np.ndarray | None = None,
    *,
    init: Composite | None = None,
    garment_photo: bool = True,
    options: DiffusionOptions | None = None,
) -> Iterator[Progress | Composite]:
    """:func:`render` as a generator: a :class:`Progress` per denoising step, then the :class:`Composite`."""
    job = _prepare(person_rgb, body, garment_info, spec, settings, edit_mask, init, garment_photo, options)
    crop = None
    for event in generate(job.request):
        if isinstance(event, Progress):
            yield event
        else:
            crop = event
    if crop is None:
        raise RuntimeError("the diffusion recipe finished without an image")
    yield _finish(person_rgb, body, crop, job)


def _prepare(
    person_rgb: np.ndarray,
    body: BodyAnalysis,
    garment_info: GarmentAnalysis,
    spec: GarmentSpec | None,
    settings: Settings,
    edit_mask: np.ndarray | None,
    init: Composite | None,
    garment_photo: bool,
    options: DiffusionOptions | None,
) -> _Job:
    """Steps 1-2 of rendering: where to paint (mask, crop) and what to paint (prompts, garment, options)."""
    options = options or DiffusionOptions.from_settings(settings)
    options.check()
    # 1. Where: body regions of the category (or the user's mask), plus whatever the warp preview changed, so
    #    that the refined image replaces all of it; then a crop around that, shaped like the model's input.
    mask = prepare_mask(body, garment_info.category, edit_mask)
    if init is not None and edit_mask is None:
        mask = mask | init.edit_mask
    key = loader.PipelineKey.from_settings(settings)
    pose = draw_pose(body) if key.controlnet else None
    x0, y0, x1, y1 = crop_box(mask, aspect=_work_aspect(mask, key, options.side))

    # 2. What: the words for the recipe's text encoder, an English caption for Kandinsky's prior, the photo.
    kandinsky = key.recipe == "kandinsky21"
    prompt = kandinsky_prompt(garment_info, spec) if kandinsky else build_prompt(garment_info, spec)
    # Kandinsky reads words alone when no photo was given; sd15 needs an image: the synthesized garment.
    with_photo = garment_photo or not kandinsky
    crop = np.s_[y0:y1, x0:x1]
    request = GenerateRequest(
        key=key,
        person=np.ascontiguousarray(person_rgb[crop]),
        mask=np.ascontiguousarray(mask[crop]),
        init=None if init is None else np.ascontiguousarray(init.image[crop]),
        garment=garment_info.image if with_photo else None,
        garment_mask=garment_info.mask if with_photo else None,
        prompt=prompt,
        caption=build_caption(garment_info, spec) if spec is not None else "",
        pose=None if pose is None else np.ascontiguousarray(pose[crop]),
        options=options,
    )
    return _Job(request, (x0, y0, x1, y1), mask)


def _finish(person_rgb: np.ndarray, body: BodyAnalysis, crop: np.ndarray, job: _Job) -> Composite:
    """Steps 4-5: the generated crop back into the photo; which new pixels show the garment."""
    x0, y0, x1, y1 = job.box
    image = person_rgb.copy()
    image[y0:y1, x0:x1] = crop
    layers = estimate_garment_mask(image, person_rgb, job.mask, body)
    return Composite(
        image=image,
        edit_mask=job.mask,
        garment_mask=layers.pop("garment"),
        layers={"edit_region": job.mask, **layers},
    )


def _work_aspect(mask: np.ndarray, key: loader.PipelineKey, side: int) -> float:
    """Width / height of the model's working size for the crop, so the crop needs no stretching."""
    x0, y0, x1, y1 = crop_box(mask)
    recipe = RECIPE_CLASSES[key.recipe](loader.load_pipeline(key))
    work_h, work_w = recipe.work_size(y1 - y0, x1 - x0, side)
    return work_w / work_h


# ---------------------------------------------------------------------------------------------------
# The recipes (numpy in and out, torch inside)
# ---------------------------------------------------------------------------------------------------


class Recipe:
    """What both recipes share: the working size, input checks, numpy <-> PIL at the boundary.

    ``__call__(person, mask, garment, garment_mask, prompt, *, caption, init, pose, options)`` yields a
    :class:`Progress` per denoising step, then RGB uint8 ``(H, W, 3)``: ``person`` outside ``mask``, the
    generated image inside it (faded in over :data:`FEATHER_FRACTION` from the mask's edge).
    """

    name = ""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe

    @property
    def latent_factor(self) -> int:
        """Pixels per latent pixel (the VAE's or MoVQ's down-sampling)."""
        raise NotImplementedError

    @property
    def unet(self) -> Any:
        return self.pipe.unet

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def size_multiple(self) -> int:
        """Sides must be multiples of this: the latent factor times the UNet's down-sampling (and of 8)."""
        unet_factor = 2 ** (len(self.unet.config.block_out_channels) - 1)
        return max(PIPELINE_SIZE_MULTIPLE, self.latent_factor * unet_factor)

    def work_size(self, height: int, width: int, side: int = 0) -> tuple[int, int]:
        """Model-side ``(h, w)`` for a ``height x width`` crop: long side ``side`` (0: the recipe's native one)."""
        side = side or RECIPE_NATIVE_SIDE[self.name]
        multiple = self.size_multiple
        scale = side / max(height, width)
        return (
            max(multiple, round(height * scale / multiple) * multiple),
            max(multiple, round(width * scale / multiple) * multiple),
        )

    def check_inputs(
        self,
        person: np.ndarray,
        mask: np.ndarray,
        garment: np.ndarray | None,
        garment_mask: np.ndarray | None,
        prompt: str,
        init: np.ndarray | None,
    ) -> None:
        """Raise TryOnError (user inputs) or ValueError (programming errors) on inputs that cannot run."""
        _check_rgb("person", person)
        if mask.shape != person.shape[:2] or mask.dtype != np.bool_:
            raise ValueError(f"mask must be bool {person.shape[:2]}, got {mask.dtype} {mask.shape}")
        if init is not None and (init.shape != person.shape or init.dtype != np.uint8):
            raise ValueError(f"init must be uint8 {person.shape}, got {init.dtype} {init.shape}")
        if garment is not None:
            _check_rgb("garment", garment)
            if garment_mask is None or garment_mask.shape != garment.shape[:2]:
                raise ValueError(f"garment_mask must be {garment.shape[:2]}")
        if not mask.any():
            raise TryOnError("The area to repaint is empty: draw over the clothing you want to replace.")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt must be a non-empty string")

    def _generator(self, seed: int) -> torch.Generator:
        import torch

        return torch.Generator(device=self.device).manual_seed(seed)

    @staticmethod
    def _paste(person: np.ndarray, mask: np.ndarray, result: np.ndarray) -> np.ndarray:
        """A float image in [0, 1] at the working size -> uint8 at the crop's size, inside ``mask`` only."""
        height, width = person.shape[:2]
        generated = Image.fromarray(np.clip(result * 255 + 0.5, 0, 255).astype(np.uint8))
        generated = np.asarray(generated.resize((width, height), Image.Resampling.LANCZOS))
        return paste_inside(person, generated, mask, feather_px=FEATHER_FRACTION * max(height, width))


class SD15Recipe(Recipe):
    """Stable Diffusion 1.5 inpainting, conditioned on a garment photo (IP-Adapter), a prompt and a pose.

    Wraps a loaded diffusers pipeline (:func:`tryon.models.diffusion.load_pipeline`). Components:

    - ``vae`` (``AutoencoderKL``): encodes the photo with the edit region blanked, decodes the result.
    - ``text_encoder`` (``CLIPTextModel``) and ``tokenizer``: the English prompt, read through the UNet's
      cross-attention layers.
    - ``unet`` (``UNet2DConditionModel``, 9 input channels: noisy latents + mask + masked-photo latents); with
      the IP-Adapter loaded, each cross-attention layer also attends to 4 garment tokens through its own
      key/value projections (decoupled cross-attention).
    - ``image_encoder`` (``CLIPVisionModelWithProjection``) and ``feature_extractor``: the garment photo ->
      one CLIP image embedding, which the IP-Adapter projects into those tokens.
    - ``scheduler``: the sampler (the checkpoint's own).
    - ``controlnet`` (``ControlNetModel``, optional): adds residuals from an OpenPose skeleton of the person.
    """

    name = "sd15"

    @property
    def latent_factor(self) -> int:
        return self.pipe.vae_scale_factor

    @property
    def has_ip_adapter(self) -> bool:
        return getattr(self.unet, "encoder_hid_proj", None) is not None

    @property
    def has_controlnet(self) -> bool:
        return getattr(self.pipe, "controlnet", None) is not None

    def encode_prompt(self, prompt: str, guidance: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """CLIP text embeddings ``(1, 77, D)`` of the prompt and the negative prompt (None without guidance)."""
        positive, negative = self.pipe.encode_prompt(
            prompt, self.device, num_images_per_prompt=1, do_classifier_free_guidance=guidance,
            negative_prompt=NEGATIVE_PROMPT,
        )
        return positive, negative if guidance else None

    def prepare_garment_embeds(self, garment: np.ndarray, garment_mask: np.ndarray, guidance: bool) -> list[Any]:
        """IP-Adapter input: the garment cut out on white, cropped square -> CLIP image embeddings, one tensor
        ``(2 if guidance else 1, 1, D)`` (unconditional first)."""
        return self.pipe.prepare_ip_adapter_image_embeds(
            ip_adapter_image=Image.fromarray(garment_cutout(garment, garment_mask)),
            ip_adapter_image_embeds=None,
            device=self.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=guidance,
        )

    def __call__(
        self,
        person: np.ndarray,
        mask: np.ndarray,
        garment: np.ndarray | None,
        garment_mask: np.ndarray | None,
        prompt: str,
        *,
        caption: str = "",
        init: np.ndarray | None = None,
        pose: np.ndarray | None = None,
        options: DiffusionOptions = DiffusionOptions(),
    ) -> Iterator[Progress | np.ndarray]:
        import torch

        # 1. Check inputs (this recipe sees the garment only through the IP-Adapter).
        self.check_inputs(person, mask, garment, garment_mask, prompt, init)
        if garment is None or not self.has_ip_adapter:
            raise TryOnError("The sd15 recipe needs a garment photo and an IP-Adapter (TRYON_DIFFUSION_IP_ADAPTER): "
                             "upload a garment photo, or use the kandinsky21 recipe for descriptions alone.")
        work_h, work_w = self.work_size(*person.shape[:2], options.side)
        guidance_scale = options.guidance_for(self.name)
        guidance = guidance_scale > 1.0
        strength = options.strength if init is not None else 1.0

        def run(on_step: Callable[[int], None]) -> np.ndarray:
            with torch.inference_mode():
                # 2. Encode the prompt (text cross-attention) and the garment photo (IP-Adapter tokens).
                prompt_embeds, negative_embeds = self.encode_prompt(prompt, guidance)
                garment_embeds = self.prepare_garment_embeds(garment, garment_mask, guidance)
                # 3. The start image (the warp result, or the photo when painting from noise), mask and pose.
                start = Image.fromarray(init if init is not None else person).resize((work_w, work_h),
                                                                                   Image.Resampling.LANCZOS)
                mask_image = Image.fromarray(mask.astype(np.uint8) * 255).resize((work_w, work_h),
                                                                                 Image.Resampling.NEAREST)
                extra = self._control_kwargs(pose, work_w, work_h)
                # 4. Denoise from the seeded, noised start; the pipeline blanks the mask in the start image.
                return self.pipe(
                    prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds, image=start,
                    mask_image=mask_image, height=work_h, width=work_w, strength=strength,
                    num_inference_steps=options.steps, guidance_scale=guidance_scale,
                    generator=self._generator(options.seed), ip_adapter_image_embeds=garment_embeds,
                    output_type="np", callback_on_step_end=_step_callback(on_step), **extra,
                ).images[0]

        # 5. Back to the crop's size, pasted inside the mask only.
        result = yield from _stream(run, total=max(1, math.ceil(options.steps * strength)))
        yield self._paste(person, mask, result)

    def _control_kwargs(self, pose: np.ndarray | None, work_w: int, work_h: int) -> dict[str, Any]:
        if not self.has_controlnet:
            return {}
        if pose is None:
            raise ValueError("this pipeline has a ControlNet: pass pose")
        return {
            "control_image": Image.fromarray(pose).resize((work_w, work_h), Image.Resampling.NEAREST),
            "controlnet_conditioning_scale": CONTROLNET_SCALE,
        }


class Kandinsky21Recipe(Recipe):
    """Kandinsky 2.1 inpainting: BERT-family text features and garment image features in one cross-attention.

    Wraps a loaded ``KandinskyInpaintCombinedPipeline`` (:func:`tryon.models.diffusion.load_pipeline`).
    Components:

    - ``text_encoder`` (``MultilingualCLIP``: XLM-RoBERTa-Large, a BERT-family encoder, and a linear
      projection) and ``tokenizer`` (``XLMRobertaTokenizer``): the description in any language -> token
      states (the UNet's cross-attention context) and a pooled embedding (added to the time embedding).
    - ``prior_pipe`` (``KandinskyPriorPipeline``): its CLIP image encoder turns the garment cut-out into a CLIP
      image embedding; its prior transformer turns an English caption into one; its interpolation mixes both.
    - ``unet`` (``UNet2DConditionModel``, 9 input channels: noisy latents + masked-photo latents + keep-mask;
      ``encoder_hid_dim_type="text_image_proj"``): projects the image embedding into extra tokens next to
      the projected text tokens, so every cross-attention layer reads text and garment together.
    - ``movq`` (``VQModel``): encodes the photo and the warp result to latents, decodes the result.
    - ``scheduler``: the decoder's sampler; a fresh copy per call (schedulers keep per-call state).
    """

    name = "kandinsky21"

    @property
    def latent_factor(self) -> int:
        return self.pipe.decoder_pipe.movq_scale_factor

    def encode_prompt(self, prompt: str, guidance: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """MultilingualCLIP: pooled embeddings ``(B, D)`` and token states ``(B, 77, T)``; with guidance B = 2,
        the negative prompt first."""
        texts = [NEGATIVE_PROMPT, prompt] if guidance else [prompt]
        tokens = self.pipe.tokenizer(texts, padding="max_length", max_length=KANDINSKY_MAX_TOKENS,
                                     truncation=True, return_attention_mask=True, return_tensors="pt")
        pooled, states = self.pipe.text_encoder(input_ids=tokens.input_ids.to(self.device),
                                                attention_mask=tokens.attention_mask.to(self.device))
        return pooled.to(self.unet.dtype), states.to(self.unet.dtype)

    def image_embeds(
        self, garment: np.ndarray | None, garment_mask: np.ndarray | None, caption: str, seed: int,
        prior_steps: int = DiffusionOptions.prior_steps,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The CLIP image embedding ``(1, D)`` and its negative: from the garment photo (the prior's image
        encoder), from the caption (the prior), or both mixed by the prior's interpolation."""
        prior = self.pipe.prior_pipe
        generator = self._generator(seed)
        cutout = None if garment is None else Image.fromarray(garment_cutout(garment, garment_mask))
        if cutout is not None and caption:
            out = prior.interpolate([cutout, caption], [PHOTO_WEIGHT, TEXT_WEIGHT], num_inference_steps=prior_steps,
                                    generator=generator, guidance_scale=PRIOR_GUIDANCE, device=self.device)
            return out.image_embeds, out.negative_image_embeds
        if cutout is not None:
            pixels = prior.image_processor(cutout, return_tensors="pt").pixel_values
            embeds = prior.image_encoder(pixels.to(self.device, prior.image_encoder.dtype)).image_embeds
            return embeds, prior.get_zero_embed(device=self.device)
        out = prior(caption, num_inference_steps=prior_steps, generator=generator, guidance_scale=PRIOR_GUIDANCE)
        return out.image_embeds, out.negative_image_embeds

    def prepare_mask_latents(
        self, person: torch.Tensor, mask: np.ndarray, latent_hw: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked-photo latents and the keep-mask ``(1, 1, h, w)`` at latent size (1 = keep).

        The repainted region grows by one latent pixel, as in the pipeline Kandinsky was trained with, so that
        no latent pixel straddling the mask's edge keeps the old garment.
        """
        import torch
        import torch.nn.functional as F  # noqa: N812 (torch's own convention)

        repaint = torch.from_numpy(mask.astype(np.float32))[None, None].to(self.device)
        repaint = F.interpolate(repaint, latent_hw, mode="nearest")
        repaint = F.max_pool2d(repaint, kernel_size=3, stride=1, padding=1)
        keep = (1.0 - repaint).to(self.unet.dtype)
        latents = self.pipe.movq.encode(person).latents
        return latents * keep, keep

    def prepare_latents(
        self, init: torch.Tensor | None, timesteps: torch.Tensor, scheduler: Any, shape: tuple[int, ...],
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Seeded noise; with a warp result, its latents noised to the first timestep of the shortened schedule."""
        import torch

        noise = torch.randn(shape, generator=generator, device=self.device, dtype=torch.float32).to(self.unet.dtype)
        if init is None:
            return noise * scheduler.init_noise_sigma
        return scheduler.add_noise(self.pipe.movq.encode(init).latents, noise, timesteps[:1])

    def _to_tensor(self, image: np.ndarray, work_w: int, work_h: int) -> torch.Tensor:
        """RGB uint8 -> ``(1, 3, h, w)`` in [-1, 1] at the working size, on the device."""
        import torch

        resized = np.asarray(Image.fromarray(image).resize((work_w, work_h), Image.Resampling.BICUBIC))
        tensor = torch.from_numpy(resized.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        return tensor.to(self.device, self.unet.dtype)

    def __call__(
        self,
        person: np.ndarray,
        mask: np.ndarray,
        garment: np.ndarray | None,
        garment_mask: np.ndarray | None,
        prompt: str,
        *,
        caption: str = "",
        init: np.ndarray | None = None,
        pose: np.ndarray | None = None,
        options: DiffusionOptions = DiffusionOptions(),
    ) -> Iterator[Progress | np.ndarray]:
        import torch

        # 1. Check inputs: the garment comes from a photo, from words, or both.
        self.check_inputs(person, mask, garment, garment_mask, prompt, init)
        if garment is None and not caption.strip():
            raise ValueError("kandinsky21 needs a garment photo or a caption")
        work_h, work_w = self.work_size(*person.shape[:2], options.side)
        guidance_scale = options.guidance_for(self.name)
        guidance = guidance_scale > 1.0
        strength = options.strength if init is not None else 1.0
        generator = self._generator(options.seed)
        # Grad mode is per thread and a generator may be resumed on another one (a server's worker pool runs each
        # step of a streamed request where it likes): no `inference_mode` block spans a yield.
        with torch.inference_mode():
            # 2. The garment as a CLIP image embedding; the description as MultilingualCLIP token states.
            image_embeds, negative_image_embeds = self.image_embeds(garment, garment_mask, caption, options.seed,
                                                                    options.prior_steps)
            text_embeds, text_states = self.encode_prompt(prompt, guidance)
            if guidance:
                image_embeds = torch.cat([negative_image_embeds, image_embeds])
            image_embeds = image_embeds.to(self.unet.dtype)
            # 3. The photo with the region blanked, and the keep-mask, at latent size.
            latent_hw = (work_h // self.latent_factor, work_w // self.latent_factor)
            masked, keep = self.prepare_mask_latents(self._to_tensor(person, work_w, work_h), mask, latent_hw)
            # 4. The schedule (shortened to `strength` when refining) and the start latents.
            scheduler = type(self.pipe.scheduler).from_config(self.pipe.scheduler.config)
            scheduler.set_timesteps(options.steps, device=self.device)
            timesteps = scheduler.timesteps[options.steps - max(1, math.ceil(options.steps * strength)):]
            start = None if init is None or strength >= 1.0 else self._to_tensor(init, work_w, work_h)
            latents = self.prepare_latents(start, timesteps, scheduler, (1, masked.shape[1], *latent_hw),
                                           generator)
        # 5. Denoise: each step reads the text and image tokens through cross-attention.
        for index, timestep in enumerate(timesteps):
            with torch.inference_mode():
                latents = self._step(scheduler, latents, masked, keep, timestep, text_embeds, text_states,
                                     image_embeds, guidance_scale if guidance else None, generator)
            yield Progress(index + 1, len(timesteps))
        # 6. Decode, back to the crop's size, pasted inside the mask only.
        with torch.inference_mode():
            image = self.pipe.movq.decode(latents, force_not_quantize=True).sample
            result = (image[0].float().permute(1, 2, 0).cpu().numpy() + 1.0) / 2.0
        yield self._paste(person, mask, result)

    def _step(
        self, scheduler: Any, latents: torch.Tensor, masked: torch.Tensor, keep: torch.Tensor,
        timestep: torch.Tensor, text_embeds: torch.Tensor, text_states: torch.Tensor, image_embeds: torch.Tensor,
        guidance_scale: float | None, generator: torch.Generator,
    ) -> torch.Tensor:
        """One denoising step: the UNet on (latents, masked photo, keep-mask), guidance, the scheduler."""
        import torch

        batch = 2 if guidance_scale is not None else 1
        model_input = torch.cat([latents.repeat(batch, 1, 1, 1), masked.repeat(batch, 1, 1, 1),
                                 keep.repeat(batch, 1, 1, 1)], dim=1)
        prediction = self.unet(model_input, timestep, encoder_hidden_states=text_states,
                               added_cond_kwargs={"text_embeds": text_embeds, "image_embeds": image_embeds}).sample
        channels = latents.shape[1]
        noise, variance = prediction[:, :channels], prediction[:, channels:]
        if guidance_scale is not None:
            uncond, cond = noise.chunk(2)
            noise, variance = uncond + guidance_scale * (cond - uncond), variance.chunk(2)[1]
        if getattr(scheduler.config, "variance_type", None) in ("learned", "learned_range"):
            noise = torch.cat([noise, variance], dim=1)
        return scheduler.step(noise, timestep, latents, generator=generator).prev_sample


RECIPE_CLASSES: dict[str, type[Recipe]] = {"kandinsky21": Kandinsky21Recipe, "sd15": SD15Recipe}


def _check_rgb(name: str, image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{name} must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")


def _step_callback(on_step: Callable[[int], None]) -> Callable[..., dict[str, Any]]:
    """A diffusers ``callback_on_step_end`` that reports the 1-based step number."""

    def callback(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        on_step(step + 1)
        return tensors

    return callback


def _stream(run: Callable[[Callable[[int], None]], Any], total: int) -> Generator[Progress, None, Any]:
    """Run ``run(on_step)`` in a worker thread, yielding a :class:`Progress` per step as it happens; the
    generator's return value is ``run``'s result (``result = yield from _stream(...)``). Errors re-raise here.

    diffusers pipelines report steps through a callback, not by yielding: the thread turns one into the other.
    """
    events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def work() -> None:
        try:
            events.put(("done", run(lambda step: events.put(("step", step)))))
        except BaseException as exc:  # handed to the caller's thread
            events.put(("error", exc))

    threading.Thread(target=work, name="tryon-diffusion", daemon=True).start()
    while True:
        kind, value = events.get()
        if kind == "step":
            yield Progress(min(value, total), total)
        elif kind == "error":
            raise value
        else:
            return value


# ---------------------------------------------------------------------------------------------------
# Pure helpers (numpy in, numpy out)
# ---------------------------------------------------------------------------------------------------


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


def build_caption(garment: GarmentAnalysis, spec: GarmentSpec | None = None) -> str:
    """An English caption of the garment, e.g. "a red striped linen long-sleeve shirt with a collar".

    Words come from the parsed description (English or Chinese, negations already resolved by the parser),
    and, where it says nothing, from the garment photo (its mean colour's name, its sleeve length, its
    category). CLIP reads "not blue" as blue, so the raw description never goes into a CLIP text encoder.
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
    return " ".join(w for w in words if w)


def build_prompt(garment: GarmentAnalysis, spec: GarmentSpec | None = None) -> str:
    """The English prompt for a CLIP text encoder (sd15): :func:`build_caption` in :data:`PROMPT_TEMPLATE`."""
    return PROMPT_TEMPLATE.format(garment=build_caption(garment, spec))


def kandinsky_prompt(garment: GarmentAnalysis, spec: GarmentSpec | None = None) -> str:
    """The prompt for Kandinsky's multilingual text encoder: the description as given (any language, untranslated)
    in :data:`PROMPT_TEMPLATE`, or the English caption of the photo when there is no description."""
    return PROMPT_TEMPLATE.format(garment=spec.text if spec is not None else build_caption(garment))


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



"""The diffusion renderer, end to end on tiny random components saved to disk and loaded by the real loader.

As in diffusers' own pipeline tests, every model is a few-layer random network: the tests check the plumbing
(loading, masks, conditioning paths, paste-back), not image quality.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import garment_analysis

from tryon.config import Settings
from tryon.errors import TryOnError
from tryon.stages import diffusion
from tryon.stages.body import BodyAnalysis
from tryon.stages.garment import GarmentAnalysis
from tryon.stages.text import GarmentSpec

SIZE = 64  # the tiny UNet's native side (sample_size 32 x VAE factor 2)
CROSS_DIM = 32  # text/IP token width of the tiny UNet
CLIP_IMAGE_SIZE = 32
STEPS = 2
# Random IP-Adapter projections this large make the garment's effect visible after 2 steps.
IP_WEIGHT_STD = 0.5
# Mean absolute difference (0-255) inside the mask above which two renders count as different.
DIFFERENT = 1.0


# --------------------------------------------------------------------------------------------------
# Tiny components
# --------------------------------------------------------------------------------------------------


def tiny_tokenizer():
    """A CLIP tokenizer with a byte-level vocabulary (every byte a token, no merges)."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=77)


def build_tiny_weights(root: Path, with_controlnet: bool = False) -> dict[str, str]:
    """Save a tiny inpainting pipeline, an IP-Adapter with its image encoder and a ControlNet under root."""
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionInpaintPipeline,
        UNet2DConditionModel,
    )
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    blocks = {
        "block_out_channels": (32, 64),
        "layers_per_block": 1,
        "cross_attention_dim": CROSS_DIM,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "attention_head_dim": 4,
    }
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=9,
        out_channels=4,
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        **blocks,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
    )
    tokenizer = tiny_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=CROSS_DIM,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            projection_dim=CROSS_DIM,
        )
    )
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(root / "pipeline")

    # IP-Adapter in the original file layout: image_proj.* and ip_adapter.<n>.to_{k,v}_ip.weight, where n
    # counts the UNet's attention processors and only cross-attention ones (odd n) carry weights.
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=37,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=CLIP_IMAGE_SIZE,
            patch_size=4,
        )
    )
    image_encoder.save_pretrained(root / "ip" / "image_encoder")
    weights = {
        "image_proj.proj.weight": torch.randn(4 * CROSS_DIM, 32) * IP_WEIGHT_STD,
        "image_proj.proj.bias": torch.zeros(4 * CROSS_DIM),
        "image_proj.norm.weight": torch.ones(CROSS_DIM),
        "image_proj.norm.bias": torch.zeros(CROSS_DIM),
    }
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn2.processor"):
            hidden = _hidden_size(unet, name)
            for kind in ("to_k_ip", "to_v_ip"):
                weights[f"ip_adapter.{key_id}.{kind}.weight"] = torch.randn(hidden, CROSS_DIM) * IP_WEIGHT_STD
            key_id += 2
    save_file(weights, str(root / "ip" / "ip-adapter_tiny.safetensors"))
    paths = {"model": str(root / "pipeline"), "ip_adapter": str(root / "ip" / "ip-adapter_tiny.safetensors")}
    if with_controlnet:
        controlnet = ControlNetModel(conditioning_embedding_out_channels=(16, 32), **blocks)
        controlnet.save_pretrained(root / "controlnet")
        paths["controlnet"] = str(root / "controlnet")
    return paths


def _hidden_size(unet, name: str) -> int:
    channels = unet.config.block_out_channels
    if name.startswith("mid_block"):
        return channels[-1]
    block = int(name.split(".")[1])
    return channels[block] if name.startswith("down_blocks") else list(reversed(channels))[block]


# --------------------------------------------------------------------------------------------------
# Synthetic person and garment
# --------------------------------------------------------------------------------------------------


def _box(height: int, width: int, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[round(y0 * height) : round(y1 * height), round(x0 * width) : round(x1 * width)] = True
    return mask


def synthetic_body(height: int = SIZE, width: int = SIZE) -> tuple[np.ndarray, BodyAnalysis]:
    """A blocky front-facing person on a gradient background, and its BodyAnalysis."""
    boxes = {
        "face_hair": (0.42, 0.04, 0.58, 0.2),
        "neck": (0.46, 0.2, 0.54, 0.24),
        "torso": (0.36, 0.24, 0.64, 0.55),
        "upper_arm_right": (0.28, 0.25, 0.36, 0.4),
        "upper_arm_left": (0.64, 0.25, 0.72, 0.4),
        "lower_arm_right": (0.27, 0.4, 0.35, 0.52),
        "lower_arm_left": (0.65, 0.4, 0.73, 0.52),
        "hand_right": (0.26, 0.52, 0.34, 0.58),
        "hand_left": (0.66, 0.52, 0.74, 0.58),
        "thigh_right": (0.38, 0.55, 0.49, 0.75),
        "thigh_left": (0.51, 0.55, 0.62, 0.75),
        "shin_right": (0.39, 0.75, 0.48, 0.93),
        "shin_left": (0.52, 0.75, 0.61, 0.93),
        "feet": (0.37, 0.93, 0.63, 0.98),
    }
    regions = {name: _box(height, width, *box) for name, box in boxes.items()}
    skin = regions["face_hair"] | regions["neck"] | regions["hand_left"] | regions["hand_right"]
    regions["skin"] = skin
    person_mask = np.logical_or.reduce(list(regions.values()))
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([40 + 150 * xx / width, 90 + 100 * yy / height, np.full_like(xx, 170.0)], -1).astype(
        np.uint8
    )
    image[person_mask] = (60, 90, 140)  # old blue clothes
    image[skin] = (225, 185, 160)
    landmarks = np.zeros((33, 2), np.float32)
    for index, (x, y) in {
        11: (0.62, 0.26),
        12: (0.38, 0.26),
        13: (0.68, 0.4),
        14: (0.32, 0.4),
        15: (0.69, 0.52),
        16: (0.31, 0.52),
        23: (0.57, 0.55),
        24: (0.43, 0.55),
        25: (0.56, 0.75),
        26: (0.44, 0.75),
        27: (0.56, 0.93),
        28: (0.44, 0.93),
        0: (0.5, 0.12),
        2: (0.53, 0.1),
        5: (0.47, 0.1),
        7: (0.56, 0.11),
        8: (0.44, 0.11),
    }.items():
        landmarks[index] = (x * width, y * height)
    body = BodyAnalysis(
        size=(height, width),
        landmarks=landmarks,
        visibility=np.ones(33, np.float32),
        person_prob=person_mask.astype(np.float32),
        person_mask=person_mask,
        face_box=None,
        regions=regions,
        skin_lab_mean=np.float32([200, 140, 145]),
        skin_lab_cov=np.diag([80.0, 20.0, 20.0]).astype(np.float32),
        skin_rgb=np.uint8([225, 185, 160]),
    )
    return image, body


def synthetic_garment(rgb: tuple[int, int, int], category: str = "upper", size: int = 48) -> GarmentAnalysis:
    """A T-shaped garment of one colour, with a stripe, on white."""
    mask = _box(size, size, 0.3, 0.15, 0.7, 0.9) | _box(size, size, 0.1, 0.15, 0.9, 0.35)
    image = np.full((size, size, 3), 255, np.uint8)
    image[mask] = rgb
    image[mask & _box(size, size, 0, 0.5, 1, 0.56)] = (255 - np.uint8(rgb)) // 2
    return garment_analysis(image, mask, category, sleeve="short", mean_rgb=np.uint8(rgb))


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, str]:
    return build_tiny_weights(tmp_path_factory.mktemp("tiny-diffusion"), with_controlnet=True)


@pytest.fixture
def no_download_env(monkeypatch) -> None:
    monkeypatch.delenv("TRYON_DIFFUSION_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def settings(weights, no_download_env) -> Settings:
    return Settings(
        device="cpu",
        diffusion_model=weights["model"],
        diffusion_ip_adapter=weights["ip_adapter"],
        diffusion_steps=STEPS,
        diffusion_guidance=2.5,
    )


@pytest.fixture
def tryon_pipe(settings) -> diffusion.TryOnDiffusion:
    pipe = diffusion.load_pipeline(
        settings.diffusion_model, "cpu", torch.float32, settings.diffusion_ip_adapter
    )
    return diffusion.TryOnDiffusion(pipe)


def _inside_difference(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16))[mask].mean())


# --------------------------------------------------------------------------------------------------
# Availability and loading
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_unavailable_reason_says_no_gpu_on_this_machine(weights, no_download_env):
    reason = diffusion.unavailable_reason(
        Settings(diffusion_model=weights["model"], diffusion_ip_adapter=weights["ip_adapter"])
    )
    assert reason is not None and "GPU" in reason and "CUDA" in reason


def test_unavailable_reason_names_the_missing_weights(weights, tmp_path, no_download_env):
    reason = diffusion.unavailable_reason(Settings(device="cpu"))
    assert reason is not None and "TRYON_DIFFUSION_MODEL" in reason
    reason = diffusion.unavailable_reason(
        Settings(device="cpu", diffusion_model="nobody/not-downloaded-inpaint")
    )
    assert reason is not None and "not-downloaded-inpaint" in reason
    reason = diffusion.unavailable_reason(Settings(device="cpu", diffusion_model=weights["model"]))
    assert reason is not None and "TRYON_DIFFUSION_IP_ADAPTER" in reason
    reason = diffusion.unavailable_reason(
        Settings(
            device="cpu",
            diffusion_model=weights["model"],
            diffusion_ip_adapter=str(tmp_path / "missing.safetensors"),
        )
    )
    assert reason is not None and "missing.safetensors" in reason
    reason = diffusion.unavailable_reason(
        Settings(
            device="cpu",
            diffusion_model=weights["model"],
            diffusion_ip_adapter=weights["ip_adapter"],
            diffusion_controlnet=str(tmp_path / "no-controlnet"),
        )
    )
    assert reason is not None and "TRYON_DIFFUSION_CONTROLNET" in reason


def test_unavailable_reason_is_none_with_local_weights_on_an_explicit_device(settings, weights):
    assert diffusion.unavailable_reason(settings) is None
    assert (
        diffusion.unavailable_reason(
            dataclasses.replace(settings, diffusion_controlnet=weights["controlnet"])
        )
        is None
    )


def test_downloads_only_when_the_user_sets_the_model_and_not_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRYON_DIFFUSION_MODEL", raising=False)
    assert not diffusion.downloads_allowed()
    monkeypatch.setenv("TRYON_DIFFUSION_MODEL", "some/inpainting-model")
    assert diffusion.downloads_allowed()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not diffusion.downloads_allowed()


def test_load_pipeline_is_cached_and_wires_the_ip_adapter(settings, tryon_pipe):
    again = diffusion.load_pipeline(
        settings.diffusion_model, "cpu", torch.float32, settings.diffusion_ip_adapter
    )
    assert again is tryon_pipe.pipe
    assert tryon_pipe.pipe.unet.config.in_channels == 9
    assert tryon_pipe.has_ip_adapter and not tryon_pipe.has_controlnet
    assert tryon_pipe.pipe.image_encoder is not None  # loaded from the folder beside the IP-Adapter file
    processors = {type(p).__name__ for p in tryon_pipe.pipe.unet.attn_processors.values()}
    assert any("IPAdapter" in name for name in processors)


def test_load_pipeline_refuses_weights_not_on_this_machine(no_download_env):
    with pytest.raises(TryOnError, match="TRYON_DIFFUSION_MODEL"):
        diffusion.load_pipeline("nobody/not-downloaded-inpaint", "cpu", torch.float32)


# --------------------------------------------------------------------------------------------------
# Masks and conditioning
# --------------------------------------------------------------------------------------------------


def test_prepare_mask_covers_the_category_and_keeps_face_and_hands():
    _, body = synthetic_body(128, 96)
    upper = diffusion.TryOnDiffusion.prepare_mask(body, "upper")
    lower = diffusion.TryOnDiffusion.prepare_mask(body, "lower")
    dress = diffusion.TryOnDiffusion.prepare_mask(body, "dress")
    regions = body.regions
    assert upper[regions["torso"]].all() and upper[regions["upper_arm_left"]].all()
    assert not upper[regions["shin_left"]].any()
    assert lower[regions["thigh_right"]].all() and lower[regions["shin_left"]].all()
    assert not lower[regions["upper_arm_left"]].any()
    assert dress[regions["torso"]].all() and dress[regions["thigh_left"]].all()
    for mask in (upper, lower, dress):
        assert not (mask & (regions["face_hair"] | regions["hand_left"] | regions["feet"])).any()
    # Dilated: a looser garment may cover background next to the old one.
    assert (upper & ~body.person_mask).any()


def test_prepare_mask_uses_and_checks_the_users_mask():
    _, body = synthetic_body()
    user = _box(SIZE, SIZE, 0.2, 0.2, 0.5, 0.5)
    assert np.array_equal(diffusion.TryOnDiffusion.prepare_mask(body, "upper", user), user)
    with pytest.raises(TryOnError, match="draw"):
        diffusion.TryOnDiffusion.prepare_mask(body, "upper", np.zeros((SIZE, SIZE), bool))
    with pytest.raises(TryOnError, match="photo"):
        diffusion.TryOnDiffusion.prepare_mask(body, "upper", np.ones((SIZE, SIZE + 1), bool))


@pytest.mark.parametrize(
    ("category", "keypoints", "spec", "expected", "absent"),
    [
        ("upper", {}, None, "a red short-sleeve top", None),
        ("upper", {}, GarmentSpec(text="a green linen shirt, not blue", category="upper", garment_type="shirt",
                                  colours=(("green", (40, 140, 60)),), material="linen", sleeve="long",
                                  neckline="v_neck"),
         "a green linen long-sleeve shirt with a v-neck", "blue"),
        ("dress", {}, GarmentSpec(text="蓝色条纹连衣裙", category="dress", garment_type="dress",
                                  colours=(("blue", (40, 92, 200)),), pattern="stripes"),
         "a blue striped short-sleeve dress", None),
        ("lower", {"crotch": np.float32([24, 30])}, None, "wearing red trousers", None),
    ],
    ids=["photo only", "words over the photo", "Chinese words", "trousers from the photo"],
)
def test_build_prompt_captions_the_description_and_fills_gaps_from_the_photo(
    category: str, keypoints: dict, spec: GarmentSpec | None, expected: str, absent: str | None
):
    # The photo's garment is red with short sleeves; its category (and a crotch for trousers) varies.
    photo = dataclasses.replace(synthetic_garment((200, 30, 30)), category=category, keypoints=keypoints)
    prompt = diffusion.build_prompt(photo, spec)
    assert expected in prompt and prompt.isascii()  # CLIP reads English
    assert absent is None or absent not in prompt  # negated words stay out


def test_draw_pose_draws_visible_joints_only():
    _, body = synthetic_body(128, 128)
    pose = diffusion.draw_pose(body)
    assert pose.shape == (128, 128, 3) and pose.dtype == np.uint8
    x, y = np.round(body.point(diffusion.body_stage.LEFT_WRIST)).astype(int)
    assert pose[y, x].any()
    hidden = dataclasses.replace(body, visibility=np.zeros(33, np.float32))
    assert not diffusion.draw_pose(hidden).any()


def test_paste_inside_changes_only_masked_pixels():
    rng = np.random.default_rng(0)
    person, generated = rng.integers(0, 256, (2, 40, 30, 3), dtype=np.uint8)
    mask = _box(40, 30, 0.2, 0.2, 0.8, 0.9)
    out = diffusion.paste_inside(person, generated, mask, feather_px=3)
    assert np.array_equal(out[~mask], person[~mask])
    centre = _box(40, 30, 0.4, 0.4, 0.6, 0.7)
    assert np.array_equal(out[centre], generated[centre])


# --------------------------------------------------------------------------------------------------
# Generation on tiny components (CPU, 2 steps, 64x64)
# --------------------------------------------------------------------------------------------------


def test_render_keeps_shape_and_every_pixel_outside_the_edit_mask(settings):
    person, body = synthetic_body()
    result = diffusion.render(person, body, synthetic_garment((200, 30, 30)), None, settings)
    assert result.image.shape == person.shape and result.image.dtype == np.uint8
    expected = diffusion.TryOnDiffusion.prepare_mask(body, "upper")
    assert np.array_equal(result.edit_mask, expected)
    assert np.array_equal(result.image[~result.edit_mask], person[~result.edit_mask])
    assert _inside_difference(result.image, person, result.edit_mask) > DIFFERENT
    assert result.garment_mask.dtype == np.bool_ and not (result.garment_mask & ~result.edit_mask).any()
    assert set(result.layers) >= {"edit_region", "skin", "background_kept"}


def test_render_is_reproducible_with_the_fixed_seed(settings):
    person, body = synthetic_body()
    garment = synthetic_garment((30, 160, 60))
    first = diffusion.render(person, body, garment, None, settings).image
    second = diffusion.render(person, body, garment, None, settings).image
    assert np.array_equal(first, second)


def test_render_repaints_only_the_users_mask(settings):
    person, body = synthetic_body()
    user = _box(SIZE, SIZE, 0.3, 0.25, 0.7, 0.6)
    result = diffusion.render(person, body, synthetic_garment((200, 30, 30)), None, settings, edit_mask=user)
    assert np.array_equal(result.edit_mask, user)
    assert np.array_equal(result.image[~user], person[~user])


def test_garment_photo_changes_the_output_through_the_ip_adapter(tryon_pipe):
    person, body = synthetic_body()
    mask = diffusion.TryOnDiffusion.prepare_mask(body, "upper")
    prompt = "a photo of a person wearing a top"
    outputs = []
    for rgb in ((200, 30, 30), (30, 60, 200)):
        garment = synthetic_garment(rgb)
        outputs.append(
            tryon_pipe(person, mask, garment.image, garment.mask, prompt, num_inference_steps=STEPS)
        )
    assert _inside_difference(outputs[0], outputs[1], mask) > DIFFERENT
    assert np.array_equal(outputs[0][~mask], outputs[1][~mask])


def test_text_prompt_changes_the_output(tryon_pipe):
    person, body = synthetic_body()
    mask = diffusion.TryOnDiffusion.prepare_mask(body, "upper")
    garment = synthetic_garment((200, 30, 30))
    shirt, jacket = (
        tryon_pipe(person, mask, garment.image, garment.mask, prompt, num_inference_steps=STEPS)
        for prompt in ("a red shirt", "a blue denim jacket with white buttons")
    )
    assert _inside_difference(shirt, jacket, mask) > DIFFERENT


def test_pose_controlnet_pipeline_renders(settings, weights):
    person, body = synthetic_body()
    with_pose = dataclasses.replace(settings, diffusion_controlnet=weights["controlnet"])
    result = diffusion.render(person, body, synthetic_garment((200, 30, 30), "dress"), None, with_pose)
    pipe = diffusion.load_pipeline(
        settings.diffusion_model, "cpu", torch.float32, settings.diffusion_ip_adapter, weights["controlnet"]
    )
    assert diffusion.TryOnDiffusion(pipe).has_controlnet
    assert result.image.shape == person.shape
    assert np.array_equal(result.image[~result.edit_mask], person[~result.edit_mask])
    assert result.edit_mask[body.regions["shin_left"]].all()


# --------------------------------------------------------------------------------------------------
# Through the app's pipeline, and on a GPU when there is one
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback on a machine without a GPU")
def test_try_on_falls_back_to_warp_with_a_note(cases, no_download_env):
    from conftest import load_eval_image

    from tryon import pipeline

    case = cases[0]
    result = pipeline.try_on(
        load_eval_image(case["person"]),
        load_eval_image(case["garment"]),
        category=case["category"],
        renderer="diffusion",
        settings=Settings(),
    )
    assert result.renderer == "warp"
    assert any(note.startswith("Used the warp renderer") and "GPU" in note for note in result.notes)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_renders_on_cuda_in_fp16_at_512x384(settings, capsys):
    height, width = 512, 384
    person, body = synthetic_body(height, width)
    cuda = dataclasses.replace(settings, device="cuda", diffusion_steps=20, diffusion_side=512)
    garment = synthetic_garment((200, 30, 30))
    pipe = diffusion.load_pipeline(cuda.diffusion_model, "cuda", torch.float16, cuda.diffusion_ip_adapter)
    assert pipe.unet.dtype == torch.float16
    diffusion.render(person, body, garment, None, cuda)  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = diffusion.render(person, body, garment, None, cuda)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak_mib = torch.cuda.max_memory_allocated() / 2**20
    assert result.image.shape == person.shape
    assert np.array_equal(result.image[~result.edit_mask], person[~result.edit_mask])
    assert _inside_difference(result.image, person, result.edit_mask) > DIFFERENT
    assert np.isfinite(result.image.astype(np.float32)).all() and result.image[result.edit_mask].std() > 1
    with capsys.disabled():
        print(
            f"\ncuda fp16 {width}x{height}, 20 steps: {seconds:.2f} s, peak {peak_mib:.0f} MiB, "
            f"edit mask {result.edit_mask.mean():.1%}, garment mask {result.garment_mask.mean():.1%}"
        )

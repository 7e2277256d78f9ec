"""Tiny random diffusion components for the tests, built in memory and saved as diffusers lays them out.

As in diffusers' own pipeline tests, every model is a few-layer random network: the tests that use them check
the plumbing (loading, masks, conditioning paths, paste-back, progress), not image quality. Nothing is
downloaded: tokenizers are built from in-memory vocabularies (tryon.models.random_weights builds them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import garment_analysis

from tryon.models.random_weights import clip_tokenizer, xlmr_tokenizer
from tryon.stages.body import BodyAnalysis
from tryon.stages.garment import GarmentAnalysis

SIZE = 64  # the side the tests render at (sample_size 32 x latent factor 2)
CROSS_DIM = 32  # text/image token width of the tiny UNets
CLIP_IMAGE_SIZE = 32
# Random IP-Adapter projections this large make the garment's effect visible after 2 steps.
IP_WEIGHT_STD = 0.5


def build_tiny_sd15(root: Path, with_controlnet: bool = False) -> dict[str, str]:
    """Save a tiny SD inpainting pipeline, an IP-Adapter with its image encoder and a ControlNet under root."""
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
    tokenizer = clip_tokenizer()
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


def box_mask(height: int, width: int, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
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
    regions = {name: box_mask(height, width, *box) for name, box in boxes.items()}
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
    mask = box_mask(size, size, 0.3, 0.15, 0.7, 0.9) | box_mask(size, size, 0.1, 0.15, 0.9, 0.35)
    image = np.full((size, size, 3), 255, np.uint8)
    image[mask] = rgb
    image[mask & box_mask(size, size, 0, 0.5, 1, 0.56)] = (255 - np.uint8(rgb)) // 2
    return garment_analysis(image, mask, category, sleeve="short", mean_rgb=np.uint8(rgb))


# --------------------------------------------------------------------------------------------------
# Kandinsky 2.1: MultilingualCLIP (tiny XLM-R + projection), UNet with image-embedding cross-attention,
# MoVQ, and the prior with its CLIP text and image encoders
# --------------------------------------------------------------------------------------------------

TEXT_HIDDEN = 24  # the tiny XLM-R's width (the real one: 1024), != CROSS_DIM to catch a mixed-up projection


def build_tiny_kandinsky(root: Path) -> dict[str, str]:
    """Save a tiny Kandinsky 2.1 inpainting decoder and prior under root, as diffusers lays them out."""
    from diffusers import (
        DDIMScheduler,
        KandinskyInpaintPipeline,
        KandinskyPriorPipeline,
        PriorTransformer,
        UnCLIPScheduler,
        UNet2DConditionModel,
        VQModel,
    )
    from diffusers.pipelines.kandinsky.text_encoder import MCLIPConfig, MultilingualCLIP
    from transformers import (
        CLIPImageProcessor,
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(0)
    tokenizer = xlmr_tokenizer()
    text_encoder = MultilingualCLIP(
        MCLIPConfig(
            imageDimSize=CROSS_DIM,  # the projection's output: the UNet's cross-attention width
            transformerDimSize=TEXT_HIDDEN,
            hidden_size=TEXT_HIDDEN,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            vocab_size=len(tokenizer),
            max_position_embeddings=80,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=9,  # noisy latents + masked-photo latents + keep-mask
        out_channels=8,  # noise and variance
        addition_embed_type="text_image",
        encoder_hid_dim=TEXT_HIDDEN,
        encoder_hid_dim_type="text_image_proj",  # the image embedding becomes tokens beside the text tokens
        cross_attention_dim=CROSS_DIM,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=(32, 64),
        layers_per_block=1,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
    )
    movq = VQModel(
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
        up_block_types=("AttnUpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        layers_per_block=1,
        norm_type="spatial",
        num_vq_embeddings=12,
        vq_embed_dim=4,
    )
    scheduler = DDIMScheduler(
        beta_schedule="linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    KandinskyInpaintPipeline(
        text_encoder=text_encoder, movq=movq, tokenizer=tokenizer, unet=unet, scheduler=scheduler
    ).save_pretrained(root / "decoder")

    tokenizer_for_prior = clip_tokenizer()
    transformer = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=CROSS_DIM, num_layers=1)
    # The prior un-normalises its output with CLIP's embedding statistics, zeros until trained weights load.
    transformer.clip_std = torch.nn.Parameter(torch.ones(1, CROSS_DIM))
    transformer.clip_mean = torch.nn.Parameter(torch.randn(1, CROSS_DIM) * 0.1)
    prior = KandinskyPriorPipeline(
        prior=transformer,
        image_encoder=CLIPVisionModelWithProjection(
            CLIPVisionConfig(
                hidden_size=CROSS_DIM,
                intermediate_size=37,
                projection_dim=CROSS_DIM,
                num_hidden_layers=2,
                num_attention_heads=4,
                image_size=CLIP_IMAGE_SIZE,
                patch_size=4,
            )
        ),
        text_encoder=CLIPTextModelWithProjection(
            CLIPTextConfig(
                vocab_size=len(tokenizer_for_prior),
                hidden_size=CROSS_DIM,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=4,
                projection_dim=CROSS_DIM,
                bos_token_id=tokenizer_for_prior.bos_token_id,
                eos_token_id=tokenizer_for_prior.eos_token_id,
                pad_token_id=tokenizer_for_prior.pad_token_id,
            )
        ),
        tokenizer=tokenizer_for_prior,
        scheduler=UnCLIPScheduler(
            variance_type="fixed_small_log", prediction_type="sample", clip_sample=True, clip_sample_range=10.0
        ),
        image_processor=CLIPImageProcessor(crop_size=CLIP_IMAGE_SIZE, size=CLIP_IMAGE_SIZE),
    )
    prior.save_pretrained(root / "prior")
    return {"model": str(root / "decoder"), "prior": str(root / "prior")}


def publish_to_hub_cache(weights: dict[str, str], cache: Path, files: dict[str, tuple[str, ...]]) -> None:
    """Lay the tiny Kandinsky weights out in a Hugging Face cache (``cache`` as ``HF_HUB_CACHE``) under the
    published repo ids, holding exactly ``files`` (repo -> paths), as a Space's ``preload_from_hub`` leaves it.

    The tokenizers are rewritten in the published repos' formats: XLM-R with tokenizer.json and a special
    tokens map, CLIP as vocab.json + merges.txt (no tokenizer.json).
    """
    import json
    import shutil

    revision = "0" * 40
    decoder, prior = (Path(weights[name]) for name in ("model", "prior"))
    for repo, source in zip(files, (decoder, prior), strict=True):
        snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / revision
        shutil.copytree(source, snapshot)
        (snapshot.parent.parent / "refs").mkdir()
        (snapshot.parent.parent / "refs" / "main").write_text(revision)
        tokenizer = snapshot / "tokenizer"
        specials = json.loads((tokenizer / "tokenizer_config.json").read_text())
        special_map = {name: specials[name] for name in ("bos_token", "eos_token", "unk_token", "pad_token")
                       if name in specials}
        (tokenizer / "special_tokens_map.json").write_text(json.dumps(special_map))
        if source == prior:  # CLIP's published tokenizer: vocab + merges
            vocab = json.loads((tokenizer / "tokenizer.json").read_text())["model"]["vocab"]
            (tokenizer / "vocab.json").write_text(json.dumps(vocab))
            (tokenizer / "merges.txt").write_text("#version: 0.2\n")
            (tokenizer / "tokenizer.json").unlink()
        laid_out = {str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file()}
        assert laid_out == set(files[repo]), laid_out ^ set(files[repo])

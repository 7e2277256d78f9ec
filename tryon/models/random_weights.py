"""Random weights with the published architectures of both recipes, for GPU benchmarks on machines that
cannot download the real weights (``python -m tryon bench --renderer diffusion --random-weights``).

Every model is built from the configuration its published ``config.json`` gives (Kandinsky 2.1 decoder and
prior, Stable Diffusion 1.5 inpainting, IP-Adapter SD 1.5 with its ViT-H image encoder), so that sizes, memory
and speed match the real pipelines; the images they paint are noise. :func:`parameter_counts` builds them on
PyTorch's meta device (no memory) so that a test can compare the sizes with the published files.
Tokenizers are small in-memory vocabularies: they only turn the prompt into 77 token ids.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

# fmt: off
# Kandinsky 2.1 (kandinsky-community/kandinsky-2-1-inpaint and -prior).
KANDINSKY_UNET = {
    "sample_size": 64, "in_channels": 9, "out_channels": 8, "layers_per_block": 3,
    "block_out_channels": (384, 768, 1152, 1536), "attention_head_dim": 64, "cross_attention_dim": 768,
    "encoder_hid_dim": 1024, "encoder_hid_dim_type": "text_image_proj", "addition_embed_type": "text_image",
    "addition_embed_type_num_heads": 64, "resnet_time_scale_shift": "scale_shift",
    "down_block_types": ("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D",
                         "SimpleCrossAttnDownBlock2D"),
    "up_block_types": ("SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D",
                       "ResnetUpsampleBlock2D"),
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
}
KANDINSKY_MOVQ = {
    "block_out_channels": (128, 256, 256, 512), "layers_per_block": 2, "latent_channels": 4, "vq_embed_dim": 4,
    "num_vq_embeddings": 16384, "norm_type": "spatial", "sample_size": 256,
    "down_block_types": ("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
    "up_block_types": ("AttnUpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"),
}
KANDINSKY_SCHEDULER = {"beta_schedule": "linear", "beta_start": 0.00085, "beta_end": 0.012, "clip_sample": False,
                       "set_alpha_to_one": False, "steps_offset": 1, "prediction_type": "epsilon"}
MCLIP = {  # XLM-RoBERTa-Large + a linear projection to the UNet's cross-attention width
    "imageDimSize": 768, "transformerDimSize": 1024, "hidden_size": 1024, "num_hidden_layers": 24,
    "num_attention_heads": 16, "intermediate_size": 4096, "vocab_size": 250002, "max_position_embeddings": 514,
    "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
}
CLIP_L_TEXT = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
               "max_position_embeddings": 77, "vocab_size": 49408, "projection_dim": 768, "hidden_act": "quick_gelu"}
CLIP_L_VISION = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
                 "patch_size": 14, "image_size": 224, "projection_dim": 768, "hidden_act": "quick_gelu"}
PRIOR_SCHEDULER = {"variance_type": "fixed_small_log", "prediction_type": "sample", "clip_sample": True,
                   "clip_sample_range": 10.0}
# Stable Diffusion 1.5 inpainting and IP-Adapter SD 1.5 (h94/IP-Adapter, ViT-H/14 image encoder).
SD15_UNET = {
    "sample_size": 64, "in_channels": 9, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280), "attention_head_dim": 8, "cross_attention_dim": 768,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
}
SD15_VAE = {
    "block_out_channels": (128, 256, 512, 512), "layers_per_block": 2, "latent_channels": 4, "sample_size": 512,
    "down_block_types": ("DownEncoderBlock2D",) * 4, "up_block_types": ("UpDecoderBlock2D",) * 4,
}
SD15_SCHEDULER = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
                  "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1}
CLIP_H_VISION = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 16,
                 "patch_size": 14, "image_size": 224, "projection_dim": 1024, "hidden_act": "gelu"}
IP_ADAPTER_TOKENS = 4
# fmt: on
# Published fp32 safetensors sizes in bytes (huggingface.co file listings), for the size check.
PUBLISHED_FP32_BYTES = {
    ("kandinsky21", "unet"): 4.91e9, ("kandinsky21", "text_encoder"): 2.24e9, ("kandinsky21", "movq"): 271e6,
    ("kandinsky21", "prior"): 4.09e9, ("kandinsky21", "prior_text_encoder"): 495e6,
    ("sd15", "unet"): 3.44e9, ("sd15", "vae"): 335e6, ("sd15", "text_encoder"): 492e6,
    ("sd15", "image_encoder"): 2.53e9,  # IP-Adapter's models/image_encoder (OpenCLIP ViT-H/14)
}
# Characters the small tokenizers know: enough for English and Chinese test prompts.
TOKENIZER_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789,.-'" + "一件黄色的短袖红蓝白黑衬衫连衣裙长条纹牛仔裤T恤"
XLMR_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0-3, as in XLM-R


def xlmr_tokenizer() -> Any:
    """An XLM-RoBERTa tokenizer over :data:`TOKENIZER_CHARACTERS` (ids stay below XLM-R's vocabulary size)."""
    from transformers import XLMRobertaTokenizer

    pieces = [(c, -1.0) for c in TOKENIZER_CHARACTERS] + [("\u2581" + c, -1.5) for c in TOKENIZER_CHARACTERS]
    return XLMRobertaTokenizer(vocab=[*((s, 0.0) for s in XLMR_SPECIALS), *pieces, ("\u2581", -2.0), ("<mask>", 0.0)])


def clip_tokenizer() -> Any:
    """A CLIP tokenizer with a byte-level vocabulary (every byte a token, no merges)."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=77)


def _kandinsky_parts() -> dict[str, list[tuple[str, Callable[[], Any]]]]:
    """Pipeline folder -> ``(component, build)`` for every Kandinsky 2.1 model."""
    from diffusers import PriorTransformer, UNet2DConditionModel, VQModel
    from diffusers.pipelines.kandinsky.text_encoder import MCLIPConfig, MultilingualCLIP
    from transformers import (
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    return {
        "decoder": [
            ("unet", lambda: UNet2DConditionModel(**KANDINSKY_UNET)),
            ("text_encoder", lambda: MultilingualCLIP(MCLIPConfig(**MCLIP))),
            ("movq", lambda: VQModel(**KANDINSKY_MOVQ)),
        ],
        "prior": [
            ("prior", PriorTransformer),
            ("image_encoder", lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_L_VISION))),
            ("text_encoder", lambda: CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_L_TEXT))),
        ],
    }


def _sd15_parts() -> dict[str, list[tuple[str, Callable[[], Any]]]]:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    return {
        "pipeline": [
            ("unet", lambda: UNet2DConditionModel(**SD15_UNET)),
            ("vae", lambda: AutoencoderKL(**SD15_VAE)),
            ("text_encoder", lambda: CLIPTextModel(CLIPTextConfig(**CLIP_L_TEXT))),
        ],
        "ip": [("image_encoder", lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_H_VISION)))],
    }


PARTS = {"kandinsky21": _kandinsky_parts, "sd15": _sd15_parts}


def parameter_counts(recipe: str) -> dict[str, int]:
    """Parameters per model (``"unet"``, ``"prior_text_encoder"``...), built on the meta device (no memory)."""
    import torch

    counts = {}
    with torch.device("meta"):
        for folder, parts in PARTS[recipe]().items():
            for name, build in parts:
                label = f"prior_{name}" if folder == "prior" and name != "prior" else name
                counts[label] = sum(p.numel() for p in build().parameters())
    return counts


def save_random_weights(recipe: str, root: Path, dtype: str = "float16") -> dict[str, str]:
    """Build the recipe's models with random weights and save them under ``root`` as diffusers lays pipelines
    out (fp16 files with ``variant="fp16"``), one pipeline folder at a time, each freed once saved. Returns
    the paths for Settings: ``model`` and ``prior`` (kandinsky21) or ``model`` and ``ip_adapter`` (sd15)."""
    import torch

    variant = "fp16" if dtype == "float16" else None
    paths: dict[str, str] = {}
    for folder, parts in PARTS[recipe]().items():
        models = {}
        for name, build in parts:
            torch.manual_seed(0)
            models[name] = build().to(getattr(torch, dtype)).eval()
            gc.collect()
        paths.update(SAVE[(recipe, folder)](models, root, variant))
        del models
        gc.collect()
    return paths


def _save_decoder(models: dict[str, Any], root: Path, variant: str | None) -> dict[str, str]:
    from diffusers import DDIMScheduler, KandinskyInpaintPipeline

    KandinskyInpaintPipeline(tokenizer=xlmr_tokenizer(), scheduler=DDIMScheduler(**KANDINSKY_SCHEDULER),
                             **models).save_pretrained(root / "decoder", variant=variant)
    return {"model": str(root / "decoder")}


def _save_prior(models: dict[str, Any], root: Path, variant: str | None) -> dict[str, str]:
    from diffusers import KandinskyPriorPipeline, UnCLIPScheduler
    from transformers import CLIPImageProcessor

    KandinskyPriorPipeline(tokenizer=clip_tokenizer(), scheduler=UnCLIPScheduler(**PRIOR_SCHEDULER),
                           image_processor=CLIPImageProcessor(), **models).save_pretrained(root / "prior",
                                                                                          variant=variant)
    return {"prior": str(root / "prior")}


def _save_sd15(models: dict[str, Any], root: Path, variant: str | None) -> dict[str, str]:
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline
    from safetensors.torch import save_file

    pipe = StableDiffusionInpaintPipeline(tokenizer=clip_tokenizer(), scheduler=DDIMScheduler(**SD15_SCHEDULER),
                                          safety_checker=None, feature_extractor=None, image_encoder=None,
                                          requires_safety_checker=False, **models)
    pipe.save_pretrained(root / "pipeline", variant=variant)
    (root / "ip").mkdir(parents=True, exist_ok=True)
    state = ip_adapter_state(models["unet"], CLIP_H_VISION["projection_dim"], models["unet"].dtype)
    save_file(state, str(root / "ip" / "ip.safetensors"))
    return {"model": str(root / "pipeline"), "ip_adapter": str(root / "ip" / "ip.safetensors")}


def _save_ip_encoder(models: dict[str, Any], root: Path, variant: str | None) -> dict[str, str]:
    # diffusers' load_ip_adapter reads the image encoder without a variant: plain file names, in the dtype.
    models["image_encoder"].save_pretrained(root / "ip" / "image_encoder")
    return {}


SAVE: dict[tuple[str, str], Callable[[dict[str, Any], Path, str | None], dict[str, str]]] = {
    ("kandinsky21", "decoder"): _save_decoder,
    ("kandinsky21", "prior"): _save_prior,
    ("sd15", "pipeline"): _save_sd15,
    ("sd15", "ip"): _save_ip_encoder,
}


def ip_adapter_state(unet: Any, image_dim: int, dtype: Any) -> dict[str, Any]:
    """An IP-Adapter state dict in the original file layout for ``unet``: ``image_proj.*`` (image embedding ->
    4 tokens) and ``ip_adapter.<n>.to_{k,v}_ip.weight`` for each cross-attention processor (odd n)."""
    import torch

    width = unet.config.cross_attention_dim
    state = {
        "image_proj.proj.weight": torch.randn(IP_ADAPTER_TOKENS * width, image_dim) * 0.02,
        "image_proj.proj.bias": torch.zeros(IP_ADAPTER_TOKENS * width),
        "image_proj.norm.weight": torch.ones(width),
        "image_proj.norm.bias": torch.zeros(width),
    }
    channels = unet.config.block_out_channels
    key = 1
    for name in unet.attn_processors:
        if name.endswith("attn2.processor"):
            if name.startswith("mid_block"):
                hidden = channels[-1]
            else:
                block = int(name.split(".")[1])
                hidden = channels[block] if name.startswith("down_blocks") else list(reversed(channels))[block]
            for kind in ("to_k_ip", "to_v_ip"):
                state[f"ip_adapter.{key}.{kind}.weight"] = torch.randn(hidden, width) * 0.02
            key += 2
    return {name: tensor.to(dtype).contiguous() for name, tensor in state.items()}

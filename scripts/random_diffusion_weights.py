"""Write a Stable Diffusion 1.5 inpainting pipeline and an IP-Adapter (SD 1.5, ViT-H image encoder) with
*random* weights of the real sizes, for timing the diffusion renderer (e.g. the lookbook's GPU actors) on a
machine that cannot download the real weights. The images it makes are noise; the time per pair is real.

    python scripts/random_diffusion_weights.py OUT [--tiny]
    TRYON_DIFFUSION_MODEL=OUT/pipeline TRYON_DIFFUSION_IP_ADAPTER=OUT/ip/ip-adapter_sd15.safetensors \\
        python -m tryon lookbook --renderer diffusion --people assets/people --garments assets/garments --out o

Sizes follow the public configs: UNet 320/640/1280/1280 channels, 2 layers per block, cross-attention 768,
9 input channels (inpainting); VAE 128/256/512/512; CLIP ViT-L/14 text encoder (12 layers, 768 wide); CLIP
ViT-H/14 image encoder (32 layers, 1280 wide, 1024-d projection); IP-Adapter image projection to 4 tokens.
Saved in float16 (~2.6 GB). ``--tiny`` writes the same layout with small widths (a quick check on a CPU).
Needs only the packages in requirements.txt; nothing is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

TEXT_TOKENS = 77
SD15 = {
    "unet": {"block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2, "cross_attention_dim": 768,
             "attention_head_dim": 8, "sample_size": 64},
    "vae": {"block_out_channels": (128, 256, 512, 512), "layers_per_block": 2, "sample_size": 512},
    "text": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
             "vocab_size": 49408, "projection_dim": 768},
    "image": {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 16,
              "projection_dim": 1024, "image_size": 224, "patch_size": 14},
    "ip_tokens": 4,
}
TINY = {
    "unet": {"block_out_channels": (32, 64, 64, 64), "layers_per_block": 1, "cross_attention_dim": 32,
             "attention_head_dim": 4, "sample_size": 32},
    "vae": {"block_out_channels": (32, 32, 64, 64), "layers_per_block": 1, "sample_size": 256},
    "text": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
             "vocab_size": 1000, "projection_dim": 32},
    "image": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
              "projection_dim": 32, "image_size": 32, "patch_size": 4},
    "ip_tokens": 4,
}
WEIGHT_STD = 0.02  # initialisation scale of the IP-Adapter projections (as a trained model's)


def byte_tokenizer():
    """A CLIP tokenizer with a byte-level vocabulary (every byte a token, no merges): no download."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=TEXT_TOKENS)


def pipeline(sizes: dict):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    unet = UNet2DConditionModel(in_channels=9, out_channels=4, **sizes["unet"])
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        **sizes["vae"])
    tokenizer = byte_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        max_position_embeddings=TEXT_TOKENS, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **sizes["text"]))
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionInpaintPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                          scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                          image_encoder=None, requires_safety_checker=False)


def ip_adapter(unet, sizes: dict, out: Path) -> Path:
    """The image encoder folder and an IP-Adapter weight file in the original layout (image_proj.*,
    ip_adapter.<n>.to_{k,v}_ip.weight for every cross-attention processor n, counted over all processors)."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**sizes["image"])).half()
    encoder.save_pretrained(out / "image_encoder")
    cross, tokens, embed = unet.config.cross_attention_dim, sizes["ip_tokens"], sizes["image"]["projection_dim"]
    weights = {
        "image_proj.proj.weight": torch.randn(tokens * cross, embed) * WEIGHT_STD,
        "image_proj.proj.bias": torch.zeros(tokens * cross),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    channels = unet.config.block_out_channels
    number = 1  # cross-attention processors are the odd ones: 1, 3, 5... (diffusers' conversion counts so)
    for name in unet.attn_processors:
        if not name.endswith("attn2.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name.split(".")[1])]
        else:
            hidden = channels[int(name.split(".")[1])]
        for kind in ("to_k_ip", "to_v_ip"):
            weights[f"ip_adapter.{number}.{kind}.weight"] = torch.randn(hidden, cross) * WEIGHT_STD
        number += 2
    path = out / "ip-adapter_sd15.safetensors"
    save_file({k: v.half().contiguous() for k, v in weights.items()}, str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--tiny", action="store_true", help="small widths, same layout (a quick CPU check)")
    args = parser.parse_args()
    sizes = TINY if args.tiny else SD15
    torch.manual_seed(0)
    pipe = pipeline(sizes)
    params = sum(p.numel() for m in (pipe.unet, pipe.vae, pipe.text_encoder) for p in m.parameters())
    pipe.to(torch.float16).save_pretrained(args.out / "pipeline")
    path = ip_adapter(pipe.unet, sizes, args.out / "ip")
    print(f"wrote {args.out / 'pipeline'} ({params / 1e6:.0f} M parameters without the image encoder) and {path}")
    print(f"TRYON_DIFFUSION_MODEL={args.out / 'pipeline'} TRYON_DIFFUSION_IP_ADAPTER={path}")


if __name__ == "__main__":
    main()

"""`python -m tryon bench --renderer diffusion`: the GPU figures' command, run here on tiny weights on the CPU,
and the random weights of the published sizes it builds for GPU machines that cannot download the real ones.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO
from tiny_diffusion import build_tiny_kandinsky

from tryon.models import random_weights

# Published fp32 files may hold a few tensors more or less than the diffusers model (e.g. position ids).
SIZE_TOLERANCE = 0.01


@pytest.mark.parametrize("recipe", ["kandinsky21", "sd15"])
def test_random_weights_have_the_published_sizes(recipe: str) -> None:
    counts = random_weights.parameter_counts(recipe)
    published = {name: size for (of, name), size in random_weights.PUBLISHED_FP32_BYTES.items() if of == recipe}
    assert published
    for name, size in published.items():
        assert abs(counts[name] * 4 / size - 1) < SIZE_TOLERANCE, (name, counts[name])
    if recipe == "kandinsky21":  # XLM-R Large (a BERT-family encoder) is the text encoder
        assert 550e6 < counts["text_encoder"] < 570e6 and sum(counts.values()) > 3.2e9


def test_random_weights_tokenizers_read_chinese_within_the_vocabulary() -> None:
    tokenizer = random_weights.xlmr_tokenizer()
    ids = tokenizer("一件红色的长袖衬衫").input_ids
    assert tokenizer.unk_token_id not in ids and max(ids) < random_weights.MCLIP["vocab_size"]


@pytest.mark.slow
def test_bench_prints_cold_load_latency_and_peak_memory(tmp_path) -> None:
    weights = build_tiny_kandinsky(tmp_path)
    env = os.environ | {"TRYON_DIFFUSION_MODEL": weights["model"], "TRYON_DIFFUSION_PRIOR": weights["prior"],
                        "TRYON_DIFFUSION_PRIOR_STEPS": "2", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tryon", "bench", "--renderer", "diffusion", "--recipe", "kandinsky21",
         "--device", "cpu", "--size", "64x64", "--steps", "2", "--images", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"cold load .*: \d+\.\d s", out)
    assert re.search(r"per image, photo, from noise \(2 steps\): median \d+\.\d\d s", out)
    assert re.search(r"per image, photo \+ words, refining the warp result \(\d steps\)", out)
    assert "peak memory" in out and "VRAM not measured" in out


@pytest.mark.slow
def test_bench_says_why_the_diffusion_renderer_cannot_run(tmp_path) -> None:
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRYON_DIFFUSION_MODEL": str(tmp_path / "none")}
    done = subprocess.run([sys.executable, "-m", "tryon", "bench", "--renderer", "diffusion", "--device", "cpu"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "cannot run here" in done.stderr and "TRYON_DIFFUSION_MODEL" in done.stderr


def test_real_size_kandinsky_takes_the_shapes_its_loop_feeds_at_768x1024() -> None:
    # On PyTorch's meta device: the real architectures, no memory, no arithmetic; shapes only.
    import torch
    from diffusers import UNet2DConditionModel, VQModel

    text_width, pooled_width = random_weights.MCLIP["hidden_size"], random_weights.MCLIP["imageDimSize"]
    image_width = random_weights.CLIP_L_VISION["projection_dim"]  # the prior's image embedding
    with torch.device("meta"):
        unet = UNet2DConditionModel(**random_weights.KANDINSKY_UNET)
        movq = VQModel(**random_weights.KANDINSKY_MOVQ)
        latents = movq.encode(torch.zeros(1, 3, 1024, 768)).latents
        model_input = torch.zeros(2, unet.config.in_channels, *latents.shape[-2:])  # with guidance: batch 2
        noise = unet(model_input, torch.tensor(999), encoder_hidden_states=torch.zeros(2, 77, text_width),
                     added_cond_kwargs={"text_embeds": torch.zeros(2, pooled_width),
                                        "image_embeds": torch.zeros(2, image_width)}).sample
        image = movq.decode(latents, force_not_quantize=True).sample
    assert latents.shape == (1, 4, 128, 96) and model_input.shape[1] == 2 * latents.shape[1] + 1
    assert noise.shape == (2, 8, 128, 96)  # noise and learned variance
    assert image.shape == (1, 3, 1024, 768)

"""The diffusion renderer, both recipes, end to end on tiny random components saved to disk and loaded by the
real loader (tests/tiny_diffusion.py builds them): 2 steps at 64x64 on the CPU.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_diffusion import (
    SIZE,
    box_mask,
    build_tiny_kandinsky,
    build_tiny_sd15,
    synthetic_body,
    synthetic_garment,
)

from tryon.config import Settings
from tryon.errors import TryOnError
from tryon.models import diffusion as loader
from tryon.stages import diffusion
from tryon.stages.text import GarmentSpec

STEPS = 2
# Mean absolute difference (0-255) inside the mask above which two renders count as different.
DIFFERENT = 1.0
CHINESE = "一件红色的长袖衬衫"


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sd15_weights(tmp_path_factory) -> dict[str, str]:
    return build_tiny_sd15(tmp_path_factory.mktemp("tiny-sd15"), with_controlnet=True)


@pytest.fixture(scope="module")
def kandinsky_weights(tmp_path_factory) -> dict[str, str]:
    return build_tiny_kandinsky(tmp_path_factory.mktemp("tiny-kandinsky"))


@pytest.fixture
def no_download_env(monkeypatch) -> None:
    monkeypatch.delenv("TRYON_DIFFUSION_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def sd15(sd15_weights, no_download_env) -> Settings:
    return Settings(
        device="cpu",
        diffusion_recipe="sd15",
        diffusion_model=sd15_weights["model"],
        diffusion_ip_adapter=sd15_weights["ip_adapter"],
        diffusion_steps=STEPS,
        diffusion_side=SIZE,
    )


@pytest.fixture
def kandinsky(kandinsky_weights, no_download_env) -> Settings:
    return Settings(
        device="cpu",
        diffusion_recipe="kandinsky21",
        diffusion_model=kandinsky_weights["model"],
        diffusion_prior=kandinsky_weights["prior"],
        diffusion_steps=STEPS,
        diffusion_prior_steps=STEPS,
        diffusion_side=SIZE,
    )


def _inside_difference(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16))[mask].mean())


def _recipe(settings: Settings) -> diffusion.Recipe:
    key = loader.PipelineKey.from_settings(settings)
    return diffusion.RECIPE_CLASSES[key.recipe](loader.load_pipeline(key))


def _run(recipe: diffusion.Recipe, *args, **kwargs) -> tuple[np.ndarray, list[diffusion.Progress]]:
    """Drive a recipe's generator: the image and the progress events before it."""
    events = list(recipe(*args, **kwargs))
    *progress, image = events
    assert all(isinstance(event, diffusion.Progress) for event in progress)
    return image, progress


def _spec(text: str, rgb: tuple[int, int, int] = (200, 30, 35)) -> GarmentSpec:
    return GarmentSpec(text=text, category="upper", garment_type="shirt", colours=(("red", rgb),), sleeve="long")


# --------------------------------------------------------------------------------------------------
# Availability and loading
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
@pytest.mark.parametrize("recipe", loader.RECIPES)
def test_unavailable_reason_says_no_gpu_on_this_machine(recipe: str, no_download_env):
    reason = diffusion.unavailable_reason(Settings(diffusion_recipe=recipe))
    assert reason is not None and "GPU" in reason and "CUDA" in reason


def test_unavailable_reason_names_the_missing_kandinsky_weights(kandinsky, tmp_path):
    reason = diffusion.unavailable_reason(Settings(device="cpu"))  # defaults: the published ids, not cached here
    assert reason is not None and "kandinsky-community/kandinsky-2-1-inpaint" in reason
    assert "TRYON_DIFFUSION_MODEL" in reason and "preload_from_hub" in reason
    reason = diffusion.unavailable_reason(dataclasses.replace(kandinsky, diffusion_prior=str(tmp_path / "no-prior")))
    assert reason is not None and "TRYON_DIFFUSION_PRIOR" in reason and "no-prior" in reason
    assert diffusion.unavailable_reason(kandinsky) is None


def test_unavailable_reason_names_the_missing_sd15_weights(sd15, sd15_weights, tmp_path):
    reason = diffusion.unavailable_reason(dataclasses.replace(sd15, diffusion_model="nobody/not-downloaded-inpaint"))
    assert reason is not None and "not-downloaded-inpaint" in reason
    reason = diffusion.unavailable_reason(
        dataclasses.replace(sd15, diffusion_ip_adapter=str(tmp_path / "missing.safetensors"))
    )
    assert reason is not None and "missing.safetensors" in reason and "TRYON_DIFFUSION_IP_ADAPTER" in reason
    reason = diffusion.unavailable_reason(dataclasses.replace(sd15, diffusion_controlnet=str(tmp_path / "no-cn")))
    assert reason is not None and "TRYON_DIFFUSION_CONTROLNET" in reason
    assert diffusion.unavailable_reason(sd15) is None
    with_pose = dataclasses.replace(sd15, diffusion_controlnet=sd15_weights["controlnet"])
    assert diffusion.unavailable_reason(with_pose) is None


def test_unknown_recipe_is_named(no_download_env):
    reason = diffusion.unavailable_reason(Settings(device="cpu", diffusion_recipe="sdxl"))
    assert reason is not None and "sdxl" in reason and "kandinsky21" in reason


def test_downloads_only_when_the_user_sets_the_model_and_not_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRYON_DIFFUSION_MODEL", raising=False)
    assert not loader.downloads_allowed()
    monkeypatch.setenv("TRYON_DIFFUSION_MODEL", "some/inpainting-model")
    assert loader.downloads_allowed()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not loader.downloads_allowed()


def test_multilingual_clip_loads_under_this_transformers_as_diffusers_builds_it(kandinsky):
    # diffusers builds MultilingualCLIP (XLM-RoBERTa + a linear projection) through its own config class.
    from transformers import XLMRobertaModel

    pipe = loader.load_pipeline(loader.PipelineKey.from_settings(kandinsky))
    encoder = pipe.text_encoder
    assert type(encoder).__name__ == "MultilingualCLIP" and isinstance(encoder.transformer, XLMRobertaModel)
    tokens = pipe.tokenizer([CHINESE], padding="max_length", max_length=77, return_tensors="pt")
    pooled, states = encoder(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask)
    assert pooled.shape == (1, pipe.unet.config.cross_attention_dim)
    assert states.shape == (1, 77, pipe.unet.config.encoder_hid_dim)
    assert pipe.tokenizer.unk_token_id not in tokens.input_ids[0].tolist()  # Chinese goes in as characters


def test_loader_returns_the_same_kandinsky_pipeline_twice(kandinsky):
    key = loader.PipelineKey.from_settings(kandinsky)
    first = loader.load_pipeline(key)
    assert loader.load_pipeline(key) is first
    assert type(first).__name__ == "KandinskyInpaintCombinedPipeline"
    assert first.prior_pipe.image_encoder is not None and first.unet.config.in_channels == 9


def test_loader_keeps_one_pipeline_in_memory(kandinsky, sd15):
    kandinsky_key, sd15_key = (loader.PipelineKey.from_settings(s) for s in (kandinsky, sd15))
    first = loader.load_pipeline(kandinsky_key)
    loader.load_pipeline(sd15_key)
    assert loader.loaded_key() == sd15_key
    assert loader.load_pipeline(kandinsky_key) is not first  # the first one was released, then loaded again


def test_two_cold_requests_load_the_pipeline_once(kandinsky):
    loader.release_pipeline()
    key = loader.PipelineKey.from_settings(kandinsky)
    start = threading.Barrier(2)
    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(loader.load_pipeline(key))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 2 and got[0] is got[1]


def test_fp16_weight_files_are_read_with_the_fp16_variant(kandinsky_weights, tmp_path, no_download_env):
    from diffusers import KandinskyInpaintPipeline

    folder = tmp_path / "decoder-fp16"
    pipe = KandinskyInpaintPipeline.from_pretrained(kandinsky_weights["model"], dtype=torch.float16)
    pipe.save_pretrained(folder, variant="fp16")  # only *.fp16.safetensors files: no fp32 file to fall back to
    assert not list(folder.glob("unet/diffusion_pytorch_model.safetensors"))
    key = loader.PipelineKey("kandinsky21", str(folder), prior=kandinsky_weights["prior"], dtype="float16")
    assert loader._load_kwargs(key.model, key)["variant"] == "fp16"
    assert "variant" not in loader._load_kwargs(kandinsky_weights["model"], key)  # no fp16 files: fp32 cast
    on_cpu = dataclasses.replace(key, dtype="float32")  # fp16 files are all it has: read them, cast up
    assert loader._load_kwargs(key.model, on_cpu)["variant"] == "fp16"
    loaded = loader.load_pipeline(key)
    assert loaded.unet.dtype == torch.float16 and loaded.text_encoder.dtype == torch.float16
    loader.release_pipeline()


def test_sd15_loader_wires_the_ip_adapter(sd15):
    recipe = _recipe(sd15)
    assert isinstance(recipe, diffusion.SD15Recipe) and recipe.has_ip_adapter and not recipe.has_controlnet
    assert recipe.pipe.unet.config.in_channels == 9 and recipe.pipe.image_encoder is not None
    processors = {type(p).__name__ for p in recipe.pipe.unet.attn_processors.values()}
    assert any("IPAdapter" in name for name in processors)


def test_loader_refuses_weights_not_on_this_machine(no_download_env):
    with pytest.raises(TryOnError, match="TRYON_DIFFUSION_MODEL"):
        loader.load_pipeline(loader.PipelineKey("sd15", "nobody/not-downloaded-inpaint", ip_adapter="a/b/c.bin"))


def test_loader_refuses_a_text_to_image_checkpoint(sd15_weights, tmp_path, no_download_env):
    from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel

    pipe = StableDiffusionInpaintPipeline.from_pretrained(sd15_weights["model"])
    unet = UNet2DConditionModel.from_config({**pipe.unet.config, "in_channels": 4})
    StableDiffusionInpaintPipeline(**{**pipe.components, "unet": unet}).save_pretrained(tmp_path / "txt2img")
    with pytest.raises(TryOnError, match="not an inpainting model"):
        loader.load_pipeline(
            loader.PipelineKey("sd15", str(tmp_path / "txt2img"), ip_adapter=sd15_weights["ip_adapter"])
        )


# --------------------------------------------------------------------------------------------------
# Masks, prompts, options (no model)
# --------------------------------------------------------------------------------------------------


def test_prepare_mask_covers_the_category_and_keeps_face_and_hands():
    _, body = synthetic_body(128, 96)
    upper = diffusion.prepare_mask(body, "upper")
    lower = diffusion.prepare_mask(body, "lower")
    dress = diffusion.prepare_mask(body, "dress")
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
    user = box_mask(SIZE, SIZE, 0.2, 0.2, 0.5, 0.5)
    assert np.array_equal(diffusion.prepare_mask(body, "upper", user), user)
    with pytest.raises(TryOnError, match="draw"):
        diffusion.prepare_mask(body, "upper", np.zeros((SIZE, SIZE), bool))
    with pytest.raises(TryOnError, match="photo"):
        diffusion.prepare_mask(body, "upper", np.ones((SIZE, SIZE + 1), bool))


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


def test_kandinsky_prompt_keeps_the_description_as_given():
    photo = synthetic_garment((200, 30, 30))
    assert CHINESE in diffusion.kandinsky_prompt(photo, _spec(CHINESE))
    assert "a red short-sleeve top" in diffusion.kandinsky_prompt(photo, None)  # no words: the photo's caption


def test_options_out_of_range_say_which():
    for options, word in ((diffusion.DiffusionOptions(steps=0), "Steps"),
                          (diffusion.DiffusionOptions(prior_steps=500), "Prior steps"),
                          (diffusion.DiffusionOptions(strength=0.0), "Strength"),
                          (diffusion.DiffusionOptions(strength=1.5), "Strength"),
                          (diffusion.DiffusionOptions(guidance=-1.0), "Guidance")):
        with pytest.raises(TryOnError, match=word):
            options.check()
    assert diffusion.DiffusionOptions().guidance_for("kandinsky21") == diffusion.RECIPE_GUIDANCE["kandinsky21"]
    assert diffusion.DiffusionOptions(guidance=7.0).guidance_for("sd15") == 7.0


def test_gpu_duration_grows_with_steps_and_size_within_bounds():
    person, body = synthetic_body(1024, 768)
    mask = diffusion.prepare_mask(body, "upper")
    key = loader.PipelineKey("kandinsky21", "m", prior="p", device="cuda", dtype="float16")

    def seconds(steps: int, side: int, init: bool = False) -> float:
        options = diffusion.DiffusionOptions(steps=steps, side=side, strength=0.5)
        request = diffusion.GenerateRequest(key, person, mask, person if init else None, None, None, "x", "x",
                                            options=options)
        return diffusion.gpu_seconds(request)

    assert seconds(50, 1024) > seconds(25, 1024) > diffusion.GPU_SECONDS_MIN
    assert seconds(50, 1024) > seconds(50, 512)
    assert seconds(50, 1024, init=True) < seconds(50, 1024)  # strength 0.5 runs half the steps
    assert seconds(1, 256) == diffusion.GPU_SECONDS_MIN and seconds(200, 2048) == diffusion.GPU_SECONDS_MAX


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
    mask = box_mask(40, 30, 0.2, 0.2, 0.8, 0.9)
    out = diffusion.paste_inside(person, generated, mask, feather_px=3)
    assert np.array_equal(out[~mask], person[~mask])
    centre = box_mask(40, 30, 0.4, 0.4, 0.6, 0.7)
    assert np.array_equal(out[centre], generated[centre])


# --------------------------------------------------------------------------------------------------
# kandinsky21 on tiny components (CPU, 2 steps, 64x64)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("words", [None, "a red long-sleeve shirt", CHINESE], ids=["photo", "photo+words", "中文"])
def test_kandinsky_render_keeps_shape_dtype_and_every_pixel_outside_the_mask(kandinsky, words):
    person, body = synthetic_body()
    spec = None if words is None else _spec(words)
    result = diffusion.render(person, body, synthetic_garment((200, 30, 30)), spec, kandinsky)
    assert result.image.shape == person.shape and result.image.dtype == np.uint8
    assert np.array_equal(result.edit_mask, diffusion.prepare_mask(body, "upper"))
    assert np.array_equal(result.image[~result.edit_mask], person[~result.edit_mask])
    assert _inside_difference(result.image, person, result.edit_mask) > DIFFERENT
    assert result.garment_mask.dtype == np.bool_ and not (result.garment_mask & ~result.edit_mask).any()


@pytest.mark.slow
def test_kandinsky_description_alone_goes_through_the_prior(kandinsky):
    person, body = synthetic_body()
    garment = synthetic_garment((200, 30, 30))  # stands for a garment synthesized from the words
    # The same words for the text encoder; the parsed colour differs, so only the prior's caption differs.
    red = _spec("一件衬衫", (200, 30, 35))
    specs = [red, dataclasses.replace(red, colours=(("blue", (40, 80, 190)),))]
    outputs = [diffusion.render(person, body, garment, spec, kandinsky, garment_photo=False).image for spec in specs]
    mask = diffusion.prepare_mask(body, "upper")
    assert _inside_difference(outputs[0], outputs[1], mask) > DIFFERENT
    assert np.array_equal(outputs[0][~mask], person[~mask])


def test_kandinsky_image_embedding_comes_from_the_photo_the_words_or_their_interpolation(kandinsky):
    recipe = _recipe(kandinsky)
    garment = synthetic_garment((200, 30, 30))
    with torch.inference_mode():
        photo, photo_negative = recipe.image_embeds(garment.image, garment.mask, "", seed=0)
        words, _ = recipe.image_embeds(None, None, "a red long-sleeve shirt", seed=0, prior_steps=STEPS)
        other_words, _ = recipe.image_embeds(None, None, "a blue denim jacket", seed=0, prior_steps=STEPS)
        mixed, _ = recipe.image_embeds(garment.image, garment.mask, "a red long-sleeve shirt", seed=0,
                                        prior_steps=STEPS)
        zero = recipe.pipe.prior_pipe.get_zero_embed()
    assert photo.shape == words.shape == mixed.shape == (1, recipe.pipe.unet.config.cross_attention_dim)
    assert torch.equal(photo_negative, zero) and not torch.allclose(photo, zero)
    assert not torch.allclose(words, other_words)  # the prior read the caption
    expected = diffusion.PHOTO_WEIGHT * photo + diffusion.TEXT_WEIGHT * words
    assert torch.allclose(mixed, expected, atol=1e-5)  # the prior's interpolation of photo and words


@pytest.mark.slow
def test_kandinsky_render_is_reproducible_with_the_seed(kandinsky):
    person, body = synthetic_body()
    garment = synthetic_garment((30, 160, 60))
    spec = _spec(CHINESE)
    first, second = (diffusion.render(person, body, garment, spec, kandinsky).image for _ in range(2))
    assert np.array_equal(first, second)
    other = diffusion.render(person, body, garment, spec, dataclasses.replace(kandinsky, diffusion_seed=7)).image
    assert not np.array_equal(first, other)


@pytest.mark.slow
def test_kandinsky_garment_photo_and_words_both_reach_the_unet(kandinsky):
    recipe = _recipe(kandinsky)
    person, body = synthetic_body()
    mask = diffusion.prepare_mask(body, "upper")
    options = diffusion.DiffusionOptions(steps=STEPS, side=SIZE, prior_steps=STEPS)
    red, blue = synthetic_garment((200, 30, 30)), synthetic_garment((30, 60, 200))

    def run(garment, prompt: str) -> np.ndarray:
        return _run(recipe, person, mask, garment.image, garment.mask, prompt, options=options)[0]

    assert _inside_difference(run(red, "a shirt"), run(blue, "a shirt"), mask) > DIFFERENT
    assert _inside_difference(run(red, "a shirt"), run(red, CHINESE), mask) > DIFFERENT


@pytest.mark.slow
def test_kandinsky_refines_the_warp_result_in_fewer_steps_with_progress(kandinsky):
    recipe = _recipe(kandinsky)
    person, body = synthetic_body()
    mask = diffusion.prepare_mask(body, "upper")
    garment = synthetic_garment((200, 30, 30))
    options = diffusion.DiffusionOptions(steps=4, strength=0.5, side=SIZE)
    init = person.copy()
    init[mask] = (200, 30, 30)  # a warp result: the new garment painted over the old one
    refined, progress = _run(recipe, person, mask, garment.image, garment.mask, "a red shirt", init=init,
                             options=options)
    assert [(p.step, p.total) for p in progress] == [(1, 2), (2, 2)]  # half of 4 steps, as they happen
    from_noise, progress = _run(recipe, person, mask, garment.image, garment.mask, "a red shirt", options=options)
    assert len(progress) == 4
    assert np.array_equal(refined[~mask], person[~mask])
    assert _inside_difference(refined, from_noise, mask) > DIFFERENT  # the warp result is the start


def test_kandinsky_steps_resumed_on_other_threads_run(kandinsky):
    # A server streams a render's steps from its worker pool: each next() may run on another thread, where grad
    # mode is on again. An inference_mode block around the denoising loop spanned the yields, and the step after
    # a hop raised "Inference tensors cannot be saved for backward" (the app said "Something went wrong").
    from concurrent.futures import ThreadPoolExecutor

    recipe = _recipe(kandinsky)
    person, body = synthetic_body()
    mask = diffusion.prepare_mask(body, "upper")
    garment = synthetic_garment((200, 30, 30))
    steps = recipe(person, mask, garment.image, garment.mask, "a red shirt",
                   options=diffusion.DiffusionOptions(steps=3, side=SIZE))
    events = []
    with ThreadPoolExecutor(max_workers=1) as other:
        for turn in range(10):  # every other event on a fresh thread, the rest here
            step = other.submit(next, steps, None).result() if turn % 2 else next(steps, None)
            if step is None:
                break
            events.append(step)
    *progress, image = events
    assert len(progress) == 3 and all(isinstance(p, diffusion.Progress) for p in progress)
    assert image.shape == person.shape and np.array_equal(image[~mask], person[~mask])


@pytest.mark.slow
def test_kandinsky_render_steps_reports_progress_then_the_composite(kandinsky):
    person, body = synthetic_body()
    events = list(diffusion.render_steps(person, body, synthetic_garment((200, 30, 30)), None, kandinsky))
    assert [type(e).__name__ for e in events] == ["Progress"] * STEPS + ["Composite"]


@pytest.mark.slow
def test_kandinsky_repaints_only_the_users_mask(kandinsky):
    person, body = synthetic_body()
    user = box_mask(SIZE, SIZE, 0.3, 0.25, 0.7, 0.6)
    result = diffusion.render(person, body, synthetic_garment((200, 30, 30)), None, kandinsky, edit_mask=user)
    assert np.array_equal(result.edit_mask, user)
    assert np.array_equal(result.image[~user], person[~user])


# --------------------------------------------------------------------------------------------------
# sd15 on tiny components (CPU, 2 steps, 64x64)
# --------------------------------------------------------------------------------------------------


def test_sd15_render_keeps_shape_and_every_pixel_outside_the_edit_mask(sd15):
    person, body = synthetic_body()
    result = diffusion.render(person, body, synthetic_garment((200, 30, 30)), None, sd15)
    assert result.image.shape == person.shape and result.image.dtype == np.uint8
    assert np.array_equal(result.edit_mask, diffusion.prepare_mask(body, "upper"))
    assert np.array_equal(result.image[~result.edit_mask], person[~result.edit_mask])
    assert _inside_difference(result.image, person, result.edit_mask) > DIFFERENT
    assert set(result.layers) >= {"edit_region", "skin", "background_kept"}


def test_sd15_render_is_reproducible_with_the_fixed_seed(sd15):
    person, body = synthetic_body()
    garment = synthetic_garment((30, 160, 60))
    first, second = (diffusion.render(person, body, garment, None, sd15).image for _ in range(2))
    assert np.array_equal(first, second)


@pytest.mark.slow
def test_sd15_garment_photo_and_prompt_change_the_output(sd15):
    recipe = _recipe(sd15)
    person, body = synthetic_body()
    mask = diffusion.prepare_mask(body, "upper")
    options = diffusion.DiffusionOptions(steps=STEPS, side=SIZE)
    red, blue = synthetic_garment((200, 30, 30)), synthetic_garment((30, 60, 200))

    def run(garment, prompt: str) -> np.ndarray:
        return _run(recipe, person, mask, garment.image, garment.mask, prompt, options=options)[0]

    assert _inside_difference(run(red, "a top"), run(blue, "a top"), mask) > DIFFERENT
    assert _inside_difference(run(red, "a red shirt"), run(red, "a blue denim jacket, white buttons"), mask) > DIFFERENT


@pytest.mark.slow
def test_sd15_refines_the_warp_result_with_step_progress(sd15):
    recipe = _recipe(sd15)
    person, body = synthetic_body()
    mask = diffusion.prepare_mask(body, "upper")
    garment = synthetic_garment((200, 30, 30))
    init = person.copy()
    init[mask] = (200, 30, 30)
    options = diffusion.DiffusionOptions(steps=4, strength=0.5, side=SIZE)
    refined, progress = _run(recipe, person, mask, garment.image, garment.mask, "a red top", init=init,
                             options=options)
    assert [p.step for p in progress] == [1, 2] and {p.total for p in progress} == {2}
    assert np.array_equal(refined[~mask], person[~mask])


@pytest.mark.slow
def test_sd15_pose_controlnet_pipeline_renders(sd15, sd15_weights):
    person, body = synthetic_body()
    with_pose = dataclasses.replace(sd15, diffusion_controlnet=sd15_weights["controlnet"])
    result = diffusion.render(person, body, synthetic_garment((200, 30, 30), "dress"), None, with_pose)
    assert _recipe(with_pose).has_controlnet
    assert np.array_equal(result.image[~result.edit_mask], person[~result.edit_mask])
    assert result.edit_mask[body.regions["shin_left"]].all()


def test_a_failing_step_reaches_the_caller_as_its_error(sd15):
    recipe = _recipe(sd15)
    person, body = synthetic_body()
    mask = diffusion.prepare_mask(body, "upper")
    garment = synthetic_garment((200, 30, 30))
    with pytest.raises(ValueError, match="strength"):  # diffusers refuses it inside the worker thread
        _run(recipe, person, mask, garment.image, garment.mask, "a top", init=person,
             options=diffusion.DiffusionOptions(steps=STEPS, strength=1.5, side=SIZE))


# --------------------------------------------------------------------------------------------------
# Through the app's pipeline, and on a GPU when there is one
# --------------------------------------------------------------------------------------------------


@pytest.mark.eval
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
@pytest.mark.parametrize("recipe", ["kandinsky21", "sd15"])
def test_renders_on_cuda_in_fp16_at_512x384(recipe, kandinsky, sd15, capsys):
    height, width = 512, 384
    person, body = synthetic_body(height, width)
    base = kandinsky if recipe == "kandinsky21" else sd15
    cuda = dataclasses.replace(base, device="cuda", diffusion_steps=20, diffusion_side=512)
    garment = synthetic_garment((200, 30, 30))
    pipe = loader.load_pipeline(loader.PipelineKey.from_settings(cuda))
    assert pipe.unet.dtype == torch.float16
    diffusion.render(person, body, garment, None, cuda)  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = diffusion.render(person, body, garment, None, cuda)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    assert np.array_equal(result.image[~result.edit_mask], person[~result.edit_mask])
    assert np.isfinite(result.image.astype(np.float32)).all() and result.image[result.edit_mask].std() > 1
    with capsys.disabled():
        print(f"\n{recipe} cuda fp16 {width}x{height}, 20 steps: {seconds:.2f} s, "
              f"peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


def test_tiny_weights_folder_layout_is_what_the_loader_reads(kandinsky_weights):
    decoder, prior = Path(kandinsky_weights["model"]), Path(kandinsky_weights["prior"])
    for part in ("unet", "movq", "text_encoder", "tokenizer", "scheduler"):
        assert (decoder / part).is_dir(), part
    for part in ("prior", "image_encoder", "text_encoder", "tokenizer", "scheduler", "image_processor"):
        assert (prior / part).is_dir(), part

"""Instant preview, then refine: the warp result at once, the diffusion result replacing it when ready.

Real MediaPipe on an eval photo, tiny random Kandinsky weights on the CPU (tests/tiny_diffusion.py), the real
Gradio server through gradio_client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from conftest import EVAL_DIR
from gradio_client import Client, handle_file
from PIL import Image
from tiny_diffusion import SIZE, build_tiny_kandinsky

from tryon import pipeline
from tryon.config import Settings
from tryon.ui import refine

PERSON = EVAL_DIR / "person/vitonhd_00034_00.jpg"
GARMENT = EVAL_DIR / "garment/vitonhd_09176_00.jpg"
STEPS = 2

pytestmark = pytest.mark.eval


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Settings:
    weights = build_tiny_kandinsky(tmp_path_factory.mktemp("tiny-kandinsky"))
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        renderer="diffusion",
        device="cpu",
        diffusion_model=weights["model"],
        diffusion_prior=weights["prior"],
        diffusion_steps=4,
        diffusion_prior_steps=STEPS,
        diffusion_strength=0.5,
        diffusion_side=SIZE,
    )


@pytest.fixture(autouse=True)
def offline(monkeypatch) -> None:
    monkeypatch.delenv("TRYON_DIFFUSION_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_progressive_try_on_yields_the_warp_preview_then_steps_then_the_refined_result(tiny):
    events = list(pipeline.try_on_progressive(PERSON, GARMENT, "一件粉色的长袖衬衫", settings=tiny))
    preview, *steps, refined = events
    assert preview.renderer == "warp" and refined.renderer == "diffusion"
    assert [(s.step, s.total) for s in steps] == [(1, 2), (2, 2)]  # 4 steps at strength 0.5
    assert refined.image.shape == preview.image.shape and refined.image.dtype == np.uint8
    assert (refined.edit_mask | ~preview.edit_mask).all()  # the refined area covers what the preview changed
    outside = ~refined.edit_mask
    assert np.array_equal(refined.image[outside], refined.person[outside])
    assert not np.array_equal(refined.image, preview.image)
    assert "diffusion" in refined.timings and refined.check is not None  # the refined picture is checked again


def test_progressive_try_on_without_a_gpu_keeps_the_preview_and_says_why():
    events = list(pipeline.try_on_progressive(PERSON, GARMENT, settings=Settings(device="auto")))
    assert len(events) == 2
    preview, final = events
    assert np.array_equal(preview.image, final.image) and final.renderer == "warp"
    assert any("Used the warp renderer" in note and "GPU" in note for note in final.notes)


def test_handler_feeds_the_progress_bar_from_the_denoising_steps_and_keeps_the_preview(tiny):
    def present(result, *request, notes, params):
        return result.renderer, notes, params

    handler = refine.progressive_handler(present, tiny)
    outputs = list(handler(str(PERSON), str(GARMENT), "", "auto", "diffusion", 4, 0, 0.5, 3))
    preview, step1, step2, refined = outputs
    assert preview[:2] == ("warp", (refine.REFINING_NOTE,)) and "<progress>" in preview[3]
    for step, number in ((step1, 1), (step2, 2)):
        assert all(isinstance(value, type(gr.skip())) for value in step[:3])  # the slider keeps the preview
        assert f"value='{number}' max='2'" in step[3] and f"step {number} of 2" in step[3]
    assert refined[:2] == ("diffusion", ()) and refined[3] == ""
    assert refined[2]["diffusion_options"]["seed"] == 3  # the Advanced panel's values are recorded


def test_advanced_panel_values_become_the_options(tiny):
    options = refine.options_from(tiny, 30, 6.5, 0.4, 11)
    assert (options.steps, options.guidance, options.strength, options.seed) == (30, 6.5, 0.4, 11)
    assert refine.options_from(tiny, None, None, None, None).steps == tiny.diffusion_steps


def test_diffusion_choice_is_disabled_with_its_reason_where_it_cannot_run(tiny):
    radio, *controls = refine.renderer_update(Settings(device="auto"))
    assert radio.interactive is False and radio.value == "warp"
    assert "unavailable" in radio.info and "GPU" in radio.info
    assert all(control.get("interactive") is False for control in controls)
    radio, *controls = refine.renderer_update(tiny)
    assert radio.interactive is True and all(control.get("interactive") for control in controls)


# --------------------------------------------------------------------------------------------------
# The running app (gradio_client)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tiny) -> Iterator[str]:
    from tryon.ui.app import build_demo, launch_kwargs

    demo = build_demo(tiny)
    demo.launch(**(launch_kwargs(tiny) | {"server_port": None, "prevent_thread_lock": True, "quiet": True}))
    try:
        yield demo.local_url
    finally:
        demo.close()


def _after(output: tuple) -> np.ndarray:
    return np.asarray(Image.open(output[0][1]).convert("RGB"))


def test_app_shows_the_warp_result_then_replaces_it_with_the_refined_one(server):
    client = Client(server, verbose=False)
    job = client.submit(handle_file(str(PERSON)), handle_file(str(GARMENT)), "", "auto", "diffusion",
                        4, 0, 0.5, 0, api_name="/tryon")
    final = job.result(timeout=300)
    preview, *steps, _ = job.outputs()
    assert "Refining" in preview[2] and "Refining" not in final[2]  # the notes
    assert preview[4] != final[4]  # each result is held under its own token (flag the one you see)
    assert [output[-1].count("<progress value=") for output in steps] == [1, 1]  # a bar per denoising step
    assert final[-1] == ""
    assert not np.array_equal(_after(preview), _after(final))
    before = np.asarray(Image.open(final[0][0]).convert("RGB"))
    assert before.shape == _after(final).shape


def test_app_warp_request_still_answers_with_one_result(server):
    client = Client(server, verbose=False)
    job = client.submit(handle_file(str(PERSON)), handle_file(str(GARMENT)), "", "auto", "warp", api_name="/tryon")
    final = job.result(timeout=300)
    assert len(job.outputs()) == 1 and Path(final[0][1]).is_file()

"""Instant preview, then refine: the UI side of the diffusion renderer (issue 14).

With the diffusion renderer selected, Try on shows the warp result at once and replaces it with the diffusion
result when that is ready (a generator handler over :func:`tryon.pipeline.try_on_progressive`), with a
progress bar under the before/after slider fed by the denoising steps (the slider keeps showing the preview
meanwhile). The Advanced panel offers steps, guidance, strength and seed. Where diffusion cannot run (no GPU,
no weights), its choice is shown disabled with the one-line reason.

Importing this module registers the one GPU function (:data:`GPU_FUNCTION`, ``spaces.GPU`` on ZeroGPU): Gradio
reports it to the GPU scheduler only if it exists when ``launch()`` runs.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from .. import pipeline
from ..config import Settings

# The one @spaces.GPU function, registered at import (before the UI is built and launched).
GPU_FUNCTION = pipeline.gpu_entry_point()

RENDERERS = ("warp", "diffusion")
RENDERER_INFO = "warp: instant, any CPU · diffusion: refines the warp result on a GPU (a few seconds)"
REFINING_NOTE = "Refining with the diffusion renderer… the image updates when it is done."
PROGRESS_LABEL = "Refining"
PROGRESS_STYLE = "display:flex; align-items:center; gap:8px; font-size:13px; min-height:24px"
# Advanced panel ranges.
STEPS_RANGE = (1, 50)
GUIDANCE_RANGE = (0.0, 10.0)  # 0: the model's own guidance
STRENGTH_RANGE = (0.1, 1.0)
SEED_MAX = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class AdvancedControls:
    """The Advanced panel's components, in the order the handlers take them."""

    steps: gr.Slider
    guidance: gr.Slider
    strength: gr.Slider
    seed: gr.Number

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.steps, self.guidance, self.strength, self.seed]


def build_renderer_radio(settings: Settings) -> gr.Radio:
    """The renderer choice. Its availability note comes after the page loads (:func:`renderer_update`): the
    check imports torch, too slow for the page's first paint."""
    return gr.Radio(list(RENDERERS), value=settings.renderer, label="Renderer", info=RENDERER_INFO,
                    elem_id="renderer")


def build_advanced_controls(settings: Settings) -> AdvancedControls:
    """Steps, guidance, strength and seed of the diffusion renderer; call inside the Advanced accordion."""
    # One control per line: the Advanced panel sits in the narrow input column.
    steps = gr.Slider(*STEPS_RANGE, value=settings.diffusion_steps, step=1, label="Steps",
                      info="diffusion: more steps, finer detail, slower", elem_id="diffusion-steps")
    guidance = gr.Slider(*GUIDANCE_RANGE, value=settings.diffusion_guidance, step=0.5, label="Guidance",
                         info="0: the model's own; higher follows the words more", elem_id="diffusion-guidance")
    strength = gr.Slider(*STRENGTH_RANGE, value=settings.diffusion_strength, step=0.05, label="Strength",
                         info="how far it may move from the instant preview (1: paint anew)",
                         elem_id="diffusion-strength")
    seed = gr.Number(value=settings.diffusion_seed, precision=0, minimum=0, maximum=SEED_MAX, label="Seed",
                     info="same seed, same image", elem_id="diffusion-seed")
    return AdvancedControls(steps, guidance, strength, seed)


def renderer_update(settings: Settings) -> tuple[Any, ...]:
    """Updates for the renderer radio and the Advanced controls: diffusion disabled with its one-line reason
    where it cannot run here, else enabled."""
    reason = pipeline.diffusion_unavailable(settings)
    if reason is None:
        return (gr.Radio(interactive=True, info=RENDERER_INFO), *[gr.update(interactive=True)] * 4)
    radio = gr.Radio(value="warp", interactive=False, info=f"diffusion is unavailable here: {reason}.")
    return (radio, *[gr.update(interactive=False)] * 4)


def options_from(settings: Settings, steps: float | None, guidance: float | None, strength: float | None,
                 seed: float | None) -> Any:
    """The diffusion options from the Advanced panel's values (an empty field keeps the setting)."""
    return pipeline.diffusion_options(
        settings,
        steps=None if steps is None else int(steps),
        guidance=None if guidance is None else float(guidance),
        strength=None if strength is None else float(strength),
        seed=None if seed is None else int(seed),
    )


def build_progress() -> gr.HTML:
    """The refine's progress bar; call it under the before/after slider, and add it last to the outputs."""
    return gr.HTML("", elem_id="refine-progress")


def progress_html(step: int | None = None, total: int | None = None) -> str:
    """A progress bar for the refinement: indeterminate before the first step, then step of total."""
    if step is None or not total:
        bar, label = "<progress></progress>", f"{PROGRESS_LABEL}…"
    else:
        bar, label = f"<progress value='{step}' max='{total}'></progress>", f"{PROGRESS_LABEL}: step {step} of {total}"
    return f"<div class='refine-progress' style='{PROGRESS_STYLE}'>{bar}<span>{html.escape(label)}</span></div>"


Present = Callable[..., tuple[Any, ...]]


def progressive_handler(present: Present, settings: Settings, with_mask: bool = False) -> Callable[..., Iterator]:
    """The Try on handler: the app's outputs plus the progress bar's HTML (:func:`build_progress`).

    For warp, one result. For diffusion, the warp preview at once; then, per denoising step, only the progress
    bar changes (every other output is skipped, so the slider keeps the preview); then the refined result.

    Args:
        present: ``present(result, person, garment, description, category, renderer, edit_mask, notes, params)``
            -> the app's output tuple for a :class:`tryon.pipeline.TryOnResult`.
        settings: the app's settings.
        with_mask: the handler takes a corrected edit mask (bool ``(H, W)``) as its last input.
    """

    def handler(person, garment, description, category, renderer, steps, guidance, strength, seed,
                *mask) -> Iterator[tuple[Any, ...]]:
        from ..errors import TryOnError

        if not person:
            raise TryOnError("Upload a photo of yourself first (or pick one of the examples below).")
        edit_mask = mask[0] if with_mask and mask else None
        request = (person, garment, description, category, renderer, edit_mask)
        if renderer != "diffusion":
            result = pipeline.try_on(person, garment or None, description or None, category=category,
                                     renderer=renderer, edit_mask=edit_mask, settings=settings)
            yield (*present(result, *request, notes=(), params={}), "")
            return
        options = options_from(settings, steps, guidance, strength, seed)
        params = {"diffusion_options": dataclasses.asdict(options)}
        events = pipeline.try_on_progressive(person, garment or None, description or None, category=category,
                                             edit_mask=edit_mask, settings=settings, options=options)
        unchanged: tuple[Any, ...] = ()
        for event in events:
            if isinstance(event, pipeline.RefineProgress):
                yield (*unchanged, progress_html(event.step, event.total))
            elif not unchanged:  # the preview
                outputs = present(event, *request, notes=(REFINING_NOTE,), params=params)
                unchanged = tuple(gr.skip() for _ in outputs)
                yield (*outputs, progress_html())
            else:  # the refined result
                yield (*present(event, *request, notes=(), params=params), "")

    return handler

"""The Gradio Blocks UI: layout and wiring only; every result comes from :func:`tryon.pipeline.try_on`.

The only module (with :mod:`tryon.ui_review`) that imports gradio. ``build_demo()`` is
testable without the models: nothing loads until the first request.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from . import __version__
from .config import Settings, get_settings
from .errors import TryOnError
from .ui_components import PhotoInput

LOG = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parents[1] / "assets"
PEOPLE_DIR = ASSETS / "people"
GARMENTS_DIR = ASSETS / "garments"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Brush colours of the mask editor: paint green to add to the edit area, red to remove from it.
ADD_COLOUR = "#22c55e"
REMOVE_COLOUR = "#ef4444"
EDIT_OVERLAY_RGB = (59, 130, 246)
GALLERY_RESULTS = 12
DESCRIPTION_PLACEHOLDER = "e.g. a red long-sleeve shirt · 一件蓝色的牛仔裤 · make it navy, short sleeves"
INTERNAL_ERROR = (
    "Something went wrong on our side while rendering (the error was logged). "
    "Try again, or try another photo."
)
CSS = """
.chips {display:flex; flex-wrap:wrap; gap:6px; min-height:28px}
.chip {border:1px solid #d4d4d8; border-radius:999px; padding:2px 10px; font-size:13px}
.swatch {display:inline-block; width:12px; height:12px; border-radius:3px; margin-right:4px;
         vertical-align:-1px; border:1px solid #0003}
"""


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn TryOnError into gr.Error with its message; anything else into a short apology."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except TryOnError as exc:
            raise gr.Error(str(exc)) from exc
        except Exception as exc:
            LOG.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(INTERNAL_ERROR) from exc

    return wrapper


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


@functools.lru_cache(maxsize=1)
def _catalog(catalog_folder: str) -> Any:
    """The garment gallery's search index, built once per process."""
    from .search import build_catalog_index

    folders = [GARMENTS_DIR] + ([Path(catalog_folder)] if catalog_folder else [])
    return build_catalog_index(folders)


def _timings_markdown(timings: dict[str, float], cached: bool) -> str:
    rows = "\n".join(f"| {name} | {seconds * 1000:.0f} ms |" for name, seconds in timings.items())
    note = " (person analysis from cache)" if cached else ""
    return f"| stage | time |\n|---|---|\n{rows}\n\n{note}"


def _chips_html(description: str) -> str:
    """The 'understood as' chips for a description (empty when there is none)."""
    if not description or not description.strip():
        return "<div class='chips'></div>"
    from .text import parse

    try:
        spec = parse(description)
    except TryOnError as exc:
        return f"<div class='chips'><span class='chip'>{html.escape(str(exc))}</span></div>"
    chips = []
    for label, value in spec.summary():
        swatch = ""
        if label == "colour" and spec.colours:
            r, g, b = spec.colours[0][1]
            swatch = f"<span class='swatch' style='background:rgb({r},{g},{b})'></span>"
        chips.append(f"<span class='chip'>{swatch}{html.escape(label)}: {html.escape(str(value))}</span>")
    return "<div class='chips'>" + "".join(chips) + "</div>"


def _consistency_markdown(consistency: dict[str, Any]) -> str:
    if not consistency:
        return ""
    score = consistency.get("score")
    sentence = consistency.get("summary", "")
    head = f"**Matches the description: {score:.0%}**" if isinstance(score, (int, float)) else ""
    return f"{head} {sentence}".strip()


def _editor_value(person: np.ndarray, edit_mask: np.ndarray) -> dict[str, Any]:
    """Background for the mask editor: the photo with the automatic edit area tinted."""
    from .visualize import overlay_mask

    return {"background": overlay_mask(person, edit_mask, EDIT_OVERLAY_RGB), "layers": [], "composite": None}


def _mask_from_editor(editor: dict[str, Any] | None, auto_mask: np.ndarray) -> np.ndarray:
    """The corrected edit mask: automatic area, plus green strokes, minus red strokes.

    ``editor`` is gr.ImageEditor's value; its layers are RGBA ``(H, W, 4)`` uint8 arrays.
    """
    mask = auto_mask.copy()
    if not editor:
        return mask
    add = np.array([int(ADD_COLOUR[i : i + 2], 16) for i in (1, 3, 5)])
    remove = np.array([int(REMOVE_COLOUR[i : i + 2], 16) for i in (1, 3, 5)])
    for layer in editor.get("layers") or []:
        layer = np.asarray(layer)
        if layer.ndim != 3 or layer.shape[:2] != mask.shape or layer.shape[2] < 4:
            continue
        painted = layer[..., 3] > 0
        rgb = layer[..., :3].astype(np.int32)
        is_add = np.abs(rgb - add).sum(-1) < np.abs(rgb - remove).sum(-1)
        mask |= painted & is_add
        mask &= ~(painted & ~is_add)
    return mask


def _analysis_images(result: Any) -> list[tuple[np.ndarray, str]]:
    from .visualize import draw_pose, draw_regions, overlay_mask

    return [
        (draw_pose(result.person, result.body), "pose"),
        (draw_regions(result.person, result.body), "body regions"),
        (overlay_mask(result.person, result.edit_mask, EDIT_OVERLAY_RGB), "edit area"),
        (overlay_mask(result.garment_image, result.garment.mask, EDIT_OVERLAY_RGB), "garment mask"),
    ]


def _render(
    person: str | None,
    garment: str | None,
    description: str,
    category: str,
    renderer: str,
    edit_mask: np.ndarray | None,
) -> tuple[Any, ...]:
    from .pipeline import try_on

    if not person:
        raise TryOnError("Upload a photo of yourself first (or pick one of the examples).")
    result = try_on(person, garment or None, description or None, category=category, renderer=renderer,
                    edit_mask=edit_mask)
    notes = "\n".join(f"- {note}" for note in result.notes)
    state = {
        "result": result,
        "result_id": uuid.uuid4().hex,
        "params": {"category": category, "renderer": result.renderer, "requested_renderer": renderer,
                   "edit_mask": edit_mask, "version": __version__},
        "person_path": person,
        "garment_path": garment or None,
        "description": description or "",
    }
    return (
        (result.person, result.image),
        _analysis_images(result),
        _timings_markdown(result.timings, result.cached_body),
        notes,
        _consistency_markdown(result.consistency),
        state,
        _editor_value(result.person, result.edit_mask),
    )


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    """Build the Blocks app. Nothing heavy happens here: models load on the first request."""
    from .annotations import prepare_data_dir
    from .ui_review import build_flag_panel, build_review_tab

    settings = settings or get_settings()
    prepare_data_dir(settings)
    people = _image_files(PEOPLE_DIR)
    garments = _image_files(GARMENTS_DIR)

    @_user_errors
    def on_try(person, garment, description, category, renderer):
        return _render(person, garment, description, category, renderer, None)

    @_user_errors
    def on_rerun(person, garment, description, category, renderer, editor, state):
        if not state or "result" not in state:
            raise TryOnError("Press Try on first, then correct the area and re-run.")
        mask = _mask_from_editor(editor, state["result"].edit_mask)
        return _render(person, garment, description, category, renderer, mask)

    @_user_errors
    def on_search(query):
        if not query or not query.strip():
            return [(str(p), p.stem) for p in garments], [str(p) for p in garments]
        hits = _catalog(settings.catalog).search(query, k=GALLERY_RESULTS)
        return [(str(item.path), item.caption) for item, _ in hits], [str(item.path) for item, _ in hits]

    def on_pick(paths, evt: gr.SelectData):
        return paths[evt.index] if paths and evt.index is not None and evt.index < len(paths) else None

    with gr.Blocks(title="tryon", delete_cache=(settings.cache_ttl_s, settings.cache_ttl_s)) as demo:
        gr.Markdown(
            "# tryon: see yourself in it\n"
            "Upload a photo of yourself, pick or upload a garment and/or describe one "
            "(English or 中文), then press **Try on**."
        )
        result_state = gr.State()
        gallery_paths = gr.State([str(p) for p in garments])
        with gr.Tab("Try on"):
            with gr.Row():
                with gr.Column(scale=1):
                    person = PhotoInput(label="You", type="filepath", sources=["upload", "webcam", "clipboard"],
                                      height=380)
                    description = gr.Textbox(label="Describe a garment (optional)",
                                             placeholder=DESCRIPTION_PLACEHOLDER, lines=2)
                    chips = gr.HTML("<div class='chips'></div>", label="Understood as")
                    category = gr.Radio(["auto", "upper", "lower", "dress"], value="auto", label="Category")
                    with gr.Accordion("Advanced", open=False):
                        renderer = gr.Radio(["warp", "diffusion"], value=settings.renderer, label="Renderer",
                                            info="diffusion needs a GPU and weights; otherwise warp is used")
                    button = gr.Button("Try on", variant="primary")
                with gr.Column(scale=1):
                    garment = PhotoInput(label="Garment photo (upload, or pick below)", type="filepath",
                                       sources=["upload", "clipboard"], height=300)
                    search = gr.Textbox(label="Search the catalog", placeholder="striped long sleeve · 黑色连衣裙")
                    gallery = gr.Gallery(value=[(str(p), p.stem) for p in garments], label="Garments",
                                         columns=4, height=240, allow_preview=False)
                with gr.Column(scale=1):
                    slider = gr.ImageSlider(label="Before / after", type="numpy", height=520, elem_id="result-slider")
                    consistency = gr.Markdown()
                    notes = gr.Markdown()
                    build_flag_panel(result_state, settings)
            with gr.Accordion("Correct the edit area", open=False):
                gr.Markdown("Paint **green** to add to the area the renderer may change, **red** to remove "
                            "from it, then re-run.")
                editor = gr.ImageEditor(type="numpy", label="Edit area", sources=(), layers=False,
                                        brush=gr.Brush(colors=[ADD_COLOUR, REMOVE_COLOUR], color_mode="fixed"),
                                        eraser=gr.Eraser(), height=520)
                rerun = gr.Button("Re-run with my corrections")
            with gr.Accordion("Analysis and timings", open=False):
                analysis = gr.Gallery(label="Analysis", columns=4, height=300)
                timings = gr.Markdown()
            gr.Examples(
                examples=[
                    [str(people[0]), str(garments[0]) if garments else None, "", "auto"],
                    [str(people[1 % len(people)]), None, "一件蓝色的牛仔裤", "auto"],
                    [str(people[2 % len(people)]), None, "a red long-sleeve shirt", "auto"],
                    [str(people[3 % len(people)]), str(garments[2 % len(garments)]), "make it navy", "auto"],
                ] if people else [],
                inputs=[person, garment, description, category],
            )
        with gr.Tab("Review"):
            build_review_tab(settings)

        outputs = [slider, analysis, timings, notes, consistency, result_state, editor]
        button.click(on_try, [person, garment, description, category, renderer], outputs, api_name="tryon")
        rerun.click(on_rerun, [person, garment, description, category, renderer, editor, result_state], outputs,
                    api_name="tryon_with_mask")
        description.change(_chips_html, description, chips, api_name="understand", show_progress="hidden",
                           trigger_mode="always_last")
        search.change(on_search, search, [gallery, gallery_paths], api_name="search", trigger_mode="always_last")
        gallery.select(on_pick, gallery_paths, garment, api_visibility="private")
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return demo


def launch_kwargs(settings: Settings | None = None) -> dict[str, Any]:
    """Arguments for ``demo.launch()``: host/port from GRADIO_SERVER_NAME/PORT, CSS, limits."""
    settings = settings or get_settings()
    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        "css": CSS,
        "max_file_size": "20mb",
        "theme": gr.themes.Soft(),
    }

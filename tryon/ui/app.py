"""The Gradio Blocks UI: layout and wiring only; every result comes from :func:`tryon.pipeline.try_on`.

The only module (with :mod:`tryon.ui.review_tab`) that imports gradio. ``build_demo()`` is
testable without the models: nothing loads until the first request, or until :func:`launch`
starts :func:`warm_up` in a background thread.
"""

from __future__ import annotations

import contextlib
import functools
import html
import inspect
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from .. import __version__
from ..config import Settings, get_settings
from ..errors import TryOnError
from . import refine
from .components import PhotoInput
from .review_tab import RENDER_CONCURRENCY_ID

LOG = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parents[2] / "assets"  # the repository's assets/ folder
PEOPLE_DIR = ASSETS / "people"
GARMENTS_DIR = ASSETS / "garments"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Example rows: (person file in assets/people, garment file in assets/garments or None, description).
# The example people are VITON-HD upper-body photos, so every example dresses the upper body.
EXAMPLES = (
    ("vitonhd_00034_00.jpg", "vitonhd_00151_00.jpg", ""),
    ("vitonhd_00055_00.jpg", None, "一件黄色的短袖T恤"),
    ("vitonhd_05997_00.jpg", None, "a red long-sleeve shirt"),
    ("vitonhd_01992_00.jpg", "vitonhd_09176_00.jpg", "make it navy"),
)
# Brush colours of the mask editor: paint green to add to the edit area, red to remove from it.
ADD_COLOUR = "#22c55e"
REMOVE_COLOUR = "#ef4444"
EDIT_OVERLAY_RGB = (59, 130, 246)
GALLERY_RESULTS = 12
# Gradio's thumbnails are at least 100 px wide: 3 fit the middle column of a laptop-wide page.
GALLERY_COLUMNS = 3
GALLERY_HEIGHT = 360  # px, three rows; a larger catalog scrolls
ANALYSIS_HEIGHT = 320  # px
MAX_UPLOAD = "20mb"
DESCRIPTION_PLACEHOLDER = "e.g. a red long-sleeve shirt · 一件黄色的短袖T恤 · make it navy, short sleeves"
# With a garment photo, what the description leaves open comes from the photo.
UNSAID = "could not tell"
FROM_PHOTO = "from the photo"
INTERNAL_ERROR = (
    "Something went wrong on our side while rendering (the error was logged). "
    "Try again, or try another photo."
)
CSS = """
.chips {display:flex; flex-wrap:wrap; align-items:center; gap:6px; min-height:28px}
.chips-title {font-size:13px; opacity:.7; margin-right:2px}
.chip {border:1px solid #d4d4d8; border-radius:999px; padding:2px 10px; font-size:13px}
.chip.unsure {border-style:dashed; opacity:.75}
.chips-note {flex-basis:100%; font-size:12px; opacity:.75}
.swatch {display:inline-block; width:12px; height:12px; border-radius:3px; margin-right:4px;
         vertical-align:-1px; border:1px solid #0003}
"""


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn TryOnError into gr.Error with its message; anything else into a short apology.

    A TryOnError is the user's to fix, not a server fault: it is logged on one line, without
    Gradio's traceback. Generator handlers (instant preview, then refine) are wrapped as generators.
    """

    @contextlib.contextmanager
    def converted() -> Iterator[None]:
        try:
            yield
        except gr.Error:
            raise
        except TryOnError as exc:
            LOG.info("%s refused: %s", fn.__name__, exc)
            raise gr.Error(str(exc), print_exception=False) from exc
        except Exception as exc:
            LOG.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(INTERNAL_ERROR) from exc

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with converted():
                yield from fn(*args, **kwargs)

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with converted():
            return fn(*args, **kwargs)

    return wrapper


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def _catalog_folders(catalog_folder: str) -> list[Path]:
    return [GARMENTS_DIR] + ([Path(catalog_folder)] if catalog_folder else [])


def _gallery_entries(catalog_folder: str) -> list[tuple[str, str]]:
    """``(path, caption)`` of every catalog photo, unranked (sidecar captions; no model needed)."""
    from ..stages.search import read_folder

    seen: set[Path] = set()
    entries = []
    for folder in _catalog_folders(catalog_folder):
        for path, caption, _ in read_folder(folder):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                entries.append((str(path), caption))
    return entries


@functools.lru_cache(maxsize=1)
def _catalog(catalog_folder: str) -> Any:
    """The garment gallery's search index, built once per process."""
    from ..stages.search import build_catalog_index

    return build_catalog_index(_catalog_folders(catalog_folder))


def _example_rows() -> list[list[Any]]:
    rows = []
    for person, garment, description in EXAMPLES:
        person_path = PEOPLE_DIR / person
        garment_path = GARMENTS_DIR / garment if garment else None
        if person_path.is_file() and (garment_path is None or garment_path.is_file()):
            rows.append([str(person_path), str(garment_path) if garment_path else None, description, "auto"])
    return rows


def warm_up(settings: Settings) -> None:
    """Load what the first request would otherwise wait for (~3 s on 2 cores).

    The text encoder and its prototype phrases, the MediaPipe graphs (by analysing the example
    people, which also caches their analyses), the catalog index and the renderer check. Each
    step is independent: a failure is logged and the request that needs it retries.
    """
    from ..pipeline import analyze_person, diffusion_unavailable
    from ..stages import text
    from ..stages.intake import load_image

    def people() -> None:
        for row in _example_rows():
            analyze_person(load_image(row[0], what="example photo"))

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("text encoder", text.warm_up),
        ("MediaPipe", people),
        ("catalog", lambda: _catalog(settings.catalog)),
        ("renderer check", lambda: diffusion_unavailable(settings)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception:  # warming is best effort: the request that needs the step reports errors
            LOG.exception("warm-up step %r failed", name)
    LOG.info("warm-up done")


def start_warm_up(settings: Settings | None = None) -> threading.Thread:
    """Run :func:`warm_up` in a daemon thread (the server answers meanwhile)."""
    thread = threading.Thread(target=warm_up, args=(settings or get_settings(),), name="tryon-warm-up",
                              daemon=True)
    thread.start()
    return thread


def _timings_markdown(timings: dict[str, float], cached: bool) -> str:
    rows = "\n".join(
        f"| {'**total**' if name == 'total' else name} | {seconds * 1000:.0f} ms |" for name, seconds in timings.items()
    )
    note = "Person analysis came from the cache (same photo as before)." if cached else ""
    return f"| stage | time |\n|---|--:|\n{rows}\n\n{note}"


def _chips_html(description: str | None, garment: str | None = None) -> str:
    """The 'understood as' chips for a description (empty when there is none).

    With a garment photo, attributes the description leaves open come from the photo.
    """
    if not description or not description.strip():
        return "<div class='chips'></div>"
    from ..stages.text import parse

    try:
        spec = parse(description)
    except TryOnError as exc:
        return f"<div class='chips'><span class='chips-note'>{html.escape(str(exc))}</span></div>"
    chips = ["<span class='chips-title'>Understood as</span>"]
    for label, value in spec.summary():
        unsure = value == UNSAID
        if unsure and garment:
            value = FROM_PHOTO
        swatch = ""
        if label == "colour" and spec.colours:
            r, g, b = spec.colours[0][1]
            swatch = f"<span class='swatch' style='background:rgb({r},{g},{b})'></span>"
        css = "chip unsure" if unsure else "chip"
        chips.append(f"<span class='{css}'>{swatch}{html.escape(label)}: {html.escape(str(value))}</span>")
    chips += [f"<span class='chips-note'>{html.escape(message)}</span>" for message in spec.messages]
    return "<div class='chips'>" + "".join(chips) + "</div>"


def _check_markdown(check: Any) -> str:
    """The self-check in a line: ``**Self-check passed** ...`` or what is probably wrong."""
    if check is None:
        return ""
    if check.ok:
        return "**Self-check passed**: the result looks like the garment on your body."
    return "**Self-check**: " + " ".join(check.problems)


def _editor_value(person: np.ndarray, edit_mask: np.ndarray) -> dict[str, Any]:
    """Background for the mask editor: the photo with the automatic edit area tinted."""
    from ..stages.visualize import overlay_mask

    return {"background": overlay_mask(person, edit_mask, EDIT_OVERLAY_RGB), "layers": [], "composite": None}


def _hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def _mask_from_editor(editor: dict[str, Any] | None, auto_mask: np.ndarray) -> np.ndarray:
    """The corrected edit mask: automatic area, plus green strokes, minus red strokes.

    ``editor`` is gr.ImageEditor's value (Gradio 6): ``{"background", "layers", "composite"}``,
    each layer an RGBA ``(H, W, 4)`` uint8 array at the background's size, alpha > 0 where
    painted (the eraser clears alpha). A layer of another size (a transformed canvas) is
    resized to the mask with nearest-neighbour sampling so brush colours stay exact.

    Args:
        editor: the editor value, or None.
        auto_mask: bool ``(H, W)``, the edit area the strokes correct.

    Returns:
        bool ``(H, W)``.
    """
    import cv2

    mask = auto_mask.copy()
    if not editor:
        return mask
    add, remove = _hex_rgb(ADD_COLOUR), _hex_rgb(REMOVE_COLOUR)
    height, width = mask.shape
    for layer in editor.get("layers") or []:
        layer = np.asarray(layer)
        if layer.ndim != 3 or layer.shape[2] < 4:
            continue
        if layer.shape[:2] != mask.shape:
            layer = cv2.resize(np.ascontiguousarray(layer), (width, height), interpolation=cv2.INTER_NEAREST)
        painted = layer[..., 3] > 0
        rgb = layer[..., :3].astype(np.int32)
        is_add = np.abs(rgb - add).sum(-1) < np.abs(rgb - remove).sum(-1)
        mask |= painted & is_add
        mask &= ~(painted & ~is_add)
    return mask


def _analysis_images(result: Any) -> list[tuple[np.ndarray, str]]:
    from ..stages.visualize import draw_pose, draw_regions, overlay_mask

    return [
        (draw_pose(result.person, result.body), "pose"),
        (draw_regions(result.person, result.body), "body regions"),
        (overlay_mask(result.person, result.edit_mask, EDIT_OVERLAY_RGB), "edit area"),
        (overlay_mask(result.garment_image, result.garment.mask, EDIT_OVERLAY_RGB), "garment mask"),
    ]


def _outputs(
    result: Any,
    person: str,
    garment: str | None,
    description: str,
    category: str,
    renderer: str,
    edit_mask: np.ndarray | None,
    notes: tuple[str, ...] = (),
    params: dict[str, Any] | None = None,
) -> tuple[Any, ...]:
    """The Try on outputs for one :class:`tryon.pipeline.TryOnResult` (``notes`` and ``params`` added)."""
    notes = [*result.notes, *notes]
    if edit_mask is not None:
        notes.append("Used your corrected edit area.")
    state = {
        "result": result,
        "result_id": uuid.uuid4().hex,
        "params": {"category": category, "renderer": result.renderer, "requested_renderer": renderer,
                   "edit_mask": edit_mask, "version": __version__, **(params or {})},
        "person_path": person,
        "garment_path": garment or None,
        "description": description or "",
    }
    return (
        (result.person, result.image),
        _analysis_images(result),
        _timings_markdown(result.timings, result.cached_body),
        "\n".join(f"- {note}" for note in notes),
        _check_markdown(result.check),
        state,
        _editor_value(result.person, result.edit_mask),
    )


def _person_check(path: str) -> None:
    """Decode and analyse a person photo (the analysis is cached: Try on finds it ready)."""
    from ..pipeline import analyze_person
    from ..stages.intake import load_image

    analyze_person(load_image(path, what="person photo"))


def _garment_check(path: str) -> None:
    """Decode a garment photo and find the garment in it (cached: Try on finds it ready)."""
    from ..pipeline import analyze_garment_cached
    from ..stages.intake import load_image

    analyze_garment_cached(load_image(path, what="garment photo"), "auto")


def _upload_checker(check: Callable[[str], None]) -> Callable[[str | None], Any]:
    """An upload handler: run ``check`` on the new file; on a TryOnError warn and clear the input.

    Feedback comes as soon as the photo arrives instead of after Try on. Anything else is
    logged and the upload kept: Try on reports it properly.
    """

    def on_upload(path: str | None) -> Any:
        if not path:
            return gr.skip()
        try:
            check(path)
        except TryOnError as exc:
            gr.Warning(str(exc))
            return None
        except Exception:  # the upload stays; Try on reports the problem
            LOG.exception("checking an upload failed")
        return gr.skip()

    return on_upload


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    """Build the Blocks app. Nothing heavy happens here: models load on the first request.

    API endpoints: ``tryon`` (person, garment, description, category, renderer) -> (before, after),
    analysis, timings, notes, consistency, editor; ``tryon_with_mask`` (same inputs; renders with the
    edit mask the session's brush strokes made); ``understand`` (description, garment) -> chips
    HTML; ``search`` (query) -> gallery; ``flag`` and the ``review_*`` endpoints of
    :mod:`tryon.ui.review_tab`.
    """
    from ..store.annotations import prepare_data_dir
    from .review_tab import build_flag_panel, build_review_tab

    settings = settings or get_settings()
    prepare_data_dir(settings)
    gallery_entries = _gallery_entries(settings.catalog)

    # Each button first runs a quick check with no outputs: a refused request then leaves the
    # previous result and the painted strokes on screen instead of Gradio's "Error" placeholders.
    @_user_errors
    def check_try(person, garment, description, category, renderer):
        from ..pipeline import check_inputs

        if not person:
            raise TryOnError("Upload a photo of yourself first (or pick one of the examples below).")
        check_inputs(garment or None, description, category, renderer)

    # Try on and Re-run: warp at once; with diffusion, the refined image replaces it (tryon/ui/refine.py).
    on_try = _user_errors(refine.progressive_handler(_outputs, settings))
    on_rerun = _user_errors(refine.progressive_handler(_outputs, settings, with_mask=True))

    @_user_errors
    def check_rerun(person, garment, description, category, renderer, editor, state):
        """The corrected mask, kept in session state: the editor's canvas is serialised once (slow)."""
        check_try(person, garment, description, category, renderer)
        if not state or "result" not in state:
            raise TryOnError("Press Try on first, then correct the area and re-run.")
        if person != state.get("person_path"):
            raise TryOnError("The photo changed since the last try-on: press Try on, then correct the new area.")
        auto = state["result"].edit_mask
        mask = _mask_from_editor(editor, auto)
        if np.array_equal(mask, auto):
            raise TryOnError("Paint on the photo first: green adds to the area that may change, red removes.")
        return mask

    @_user_errors
    def on_search(query):
        if not query or not query.strip():
            entries = gallery_entries
        else:
            hits = _catalog(settings.catalog).search(query, k=GALLERY_RESULTS)
            entries = [(str(item.path), item.caption) for item, _ in hits]
        # A new list: no thumbnail is selected until the shopper picks one.
        return gr.Gallery(value=entries, selected_index=None), [path for path, _ in entries]

    def on_pick(paths, evt: gr.SelectData):
        return paths[evt.index] if paths and evt.index is not None and evt.index < len(paths) else gr.skip()

    with gr.Blocks(title="tryon", delete_cache=(settings.cache_ttl_s, settings.cache_ttl_s)) as demo:
        gr.Markdown(
            "# tryon: see yourself in it\n"
            "Upload a photo of yourself, pick or upload a garment and/or describe one "
            "(English or 中文), then press **Try on**."
        )
        result_state = gr.State()
        corrected = gr.State()  # the edit mask after the shopper's brush strokes, bool (H, W)
        gallery_paths = gr.State([path for path, _ in gallery_entries])
        with gr.Tab("Try on"):
            with gr.Row():
                with gr.Column(scale=1):
                    person = PhotoInput(label="You", type="filepath", sources=["upload", "webcam", "clipboard"],
                                        height=380, elem_id="person-input")
                    description = gr.Textbox(label="Describe a garment (optional)",
                                             placeholder=DESCRIPTION_PLACEHOLDER, lines=2)
                    chips = gr.HTML("<div class='chips'></div>", elem_id="chips")
                    category = gr.Radio(["auto", "upper", "lower", "dress"], value="auto", label="Category")
                    with gr.Accordion("Advanced", open=False):
                        renderer = refine.build_renderer_radio(settings)
                        advanced = refine.build_advanced_controls(settings)
                    button = gr.Button("Try on", variant="primary")
                with gr.Column(scale=1):
                    garment = PhotoInput(label="Garment photo (upload, or pick below)", type="filepath",
                                         sources=["upload", "clipboard"], height=300, elem_id="garment-input")
                    search = gr.Textbox(label="Search the catalog", placeholder="striped long sleeve · 黑色连衣裙")
                    gallery = gr.Gallery(value=gallery_entries, label="Garments", show_label=False,
                                         columns=GALLERY_COLUMNS, height=GALLERY_HEIGHT, allow_preview=False,
                                         object_fit="contain", elem_id="garment-gallery")
                with gr.Column(scale=1):
                    slider = gr.ImageSlider(label="Before / after", type="numpy", height=520,
                                            elem_id="result-slider")
                    refine_progress = refine.build_progress()
                    consistency = gr.Markdown(elem_id="consistency")
                    notes = gr.Markdown(elem_id="notes")
                    flag_panel = build_flag_panel(result_state, settings)
            with gr.Accordion("Correct the edit area", open=False):
                gr.Markdown("The tinted area is what the renderer may change. Paint **green** to add to it, "
                            "**red** to remove from it, then re-run.")
                editor = gr.ImageEditor(type="numpy", label="Edit area", sources=(), layers=False, transforms=(),
                                        brush=gr.Brush(colors=[ADD_COLOUR, REMOVE_COLOUR], default_color=ADD_COLOUR,
                                                       color_mode="fixed"),
                                        eraser=gr.Eraser(), height=520, elem_id="edit-area")
                rerun = gr.Button("Re-run with my corrections")
            with gr.Accordion("Analysis and timings", open=False):
                analysis = gr.Gallery(label="Analysis", columns=4, height=ANALYSIS_HEIGHT, object_fit="contain")
                timings = gr.Markdown()
            gr.Examples(examples=_example_rows(), inputs=[person, garment, description, category],
                        cache_examples=False)
        with gr.Tab("Review"):
            build_review_tab(settings)

        outputs = [slider, analysis, timings, notes, consistency, result_state, editor, refine_progress]
        # Gradio's spinner shows over the before/after slider only; the refine's own bar sits under it.
        render = {"outputs": outputs, "concurrency_id": RENDER_CONCURRENCY_ID, "show_progress_on": slider}
        # Checks go through the queue: Gradio shows no toast for an error outside it.
        private = {"api_visibility": "private", "show_progress": "hidden"}
        clear_flag = {"fn": flag_panel.cleared, "inputs": None, "outputs": flag_panel.per_result, "queue": False,
                      **private}
        try_inputs = [person, garment, description, category, renderer]
        button.click(check_try, try_inputs, None, **private).success(
            on_try, [*try_inputs, *advanced.inputs], api_name="tryon", **render
        ).success(**clear_flag)
        rerun.click(check_rerun, [*try_inputs, editor, result_state], corrected, **private).success(
            on_rerun, [*try_inputs, *advanced.inputs, corrected], api_name="tryon_with_mask", **render
        ).success(**clear_flag)
        gr.on([description.change, garment.change], _chips_html, [description, garment], chips,
              api_name="understand", show_progress="hidden", trigger_mode="always_last")
        search.change(on_search, search, [gallery, gallery_paths], api_name="search", trigger_mode="always_last",
                      show_progress="hidden")
        gallery.select(on_pick, gallery_paths, garment, api_visibility="private")
        for photo, check in ((person, _person_check), (garment, _garment_check)):
            photo.upload(_upload_checker(check), photo, photo, api_visibility="private", show_progress="minimal")
        # Whether diffusion can run needs torch (slow to import): the renderer's note comes after the page loads.
        demo.load(functools.partial(refine.renderer_update, settings), None, [renderer, *advanced.inputs],
                  api_visibility="private", show_progress="hidden")
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return demo


def launch_kwargs(settings: Settings | None = None) -> dict[str, Any]:
    """Arguments for ``demo.launch()``: host/port from GRADIO_SERVER_NAME/PORT, CSS, limits."""
    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        "css": CSS,
        "max_file_size": MAX_UPLOAD,
        "theme": gr.themes.Soft(),
    }


def launch(demo: gr.Blocks, settings: Settings | None = None, **overrides: Any) -> None:
    """Warm the models up in the background and serve ``demo`` (blocks unless told not to)."""
    settings = settings or get_settings()
    start_warm_up(settings)
    demo.launch(**(launch_kwargs(settings) | overrides))

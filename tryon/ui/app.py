"""The Gradio Blocks app: layout and wiring only; every result comes from :mod:`tryon.pipeline`.

The shopper's actions are in :mod:`tryon.ui.shop`, the flag panel in :mod:`tryon.ui.flag_panel`,
the annotators' tab in :mod:`tryon.ui.review_tab`; the HTTP guard (cookie, session binding,
private files) in :mod:`tryon.ui.guard` and the session sweep in :mod:`tryon.ui.sessions`.
Layout is one function per panel (``_person_column``, ``_garment_column``, ``_result_column``,
``_edit_area_panel``, ``_analysis_panel``), wiring one function per flow (``_wire_*``).

``build_demo()`` is testable without the models: nothing loads until the first request, or
until :func:`launch` starts the warm-up in a background thread. The demo is a
:class:`ServedBlocks`: however it is launched, the guard and the sweep come with it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
from typing import Any

import gradio as gr

from ..config import Settings, get_settings
from ..errors import TryOnError
from ..store.annotations import DESCRIPTION_MAX_CHARS
from . import refine
from .components import PhotoInput
from .errors import user_errors
from .flag_panel import FlagPanel, build_flag_panel
from .guard import GuardMiddleware, process_guard
from .review_tab import RENDER_CONCURRENCY_ID, build_review_tab
from .sessions import serving_lifespan, sweep_interval, use_data_dir
from .shop import ADD_COLOUR, ASSETS, REMOVE_COLOUR, Shop, warm_up

LOG = logging.getLogger(__name__)
PEOPLE_DIR = ASSETS / "people"
GARMENTS_DIR = ASSETS / "garments"
# Example rows: (person file in assets/people, garment file in assets/garments or None, description).
# The example people are VITON-HD upper-body photos, so every example dresses the upper body.
EXAMPLES = (
    ("vitonhd_00034_00.jpg", "vitonhd_00151_00.jpg", ""),
    ("vitonhd_00055_00.jpg", None, "一件黄色的短袖T恤"),
    ("vitonhd_05997_00.jpg", None, "a red long-sleeve shirt"),
    ("vitonhd_01992_00.jpg", "vitonhd_09176_00.jpg", "make it navy"),
)
# Gradio's thumbnails are at least 100 px wide: 3 fit the middle column of a laptop-wide page.
GALLERY_COLUMNS = 3
GALLERY_HEIGHT = 360  # px, three rows; a larger catalog scrolls
ANALYSIS_HEIGHT = 320  # px
MAX_UPLOAD = "20mb"
DESCRIPTION_PLACEHOLDER = "e.g. a red long-sleeve shirt · 一件黄色的短袖T恤 · make it navy, short sleeves"
CSS = """
.chips {display:flex; flex-wrap:wrap; align-items:center; gap:6px; min-height:28px}
.chips-title {font-size:13px; opacity:.7; margin-right:2px}
.chip {border:1px solid #d4d4d8; border-radius:999px; padding:2px 10px; font-size:13px}
.chip.unsure {border-style:dashed; opacity:.75}
.chips-note {flex-basis:100%; font-size:12px; opacity:.75}
.swatch {display:inline-block; width:12px; height:12px; border-radius:3px; margin-right:4px;
         vertical-align:-1px; border:1px solid #0003}
"""
# Checks and small updates: through the queue (Gradio shows no toast for an error outside it), no API.
PRIVATE = {"api_visibility": "private", "show_progress": "hidden"}


def _example_rows() -> list[list[Any]]:
    rows = []
    for person, garment, description in EXAMPLES:
        person_path = PEOPLE_DIR / person
        garment_path = GARMENTS_DIR / garment if garment else None
        if person_path.is_file() and (garment_path is None or garment_path.is_file()):
            rows.append([str(person_path), str(garment_path) if garment_path else None, description, "auto"])
    return rows


# --------------------------------------------------------------------------- layout: one function per panel


@dataclasses.dataclass
class ShopUI:
    """The Try-on tab's components, by panel."""

    person: Any = None
    description: Any = None
    chips: Any = None
    category: Any = None
    renderer: Any = None
    advanced: Any = None  # tryon.ui.refine.AdvancedControls: the diffusion renderer's steps, guidance, ...
    button: Any = None
    garment: Any = None
    search: Any = None
    gallery: Any = None
    gallery_paths: Any = None
    slider: Any = None
    refine_progress: Any = None
    check: Any = None
    notes: Any = None
    token: Any = None  # hidden: the shown result's token (flag, panels and re-run send it back)
    flag_panel: FlagPanel | None = None
    edit_accordion: Any = None
    editor: Any = None
    rerun: Any = None
    analysis_accordion: Any = None
    analysis: Any = None
    timings: Any = None
    analysis_open: Any = None
    editor_open: Any = None

    @property
    def try_inputs(self) -> list[Any]:
        return [self.person, self.garment, self.description, self.category, self.renderer]

    @property
    def result_outputs(self) -> list[Any]:
        """What a try-on (and a re-run) answers: slider, timings, notes, self-check, token, refine progress."""
        return [self.slider, self.timings, self.notes, self.check, self.token, self.refine_progress]


def _person_column(ui: ShopUI, settings: Settings) -> None:
    ui.person = PhotoInput(label="You", type="filepath", sources=["upload", "webcam", "clipboard"], height=380,
                           elem_id="person-input")
    ui.description = gr.Textbox(label="Describe a garment (optional)", placeholder=DESCRIPTION_PLACEHOLDER,
                                lines=2, max_length=DESCRIPTION_MAX_CHARS)
    ui.chips = gr.HTML("<div class='chips'></div>", elem_id="chips")
    ui.category = gr.Radio(["auto", "upper", "lower", "dress"], value="auto", label="Category")
    with gr.Accordion("Advanced", open=False):
        ui.renderer = refine.build_renderer_radio(settings)
        ui.advanced = refine.build_advanced_controls(settings)
    ui.button = gr.Button("Try on", variant="primary")


def _garment_column(ui: ShopUI, entries: list[tuple[str, str]]) -> None:
    ui.garment = PhotoInput(label="Garment photo (upload, or pick below)", type="filepath",
                            sources=["upload", "clipboard"], height=300, elem_id="garment-input")
    ui.search = gr.Textbox(label="Search the catalog", placeholder="striped long sleeve · 黑色连衣裙")
    ui.gallery = gr.Gallery(value=entries, label="Garments", show_label=False, columns=GALLERY_COLUMNS,
                            height=GALLERY_HEIGHT, allow_preview=False, object_fit="contain",
                            elem_id="garment-gallery")
    ui.gallery_paths = gr.State([path for path, _ in entries])


def _result_column(ui: ShopUI, settings: Settings, shop: Shop) -> None:
    ui.slider = gr.ImageSlider(label="Before / after", type="filepath", height=520, elem_id="result-slider")
    ui.refine_progress = refine.build_progress()
    ui.check = gr.Markdown(elem_id="consistency")  # the self-check line
    ui.notes = gr.Markdown(elem_id="notes")
    ui.token = gr.Textbox(visible=False, elem_id="result-token")
    ui.flag_panel = build_flag_panel(ui.token, settings, shop.results)


def _edit_area_panel(ui: ShopUI) -> None:
    with gr.Accordion("Correct the edit area", open=False) as ui.edit_accordion:
        gr.Markdown("The tinted area is what the renderer may change. Paint **green** to add to it, "
                    "**red** to remove from it, then re-run.")
        ui.editor = gr.ImageEditor(type="numpy", label="Edit area", sources=(), layers=False, transforms=(),
                                   brush=gr.Brush(colors=[ADD_COLOUR, REMOVE_COLOUR], default_color=ADD_COLOUR,
                                                  color_mode="fixed"),
                                   eraser=gr.Eraser(), height=520, elem_id="edit-area")
        ui.rerun = gr.Button("Re-run with my corrections")
    ui.editor_open = gr.State(False)


def _analysis_panel(ui: ShopUI) -> None:
    with gr.Accordion("Analysis and timings", open=False) as ui.analysis_accordion:
        ui.analysis = gr.Gallery(label="Analysis", columns=4, height=ANALYSIS_HEIGHT, object_fit="contain",
                                 elem_id="analysis")
        ui.timings = gr.Markdown(elem_id="timings")
    ui.analysis_open = gr.State(False)


def _shop_layout(settings: Settings, shop: Shop) -> ShopUI:
    ui = ShopUI()
    with gr.Row():
        with gr.Column(scale=1):
            _person_column(ui, settings)
        with gr.Column(scale=1):
            _garment_column(ui, shop.gallery_entries())
        with gr.Column(scale=1):
            _result_column(ui, settings, shop)
    _edit_area_panel(ui)
    _analysis_panel(ui)
    gr.Examples(examples=_example_rows(), inputs=[ui.person, ui.garment, ui.description, ui.category],
                cache_examples=False)
    return ui


# --------------------------------------------------------------------------- wiring: one function per flow


def _after_result(shop: Shop, ui: ShopUI, event: Any) -> None:
    """A new result clears the flag panel and refreshes the panels that are open."""
    flag_panel = ui.flag_panel
    if flag_panel is None:
        raise ValueError("lay out the result column (and its flag panel) before wiring")
    event.success(fn=flag_panel.cleared, inputs=None, outputs=flag_panel.per_result, queue=False,
                  **PRIVATE)
    event.success(user_errors(shop.refresh_panels), [ui.token, ui.analysis_open, ui.editor_open],
                  [ui.analysis, ui.editor], **PRIVATE)


def _wire_try_on(shop: Shop, ui: ShopUI) -> None:
    # A quick check first, with no outputs: a refused request then leaves the previous result and
    # the painted strokes on screen instead of Gradio's "Error" placeholders. Gradio's spinner shows
    # over the before/after slider only; the refine's own bar sits under it.
    tried = ui.button.click(user_errors(shop.check_try), ui.try_inputs, None, **PRIVATE).success(
        user_errors(shop.try_on), [*ui.try_inputs, *ui.advanced.inputs], ui.result_outputs, api_name="tryon",
        concurrency_id=RENDER_CONCURRENCY_ID, show_progress_on=ui.slider,
    )
    _after_result(shop, ui, tried)


def _wire_rerun(shop: Shop, ui: ShopUI) -> None:
    rerun = ui.rerun.click(
        user_errors(shop.check_rerun), [*ui.try_inputs, ui.editor, ui.token], None, **PRIVATE
    ).success(user_errors(shop.rerun), [*ui.try_inputs, *ui.advanced.inputs, ui.token], ui.result_outputs,
              api_name="tryon_with_mask", concurrency_id=RENDER_CONCURRENCY_ID, show_progress_on=ui.slider)
    _after_result(shop, ui, rerun)


def _wire_panels(shop: Shop, ui: ShopUI) -> None:
    """The analysis gallery and the editor are built when their panel opens (and after a try-on while open)."""
    for accordion, state, load, output in (
        (ui.analysis_accordion, ui.analysis_open, shop.open_analysis, ui.analysis),
        (ui.edit_accordion, ui.editor_open, shop.open_edit_area, ui.editor),
    ):
        accordion.expand(lambda: True, None, state, queue=False, **PRIVATE).then(
            user_errors(load), ui.token, output, **PRIVATE
        )
        accordion.collapse(lambda: False, None, state, queue=False, **PRIVATE)


def _wire_catalog(shop: Shop, ui: ShopUI) -> None:
    @user_errors
    def on_search(query: str | None) -> tuple[Any, list[str]]:
        entries = shop.search(query)
        # A new list: no thumbnail is selected until the shopper picks one.
        return gr.Gallery(value=entries, selected_index=None), [path for path, _ in entries]

    def on_pick(paths: list[str], evt: gr.SelectData) -> Any:
        return paths[evt.index] if paths and evt.index is not None and evt.index < len(paths) else gr.skip()

    ui.search.change(on_search, ui.search, [ui.gallery, ui.gallery_paths], api_name="search",
                     trigger_mode="always_last", show_progress="hidden")
    ui.gallery.select(on_pick, ui.gallery_paths, ui.garment, api_visibility="private")


def _wire_inputs(shop: Shop, ui: ShopUI) -> None:
    gr.on([ui.description.change, ui.garment.change], user_errors(shop.understand), [ui.description, ui.garment],
          ui.chips, api_name="understand", show_progress="hidden", trigger_mode="always_last")
    for photo, check in ((ui.person, shop.person_check), (ui.garment, shop.garment_check)):
        photo.upload(upload_checker(check), photo, photo, api_visibility="private", show_progress="minimal")


def upload_checker(check: Any) -> Any:
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

    API endpoints: ``tryon`` (person, garment, description, category, renderer, and the diffusion
    renderer's steps, guidance, strength, seed) -> ((before, after), timings, notes, self-check,
    result token, refine progress); ``tryon_with_mask`` (same inputs and the token; renders with the
    edit area painted on that result); ``understand`` (description, garment) -> chips HTML;
    ``search`` (query) -> gallery; ``flag`` (token, reasons, note, consent) and the ``review_*``
    endpoints of :mod:`tryon.ui.review_tab`.
    """
    settings = settings or get_settings()
    use_data_dir(settings)
    shop = Shop(settings)
    with ServedBlocks(title="tryon", delete_cache=(settings.cache_ttl_s, settings.cache_ttl_s)) as demo:
        gr.Markdown("# tryon: see yourself in it\nUpload a photo of yourself, pick or upload a garment and/or "
                    "describe one (English or 中文), then press **Try on**.")
        with gr.Tab("Try on"):
            ui = _shop_layout(settings, shop)
        with gr.Tab("Review"):
            build_review_tab(settings)
        for wire in (_wire_try_on, _wire_rerun, _wire_panels, _wire_catalog, _wire_inputs):
            wire(shop, ui)
        # Whether diffusion can run needs torch (slow to import): the renderer's note comes after the page loads.
        demo.load(functools.partial(refine.renderer_update, settings), None, [ui.renderer, *ui.advanced.inputs],
                  **PRIVATE)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    demo.tryon_shop = shop  # read by the session sweep (tryon.ui.sessions)
    return demo


class ServedBlocks(gr.Blocks):
    """``gr.Blocks`` whose ``launch()`` always installs tryon's HTTP guard (:mod:`tryon.ui.guard`), the
    session sweep (:mod:`tryon.ui.sessions`) and the session cap, whoever calls it: ``python app.py``,
    a hosting platform calling ``demo.launch()``, or a test."""

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        from starlette.middleware import Middleware

        settings = getattr(self, "tryon_shop", None)
        settings = settings.settings if settings is not None else get_settings()
        app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
        middleware = list(app_kwargs.get("middleware") or [])
        if not any(getattr(entry, "cls", None) is GuardMiddleware for entry in middleware):
            middleware.append(Middleware(GuardMiddleware, guard=process_guard()))
        app_kwargs["middleware"] = middleware
        app_kwargs["lifespan"] = serving_lifespan(sweep_interval(settings.result_ttl_s), app_kwargs.get("lifespan"))
        kwargs.setdefault("state_session_capacity", settings.max_sessions)
        return super().launch(*args, app_kwargs=app_kwargs, **kwargs)


def launch_kwargs(settings: Settings | None = None) -> dict[str, Any]:
    """Arguments for ``demo.launch()``: host/port from GRADIO_SERVER_NAME/PORT, CSS, theme, upload limit.
    (The guard, the sweep and the session cap come with :class:`ServedBlocks` itself.)"""
    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        "css": CSS,
        "max_file_size": MAX_UPLOAD,
        "theme": gr.themes.Soft(),
    }


def start_warm_up(demo: gr.Blocks) -> threading.Thread:
    """Warm the models up in a daemon thread (the server answers meanwhile)."""
    people = [row[0] for row in _example_rows()]
    thread = threading.Thread(target=warm_up, args=(demo.tryon_shop, people), name="tryon-warm-up", daemon=True)
    thread.start()
    return thread


def launch(demo: gr.Blocks, settings: Settings | None = None, **overrides: Any) -> None:
    """Warm the models up in the background and serve ``demo`` (blocks unless told not to)."""
    settings = settings or demo.tryon_shop.settings
    start_warm_up(demo)
    demo.launch(**(launch_kwargs(settings) | overrides))

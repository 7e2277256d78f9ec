"""The Gradio Blocks app: layout and wiring only; every result comes from :mod:`tryon.pipeline`.

The shopper's actions are in :mod:`tryon.ui.shop` (try-on, corrections, history, the self-check
queue) and :mod:`tryon.ui.catalog` (browse, search, find similar, colour advice); the examples in
:mod:`tryon.ui.examples`, the flag panel in :mod:`tryon.ui.flag_panel`, the annotators' tab in
:mod:`tryon.ui.review_tab`, the page's own styles and scripts in :mod:`tryon.ui.page`; the HTTP
guard (cookie, session binding, private files) in :mod:`tryon.ui.guard` and the session sweep in
:mod:`tryon.ui.sessions`.

Layout (one function per panel) is in the first half: at 1280x800 the photos, Try on and the result
show together without scrolling; on a phone the page stacks, Try on stays at the bottom of the
screen and the page moves to the result when it is ready. Wiring (one function per flow, ``_wire_*``)
is in the second half. The Lookbook tab follows, and the Review tab where review is configured.

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
from collections.abc import Callable
from typing import Any

import gradio as gr

from .. import pipeline
from ..config import Settings, get_settings
from ..errors import TryOnError
from ..store.annotations import DESCRIPTION_MAX_CHARS
from ..store.review import review_enabled
from . import page, refine
from .catalog import CATEGORY_FILTERS, Catalog
from .components import PhotoInput, StrokeEditor
from .errors import user_errors
from .examples import example_rows
from .flag_panel import FlagPanel, build_flag_panel
from .guard import GuardMiddleware, process_guard
from .review_tab import RENDER_CONCURRENCY_ID, build_review_tab
from .sessions import serving_lifespan, sweep_interval, use_data_dir
from .shop import ADD_COLOUR, REMOVE_COLOUR, Shop, warm_up

LOG = logging.getLogger(__name__)
# The category choice: (label, value); the values are the pipeline's.
CATEGORIES = (("auto", "auto"), ("top", "upper"), ("bottom", "lower"), ("dress", "dress"))
PERSON_HEIGHT = 440  # px: the photo inputs and the result fill a laptop screen's height together
GARMENT_HEIGHT = 240
# What photo of themselves a shopper needs (the pipeline's check_visible refuses less, saying so).
PERSON_HINT = ("One person facing the camera. Head to waist will do for a top (a selfie or a mirror photo); "
               "trousers and skirts need your legs to the knees, a dress down to mid-thigh.")
RESULT_HEIGHT = 450
CATALOG_HEIGHT = 340  # px, about three rows; the catalog scrolls inside
CATALOG_COLUMNS = 3
ADVICE_COLUMNS = 3
ANALYSIS_HEIGHT = 320
EDITOR_HEIGHT = 560
BRUSH_SIZE = 16  # px on the EDIT_SIDE photo
MAX_UPLOAD = "20mb"
DESCRIPTION_PLACEHOLDER = "e.g. a red long-sleeve shirt · 一件黄色的短袖T恤 · make it navy, short sleeves"
BRUSHES = (("Add to the area (green)", "add"), ("Remove from the area (red)", "remove"))
TRYON_API = ("Dress the person in the photo. Only the person photo is required: give a garment photo, a description "
             "(English or Chinese), or both (the words then edit the photo's garment). Returns (before, after) image "
             "files, timings, notes, the self-check, the result's token (for /flag and /tryon_with_mask) and the "
             "refine progress.")
# Checks and small updates: through the queue (Gradio shows no toast for an error outside it), no API.
PRIVATE = {"api_visibility": "private", "show_progress": "hidden"}


# --------------------------------------------------------------------------- layout: one function per panel


@dataclasses.dataclass
class ShopUI:
    """The Try-on tab's components, by panel (filled in by the layout functions)."""

    examples: Any = None  # gr.Examples: its load_input_event starts a try-on
    person: Any = None
    advice_accordion: Any = None
    advice: Any = None
    advice_gallery: Any = None
    advice_paths: Any = None
    advice_open: Any = None
    garment: Any = None
    similar: Any = None
    description: Any = None
    chips: Any = None
    category: Any = None
    renderer: Any = None
    advanced: Any = None  # tryon.ui.refine.AdvancedControls: the diffusion renderer's steps, guidance, ...
    filter: Any = None
    search: Any = None
    shelf_message: Any = None
    gallery: Any = None
    gallery_paths: Any = None
    button: Any = None
    slider: Any = None
    refine_progress: Any = None
    check: Any = None
    review_note: Any = None
    notes: Any = None
    token: Any = None  # hidden: the shown result's token (flag, panels and re-run send it back)
    flag_panel: FlagPanel | None = None
    history: Any = None  # gr.State: tokens of the session's last results (ids only)
    history_gallery: Any = None
    edit_accordion: Any = None
    brush: Any = None
    editor: Any = None
    rerun: Any = None
    editor_open: Any = None
    analysis_accordion: Any = None
    analysis: Any = None
    timings: Any = None
    analysis_open: Any = None

    @property
    def try_inputs(self) -> list[Any]:
        return [self.person, self.garment, self.description, self.category, self.renderer]

    @property
    def result_outputs(self) -> list[Any]:
        """What a try-on (and a re-run) answers: slider, timings, notes, self-check, token, refine progress."""
        return [self.slider, self.timings, self.notes, self.check, self.token, self.refine_progress]


def _header(settings: Settings) -> None:
    with gr.Row(elem_id="header"):
        gr.HTML(page.HEADER)
        if settings.review_org and not settings.review_token and page.on_spaces():
            gr.LoginButton("Annotators: sign in", size="sm", scale=0, min_width=180)


def _examples_row(ui: ShopUI, settings: Settings) -> None:
    rows = example_rows(settings)
    ui.examples = gr.Examples(
        examples=[row for _, row in rows], inputs=[ui.person, ui.garment, ui.description, ui.category],
        example_labels=[example.label for example, _ in rows], label="Try an example (it runs when clicked)",
        cache_examples=False, elem_id="examples", examples_per_page=len(rows) or 1,
    )


def _person_column(ui: ShopUI) -> None:
    ui.person = PhotoInput(label="You", type="filepath", sources=["upload", "webcam", "clipboard"],
                           height=PERSON_HEIGHT, elem_id="person-input")
    gr.Markdown(PERSON_HINT, elem_id="person-hint")
    with gr.Accordion("Colours that suit you (a suggestion)", open=False,
                      elem_id="advice-panel") as ui.advice_accordion:
        ui.advice = gr.HTML(page.ADVICE_EMPTY, elem_id="advice")
        ui.advice_gallery = gr.Gallery(label="In your colours", show_label=False, columns=ADVICE_COLUMNS,
                                       height="auto", allow_preview=False, object_fit="contain",
                                       elem_id="advice-gallery")
    ui.advice_paths = gr.State([])
    ui.advice_open = gr.State(False)


def _garment_column(ui: ShopUI, settings: Settings) -> None:
    ui.garment = PhotoInput(label="Garment (upload, or pick below)", type="filepath",
                            sources=["upload", "clipboard"], height=GARMENT_HEIGHT, elem_id="garment-input")
    ui.similar = gr.Button("Find similar in the catalog", size="sm", elem_id="find-similar")
    ui.description = gr.Textbox(label="Describe a garment (optional)",
                                placeholder=DESCRIPTION_PLACEHOLDER, lines=2, max_length=DESCRIPTION_MAX_CHARS,
                                elem_id="description")
    ui.chips = gr.HTML("<div class='chips'></div>", elem_id="chips")
    ui.category = gr.Radio(list(CATEGORIES), value="auto", label="Category", elem_id="category")
    with gr.Accordion("Advanced", open=False):
        ui.renderer = refine.build_renderer_radio(settings)
        ui.advanced = refine.build_advanced_controls(settings)


def _catalog_panel(ui: ShopUI, catalog: Catalog) -> None:
    shelf = catalog.browse("", "all")
    ui.filter = gr.Radio(list(CATEGORY_FILTERS), value="all", label="Catalog", elem_id="catalog-filter")
    ui.search = gr.Textbox(label="Search the catalog", placeholder="striped long sleeve · 黑色连衣裙",
                           elem_id="catalog-search")
    ui.shelf_message = gr.Markdown(shelf.message, elem_id="shelf-message")
    ui.gallery = gr.Gallery(value=list(shelf.entries), label="Catalog", show_label=False, columns=CATALOG_COLUMNS,
                            height=CATALOG_HEIGHT, allow_preview=False, object_fit="contain",
                            elem_id="garment-gallery")
    ui.gallery_paths = gr.State(shelf.paths)
    gr.Markdown(catalog.licence_note(), elem_classes="licence-note")


def _result_column(ui: ShopUI, settings: Settings, shop: Shop) -> None:
    ui.button = gr.Button("Try on", variant="primary", size="lg", elem_id="try-on")
    ui.refine_progress = refine.build_progress()
    ui.slider = gr.ImageSlider(label="Before / after", type="filepath", height=RESULT_HEIGHT,
                               elem_id="result-slider")
    ui.check = gr.Markdown(elem_id="self-check")
    ui.review_note = gr.Markdown(elem_id="review-note")
    ui.notes = gr.Markdown(elem_id="notes")
    ui.token = gr.Textbox(visible=False, elem_id="result-token")
    ui.flag_panel = build_flag_panel(ui.token, settings, shop.results)


def _history_strip(ui: ShopUI) -> None:
    ui.history = gr.State([])
    ui.history_gallery = gr.Gallery(label="Your last results: compare side by side, tap one to show it again",
                                    columns=page.HISTORY_COLUMNS, height="auto", allow_preview=False,
                                    object_fit="contain", visible=False, elem_id="history")


def _edit_area_panel(ui: ShopUI) -> None:
    with gr.Accordion("Correct the edit area", open=False, elem_id="edit-panel") as ui.edit_accordion:
        gr.Markdown("The tinted area is what may change. Pick a brush, paint over the photo, then re-render.",
                    elem_classes="hint")
        ui.brush = gr.Radio(list(BRUSHES), value="add", show_label=False, container=False, elem_id="brush")
        ui.editor = StrokeEditor(type="numpy", label="Edit area", sources=(), layers=False, transforms=(),
                                 brush=gr.Brush(colors=[ADD_COLOUR, REMOVE_COLOUR], default_color=ADD_COLOUR,
                                                color_mode="fixed", default_size=BRUSH_SIZE),
                                 eraser=gr.Eraser(default_size=BRUSH_SIZE), height=EDITOR_HEIGHT,
                                 elem_id="edit-area")
        ui.rerun = gr.Button("Re-render with my corrections", variant="primary", elem_id="rerun")
    ui.editor_open = gr.State(False)


def _analysis_panel(ui: ShopUI) -> None:
    with gr.Accordion("Analysis and timings", open=False) as ui.analysis_accordion:
        ui.analysis = gr.Gallery(label="Analysis", columns=4, height=ANALYSIS_HEIGHT, object_fit="contain",
                                 elem_id="analysis")
        ui.timings = gr.Markdown(elem_id="timings")
    ui.analysis_open = gr.State(False)


def _shop_layout(settings: Settings, shop: Shop) -> ShopUI:
    ui = ShopUI()
    examples_slot = gr.Column(elem_id="examples-slot")  # filled once the inputs exist
    with gr.Row(equal_height=False, elem_id="main-row"):
        with gr.Column(scale=4, min_width=300):
            _person_column(ui)
        with gr.Column(scale=4, min_width=300):
            _garment_column(ui, settings)
            _catalog_panel(ui, shop.catalog)
        with gr.Column(scale=5, min_width=300, elem_id="result-column"):
            _result_column(ui, settings, shop)
    _history_strip(ui)
    _edit_area_panel(ui)
    _analysis_panel(ui)
    with examples_slot:
        _examples_row(ui, settings)
    return ui


# --------------------------------------------------------------------------- more tabs


def _extra_tabs(settings: Settings, shop: Shop) -> None:
    """The tabs between "Try on" and "Review": the product manager's Lookbook."""
    from .lookbook_tab import build_lookbook_tab

    with gr.Tab("Lookbook"):
        build_lookbook_tab(settings, [(str(p.path), p.caption) for p in pipeline.example_people(settings)],
                           [(str(r.path), r.caption) for r in shop.catalog.records])


def _review_tab(settings: Settings) -> gr.Tab | None:
    """The annotators' tab, only when review is configured (a token, or an organisation on Spaces: then
    only for signed-in visitors); shoppers never see set-up instructions."""
    if not review_enabled(settings):
        LOG.info("review is off: set TRYON_REVIEW_TOKEN (or TRYON_REVIEW_ORG on Spaces) to open the Review tab")
        return None
    with gr.Tab("Review", visible=bool(settings.review_token), elem_id="review-tab") as tab:
        build_review_tab(settings)
    return tab


# --------------------------------------------------------------------------- wiring: one function per flow


def _after_result(shop: Shop, ui: ShopUI, event: Any) -> None:
    """A new result shown: clear the flag panel, refresh the open panels, put it in the history strip,
    queue it for the annotators if its self-check found problems, and bring it into view."""
    flag_panel = ui.flag_panel
    if flag_panel is None:
        raise ValueError("lay out the result column (and its flag panel) before wiring")
    event.success(fn=flag_panel.cleared, inputs=None, outputs=flag_panel.per_result, queue=False, **PRIVATE)
    event.success(user_errors(shop.refresh_panels), [ui.token, ui.analysis_open, ui.editor_open],
                  [ui.analysis, ui.editor], **PRIVATE)
    event.success(user_errors(shop.remember), [ui.history, ui.token], [ui.history, ui.history_gallery], **PRIVATE)
    event.success(user_errors(shop.queue_check), [ui.token, flag_panel.consent], ui.review_note, **PRIVATE)
    event.success(None, None, None, js=page.SHOW_RESULT_JS, **PRIVATE)


def _render_chain(shop: Shop, ui: ShopUI, trigger: Any, api_name: str | None) -> Any:
    """Check, then render (the warp result, then the refined one with diffusion), then :func:`_after_result`.

    The quick check has no outputs: a refused request leaves the previous result on screen instead of
    Gradio's "Error" placeholders. Gradio's progress shows over the result and on the button; where the
    result is off screen (a phone), the page moves to it when the request is accepted and again when
    the result is there."""
    checked = trigger(user_errors(shop.check_try), ui.try_inputs, None, **PRIVATE)
    # On a phone the page glides to the result as soon as the request is accepted: the progress shows there.
    checked.success(None, None, None, js=page.SHOW_RESULT_JS, **PRIVATE)
    visibility = {"api_name": api_name, "api_description": TRYON_API} if api_name else {"api_visibility": "private"}
    tried = checked.success(user_errors(shop.try_on), [*ui.try_inputs, *ui.advanced.inputs], ui.result_outputs,
                            concurrency_id=RENDER_CONCURRENCY_ID, show_progress_on=[ui.slider, ui.button],
                            **visibility)
    _after_result(shop, ui, tried)
    return tried


def _wire_try_on(shop: Shop, ui: ShopUI) -> None:
    _render_chain(shop, ui, ui.button.click, "tryon")
    # A click on an example fills the inputs, then runs the same try-on.
    _render_chain(shop, ui, ui.examples.load_input_event.then, None)


def _wire_rerun(shop: Shop, ui: ShopUI) -> None:
    rerun = ui.rerun.click(
        user_errors(shop.check_rerun), [*ui.try_inputs, ui.editor, ui.token], None, **PRIVATE
    ).success(user_errors(shop.rerun), [*ui.try_inputs, *ui.advanced.inputs, ui.token], ui.result_outputs,
              api_name="tryon_with_mask", concurrency_id=RENDER_CONCURRENCY_ID,
              show_progress_on=[ui.slider, ui.rerun])
    _after_result(shop, ui, rerun)
    # The brushes are switched in the page (the editor keeps its strokes); the palette icon is hidden.
    ui.brush.change(None, ui.brush, None, js=page.PICK_BRUSH_JS, **PRIVATE)


def _wire_panels(shop: Shop, ui: ShopUI) -> None:
    """The analysis gallery and the editor are built when their panel opens (and after a try-on while open)."""
    for accordion, state, load, output in (
        (ui.analysis_accordion, ui.analysis_open, shop.open_analysis, ui.analysis),
        (ui.edit_accordion, ui.editor_open, shop.open_edit_area, ui.editor),
    ):
        opened = accordion.expand(lambda: True, None, state, queue=False, **PRIVATE).then(
            user_errors(load), ui.token, output, **PRIVATE
        )
        accordion.collapse(lambda: False, None, state, queue=False, **PRIVATE)
        if output is ui.editor:  # the brush tool ready, in the colour the radio shows
            opened.then(None, ui.brush, None, js=page.PICK_BRUSH_JS, **PRIVATE)
    shown = ui.history_gallery.select(_history_pick(shop), ui.history, [*ui.result_outputs[:-1], ui.review_note],
                                      **PRIVATE)
    flag_panel = ui.flag_panel
    shown.success(fn=flag_panel.cleared, inputs=None, outputs=flag_panel.per_result, queue=False, **PRIVATE)
    shown.success(user_errors(shop.refresh_panels), [ui.token, ui.analysis_open, ui.editor_open],
                  [ui.analysis, ui.editor], **PRIVATE)


def _history_pick(shop: Shop) -> Callable[..., Any]:
    @user_errors
    def on_pick(history: list[str], evt: gr.SelectData, request: gr.Request) -> tuple[Any, ...]:
        if not history or evt.index is None or evt.index >= len(history):
            return tuple(gr.skip() for _ in range(6))
        return (*shop.recall(history[evt.index], request), "")

    return on_pick


def _pick(paths: list[str], evt: gr.SelectData) -> Any:
    """The catalog photo at the clicked index of a gallery whose paths are ``paths``."""
    return paths[evt.index] if paths and evt.index is not None and evt.index < len(paths) else gr.skip()


def _picker(shop: Shop) -> Callable[..., tuple[Any, str]]:
    """A gallery's select handler: the picked photo into the garment box, and a line saying so (on a phone
    the garment box is out of sight)."""

    def on_pick(paths: list[str], evt: gr.SelectData) -> tuple[Any, Any]:
        path = _pick(paths, evt)
        return path, (gr.skip() if isinstance(path, type(gr.skip())) else shop.catalog.picked(path))

    return on_pick


def _wire_catalog(shop: Shop, ui: ShopUI) -> None:
    def shelf_outputs(shelf: Any) -> tuple[Any, list[str], str]:
        # A new list: no thumbnail is selected until the shopper picks one.
        return gr.Gallery(value=list(shelf.entries), selected_index=None), shelf.paths, shelf.message

    @user_errors
    def on_search(query: str | None, category: str | None = "all") -> tuple[Any, list[str], str]:
        return shelf_outputs(shop.catalog.browse(query, category))

    @user_errors
    def on_similar(garment: str | None, category: str | None = "all") -> tuple[Any, list[str], str]:
        return shelf_outputs(shop.catalog.similar(garment, category))

    shelf = [ui.gallery, ui.gallery_paths, ui.shelf_message]
    gr.on([ui.search.change, ui.filter.change], on_search, [ui.search, ui.filter], shelf, api_name="search",
          trigger_mode="always_last", show_progress="hidden")
    ui.similar.click(on_similar, [ui.garment, ui.filter], shelf, api_name="find_similar",
                     show_progress_on=ui.gallery).success(None, None, None, js=page.SHOW_CATALOG_JS, **PRIVATE)
    ui.gallery.select(_picker(shop), ui.gallery_paths, [ui.garment, ui.shelf_message], api_visibility="private")


def _wire_advice(shop: Shop, ui: ShopUI) -> None:
    """Colour advice is worked out when its panel opens, and again for a new photo while it is open."""
    @user_errors
    def on_advice(person: str | None) -> tuple[str, Any, list[str]]:
        if not person:
            return page.ADVICE_EMPTY, gr.Gallery(value=[]), []
        html, shelf = shop.catalog.advice(person)
        return html, gr.Gallery(value=list(shelf.entries), selected_index=None), shelf.paths

    def while_open(person: str | None, is_open: bool) -> Any:
        return on_advice(person) if is_open else (gr.skip(), gr.skip(), gr.skip())

    outputs = [ui.advice, ui.advice_gallery, ui.advice_paths]
    ui.advice_accordion.expand(lambda: True, None, ui.advice_open, queue=False, **PRIVATE).then(
        on_advice, ui.person, outputs, api_name="colour_advice", show_progress_on=ui.advice)
    ui.advice_accordion.collapse(lambda: False, None, ui.advice_open, queue=False, **PRIVATE)
    ui.person.change(while_open, [ui.person, ui.advice_open], outputs, api_visibility="private",
                     trigger_mode="always_last", show_progress_on=ui.advice)
    ui.advice_gallery.select(_pick, ui.advice_paths, ui.garment, api_visibility="private")


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


def _wire_review_tab(settings: Settings, demo: gr.Blocks, tab: gr.Tab | None) -> None:
    """With review by organisation only, the tab shows once a visitor has signed in (membership is
    checked when they open the review)."""
    if tab is None or settings.review_token:
        return

    def signed_in(profile: gr.OAuthProfile | None) -> Any:
        return gr.Tab(visible=profile is not None)

    demo.load(signed_in, None, tab, **PRIVATE)


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    """Build the Blocks app. Nothing heavy happens here: models load on the first request.

    API endpoints: ``tryon`` (person; optional: garment, description, category, renderer, and the
    diffusion renderer's steps, guidance, strength, seed) -> ((before, after), timings, notes,
    self-check, result token, refine progress); ``tryon_with_mask`` (same inputs and the token;
    renders with the edit area painted on that result); ``understand`` (description, garment) ->
    chips HTML; ``search`` (query, category) -> (gallery, message); ``find_similar`` (garment photo,
    category) -> (gallery, message); ``colour_advice`` (person photo) -> dict; ``flag`` (token,
    reasons, note, consent) and the ``review_*`` endpoints of :mod:`tryon.ui.review_tab`.
    """
    settings = settings or get_settings()
    use_data_dir(settings)
    shop = Shop(settings)
    with ServedBlocks(title="tryon", delete_cache=(settings.cache_ttl_s, settings.cache_ttl_s)) as demo:
        _header(settings)
        with gr.Tab("Try on"):
            ui = _shop_layout(settings, shop)
        _extra_tabs(settings, shop)
        review = _review_tab(settings)
        for wire in (_wire_try_on, _wire_rerun, _wire_panels, _wire_catalog, _wire_advice, _wire_inputs):
            wire(shop, ui)
        _wire_review_tab(settings, demo, review)
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
        # The page's look (the phone layout, the history strip, the brushes) whoever launches it.
        for name, value in (("css", page.CSS), ("head", page.HEAD), ("theme", gr.themes.Soft())):
            kwargs.setdefault(name, value)
        return super().launch(*args, app_kwargs=app_kwargs, **kwargs)


def launch_kwargs(settings: Settings | None = None) -> dict[str, Any]:
    """Arguments for ``demo.launch()``: host/port from GRADIO_SERVER_NAME/PORT, CSS and scripts, theme, upload
    limit. (The guard, the sweep, the session cap and the page's look come with :class:`ServedBlocks` itself.)"""
    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        "css": page.CSS,
        "head": page.HEAD,
        "max_file_size": MAX_UPLOAD,
        "theme": gr.themes.Soft(),
    }


def start_warm_up(demo: gr.Blocks) -> threading.Thread:
    """Warm the models up in a daemon thread (the server answers meanwhile)."""
    shop = demo.tryon_shop
    examples = [(row[0], row[1]) for _, row in example_rows(shop.settings)]
    thread = threading.Thread(target=warm_up, args=(shop, examples), name="tryon-warm-up", daemon=True)
    thread.start()
    return thread


def launch(demo: gr.Blocks, settings: Settings | None = None, **overrides: Any) -> None:
    """Warm the models up in the background and serve ``demo`` (blocks unless told not to)."""
    settings = settings or demo.tryon_shop.settings
    start_warm_up(demo)
    demo.launch(**(launch_kwargs(settings) | overrides))

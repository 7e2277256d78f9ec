"""The shopper's actions behind the Try-on tab; every result comes from :mod:`tryon.pipeline`.

:class:`Shop` holds what one server needs between requests (the settings, the held
results, the catalog) and has one method per action. The response of a try-on is
kept small and cheap: two JPEGs (before, after) encoded once, the timings, the notes and
the result's token. The analysis pictures and the edit-area editor are built only when
their panel is open (:meth:`Shop.analysis`, :meth:`Shop.edit_area`), from the held result.
A session keeps result *tokens* only (the shown one, and up to :data:`HISTORY_SIZE` for the
history strip); the results themselves stay on the server (:mod:`tryon.ui.results`).

No layout here (:mod:`tryon.ui.app`), and only ``gr.skip`` / ``gr.Gallery`` values from gradio.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cachetools
import gradio as gr
import numpy as np

from .. import pipeline
from ..config import Settings
from ..errors import TryOnError
from ..store.annotations import DESCRIPTION_MAX_CHARS, gradio_cache_dir
from . import format as fmt
from . import refine
from .catalog import Catalog
from .flag_panel import StoreFlaggingCallback
from .guard import client_of
from .results import HELD_DIRNAME, HeldResult, ResultCache, file_key, hold_result, preview, write_jpeg

log = logging.getLogger(__name__)

# Brush colours of the mask editor: paint green to add to the edit area, red to remove from it.
ADD_COLOUR = "#22c55e"
REMOVE_COLOUR = "#ef4444"
EDIT_OVERLAY_RGB = (59, 130, 246)
# The editor's photo: long side in px. Half the processing size: the page exports, uploads and the server
# decodes a quarter of the pixels per correction, and a phone shows the canvas near 100 % instead of ~30 %.
EDIT_SIDE = 512
GARMENT_CHECKS_KEPT = 256  # garment photos whose face check is remembered (by file content)
HISTORY_SIZE = 4  # results in the session's history strip, newest first
CAPTION_CHARS = 60
NO_PERSON = "Upload a photo of yourself first (or click one of the examples)."
PAINT_FIRST = "Paint on the photo first: green adds to the area that may change, red removes."


def _hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def mask_from_editor(editor: dict[str, Any] | None, auto_mask: np.ndarray) -> np.ndarray:
    """The corrected edit mask: automatic area, plus green strokes, minus red strokes.

    ``editor`` is the editor's value (Gradio 6 ``gr.ImageEditor``, or :class:`tryon.ui.components.StrokeEditor`):
    ``{"background", "layers", "composite"}``, each layer an RGBA ``(h, w, 4)`` uint8 array, alpha > 0
    where painted (the eraser clears alpha). Strokes are told apart by colour at the layer's own size;
    a layer smaller than the mask (the editor shows a downscaled photo, :data:`EDIT_SIDE`) is scaled
    up with linear interpolation and thresholded at half, so stroke edges stay smooth.

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
        painted = layer[..., 3] > 0
        rgb = layer[..., :3].astype(np.int32)
        is_add = np.abs(rgb - add).sum(-1) < np.abs(rgb - remove).sum(-1)
        strokes = []
        for part in (painted & is_add, painted & ~is_add):
            if part.shape != mask.shape:
                scaled = cv2.resize(part.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR)
                part = scaled >= 128
            strokes.append(part)
        mask |= strokes[0]
        mask &= ~strokes[1]
    return mask


def check_description(description: str | None) -> None:
    """Refuse a description longer than :data:`DESCRIPTION_MAX_CHARS` (what a flag can store)."""
    if description and len(description) > DESCRIPTION_MAX_CHARS:
        raise TryOnError(
            f"The description is longer than {DESCRIPTION_MAX_CHARS} characters: describe the garment "
            "in a sentence or two."
        )


class Shop:
    """The Try-on tab's actions for one server (thread-safe: state lives in the result cache)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        store = Path(settings.data_dir).expanduser().resolve() / HELD_DIRNAME
        self.results = ResultCache(gradio_cache_dir(settings), store, settings.result_cache_mb, settings.result_ttl_s)
        self.catalog = Catalog(settings)
        self.flags = StoreFlaggingCallback(settings)
        self._garment_checks: cachetools.LRUCache[str, Any] = cachetools.LRUCache(GARMENT_CHECKS_KEPT)
        self._checks_lock = threading.Lock()

    # ---- the try-on

    def check_try(self, person: str | None, garment: str | None = None, description: str | None = None,
                  category: str = "auto", renderer: str = "warp") -> None:
        """Refuse a request before it is queued for rendering (the last result stays on screen); a photo
        of a person in the garment slot is refused here too (the check is cached for the render)."""
        from ..pipeline import check_inputs

        if not person:
            raise TryOnError(NO_PERSON)
        check_description(description)
        check_inputs(garment or None, description, category, renderer)
        if garment:
            self.garment_faces(garment)

    def try_on(self, person: str | None, garment: str | None = None, description: str | None = None,
               category: str = "auto", renderer: str = "warp", steps: float | None = None,
               guidance: float | None = None, strength: float | None = None, seed: float | None = None,
               request: gr.Request = None) -> Iterator[tuple[Any, ...]]:
        """Render and hold the result: ``((before, after) JPEG paths, timings, notes, self-check, token,
        refine progress)``. With diffusion: the warp preview at once, progress, then the refined result
        (each result held under its own token; the Advanced panel's steps, guidance, strength, seed).
        Only ``person`` is required: the garment may come from ``garment`` or ``description`` alone."""
        advanced = (steps, guidance, strength, seed)
        yield from self._render(person, garment, description or "", category, renderer, advanced,
                                client_of(request).binding, None)

    def rerun(self, person: str | None, garment: str | None = None, description: str | None = None,
              category: str = "auto", renderer: str = "warp", steps: float | None = None,
              guidance: float | None = None, strength: float | None = None, seed: float | None = None,
              token: str | None = None, request: gr.Request = None) -> Iterator[tuple[Any, ...]]:
        """Render again with the edit area painted on the result ``token`` (see :meth:`check_rerun`).

        The person and garment analyses come from the pipeline's content-hash caches (the same
        upload files as the try-on), so a correction costs a render, not an analysis."""
        binding = client_of(request).binding
        held = self.results.get(token, binding)
        if held.painted is None:
            raise TryOnError(PAINT_FIRST)
        yield from self._render(person, garment, description or "", category, renderer,
                                (steps, guidance, strength, seed), binding, held.painted)

    def check_rerun(self, person: str | None, garment: str | None, description: str | None, category: str,
                    renderer: str, editor: dict[str, Any] | None, token: str, request: gr.Request) -> None:
        """Keep the edit area painted in ``editor`` with the result ``token`` (the strokes are sent once)."""
        self.check_try(person, garment, description, category, renderer)
        held = self.results.get(token, client_of(request).binding)
        if person != held.person_path:
            raise TryOnError("The photo changed since the last try-on: press Try on, then correct the new area.")
        auto = held.edit_mask
        mask = mask_from_editor(editor, auto)
        if np.array_equal(mask, auto):
            raise TryOnError(PAINT_FIRST)
        self.results.paint(held, mask)

    def _render(self, person: str | None, garment: str | None, description: str, category: str, renderer: str,
                advanced: tuple[Any, ...], owner: str | None,
                edit_mask: np.ndarray | None) -> Iterator[tuple[Any, ...]]:
        """Checks, then :func:`tryon.ui.refine.progressive_handler` over :meth:`_present` (the pipeline reads
        the uploads itself, once each, as it would for any caller)."""
        if not person:
            raise TryOnError(NO_PERSON)
        check_description(description)
        start = time.perf_counter()
        person_key = file_key(person)
        faces = self.garment_faces(garment) if garment else None
        checked = time.perf_counter() - start
        present = functools.partial(self._present, owner=owner, person_key=person_key, faces=faces, checked=checked)
        handler = refine.progressive_handler(present, self.settings, with_mask=edit_mask is not None)
        yield from handler(person, garment, description, category, renderer, *advanced,
                           *([edit_mask] if edit_mask is not None else []))

    def _present(self, result: Any, person: str, garment: str | None, description: str, category: str,
                 renderer: str, edit_mask: np.ndarray | None, notes: tuple[str, ...] = (),
                 params: dict[str, Any] | None = None, *, owner: str | None, person_key: str | None,
                 faces: Any, checked: float) -> tuple[Any, ...]:
        """Hold one :class:`tryon.pipeline.TryOnResult` and answer with its display files and text."""
        held = hold_result(self.results, result, person_path=person, person_key=person_key, garment_path=garment,
                           garment_faces=faces, description=description, category=category, renderer=renderer,
                           owner=owner, edit_mask=edit_mask, params=params)
        notes = [*result.notes, *notes] + (["Used your corrected edit area."] if edit_mask is not None else [])
        timings = {"checks": checked, **{k: v for k, v in result.timings.items() if k != "total"}}
        timings["total"] = checked + result.timings["total"]  # the try-on's wall time (its stages overlap)
        return (
            (str(held.before), str(held.folder / "after.jpg")),
            fmt.timings_markdown(timings, result.cached_body),
            fmt.notes_markdown(notes, result.check),
            fmt.check_markdown(result.check),
            held.token,
        )

    # ---- after a result: the history strip, the self-check queue

    def recall(self, token: str, request: gr.Request) -> tuple[Any, ...]:
        """A held result shown again (a click in the history strip): the try-on's outputs, without the
        refine progress."""
        held = self.results.get(token, client_of(request).binding)
        timings = {**held.timings}
        return (
            (str(held.before), str(held.folder / "after.jpg")),
            fmt.timings_markdown(timings, held.cached_body),
            fmt.notes_markdown(held.notes, held.check),
            fmt.check_markdown(held.check),
            held.token,
        )

    def remember(self, history: list[str] | None, token: str, request: gr.Request) -> tuple[list[str], Any]:
        """Put ``token`` first in the session's history (tokens only, at most :data:`HISTORY_SIZE`;
        results no longer held drop out) and return it with the strip's gallery value."""
        binding = client_of(request).binding
        tokens = [token] + [t for t in (history or []) if t != token] if token else list(history or [])
        kept, entries = [], []
        for candidate in tokens:
            if len(kept) == HISTORY_SIZE or candidate not in self.results:
                continue
            try:
                held = self.results.get(candidate, binding)
            except TryOnError:
                continue
            kept.append(candidate)
            entries.append((str(held.folder / "after.jpg"), self.caption(held)))
        return kept, gr.Gallery(value=entries, selected_index=None, visible=bool(entries))

    def caption(self, held: HeldResult) -> str:
        """A few words naming what a held result tried on."""
        what = held.description or self.catalog.caption_of(held.garment_path) or "your garment photo"
        if held.description and held.garment_path:
            what = f"{self.catalog.caption_of(held.garment_path) or 'your garment photo'} + '{held.description}'"
        return what if len(what) <= CAPTION_CHARS else what[: CAPTION_CHARS - 1] + "…"

    def queue_check(self, token: str, consent: bool, request: gr.Request) -> str:
        """File a system flag for annotators when the shown result's self-check found problems (the
        output with the face blurred, or with the photo when the shopper ticked the consent box).
        Returns a line for the shopper ("" when the check passed)."""
        if not token:
            return ""
        held = self.results.get(token, client_of(request).binding)
        try:
            filed = self.flags.flag_self_check(held, bool(consent))
        except TryOnError as exc:  # e.g. no face to blur: nothing is stored rather than an unblurred face
            log.info("self-check flag not stored: %s", exc)
            return ""
        if filed is None:
            return ""
        kept = "with your photo, as you allowed" if consent else "the result only, face blurred"
        return f"We sent this result to our reviewers to improve the fit ({kept})."

    def garment_faces(self, path: str) -> tuple[tuple[int, int, int, int], ...]:
        """The faces in a garment photo, refusing a photo of a person; cached by the file's bytes, so
        a garment checked on upload (or tried before) is not decoded again for the check."""
        key = file_key(path)
        with self._checks_lock:
            check = self._garment_checks.get(key) if key else None
        if check is None:
            check = pipeline.inspect_garment_photo(pipeline.load_photo(path, "garment photo"))
            if key:
                with self._checks_lock:
                    self._garment_checks[key] = check
        if check.shows_person:
            pipeline.check_garment_photo_result(check)
        return check.faces

    # ---- the lazy panels

    def person_of(self, held: HeldResult) -> np.ndarray:
        """The held result's person photo, read again from its upload (and checked to be the same).

        Raises:
            TryOnError: the upload is gone or changed (uploads are kept ``cache_ttl_s``).
        """
        if held.person_key is None or file_key(held.person_path) != held.person_key:
            raise TryOnError("Your photo is no longer on the server (uploads are kept for a while only): "
                             "press Try on again.")
        return pipeline.load_photo(held.person_path, "person photo")

    def analysis(self, token: str, request: gr.Request) -> list[tuple[str, str]]:
        """The analysis gallery of the result ``token``: pose, body regions, edit area, garment mask."""
        held = self.results.get(token, client_of(request).binding)
        person = self.person_of(held)
        body, _ = pipeline.analyze_person(person)
        views = pipeline.analysis_views(person, body, held.edit_mask, *held.garment_previews(), EDIT_OVERLAY_RGB)
        files = []
        for number, (image, caption) in enumerate(views):
            files.append((str(write_jpeg(preview(image), held.folder / f"analysis-{number}.jpg")), caption))
        return files

    def edit_area(self, token: str, request: gr.Request) -> dict[str, Any]:
        """The edit-area editor's value for the result ``token``: the photo with the area tinted, its long
        side :data:`EDIT_SIDE` (the strokes are scaled back up by :func:`mask_from_editor`)."""
        held = self.results.get(token, client_of(request).binding)
        background = preview(pipeline.tint(self.person_of(held), held.edit_mask, EDIT_OVERLAY_RGB), EDIT_SIDE)
        return {"background": str(write_jpeg(background, held.folder / "edit-area.jpg")), "layers": [],
                "composite": None}

    def open_analysis(self, token: str, request: gr.Request) -> Any:
        """The analysis gallery when its panel opens (nothing to show before a try-on)."""
        return self.analysis(token, request) if token else gr.skip()

    def open_edit_area(self, token: str, request: gr.Request) -> Any:
        """The editor's value when its panel opens (nothing to show before a try-on)."""
        return self.edit_area(token, request) if token else gr.skip()

    def refresh_panels(self, token: str, analysis_open: bool, editor_open: bool,
                       request: gr.Request) -> tuple[Any, Any]:
        """After a try-on: rebuild the panels that are open, leave the closed ones alone."""
        analysis = self.analysis(token, request) if analysis_open and token else gr.skip()
        editor = self.edit_area(token, request) if editor_open and token else gr.skip()
        return analysis, editor

    # ---- uploads, description, catalog

    def person_check(self, path: str) -> None:
        """Decode and analyse a person photo as it arrives (the analysis is cached: Try on finds it ready)."""
        pipeline.analyze_person(pipeline.load_photo(path, "person photo"))

    def garment_check(self, path: str) -> None:
        """Check a garment photo as it arrives (refuse a photo of a person) and find the garment (cached)."""
        self.garment_faces(path)
        pipeline.prepare_garment(pipeline.load_photo(path, "garment photo"))

    def understand(self, description: str | None, garment: str | None) -> str:
        """The 'understood as' chips of a description (empty without one)."""
        if not description or not description.strip():
            return fmt.chips_html(None)
        try:
            check_description(description)
            spec = pipeline.parse_description(description)
        except TryOnError as exc:
            return fmt.chips_html(None, message=str(exc))
        return fmt.chips_html(spec, garment_photo=bool(garment))


def warm_up(shop: Shop, examples: list[tuple[str, str | None]]) -> None:
    """Load what the first request would otherwise wait for (~3 s on 2 cores).

    The text encoder and its prototype phrases, the MediaPipe graphs (by analysing the example
    people, which also caches their analyses), the example garments' analyses (so a click on an
    example costs a render only), the catalog index and the renderer check. Each step is
    independent: a failure is logged and the request that needs it retries.

    Args:
        examples: ``(person photo, garment photo or None)`` of the examples.
    """

    def people() -> None:
        for path in dict.fromkeys(person for person, _ in examples):
            pipeline.analyze_person(pipeline.load_photo(path, "example photo"))

    def garments() -> None:
        for path in dict.fromkeys(garment for _, garment in examples if garment):
            shop.garment_faces(path)
            pipeline.prepare_garment(pipeline.load_photo(path, "example garment"))

    steps = [
        ("text encoder", pipeline.warm_up_text),
        ("MediaPipe", people),
        ("example garments", garments),
        ("catalog", lambda: pipeline.catalog_index(shop.settings)),
        ("renderer check", lambda: pipeline.diffusion_unavailable(shop.settings)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception:  # warming is best effort: the request that needs the step reports errors
            log.exception("warm-up step %r failed", name)
    log.info("warm-up done")

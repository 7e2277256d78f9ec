"""The one try-on function that the UI, the CLI, the API and the benchmarks call.

    intake -> body (cached by content hash) -> text -> garment (cached) -> render (warp | diffusion) -> result

Images cross this boundary as RGB ``uint8`` ``(H, W, 3)`` arrays, masks as
``bool`` ``(H, W)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .config import Settings, get_settings
from .errors import TryOnError
from .stages.intake import ImageSource, load_image

RENDERERS = ("warp", "diffusion")
CATEGORY_CHOICES = ("auto", "upper", "lower", "dress")


@dataclasses.dataclass(frozen=True, eq=False)
class TryOnResult:
    """Everything one try-on produced.

    Attributes:
        image: RGB uint8 ``(H, W, 3)``, the person wearing the garment, at processing size.
        person: RGB uint8 ``(H, W, 3)``, the person photo at processing size (the "before").
        edit_mask: bool ``(H, W)``, pixels the renderer was allowed to change; all others
            equal ``person``.
        garment_mask: bool ``(H, W)``, pixels showing the new garment in ``image``.
        garment_image: RGB uint8, the garment photo used (uploaded, recoloured or synthesized).
        category: "upper", "lower" or "dress", the category rendered.
        renderer: the renderer that produced ``image``.
        body: the :class:`tryon.stages.body.BodyAnalysis` of the person.
        garment: the :class:`tryon.stages.garment.GarmentAnalysis` of the garment.
        spec: the parsed description (:class:`tryon.stages.text.GarmentSpec`) or None.
        consistency: description-vs-result scores (empty without a description).
        timings: stage name -> seconds.
        notes: things the user should know (renderer fallback, overridden guesses...).
        cached_body: True when the person analysis came from the cache.
    """

    image: np.ndarray
    person: np.ndarray
    edit_mask: np.ndarray
    garment_mask: np.ndarray
    garment_image: np.ndarray
    category: str
    renderer: str
    body: Any
    garment: Any
    spec: Any = None
    consistency: dict[str, Any] = dataclasses.field(default_factory=dict)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    cached_body: bool = False


class _LRU:
    """A small thread-safe LRU cache keyed by content hash."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """``(value, hit)``: the cached value for ``key``, or ``compute()`` stored under it."""
        value = self.get(key)
        if value is not None:
            return value, True
        value = compute()
        self.put(key, value)
        return value, False


_BODY_CACHE = _LRU(get_settings().person_cache_size)
# Catalog garments are tried on by many people: their analysis is cached the same way.
_GARMENT_CACHE = _LRU(get_settings().person_cache_size)
# The composite's person-only preparation (masks and full-size fills, ~30 MB at 768x1024): fewer kept.
PREPARED_CACHE_SIZE = 4
_PREPARED_CACHE = _LRU(PREPARED_CACHE_SIZE)


def image_key(image: np.ndarray) -> str:
    """sha256 of an array's shape and bytes: the cache key of a processed photo."""
    digest = hashlib.sha256(str(image.shape).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def analyze_person(person: np.ndarray) -> tuple[Any, bool]:
    """Body analysis of ``person`` (RGB uint8), from the cache when seen before.

    Returns:
        ``(BodyAnalysis, cached)``.
    """
    from .stages.body import analyze_body

    return _BODY_CACHE.get_or_compute(image_key(person), lambda: analyze_body(person))


def analyze_garment_cached(garment: np.ndarray, category: str) -> Any:
    """Garment analysis of ``garment`` (RGB uint8) for ``category``, from the cache when seen before."""
    from .stages.garment import analyze_garment

    key = f"{image_key(garment)}:{category}"
    return _GARMENT_CACHE.get_or_compute(key, lambda: analyze_garment(garment, category))[0]


def prepare_person_cached(person: np.ndarray, body: Any, category: str) -> Any:
    """:func:`tryon.stages.composite.prepare_person` of ``person`` (RGB uint8), its BodyAnalysis and
    ``category``, from the cache when seen before (a second garment on the same photo)."""
    from .stages.composite import prepare_person

    key = f"{image_key(person)}:{category}"
    return _PREPARED_CACHE.get_or_compute(key, lambda: prepare_person(person, body, category))[0]


def clear_cache() -> None:
    """Forget every cached person and garment analysis (benchmarks use it to measure cold paths)."""
    _BODY_CACHE.clear()
    _GARMENT_CACHE.clear()
    _PREPARED_CACHE.clear()


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def check_inputs(
    garment: ImageSource | None, description: str | None, category: str, renderer: str
) -> None:
    """Refuse requests that cannot be rendered, with a message that says the fix."""
    if garment is None and not (description and description.strip()):
        raise TryOnError(
            "Give a garment: upload a garment photo, pick one from the gallery, "
            "or describe it (e.g. 'a red long-sleeve shirt')."
        )
    if category not in CATEGORY_CHOICES:
        raise TryOnError(f"Unknown category {category!r}: choose one of {', '.join(CATEGORY_CHOICES)}.")
    if renderer not in RENDERERS:
        raise TryOnError(f"Unknown renderer {renderer!r}: choose one of {', '.join(RENDERERS)}.")


def try_on(
    person: ImageSource,
    garment: ImageSource | None = None,
    description: str | None = None,
    *,
    category: str = "auto",
    renderer: str | None = None,
    edit_mask: np.ndarray | None = None,
    settings: Settings | None = None,
) -> TryOnResult:
    """Dress the person in ``person`` with ``garment`` and/or ``description``.

    Args:
        person: photo of one person (anything :func:`tryon.stages.intake.load_image` reads).
        garment: product photo of a garment, or None to synthesize one from ``description``.
        description: words about the garment, English or Chinese; recolours or
            overrides the category/sleeves of a garment photo, or defines the garment alone.
        category: "auto" (guess from the garment photo / description) or a category.
        renderer: "warp" or "diffusion" (default: ``settings.renderer``); diffusion falls
            back to warp, with a note, where no GPU or weights are present.
        edit_mask: bool ``(H, W)`` at processing size, a user-corrected area the renderer
            may change (replaces the automatic one).
        settings: defaults to :func:`tryon.config.get_settings`.

    Raises:
        TryOnError: any input the user can fix (message says how).
    """
    from .stages import composite as composite_stage
    from .stages import text as text_stage
    from .stages import warp as warp_stage
    from .stages.body import check_visible

    settings = settings or get_settings()
    renderer = renderer or settings.renderer
    check_inputs(garment, description, category, renderer)
    timings: dict[str, float] = {}
    notes: list[str] = []

    # 1. Intake: decode, orient, convert, bound the size.
    with _timed(timings, "intake"):
        person_rgb = load_image(person, what="person photo")
        garment_rgb = None if garment is None else load_image(garment, what="garment photo")

    # 2. Body: pose, masks, regions (cached by content hash).
    with _timed(timings, "body"):
        body, cached = analyze_person(person_rgb)

    # 3. Text: parse the description; it may pick the category and the garment's colour.
    spec = None
    if description and description.strip():
        with _timed(timings, "text"):
            spec = text_stage.parse(description)
        if category == "auto" and spec.category is not None:
            category = spec.category
        if garment_rgb is None:
            from .stages import synth

            with _timed(timings, "synthesize"):
                garment_rgb = synth.synthesize_garment(spec)

    # 4. Garment: mask, category, keypoints; the description's colour recolours it.
    with _timed(timings, "garment"):
        garment_info = analyze_garment_cached(garment_rgb, category)
    if spec is not None and garment is not None:
        garment_info = _apply_text_edits(garment_info, spec, notes, timings)
    category = garment_info.category
    check_visible(body, category)

    # 5. Render.
    if renderer == "diffusion":
        from .stages import diffusion

        reason = diffusion.unavailable_reason(settings)
        if reason is not None:
            notes.append(f"Used the warp renderer: {reason}")
            renderer = "warp"
    if renderer == "diffusion":
        with _timed(timings, "diffusion"):
            rendered = diffusion.render(person_rgb, body, garment_info, spec, settings, edit_mask)
    else:
        with _timed(timings, "warp"):
            warped = warp_stage.warp_garment(garment_info, body)
        with _timed(timings, "composite"):
            prepared = prepare_person_cached(person_rgb, body, warped.category)
            rendered = composite_stage.composite(person_rgb, body, warped, edit_mask=edit_mask, prepared=prepared)

    # 6. Check the result against the description.
    consistency: dict[str, Any] = {}
    if spec is not None:
        with _timed(timings, "consistency"):
            consistency = text_stage.consistency(spec, rendered.image, rendered.garment_mask, garment_info)

    timings["total"] = sum(timings.values())
    return TryOnResult(
        image=rendered.image,
        person=person_rgb,
        edit_mask=rendered.edit_mask,
        garment_mask=rendered.garment_mask,
        garment_image=garment_info.image,
        category=category,
        renderer=renderer,
        body=body,
        garment=garment_info,
        spec=spec,
        consistency=consistency,
        timings=timings,
        notes=tuple(notes),
        cached_body=cached,
    )


def _apply_text_edits(garment_info: Any, spec: Any, notes: list[str], timings: dict[str, float]) -> Any:
    """Recolour a garment photo to the described colour (texture and print kept)."""
    from .stages import text as text_stage

    with _timed(timings, "recolor"):
        edited = text_stage.edit_garment(garment_info, spec)
    if edited.image is not garment_info.image:
        notes.append("Recoloured the garment photo to match the description.")
    if edited.sleeve != garment_info.sleeve:
        notes.append(f"Used the description's sleeve length ({edited.sleeve.replace('_', '-')}).")
    return edited


# ---------------------------------------------------------------------------------------------------
# Instant preview, then refine (the diffusion renderer as a second pass over the warp result)
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RefineProgress:
    """The diffusion refinement finished denoising step ``step`` of ``total``."""

    step: int
    total: int


def diffusion_unavailable(settings: Settings | None = None) -> str | None:
    """Why the diffusion renderer cannot run here (one sentence, for the UI), or None. Loads nothing."""
    from .stages import diffusion

    return diffusion.unavailable_reason(settings or get_settings())


def preload_diffusion(settings: Settings | None = None) -> str | None:
    """Load the diffusion pipeline now, on the calling thread (the app's start-up, on ZeroGPU the main
    thread): why it cannot run, or None once it is in memory."""
    from .stages import diffusion

    return diffusion.preload(settings or get_settings())


def gpu_entry_point() -> Callable[..., Any]:
    """The one GPU function (:func:`tryon.stages.diffusion.generate`, wrapped in ``spaces.GPU`` where the
    ``spaces`` package is installed). Importing it registers it with ZeroGPU: do so before ``launch()``."""
    from .stages import diffusion

    return diffusion.generate


def try_on_progressive(
    person: ImageSource,
    garment: ImageSource | None = None,
    description: str | None = None,
    *,
    category: str = "auto",
    edit_mask: np.ndarray | None = None,
    settings: Settings | None = None,
    options: Any = None,
) -> Iterator[TryOnResult | RefineProgress]:
    """:func:`try_on` with the warp renderer at once, then the diffusion renderer refining that result.

    Yields, in order: the warp :class:`TryOnResult` (the instant preview); a :class:`RefineProgress` per
    denoising step; the refined :class:`TryOnResult` (renderer "diffusion"). Where diffusion cannot run, the
    second result is the preview again with a note saying why.

    Args:
        person, garment, description, category, edit_mask, settings: as for :func:`try_on`.
        options: :class:`tryon.stages.diffusion.DiffusionOptions` (steps, guidance, strength, seed), default
            from ``settings``.

    Raises:
        TryOnError: any input the user can fix (message says how), before the preview or while refining.
    """
    from .stages import diffusion
    from .stages import text as text_stage
    from .stages.composite import Composite

    settings = settings or get_settings()
    preview = try_on(person, garment, description, category=category, renderer="warp", edit_mask=edit_mask,
                     settings=settings)
    yield preview
    reason = diffusion.unavailable_reason(settings)
    if reason is not None:
        yield dataclasses.replace(preview, notes=(*preview.notes, f"Used the warp renderer: {reason}"))
        return
    timings = dict(preview.timings)
    start = time.perf_counter()
    warped = Composite(preview.image, preview.edit_mask, preview.garment_mask, layers={})
    rendered = None
    for event in diffusion.render_steps(preview.person, preview.body, preview.garment, preview.spec, settings,
                                        edit_mask, init=warped, garment_photo=garment is not None,
                                        options=options):
        if isinstance(event, diffusion.Progress):
            yield RefineProgress(event.step, event.total)
        else:
            rendered = event
    timings["diffusion"] = time.perf_counter() - start
    consistency: dict[str, Any] = {}
    if preview.spec is not None:
        with _timed(timings, "consistency"):
            consistency = text_stage.consistency(preview.spec, rendered.image, rendered.garment_mask, preview.garment)
    timings["total"] = sum(seconds for stage, seconds in timings.items() if stage != "total")
    yield dataclasses.replace(preview, image=rendered.image, edit_mask=rendered.edit_mask,
                              garment_mask=rendered.garment_mask, renderer="diffusion", consistency=consistency,
                              timings=timings)


def diffusion_options(settings: Settings | None = None, **overrides: Any) -> Any:
    """:class:`tryon.stages.diffusion.DiffusionOptions` from ``settings``, with the given fields replaced
    (None keeps the setting): steps, guidance, strength, seed, side, prior_steps."""
    from .stages.diffusion import DiffusionOptions

    options = DiffusionOptions.from_settings(settings or get_settings())
    return dataclasses.replace(options, **{name: value for name, value in overrides.items() if value is not None})

"""The one try-on function that the UI, the CLI, the API and the benchmarks call.

    intake -> body (cached by content hash) -> text -> garment (cached) -> render (warp | diffusion) -> result

Images cross this boundary as RGB ``uint8`` ``(H, W, 3)`` arrays, masks as
``bool`` ``(H, W)``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cachetools
import numpy as np

from .config import Settings, get_settings
from .errors import TryOnError
from .stages.check import ResultCheck, check_result
from .stages.intake import ImageSource, load_image

RENDERERS = ("warp", "diffusion")
OUTERWEAR_NOTE = (
    "Kept your open jacket on: the new garment is shown under it. For the whole garment, "
    "use a photo without the jacket."
)
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
        check: the self-check of the picture (:class:`tryon.stages.check.ResultCheck`).
        timings: stage name -> seconds; ``total`` is the request's wall time (the person's and the garment's
            analyses run side by side, so it is less than the stages' sum).
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
    check: ResultCheck | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    cached_body: bool = False


class _Cache:
    """A thread-safe LRU cache (``cachetools``) sized from the settings on first use, not at import."""

    def __init__(self, size: Callable[[Settings], int]) -> None:
        self._size = size
        self._items: cachetools.LRUCache | None = None
        self._lock = threading.Lock()

    def _sized(self) -> cachetools.LRUCache:
        if self._items is None:  # callers hold the lock
            self._items = cachetools.LRUCache(maxsize=max(1, self._size(get_settings())))
        return self._items

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """``(value, hit)``: the cached value for ``key``, or ``compute()`` stored under it (computed
        outside the lock: two first requests for one key may both compute; either result is kept)."""
        with self._lock:
            value = self._sized().get(key)
        if value is not None:
            return value, True
        value = compute()
        self.put(key, value)
        return value, False

    def peek(self, key: str) -> Any:
        """The cached value for ``key`` or None, without computing anything."""
        with self._lock:
            return self._sized().get(key)

    def put(self, key: str, value: Any) -> None:
        """Keep ``value`` under ``key`` (an analysis made elsewhere)."""
        with self._lock:
            self._sized()[key] = value

    def clear(self) -> None:
        """Forget everything; the next use sizes the cache from the settings again."""
        with self._lock:
            self._items = None


_BODY_CACHE = _Cache(lambda settings: settings.person_cache_size)
# Catalog garments are tried on by many people: their analysis is cached the same way.
_GARMENT_CACHE = _Cache(lambda settings: settings.person_cache_size)
# The composite's person-only preparation (masks and full-size fills, ~30 MB at 768x1024): fewer kept.
PREPARED_CACHE_SIZE = 4
_PREPARED_CACHE = _Cache(lambda settings: PREPARED_CACHE_SIZE)


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


def _load(source: ImageSource, what: str, settings: Settings) -> np.ndarray:
    """:func:`tryon.stages.intake.load_image` with the caller's size limits."""
    return load_image(source, what=what, max_side=settings.max_side, min_side=settings.min_side,
                      max_pixels=settings.max_pixels)


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
    from .stages.body import check_visible

    settings = settings or get_settings()
    renderer = renderer or settings.renderer
    check_inputs(garment, description, category, renderer)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    notes: list[str] = []

    # 1. Intake: decode, orient, convert, bound the size.
    with _timed(timings, "intake"):
        person_rgb = _load(person, "person photo", settings)
        garment_rgb = None if garment is None else _load(garment, "garment photo", settings)

    # 2-4. The person and the garment side by side: neither needs the other, and OpenCV, NumPy and MediaPipe
    # let go of Python's lock, so on two cores the garment's analysis hides behind the person's.
    dressing = _side_threads(settings.side_thread).submit(_dress_up, description, category, garment_rgb,
                                                          garment is not None)
    try:
        # 2. Body: pose, masks, regions, the person model (cached by content hash).
        with _timed(timings, "body"):
            body, cached = analyze_person(person_rgb)
    except BaseException:
        dressing.cancel()  # the person photo's problem is the one to tell (as when the stages ran in turn)
        raise
    spec, garment_info, garment_timings, garment_notes = dressing.result()
    timings.update(garment_timings)
    notes.extend(garment_notes)
    category = garment_info.category
    check_visible(body, category)

    # 5. Render.
    renderer, rendered = _render(person_rgb, body, garment_info, spec, renderer, edit_mask, settings, notes, timings,
                                 garment_photo=garment is not None)

    # 6. Check the picture: what shows where, against the garment and the description.
    with _timed(timings, "check"):
        verdict = check_result(person_rgb, rendered.image, rendered.garment_mask, body, garment_info, category, spec)
    notes.extend(verdict.problems)
    timings["total"] = time.perf_counter() - started
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
        check=verdict,
        timings=timings,
        notes=tuple(notes),
        cached_body=cached,
    )


SIDE_THREADS = 8  # helper jobs (garment analyses, person preparations) at once; more wait for a thread


class _Inline(Executor):
    """An executor that runs what it is given at once, in the caller's thread (``TRYON_SIDE_THREAD=0``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        done: Future = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            done.set_exception(exc)
        return done


def _side_threads(enabled: bool = True) -> Executor:
    """The threads :func:`try_on` analyses the garment and prepares the person on, made on first use in each
    process (none when not ``enabled``: one request then keeps to one core, as a lookbook's single-thread baseline
    needs). Their jobs never wait for one another, so a full pool only queues."""
    return _threads_of(os.getpid()) if enabled else _Inline()


@functools.cache
def _threads_of(pid: int) -> ThreadPoolExecutor:
    # One pool per process: a process forked from one that had the pool (ZeroGPU runs the GPU function in a
    # fork) inherits it without its threads, and work handed to it would wait for ever.
    return ThreadPoolExecutor(max_workers=SIDE_THREADS, thread_name_prefix="tryon-side")


def _dress_up(
    description: str | None, category: str, garment_rgb: np.ndarray | None, garment_photo: bool
) -> tuple[Any, Any, dict[str, float], list[str]]:
    """Steps 3 and 4 of :func:`try_on`: ``(spec, garment analysis, timings, notes)``.

    3. Text: parse the description; it may pick the category, or define the garment alone.
    4. Garment: mask, category, keypoints; the description's colour and sleeves edit a photo.
    """
    timings: dict[str, float] = {}
    notes: list[str] = []
    spec, category, garment_rgb = _describe(description, category, garment_rgb, timings)
    with _timed(timings, "garment"):
        garment_info = analyze_garment_cached(garment_rgb, category)
    if spec is not None and garment_photo:
        garment_info = _apply_text_edits(garment_info, spec, notes, timings)
    elif spec is not None:
        from .stages import synth

        garment_info = synth.as_drawn(garment_info, spec)
    return spec, garment_info, timings, notes


def _describe(
    description: str | None, category: str, garment_rgb: np.ndarray | None, timings: dict[str, float]
) -> tuple[Any, str, np.ndarray]:
    """``(spec, category, garment photo)``: the parsed description (None without one), the category it
    names when the request said "auto", and the garment photo (synthesized from the words alone)."""
    if not (description and description.strip()):
        return None, category, garment_rgb
    from .stages import text as text_stage

    with _timed(timings, "text"):
        spec = text_stage.parse(description)
    if category == "auto" and spec.category is not None:
        category = spec.category
    if garment_rgb is None:
        from .stages import synth

        with _timed(timings, "synthesize"):
            garment_rgb = synth.synthesize_garment(spec)
    return spec, category, garment_rgb


def _render(
    person_rgb: np.ndarray, body: Any, garment_info: Any, spec: Any, renderer: str, edit_mask: np.ndarray | None,
    settings: Settings, notes: list[str], timings: dict[str, float], *, garment_photo: bool = True,
) -> tuple[str, Any]:
    """``(renderer used, Composite)``: warp + composite, then, where the diffusion renderer can run (else
    with a note saying why not), the diffusion renderer refining that warp result.

    ``garment_photo``: False when the garment was synthesized from the description alone (the
    diffusion recipes then condition on the words).
    """
    from .stages import composite as composite_stage
    from .stages import warp as warp_stage

    # The person's side of the composite (cached per photo and category) is made on the helper thread while the
    # garment is warped: neither needs the other.
    category = garment_info.category
    preparing = _side_threads(settings.side_thread).submit(prepare_person_cached, person_rgb, body, category)
    with _timed(timings, "warp"):
        # Placed to meet the old clothing's hem where it nearly does, before it is drawn (once).
        old_hem_tl = body.person.clothing.hem_tl_for(category, body.person.frame)  # the preparation's, too
        warped = warp_stage.warp_garment(garment_info, body, old_hem_tl=old_hem_tl)
    with _timed(timings, "composite"):
        prepared = preparing.result()
        rendered = composite_stage.composite(person_rgb, body, warped, edit_mask=edit_mask, prepared=prepared)
    if body.person.clothing.outer is not None and warped.category != "lower":
        notes.append(OUTERWEAR_NOTE)
    if renderer != "diffusion":
        return "warp", rendered
    from .stages import diffusion

    reason = diffusion.unavailable_reason(settings)
    if reason is not None:
        notes.append(f"Used the warp renderer: {reason}")
        return "warp", rendered
    with _timed(timings, "diffusion"):
        refined = diffusion.render(person_rgb, body, garment_info, spec, settings, edit_mask, init=rendered,
                                   garment_photo=garment_photo)
    return "diffusion", refined


def _apply_text_edits(garment_info: Any, spec: Any, notes: list[str], timings: dict[str, float]) -> Any:
    """Apply the description's colour and stated sleeve length to a garment photo (pixels, not
    labels), adding what was done, or could not be done, to ``notes``."""
    from .stages import text as text_stage

    with _timed(timings, "recolor"):
        edited = text_stage.apply_edits(garment_info, spec)
    notes.extend(edited.notes)
    return edited.garment


# ---------------------------------------------------------------------------------------------
# Batch entry points (tryon.lookbook): analyse each photo once, then render it with many others in
# other processes. The analyses are what try_on computes; try_on finds them in this process's caches.
# ---------------------------------------------------------------------------------------------


def analyze_person_photo(person: ImageSource, *, keep: bool = True) -> tuple[np.ndarray, Any]:
    """Steps 1-2 of :func:`try_on` for a person photo: ``(RGB uint8 (H, W, 3) at processing size,
    BodyAnalysis)``, from and into the cache like try_on (``keep=False``: not kept, for a batch worker that
    hands the analysis to other processes).

    Raises:
        TryOnError: not a readable photo of one person (message says the fix).
    """
    from .stages.body import analyze_body

    person_rgb = _load(person, "person photo", get_settings())
    if keep:
        return person_rgb, analyze_person(person_rgb)[0]
    return person_rgb, _BODY_CACHE.peek(image_key(person_rgb)) or analyze_body(person_rgb)


def analyze_garment_photo(
    garment: ImageSource | None, description: str | None = None, category: str = "auto", *, keep: bool = True
) -> tuple[np.ndarray, str, Any]:
    """Steps 1, 3 and 4 of :func:`try_on` for a garment (before any recolouring by the description).

    Args:
        garment: a garment photo, or None to synthesize one from ``description``.
        description: the words try_on will get with it, or None; may choose the category.
        category: the category try_on will get ("auto" or a category).
        keep: keep the analysis in this process's cache (as try_on does).

    Returns:
        ``(garment RGB uint8 (H, W, 3), the category the analysis is keyed by, GarmentAnalysis)``.

    Raises:
        TryOnError: no garment and no description, not an image, no garment found in the photo.
    """
    from .stages.garment import analyze_garment

    check_inputs(garment, description, category, RENDERERS[0])
    garment_rgb = None if garment is None else _load(garment, "garment photo", get_settings())
    spec, category, garment_rgb = _describe(description, category, garment_rgb, {})
    if keep:
        analysis = analyze_garment_cached(garment_rgb, category)
    else:
        analysis = _GARMENT_CACHE.peek(f"{image_key(garment_rgb)}:{category}") or analyze_garment(garment_rgb, category)
    if garment is None:
        from .stages import synth

        analysis = synth.as_drawn(analysis, spec)
    return garment_rgb, category, analysis


def remember_analyses(
    person_rgb: np.ndarray | None = None,
    body: Any = None,
    garment_rgb: np.ndarray | None = None,
    category: str = "auto",
    garment: Any = None,
) -> None:
    """Put analyses made in another process (:func:`analyze_person_photo`, :func:`analyze_garment_photo`)
    into this process's caches, keyed as :func:`try_on` looks them up (content hash of the RGB uint8
    photo, and the garment's category key), so try_on does not analyse the photos again."""
    if person_rgb is not None and body is not None:
        _BODY_CACHE.put(image_key(person_rgb), body)
    if garment_rgb is not None and garment is not None:
        _GARMENT_CACHE.put(f"{image_key(garment_rgb)}:{category}", garment)


def prepare_renderer(renderer: str, settings: Settings | None = None) -> str | None:
    """Load ``renderer``'s models now (a batch worker's start-up): why it cannot run, or None once ready.

    ``warp`` needs nothing ahead of time; ``diffusion`` loads its pipeline (once per process).
    """
    check_inputs(None, "-", "auto", renderer)
    return None if renderer != "diffusion" else preload_diffusion(settings)


# ---------------------------------------------------------------------------------------------
# The shop window: catalog, search, find similar, colour advice. The UI calls these (it never
# imports the stages); each takes plain inputs and returns the stage's result dataclasses.
# ---------------------------------------------------------------------------------------------

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
GARMENTS_DIR = ASSETS_DIR / "garments"
PEOPLE_DIR = ASSETS_DIR / "people"
SEARCH_RESULTS = 12


def catalog_folders(settings: Settings | None = None) -> list[Path]:
    """The catalog folders: the shipped ``assets/garments`` and ``settings.catalog`` when set."""
    settings = settings or get_settings()
    return [GARMENTS_DIR] + ([Path(settings.catalog)] if settings.catalog else [])


def catalog_records(settings: Settings | None = None) -> list[Any]:
    """Every catalog photo the settings allow (``settings.examples``), unranked, without loading
    a model: :class:`tryon.stages.search.CatalogRecord` (path, caption, category, licence,
    commercial). For the gallery before any search."""
    from .stages.search import read_catalog

    settings = settings or get_settings()
    return read_catalog(catalog_folders(settings), settings.examples)


def example_people(settings: Settings | None = None) -> list[Any]:
    """The shipped example people the settings allow: :class:`tryon.stages.search.CatalogRecord`
    with ``caption`` = the person's description (``assets/people/people.csv``)."""
    from .stages.search import PEOPLE_SIDECAR, read_records

    settings = settings or get_settings()
    people = read_records(PEOPLE_DIR, sidecar=PEOPLE_SIDECAR, caption_column="description")
    return [p for p in people if settings.examples == "all" or p.commercial]


@functools.lru_cache(maxsize=2)
def _catalog_index(folders: tuple[Path, ...], examples: str) -> Any:
    from .stages.search import build_catalog_index

    return build_catalog_index(folders, examples)


def catalog_index(settings: Settings | None = None) -> Any:
    """The :class:`tryon.stages.search.CatalogIndex` of :func:`catalog_folders`, built once per
    process and setting (~1 s for 50 photos on 2 cores)."""
    settings = settings or get_settings()
    return _catalog_index(tuple(catalog_folders(settings)), settings.examples)


def search_catalog(
    query: str, category: str | None = None, *, k: int | None = SEARCH_RESULTS, settings: Settings | None = None
) -> Any:
    """Catalog items matching a description (English, Chinese or both), best first.

    Args:
        query: the shopper's words; blank lists the catalog.
        category: None (any), "upper", "lower" or "dress".
        k: results wanted (None: all).

    Returns:
        :class:`tryon.stages.search.SearchResults`: ``hits`` (item, score), ``close_match`` (False
        when nothing in the catalog is close: say so, and show the hits as the nearest items) and
        a ``message`` for the shopper.

    Raises:
        TryOnError: unknown category.
    """
    return catalog_index(settings).query(query, k, category)


def find_similar(
    garment: ImageSource, category: str | None = None, *, k: int | None = SEARCH_RESULTS,
    settings: Settings | None = None,
) -> Any:
    """Catalog items that look like a garment photo (uploaded, or picked from the catalog).

    Compares colour palette, pattern, shape and category (the garment stage's guess) and, for a
    catalog photo, its caption's meaning and attributes; the photo itself is left out. Where the
    garment stage cannot separate the garment from a plain background (a white tee on white), the
    colours and shape are measured on what differs from the border, and no category matches.

    Args:
        garment: a garment product photo (path, bytes, PIL image or RGB uint8 array).
        category: None (any), "upper", "lower" or "dress".
        k: results wanted (None: all).

    Returns:
        :class:`tryon.stages.search.SearchResults`, as :func:`search_catalog`.

    Raises:
        TryOnError: not an image, or not a product photo of a garment (the message says what to
            do), unknown category.
    """
    settings = settings or get_settings()
    index = catalog_index(settings)
    image = load_image(garment, what="garment photo")
    try:
        info = analyze_garment_cached(image, "auto")
        mask, garment_category = info.mask, info.category
    except TryOnError:
        from .stages.search import features

        if not features.plain_background(image):
            raise
        mask, garment_category = None, None
    known = {item.path.resolve(): item for item in index.items}
    item = known.get(Path(garment).resolve()) if isinstance(garment, (str, Path)) else None
    return index.find_similar(
        image, k, category, mask=mask, garment_category=garment_category,
        caption=item.caption if item else None, exclude=item.path if item else None,
    )


def colour_advice(
    person: ImageSource, *, k: int | None = SEARCH_RESULTS, settings: Settings | None = None
) -> Any:
    """Colour and cut advice for a person photo, with catalog garments in the suited colours.

    A suggestion (say so in the UI): colours from the measured skin tone (CIELAB depth and
    undertone) and its contrast with the hair, after seasonal colour analysis; cuts and lengths from
    the shoulder/hip breadth and torso/leg length ratios. See :mod:`tryon.stages.advice`.

    Args:
        person: photo of one person (a full-body photo also gives length advice).
        k: catalog suggestions wanted (None: all, ranked).

    Returns:
        :class:`tryon.stages.advice.Advice`: ``colours`` (season, ``suits``, ``avoid``, ``reason``),
        ``proportions`` (``shape``, ``legs``, ``tips``), ``suggestions`` ((item, score, reason),
        best first) and ``label``.

    Raises:
        TryOnError: not a usable photo of one person (the message says what to do).
    """
    from .stages import advice as advice_stage

    image = load_image(person, what="person photo")
    body, _ = analyze_person(image)
    advice = advice_stage.advise(image, body)
    items = catalog_index(settings).items
    ranked = advice_stage.rank_by_colour(
        advice.colours, [item.looks.palette for item in items], [item.looks.shares for item in items]
    )
    suggestions = tuple(advice_stage.Suggestion(items[i], score, reason) for i, score, reason in ranked[:k])
    return dataclasses.replace(advice, suggestions=suggestions)


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
    # The self-check looks at the refined picture; the preview's findings were about the warp result.
    with _timed(timings, "check"):
        verdict = check_result(preview.person, rendered.image, rendered.garment_mask, preview.body, preview.garment,
                               preview.category, preview.spec)
    stale = set(preview.check.problems) if preview.check is not None else set()
    notes = (*(note for note in preview.notes if note not in stale), *verdict.problems)
    # The preview's own total (its analyses overlapped), then the refinement and its check.
    timings["total"] = preview.timings["total"] + time.perf_counter() - start
    yield dataclasses.replace(preview, image=rendered.image, edit_mask=rendered.edit_mask,
                              garment_mask=rendered.garment_mask, renderer="diffusion", check=verdict,
                              notes=notes, timings=timings)


def diffusion_options(settings: Settings | None = None, **overrides: Any) -> Any:
    """:class:`tryon.stages.diffusion.DiffusionOptions` from ``settings``, with the given fields replaced
    (None keeps the setting): steps, guidance, strength, seed, side, prior_steps."""
    from .stages.diffusion import DiffusionOptions

    options = DiffusionOptions.from_settings(settings or get_settings())
    return dataclasses.replace(options, **{name: value for name, value in overrides.items() if value is not None})


# --------------------------------------------------------------------------- entry points for the faces
# Small functions the UI (and other faces) call instead of reaching into the stages, so that
# every stage stays behind this module. Images are RGB uint8 (H, W, 3), masks bool (H, W).

# A face in a garment photo: MediaPipe face detections at least this confident count.
GARMENT_FACE_MIN_SCORE = 0.6
# A face whose centre is this many shoulder widths above the shoulders of a detected pose is a
# person's head (people: 0.4-0.7 on the evaluation photos); a face print on a garment sits on
# the chest, below the garment's shoulders (about -0.1 on a portrait tee).
PERSON_HEAD_ABOVE_SHOULDERS = 0.25
SHOULDER_MIN_VISIBILITY = 0.5
GARMENT_PHOTO_CACHE_SIZE = 64


@dataclasses.dataclass(frozen=True)
class GarmentPhotoCheck:
    """What a garment photo shows besides the garment.

    Attributes:
        faces: pixel boxes ``(x0, y0, x1, y1)`` of the faces in it (a face print, or a person).
        shows_person: a face sits on a person's shoulders: a photo of someone, not of a garment.
    """

    faces: tuple[tuple[int, int, int, int], ...] = ()
    shows_person: bool = False


_GARMENT_PHOTO_CHECKS: Any = None
_GARMENT_PHOTO_LOCK = threading.Lock()


def load_photo(source: ImageSource, what: str = "photo") -> np.ndarray:
    """Decode an upload (path, bytes, array...) as :func:`try_on` does: RGB uint8 at processing size.

    Raises:
        TryOnError: not an image, damaged, too large or too small (the message says what to do).
    """
    return load_image(source, what=what)


def inspect_garment_photo(garment: np.ndarray) -> GarmentPhotoCheck:
    """Faces in a garment photo (RGB uint8), and whether it is a photo of a person; cached by content."""
    global _GARMENT_PHOTO_CHECKS
    import cachetools

    key = image_key(garment)
    with _GARMENT_PHOTO_LOCK:
        if _GARMENT_PHOTO_CHECKS is None:
            _GARMENT_PHOTO_CHECKS = cachetools.LRUCache(GARMENT_PHOTO_CACHE_SIZE)
        found = _GARMENT_PHOTO_CHECKS.get(key)
    if found is None:
        found = _inspect_garment_photo(garment)
        with _GARMENT_PHOTO_LOCK:
            _GARMENT_PHOTO_CHECKS[key] = found
    return found


def _inspect_garment_photo(garment: np.ndarray) -> GarmentPhotoCheck:
    from .models import load_model, model_lock
    from .stages.body import LEFT_SHOULDER, RIGHT_SHOULDER

    image = np.ascontiguousarray(garment)
    height, width = image.shape[:2]
    with model_lock("faces"):
        detections = load_model("faces").process(image).detections or []
    faces = []
    for detection in detections:
        if detection.score[0] < GARMENT_FACE_MIN_SCORE:
            continue
        box = detection.location_data.relative_bounding_box
        x0, y0 = max(0.0, box.xmin * width), max(0.0, box.ymin * height)
        x1, y1 = min(width, (box.xmin + box.width) * width), min(height, (box.ymin + box.height) * height)
        faces.append((int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))))
    if not faces:
        return GarmentPhotoCheck()
    with model_lock("pose"):
        pose = load_model("pose").process(image).pose_landmarks
    shows_person = False
    if pose is not None:
        left, right = pose.landmark[LEFT_SHOULDER], pose.landmark[RIGHT_SHOULDER]
        if min(left.visibility, right.visibility) >= SHOULDER_MIN_VISIBILITY:
            shoulder_y = (left.y + right.y) / 2 * height
            shoulder_width = float(np.hypot((left.x - right.x) * width, (left.y - right.y) * height))
            shows_person = any(
                shoulder_y - (y0 + y1) / 2 >= PERSON_HEAD_ABOVE_SHOULDERS * shoulder_width
                for _, y0, _, y1 in faces
            )
    return GarmentPhotoCheck(faces=tuple(faces), shows_person=shows_person)


def check_garment_photo(garment: np.ndarray) -> GarmentPhotoCheck:
    """:func:`inspect_garment_photo`, refusing a photo of a person in the garment slot.

    Raises:
        TryOnError: the photo shows a person (a face on shoulders), not a garment alone.
    """
    return check_garment_photo_result(inspect_garment_photo(garment))


def check_garment_photo_result(check: GarmentPhotoCheck) -> GarmentPhotoCheck:
    """``check`` itself, or TryOnError when it found a person in the garment slot."""
    if check.shows_person:
        raise TryOnError(
            "The garment photo shows a person: use a product photo of the garment alone (flat, on a "
            "hanger or on a mannequin). Your own photo goes in the 'You' box."
        )
    return check


def prepare_garment(garment: np.ndarray, category: str = "auto") -> Any:
    """Check a garment photo (RGB uint8) as :func:`check_garment_photo` does and analyse it, so that
    a try-on with it finds the analysis in the cache.

    Raises:
        TryOnError: a photo of a person, or no garment found in it.
    """
    check_garment_photo(garment)
    return analyze_garment_cached(garment, category)


def parse_description(description: str) -> Any:
    """The :class:`tryon.stages.text.GarmentSpec` a description (English or Chinese) reads as.

    Raises:
        TryOnError: the description cannot be read (the message says why).
    """
    from .stages.text import parse

    return parse(description)


def warm_up_text() -> None:
    """Load the description encoder and its prototype phrases now rather than on the first request."""
    from .stages.text import warm_up

    warm_up()


def tint(image: np.ndarray, mask: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """``image`` (RGB uint8) with ``mask`` (bool, same size) tinted in ``rgb``; a new image."""
    from .stages.visualize import overlay_mask

    return overlay_mask(image, mask, rgb)


def analysis_views(
    person: np.ndarray,
    body: Any,
    edit_mask: np.ndarray,
    garment: np.ndarray,
    garment_mask: np.ndarray,
    rgb: tuple[int, int, int],
) -> list[tuple[np.ndarray, str]]:
    """What the stages found, as pictures: ``[(image, caption), ...]`` for pose, body regions, the
    edit area (``edit_mask`` over ``person``, tinted ``rgb``) and the garment mask (over ``garment``).

    Args:
        person: RGB uint8 ``(H, W, 3)``; ``body``: its BodyAnalysis (:func:`analyze_person`).
        edit_mask: bool ``(H, W)``.
        garment: RGB uint8 ``(h, w, 3)``; ``garment_mask``: bool ``(h, w)``.
    """
    from .stages.visualize import draw_pose, draw_regions, overlay_mask

    return [
        (draw_pose(person, body), "pose"),
        (draw_regions(person, body), "body regions"),
        (overlay_mask(person, edit_mask, rgb), "edit area"),
        (overlay_mask(garment, garment_mask, rgb), "garment mask"),
    ]

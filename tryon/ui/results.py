"""Try-on results held on the server between the response and what the shopper does next.

A session (a browser tab, an API client) keeps only the result's *token*, a random string
that the try-on returns and that flagging, the lazy panels and the re-run send back. The
result itself is held in a cache bounded by size (``Settings.result_cache_mb``, least recently
used dropped first) with a time to live (``Settings.result_ttl_s``): its small facts in memory,
its pixels (the output inside the edit area, packed masks, garment previews) in one
uncompressed ``.npz`` file under ``<data_dir>/held-results`` (written in ~1 ms, read back only
when needed; not a folder the server serves), so the server's memory does not grow with the
number of results held. Each result also owns a folder of display files in Gradio's cache (the
JPEGs the response points at). Both go when the result goes.

No Gradio here: :mod:`tryon.ui.shop` fills the cache with :func:`hold_result` and reads it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cachetools
import numpy as np
from PIL import Image

from .. import __version__
from ..errors import TryOnError

log = logging.getLogger(__name__)

RESULTS_DIRNAME = "tryon-results"  # display files, in Gradio's cache
HELD_DIRNAME = "held-results"  # pixels, in the data folder (never served)
ARRAYS_FILE = "arrays.npz"
PAINTED_FILE = "painted.npy"
PEOPLE_DIRNAME = "people"  # the "before" images, one per person photo, shared by its results
TOKEN_BYTES = 18
# Display images: JPEG is ~30x faster to encode than PNG or WebP at 1024 px and a quarter the size.
DISPLAY_QUALITY = 90
# The analysis panel's pictures: a gallery of thumbnails, so a smaller side is plenty.
PREVIEW_SIDE = 384
MB = 2**20


@dataclasses.dataclass(frozen=True)
class FaceInfo:
    """What hiding the face needs (see :func:`tryon.store.annotations.blur_face`)."""

    face_box: tuple[int, int, int, int] | None
    landmarks: np.ndarray
    visibility: np.ndarray


@dataclasses.dataclass(frozen=True)
class GarmentInfo:
    """The garment guesses a flag records."""

    category_scores: dict[str, float] | None
    sleeve: str | None


@dataclasses.dataclass(frozen=True, eq=False)
class HeldResult:
    """One try-on result, as much of it as flagging, the panels and a re-run need.

    The pixels are on disk (``arrays_dir``): read them through :meth:`output`, :attr:`edit_mask`,
    :attr:`mask_used`, :attr:`painted` and :meth:`garment_previews`.

    Attributes:
        token: the result's id (random; the idempotency key of its flag).
        owner: binding of the browser that made it (see :func:`tryon.ui.guard.client_of`),
            or None when it sent no cookie.
        shape: ``(H, W)`` of the output and the person photo (processing size).
        edit_box: the edit area's bounding box ``(y0, y1, x0, x1)``. The output is stored whole
            only when it differs from the person photo outside the edit area (a renderer that
            does not keep the pixels it was not allowed to change); otherwise only inside this
            box, and :meth:`output` puts it back into the person photo.
        person_path, person_key: the uploaded person photo and the sha256 of its bytes
            (:func:`file_key`; the photo is read again, and checked, when it is needed).
        garment_path: the garment photo as given (None for a synthesized garment).
        garment_faces: face boxes found in the garment photo (None when not checked).
        body: what hiding the face needs (:class:`FaceInfo`).
        garment: the garment guesses (:class:`GarmentInfo`).
        folder: where the result's own display files are (``after.jpg``, the analysis pictures).
        before: the "before" display image (shared by the results of the same person photo).
        arrays_dir: where its pixels are; ``nbytes``: their size on disk.
        image, person: filled in (output rebuilt, person photo read again) only to store a flag.
    """

    token: str
    owner: str | None
    shape: tuple[int, int]
    edit_box: tuple[int, int, int, int]
    person_path: str
    person_key: str | None
    garment_path: str | None
    garment_faces: tuple[tuple[int, int, int, int], ...] | None
    body: FaceInfo
    garment: GarmentInfo
    category: str
    renderer: str
    description: str
    params: dict[str, Any]
    spec: Any
    check: Any
    timings: dict[str, float]
    notes: tuple[str, ...]
    cached_body: bool
    folder: Path
    before: Path
    arrays_dir: Path
    nbytes: int
    image: np.ndarray | None = None
    person: np.ndarray | None = None

    def _arrays(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.arrays_dir / ARRAYS_FILE, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except OSError as exc:
            raise TryOnError("This result is no longer on the server: press Try on again.") from exc

    def output(self, person: np.ndarray) -> np.ndarray:
        """The output, RGB uint8 ``(H, W, 3)``, given the person photo it was rendered on."""
        if self.image is not None:
            return self.image
        arrays = self._arrays()
        if "image" in arrays:
            return arrays["image"]
        if person.shape[:2] != tuple(self.shape):
            raise ValueError(f"the person photo is {person.shape[:2]}, the result {self.shape}")
        y0, y1, x0, x1 = self.edit_box
        image = person.copy()
        inside = unpack_mask(arrays["edit_mask"], self.shape)[y0:y1, x0:x1]
        image[y0:y1, x0:x1][inside] = arrays["edit_crop"][inside]
        return image

    @property
    def edit_mask(self) -> np.ndarray:
        """The edit area, bool ``(H, W)``."""
        return unpack_mask(self._arrays()["edit_mask"], self.shape)

    @property
    def mask_used(self) -> np.ndarray | None:
        """The painted edit area this result was rendered with, bool ``(H, W)``, or None."""
        bits = self._arrays().get("mask_used")
        return None if bits is None else unpack_mask(bits, self.shape)

    @property
    def painted(self) -> np.ndarray | None:
        """The edit area painted on this result for the next re-run, bool ``(H, W)``, or None."""
        path = self.arrays_dir / PAINTED_FILE
        return unpack_mask(np.load(path, allow_pickle=False), self.shape) if path.is_file() else None

    def garment_previews(self) -> tuple[np.ndarray, np.ndarray]:
        """The garment used (recoloured or synthesized) and its mask, at most :data:`PREVIEW_SIDE` px."""
        arrays = self._arrays()
        return arrays["garment_preview"], arrays["garment_mask_preview"]


def split_output(
    image: np.ndarray, person: np.ndarray, edit_mask: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None, tuple[int, int, int, int]]:
    """What :class:`HeldResult` keeps of an output: ``(image, None, box)`` when it differs from
    ``person`` outside ``edit_mask``, else ``(None, the output inside the mask's bounding box, box)``
    (:class:`tryon.pipeline.TryOnResult` promises the pixels outside the edit area are the person's)."""
    rows, cols = np.flatnonzero(edit_mask.any(axis=1)), np.flatnonzero(edit_mask.any(axis=0))
    box = (0, 0, 0, 0)
    if rows.size:
        box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    if image.shape != person.shape:
        return image, None, box
    differs = image != person
    # Three strided ORs: ~15x faster than np.any(..., axis=2) over the short channel axis.
    changed = np.logical_or(np.logical_or(differs[..., 0], differs[..., 1]), differs[..., 2])
    if np.logical_and(changed, ~edit_mask).any():
        return image, None, box
    y0, y1, x0, x1 = box
    return None, image[y0:y1, x0:x1].copy(), box


def pack_mask(mask: np.ndarray) -> np.ndarray:
    """A bool ``(H, W)`` mask in an eighth of the memory."""
    return np.packbits(np.asarray(mask, dtype=bool), axis=None)


def unpack_mask(bits: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The bool ``shape`` mask :func:`pack_mask` packed."""
    return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def file_key(path: str | Path | None) -> str | None:
    """sha256 of a file's bytes (an upload's identity, ~1 ms), or None when it cannot be read."""
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def new_token() -> str:
    """A random, unguessable result token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def preview(image: np.ndarray, side: int = PREVIEW_SIDE) -> np.ndarray:
    """``image`` (RGB uint8 or bool mask) scaled so its long side is at most ``side`` px."""
    import cv2

    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return image.copy()
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image.dtype == np.bool_:
        return cv2.resize(image.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)  # a thumbnail: ~4x faster than INTER_AREA


def write_jpeg(image: np.ndarray, path: Path, quality: int = DISPLAY_QUALITY) -> Path:
    """Encode an RGB uint8 image once as JPEG (no metadata) at ``path``."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="JPEG", quality=quality)
    path.write_bytes(buffer.getvalue())
    return path


def hold_result(
    results: ResultCache,
    result: Any,
    *,
    person_path: str,
    person_key: str | None,
    garment_path: str | None,
    garment_faces: Any,
    description: str,
    category: str,
    renderer: str,
    owner: str | None,
    edit_mask: np.ndarray | None = None,
    params: dict[str, Any] | None = None,
) -> HeldResult:
    """Keep what flagging and the panels need of a :class:`tryon.pipeline.TryOnResult` in ``results``,
    and write its display JPEGs: ``after.jpg`` in the result's folder, and the person's "before"
    image once per person photo.

    Args:
        person_path, person_key: the uploaded person photo and its :func:`tryon.ui.results.file_key`
            (None when unknown: the "before" image is then the result's own).
        garment_path, garment_faces: the garment photo as given and the faces found in it (None: none given).
        description, category, renderer: what the shopper asked for.
        owner: the binding of the browser that asked (:func:`tryon.ui.guard.client_of`).
        edit_mask: the painted edit area the result was rendered with, or None.
        params: more parameters to record with a flag (e.g. the diffusion options).
    """
    folder = results.new_folder()
    before = results.person_display(person_key, result.person) if person_key else folder / "before.jpg"
    if not person_key:
        write_jpeg(result.person, before)
    write_jpeg(result.image, folder / "after.jpg")
    image, edit_crop, edit_box = split_output(result.image, result.person, result.edit_mask)
    arrays = {"edit_mask": pack_mask(result.edit_mask), "garment_preview": preview(result.garment_image),
              "garment_mask_preview": preview(_garment_mask(result))}
    arrays |= {"image": image} if image is not None else {"edit_crop": edit_crop}
    if edit_mask is not None:
        arrays["mask_used"] = pack_mask(edit_mask)
    arrays_dir, nbytes = results.write_arrays(arrays)
    garment_info = result.garment
    held = HeldResult(
        token=new_token(),
        owner=owner,
        shape=tuple(result.image.shape[:2]),
        edit_box=edit_box,
        person_path=person_path,
        person_key=person_key,
        garment_path=garment_path or None,
        garment_faces=garment_faces,
        body=FaceInfo(result.body.face_box, result.body.landmarks, result.body.visibility),
        garment=GarmentInfo(getattr(garment_info, "category_scores", None), getattr(garment_info, "sleeve", None)),
        category=result.category,
        renderer=result.renderer,
        description=description or "",
        params={"category": category, "renderer": result.renderer, "requested_renderer": renderer,
                "version": __version__, **(params or {})},
        spec=result.spec,
        check=result.check,
        timings=dict(result.timings),
        notes=tuple(result.notes),
        cached_body=bool(result.cached_body),
        folder=folder,
        before=before,
        arrays_dir=arrays_dir,
        nbytes=nbytes,
    )
    if not results.put(held):
        log.warning("a result of %.1f MB does not fit the result cache (TRYON_RESULT_CACHE_MB): it cannot be "
                    "flagged", held.nbytes / 2**20)
    return held


def _garment_mask(result: Any) -> np.ndarray:
    """The garment photo's mask, bool at the garment image's size (empty without a garment analysis)."""
    mask = getattr(result.garment, "mask", None)
    return np.zeros(result.garment_image.shape[:2], bool) if mask is None else np.asarray(mask, dtype=bool)


class _Cache(cachetools.TLRUCache):
    """A TTL + LRU cache bounded by bytes that tells its owner what it drops."""

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float], dropped: Callable[[Any], None]):
        super().__init__(maxsize, ttu=lambda _key, _value, now: now + ttl, timer=timer,
                         getsizeof=lambda value: value.nbytes)
        self._dropped = dropped

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._dropped(value)
        return key, value

    def expire(self, time: float | None = None) -> list[tuple[Any, Any]]:
        expired = super().expire(time)
        for _, value in expired:
            self._dropped(value)
        return expired


class ResultCache:
    """The held results of one server: bounded by size, forgotten after a time to live.

    Thread-safe. ``cache_dir`` is Gradio's cache folder (display files go in
    ``<cache_dir>/tryon-results/<random>/``); ``store_dir`` holds the pixels (``<store_dir>/<random>/``).
    """

    def __init__(self, cache_dir: Path, store_dir: Path, max_mb: float, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root = Path(cache_dir) / RESULTS_DIRNAME
        self.store = Path(store_dir)
        self.ttl_s = ttl_s
        self._cache = _Cache(max(1, int(max_mb * MB)), ttl_s, clock, self._drop)
        self._lock = threading.Lock()

    def person_display(self, key: str, person: np.ndarray) -> Path:
        """The "before" JPEG of a person photo (``key``: its :func:`file_key`), written once and shared."""
        path = self.root / PEOPLE_DIRNAME / f"{key[:32]}.jpg"
        if path.is_file():
            os.utime(path)  # in use again: the sweep keeps it
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{secrets.token_hex(6)}.jpg")
        write_jpeg(person, temp)
        os.replace(temp, path)  # concurrent requests for the same photo never see half a file
        return path

    def new_folder(self) -> Path:
        """A fresh folder for a new result's display files."""
        folder = self.root / secrets.token_urlsafe(12)
        folder.mkdir(parents=True)
        return folder

    def write_arrays(self, arrays: dict[str, np.ndarray]) -> tuple[Path, int]:
        """Write a new result's pixels (uncompressed: ~1 ms); returns their folder and size in bytes."""
        folder = self.store / secrets.token_urlsafe(12)
        folder.mkdir(parents=True)
        path = folder / ARRAYS_FILE
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        return folder, path.stat().st_size

    def paint(self, held: HeldResult, mask: np.ndarray) -> None:
        """Keep the edit area painted on ``held`` (bool ``(H, W)``) for its re-run."""
        np.save(held.arrays_dir / PAINTED_FILE, pack_mask(mask), allow_pickle=False)

    def put(self, held: HeldResult) -> bool:
        """Hold ``held``; False (its pixels deleted, its display files left for the response) when it
        alone is larger than the cache."""
        with self._lock:
            try:
                self._cache[held.token] = held
            except ValueError:  # larger than the whole cache
                shutil.rmtree(held.arrays_dir, ignore_errors=True)
                return False
        return True

    def get(self, token: str | None, owner: str | None) -> HeldResult:
        """The result for ``token``, if ``owner`` (the asking browser's binding) may use it.

        Raises:
            TryOnError: no token, the result is gone (expired or pushed out), or it belongs to
                another browser.
        """
        if not token:
            raise TryOnError("Nothing to use yet: press Try on first.")
        with self._lock:
            held = self._cache.get(token)
        if held is None:
            minutes = max(1, round(self.ttl_s / 60))
            raise TryOnError(
                f"This result is no longer on the server (results are kept about {minutes} minutes): "
                "press Try on again."
            )
        if held.owner is not None and held.owner != owner:
            log.warning("result token used by another browser than the one it was made for")
            raise TryOnError("This result belongs to another browser session: press Try on to make your own.")
        return held

    def expire(self) -> None:
        """Drop results whose time is up (and their files); delete "before" images unused as long, and
        files no held result refers to (left by a crash, or by a result too large to hold)."""
        with self._lock:
            self._cache.expire()
            live = {path for held in self._cache.values() for path in (held.folder, held.arrays_dir)}
        cutoff = time.time() - self.ttl_s
        folders = [*(self.root.iterdir() if self.root.is_dir() else ()),
                   *(self.store.iterdir() if self.store.is_dir() else ())]
        for folder in folders:
            with contextlib.suppress(OSError):
                if folder.name != PEOPLE_DIRNAME and folder not in live and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
        people = self.root / PEOPLE_DIRNAME
        for path in people.glob("*.jpg") if people.is_dir() else ():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()

    def __contains__(self, token: object) -> bool:
        with self._lock:
            return token in self._cache

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    @property
    def held_mb(self) -> float:
        """Disk space the held results use."""
        with self._lock:
            return self._cache.currsize / MB

    @staticmethod
    def _drop(held: HeldResult) -> None:
        shutil.rmtree(held.folder, ignore_errors=True)
        shutil.rmtree(held.arrays_dir, ignore_errors=True)

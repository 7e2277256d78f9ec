"""Flag store: try-on results that users flagged as bad, their images and their review.

Layout inside ``Settings.data_dir`` (created by :func:`prepare_data_dir`)::

    annotations.sqlite3    SQLite in WAL mode; schema version in ``PRAGMA user_version``
    images/<sha256>.png    every stored image once, named by the sha256 of its PNG bytes
    gradio-tmp/            Gradio's upload and output cache (``GRADIO_TEMP_DIR``)

Privacy: a shopper's photo is stored only when they flag a result *and* consent
to keep it for quality review. Without consent a record keeps the output with
the face region strongly blurred, and the garment photo only with every face
found in it blurred (a face print, or someone's photo in the garment slot; a
garment photo nobody checked for faces is not kept); if the output's face
cannot be located the flag is refused, because an unblurred face would be
kept. Images are re-encoded to PNG from pixels, so no EXIF (GPS, camera,
date) survives.

Crash safety: a write takes SQLite's write lock (``BEGIN IMMEDIATE``), writes
the image files (temp name, fsync, rename), inserts the rows and commits. A
writer killed anywhere in between leaves no record (the transaction never
committed) and at most some unreferenced files, which :meth:`AnnotationStore.sweep`
removes when the store is next opened. Deletion renames files to a trash name
inside the transaction and unlinks them after the commit; the sweep finishes
or undoes that too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import io
import json
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .. import __version__
from ..config import Settings, get_settings
from ..errors import TryOnError

log = logging.getLogger(__name__)

DB_FILENAME = "annotations.sqlite3"
IMAGES_DIRNAME = "images"
GRADIO_TMP_DIRNAME = "gradio-tmp"
IMAGE_SUFFIX = ".png"
TMP_PREFIX = ".tmp-"  # image files being written (no record refers to them yet)
TRASH_PREFIX = ".trash-"  # image files being deleted (their last record is being removed)

SCHEMA_VERSION = 2
# Seconds a writer waits for another writer's lock before giving up ("database is locked").
BUSY_TIMEOUT_S = 30.0

# Reason code -> label shown next to the Flag button.
REASONS: dict[str, str] = {
    "garment": "Garment distorted or wrong",
    "body": "Body or pose wrong",
    "face": "Face or identity changed",
    "artifacts": "Artifacts or seams",
    "attributes": "Colour or attributes do not match the description",
    "other": "Other",
}
# Reasons the app files by itself, never offered to shoppers: a result whose self-check found problems
# is queued for the annotators (flagged by SYSTEM_FLAGGER).
SYSTEM_REASONS: dict[str, str] = {"self_check": "Self-check found problems (queued automatically)"}
ALL_REASONS: dict[str, str] = {**REASONS, **SYSTEM_REASONS}
SYSTEM_FLAGGER = "system:self-check"
STATUSES = ("new", "confirmed", "rejected", "fixed")
# Image roles of a record: person and edit_mask only with consent (both show the shopper).
IMAGE_ROLES = ("person", "garment", "output", "edit_mask")
PRIVATE_ROLES = ("person", "edit_mask")
NOTE_MAX_CHARS = 2000
COMMENT_MAX_CHARS = 2000
# As long as the description parser reads (tryon.stages.text.MAX_DESCRIPTION_CHARS); the try-on refuses longer.
DESCRIPTION_MAX_CHARS = 2000
# Settings stored with each flag (besides every diffusion_* field): what shapes a rendering.
RENDER_SETTINGS = ("renderer", "max_side", "device")

# Face hiding: the face box grows by these fractions of its size (hair, ears, chin) into
# the ellipse that is hidden. Inside it the image is pixelated to FACE_BLUR_CELLS blocks
# across and smoothed: nothing of the identity survives, the head's position and colours
# do (reviewers judge the fit). Outside it the blur fades out over FACE_FEATHER_FRACTION
# of the ellipse's width, so no hard edge is drawn.
FACE_PAD_SIDE = 0.35
FACE_PAD_TOP = 0.6
FACE_PAD_BOTTOM = 0.3
FACE_BLUR_CELLS = 5
FACE_FEATHER_FRACTION = 0.15
# Without a detected face box, the head is estimated from the pose's face landmarks.
HEAD_LANDMARKS = tuple(range(11))  # nose, eyes, ears, mouth in MediaPipe Pose
HEAD_MIN_VISIBILITY = 0.5
HEAD_MIN_POINTS = 3
HEAD_BOX_SCALE = 1.6  # the face landmarks span less than the face: scale their extent up


def prepare_data_dir(settings: Settings | None = None) -> Path:
    """Create ``settings.data_dir`` with its image folder and Gradio cache folder.

    Gradio's file cache (uploads and outputs) belongs in :func:`gradio_cache_dir`, so
    shopper photos never pile up elsewhere on disk: the UI's start-up points
    ``GRADIO_TEMP_DIR`` there (this function changes no environment). Gradio only
    deletes files its running server created, so files older than
    ``settings.cache_ttl_s`` left by a crashed or killed server are deleted here.

    Returns:
        The data directory, resolved.
    """
    settings = settings or get_settings()
    data_dir = Path(settings.data_dir).expanduser().resolve()
    (data_dir / IMAGES_DIRNAME).mkdir(parents=True, exist_ok=True)
    gradio_tmp = gradio_cache_dir(settings)
    gradio_tmp.mkdir(exist_ok=True)
    purge_stale_files(gradio_tmp, settings.cache_ttl_s)
    return data_dir


def gradio_cache_dir(settings: Settings | None = None) -> Path:
    """``<data_dir>/gradio-tmp``: where the UI keeps Gradio's upload and output cache."""
    settings = settings or get_settings()
    return Path(settings.data_dir).expanduser().resolve() / GRADIO_TMP_DIRNAME


def purge_stale_files(folder: Path, max_age_s: float) -> int:
    """Delete files under ``folder`` not modified for ``max_age_s`` seconds, then empty folders.

    Returns:
        The number of files deleted.
    """
    cutoff = time.time() - max_age_s
    removed = 0
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # another process may remove it first
            if path.is_file() or path.is_symlink():
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return removed


# --------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class FlagFields:
    """What a flag says: the fields :class:`FlagRecord` (to store) and :class:`StoredRecord` (read back) share.

    Attributes:
        idempotency_key: one flag per key: a second add with the same key is a no-op.
        flagged_by: Hugging Face user name, or an anonymous session id.
        reasons: codes from :data:`ALL_REASONS` (at least one).
        note: the user's free text.
        description: the garment description the user typed ("" if none).
        renderer: the renderer that produced the output.
        category: the category rendered.
        params: JSON-able parameters of the try-on (what the UI asked for, settings, notes).
        version: ``tryon.__version__`` of the code that rendered it.
        timings: stage -> seconds.
        scores: JSON-able scores shown to the user (self-check, quality).
        consent: the user agreed to keep their photo for quality review.
    """

    idempotency_key: str
    flagged_by: str
    reasons: tuple[str, ...]
    note: str
    description: str
    renderer: str
    category: str
    params: dict[str, Any]
    version: str
    timings: dict[str, float]
    scores: dict[str, Any]
    consent: bool


@dataclasses.dataclass(frozen=True)
class FlagRecord(FlagFields):
    """One flag, ready to store: the :class:`FlagFields` plus these.

    Attributes:
        images: role (from :data:`IMAGE_ROLES`) -> RGB uint8 ``(H, W, 3)``, or bool
            ``(H, W)`` for ``edit_mask``.
        created_at: ISO 8601 UTC time; the store fills it in when empty.
    """

    images: dict[str, np.ndarray]
    created_at: str = ""

    def __post_init__(self) -> None:
        if not self.idempotency_key:
            raise ValueError("a flag needs an idempotency key")
        check_reasons(self.reasons)
        if len(self.note) > NOTE_MAX_CHARS:
            raise TryOnError(f"The note is longer than {NOTE_MAX_CHARS} characters: shorten it.")
        if len(self.description) > DESCRIPTION_MAX_CHARS:
            raise TryOnError(f"The description is longer than {DESCRIPTION_MAX_CHARS} characters: shorten it.")
        bad_roles = set(self.images) - set(IMAGE_ROLES)
        if bad_roles:
            raise ValueError(f"unknown image roles {sorted(bad_roles)}; expected {IMAGE_ROLES}")
        if not self.consent and set(self.images) & set(PRIVATE_ROLES):
            # Second line of defence behind record_from_result: never store the photo unasked.
            raise ValueError("the person photo and edit mask can only be stored with consent")


def check_reasons(reasons: Sequence[str]) -> None:
    """Raise TryOnError unless ``reasons`` is a non-empty list of codes from :data:`ALL_REASONS`."""
    if not reasons:
        raise TryOnError("Pick at least one reason for the flag (e.g. 'Artifacts or seams').")
    unknown = [reason for reason in reasons if reason not in ALL_REASONS]
    if unknown:
        raise TryOnError(f"Unknown flag reason {unknown[0]!r}: choose from {', '.join(REASONS)}.")


@dataclasses.dataclass(frozen=True)
class StoredRecord(FlagFields):
    """A flag as read back from the store: the :class:`FlagFields` plus these.

    Attributes:
        id: the flag's number in the store.
        created_at: ISO 8601 UTC time it was stored.
        status: review status, one of :data:`STATUSES`; comment: the annotator's comment.
        updated_by, updated_at: who last changed status or comment, and when ("" if nobody yet).
        images: role -> sha256 of the stored image (see :meth:`AnnotationStore.image_path`).
    """

    id: int
    created_at: str
    status: str
    comment: str
    updated_by: str
    updated_at: str
    images: dict[str, str]


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    """One review change: who set which status and comment, when (ISO 8601 UTC)."""

    changed_at: str
    changed_by: str
    status: str
    comment: str


@dataclasses.dataclass(frozen=True)
class SweepReport:
    """What a start-up sweep cleaned: file counts."""

    orphans: int = 0  # finished image files no record refers to
    temp: int = 0  # half-written temp files
    trash_removed: int = 0  # deletions finished
    trash_restored: int = 0  # deletions undone (their transaction never committed)


def utc_now() -> str:
    """Current time as ISO 8601 UTC with microseconds (sorts as text)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays, dataclasses, tuples and paths into plain JSON values.

    Arrays larger than a few numbers are summarised by shape and dtype: parameters
    are for reading, images are stored separately.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, np.ndarray):
        if value.size <= 16:
            return to_jsonable(value.tolist())
        return {"array_shape": list(value.shape), "dtype": str(value.dtype)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def face_region(body: Any) -> tuple[float, float, float, float] | None:
    """The box of the ellipse to hide: the face box grown to cover hair, ears and chin.

    Args:
        body: a :class:`tryon.stages.body.BodyAnalysis`, or anything with its ``face_box``
            (and ``landmarks`` and ``visibility``, used when no face box was found).

    Returns:
        ``(x0, y0, x1, y1)`` float pixels (may extend past the image), or None when
        neither a face box nor enough visible face landmarks exist.
    """
    box = getattr(body, "face_box", None)
    if box is None:
        box = _head_box_from_landmarks(body)
    return None if box is None else _grow_face_box(box)


def _grow_face_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    box_w, box_h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    return (
        x0 - FACE_PAD_SIDE * box_w,
        y0 - FACE_PAD_TOP * box_h,
        x1 + FACE_PAD_SIDE * box_w,
        y1 + FACE_PAD_BOTTOM * box_h,
    )


def _head_box_from_landmarks(body: Any) -> tuple[float, float, float, float] | None:
    landmarks = getattr(body, "landmarks", None)
    visibility = getattr(body, "visibility", None)
    if landmarks is None or visibility is None:
        return None
    index = np.array(HEAD_LANDMARKS)
    points = np.asarray(landmarks, dtype=np.float64)[index]
    seen = points[np.asarray(visibility)[index] >= HEAD_MIN_VISIBILITY]
    if len(seen) < HEAD_MIN_POINTS:
        return None
    center = seen.mean(axis=0)
    half = HEAD_BOX_SCALE * max(np.ptp(seen[:, 0]), np.ptp(seen[:, 1]), 1.0) / 2
    return center[0] - half, center[1] - half, center[0] + half, center[1] + half


def blur_face(image: np.ndarray, body: Any) -> np.ndarray:
    """Hide the face in ``image``: pixelate and smooth an ellipse over the head.

    Args:
        image: RGB uint8 ``(H, W, 3)`` (the try-on output, same size as the body analysis).
        body: the :class:`tryon.stages.body.BodyAnalysis` of the person in ``image`` (or
            anything with its ``face_box``, ``landmarks`` and ``visibility``).

    Returns:
        A new RGB uint8 ``(H, W, 3)``: inside the ellipse of :func:`face_region` only the
        pixelated face remains; the blur fades out just outside it; the rest is unchanged.

    Raises:
        TryOnError: the face cannot be located (so it cannot be hidden).
    """
    region = face_region(body)
    if region is None:
        raise TryOnError(
            "This result cannot be kept without your photo: the face could not be located to "
            "blur it. Tick 'Keep my photo for quality review' to flag it, or leave it unflagged."
        )
    return hide_region(image, region)


def blur_faces(image: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """Hide every face box in ``boxes`` (pixel ``(x0, y0, x1, y1)``) as :func:`blur_face` hides one.

    Returns:
        A new RGB uint8 ``(H, W, 3)``.
    """
    out = image.copy()
    for box in boxes:
        out = hide_region(out, _grow_face_box(box))
    return out


def hide_region(image: np.ndarray, region: tuple[float, float, float, float]) -> np.ndarray:
    """Pixelate the ellipse inscribed in ``region`` (float pixels ``(x0, y0, x1, y1)``); a new image."""
    import cv2

    height, width = image.shape[:2]
    ex0, ey0, ex1, ey1 = region
    feather = FACE_FEATHER_FRACTION * (ex1 - ex0)
    # The patch: the ellipse's box plus the feather margin, clipped to the image.
    x0, y0 = max(0, int(np.floor(ex0 - feather))), max(0, int(np.floor(ey0 - feather)))
    x1, y1 = min(width, int(np.ceil(ex1 + feather))), min(height, int(np.ceil(ey1 + feather)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image.copy()
    patch = image[y0:y1, x0:x1].astype(np.float32)
    patch_h, patch_w = patch.shape[:2]
    cells_x = max(1, round(FACE_BLUR_CELLS * patch_w / (ex1 - ex0)))
    cells_y = max(1, round(cells_x * patch_h / patch_w))
    coarse = cv2.resize(patch, (cells_x, cells_y), interpolation=cv2.INTER_AREA)
    hidden = cv2.resize(coarse, (patch_w, patch_h), interpolation=cv2.INTER_CUBIC)
    # Alpha 1 inside the ellipse, falling smoothly to 0 at `feather` px outside it.
    outside = np.full((patch_h, patch_w), 255, np.uint8)
    center = (round((ex0 + ex1) / 2 - x0), round((ey0 + ey1) / 2 - y0))
    axes = (max(1, round((ex1 - ex0) / 2)), max(1, round((ey1 - ey0) / 2)))
    cv2.ellipse(outside, center, axes, 0, 0, 360, 0, -1)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    t = np.clip(1.0 - distance / max(feather, 1.0), 0.0, 1.0)
    alpha = (t * t * (3 - 2 * t))[..., None]  # smoothstep
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(alpha * hidden + (1 - alpha) * patch + 0.5, 0, 255).astype(np.uint8)
    return out


def idempotency_key(*parts: Any) -> str:
    """sha256 over ``parts`` (arrays by shape and bytes, everything else as JSON)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.shape, part.dtype.str)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(to_jsonable(part), sort_keys=True).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def record_from_result(
    result: Any,
    *,
    reasons: Sequence[str],
    flagged_by: str,
    consent: bool,
    note: str = "",
    description: str = "",
    params: Mapping[str, Any] | None = None,
    garment: np.ndarray | None = None,
    garment_faces: Sequence[Sequence[float]] | None = None,
    garment_source: str | None = None,
    result_id: str | None = None,
    scores: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> FlagRecord:
    """Build the record of a flagged try-on result, applying the privacy rule.

    Args:
        result: the :class:`tryon.pipeline.TryOnResult` the user flagged, or an object with
            the same attributes (``person`` is read only with consent; ``body`` needs only
            ``face_box``, ``landmarks`` and ``visibility``; ``garment`` may be None).
        reasons: codes from :data:`ALL_REASONS`.
        flagged_by: user name or anonymous session id.
        consent: the user ticked "keep my photo for quality review". Without it the
            person photo and edit mask are dropped, the output's face is blurred and so is
            every face in the garment photo.
        note: free text.
        description: the description the user typed.
        params: what the UI passed to ``try_on`` (category, renderer, ``edit_mask``...).
        garment: the garment photo as given, RGB uint8 ``(H, W, 3)`` at processing size, or
            None (synthesized from the description, or no longer available).
        garment_faces: pixel boxes ``(x0, y0, x1, y1)`` of the faces found in ``garment``,
            or None when nobody looked (then, without consent, the garment is not kept).
        garment_source: where the garment came from, recorded in the parameters
            (default: "upload", or "synthesized"/"none" without a garment photo).
        result_id: the id the UI gave the result when it was shown; the idempotency key.
            Without one the key is a hash of the output, inputs, parameters and flagger.
        scores: scores shown to the user beyond the self-check ``result.check`` (e.g. quality).
        settings: the settings that rendered it (default: :func:`get_settings`).

    Raises:
        TryOnError: no reason picked; no consent and the face cannot be located.
    """
    check_reasons(reasons)
    settings = settings or get_settings()
    params = dict(params or {})
    edit_mask = params.pop("edit_mask", None)
    # "request": what the UI asked try_on for (re-runs replay it); the rest: how it was rendered.
    stored_params: dict[str, Any] = {"request": to_jsonable(params), "edit_mask_given": edit_mask is not None}
    stored_params["settings"] = {
        field.name: to_jsonable(getattr(settings, field.name))
        for field in dataclasses.fields(settings)
        if field.name in RENDER_SETTINGS or field.name.startswith("diffusion_")
    }
    stored_params["result"] = _result_params(result)

    images: dict[str, np.ndarray] = {}
    garment_rgb = _garment_to_keep(garment, garment_faces, garment_source, consent, result, stored_params)
    if garment_rgb is not None:
        images["garment"] = garment_rgb
    if consent:
        images["person"] = result.person
        images["output"] = result.image
        if edit_mask is not None:
            images["edit_mask"] = np.asarray(edit_mask, dtype=bool)
    else:
        images["output"] = blur_face(result.image, result.body)
    stored_params["face_blurred"] = not consent

    check = result.check
    all_scores = {"check": None if check is None else to_jsonable({"ok": check.ok, "problems": list(check.problems),
                                                                   **check.measures})}
    all_scores.update(to_jsonable(dict(scores or {})))
    key = result_id or idempotency_key(result.image, description, params, flagged_by)
    return FlagRecord(
        idempotency_key=key,
        flagged_by=flagged_by,
        reasons=tuple(dict.fromkeys(reasons)),
        note=(note or "").strip(),
        description=(description or "").strip(),
        renderer=result.renderer,
        category=result.category,
        params=stored_params,
        version=__version__,
        timings={name: float(seconds) for name, seconds in result.timings.items()},
        scores=all_scores,
        consent=bool(consent),
        images=images,
    )


def _result_params(result: Any) -> dict[str, Any]:
    """How the result was rendered: category, notes, cache use, garment guesses, parsed description."""
    garment_info = getattr(result, "garment", None)
    return {
        "category": result.category,
        "notes": list(result.notes),
        "cached_body": bool(result.cached_body),
        "garment_category_scores": to_jsonable(getattr(garment_info, "category_scores", None)),
        "garment_sleeve": to_jsonable(getattr(garment_info, "sleeve", None)),
        "spec": to_jsonable(result.spec),
    }


def _garment_to_keep(
    garment: np.ndarray | None,
    faces: Sequence[Sequence[float]] | None,
    source: str | None,
    consent: bool,
    result: Any,
    params: dict[str, Any],
) -> np.ndarray | None:
    """The garment photo to store, under the consent rule for faces; notes what happened in ``params``.

    A face in the garment slot is someone's photo (or a face print): without consent it is
    blurred like the output's face, and a photo nobody checked for faces is not kept at all.
    """
    if garment is None:
        params["garment_source"] = source or ("synthesized" if getattr(result, "spec", None) is not None else "none")
        return None
    params["garment_source"] = source or "upload"
    garment = np.asarray(garment, dtype=np.uint8)
    if consent:
        return garment
    if faces is None:
        params["garment_source"] += " (not kept: not checked for faces)"
        return None
    if faces:
        params["garment_faces_blurred"] = len(faces)
        return blur_faces(garment, faces)
    return garment


# --------------------------------------------------------------------------- images


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 ``(H, W, 3)`` image or a bool ``(H, W)`` mask, no metadata."""
    array = np.asarray(image)
    if array.dtype == np.bool_ and array.ndim == 2:
        pil = Image.fromarray(array.astype(np.uint8) * 255, mode="L")
    elif array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
        pil = Image.fromarray(np.ascontiguousarray(array), mode="RGB")
    else:
        raise ValueError(f"expected RGB uint8 (H, W, 3) or bool (H, W), got {array.dtype} {array.shape}")
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(path: Path, role: str) -> np.ndarray:
    """A stored image: RGB uint8 ``(H, W, 3)``, or bool ``(H, W)`` for ``edit_mask``."""
    with Image.open(path) as pil:
        if role == "edit_mask":
            return np.asarray(pil.convert("L")) > 127
        return np.asarray(pil.convert("RGB"), dtype=np.uint8).copy()


# --------------------------------------------------------------------------- schema

# Version 1 kept one column per image; version 2 adds review (status, comment, history),
# the category column, and moves images into their own table so any role can be added.
_SCHEMA_V1 = """
CREATE TABLE flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    flagged_by TEXT NOT NULL,
    reasons TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    renderer TEXT NOT NULL,
    params TEXT NOT NULL,
    version TEXT NOT NULL,
    timings TEXT NOT NULL,
    scores TEXT NOT NULL,
    consent INTEGER NOT NULL,
    person_sha TEXT,
    garment_sha TEXT,
    output_sha TEXT
);
CREATE INDEX flags_created ON flags(created_at);
"""

_SCHEMA_V2 = """
ALTER TABLE flags ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE flags ADD COLUMN status TEXT NOT NULL DEFAULT 'new'
    CHECK (status IN ('new', 'confirmed', 'rejected', 'fixed'));
ALTER TABLE flags ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE flags ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';
ALTER TABLE flags ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';
CREATE TABLE images (
    flag_id INTEGER NOT NULL REFERENCES flags(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('person', 'garment', 'output', 'edit_mask')),
    sha256 TEXT NOT NULL,
    PRIMARY KEY (flag_id, role)
);
CREATE INDEX images_sha ON images(sha256);
INSERT INTO images (flag_id, role, sha256)
    SELECT id, 'person', person_sha FROM flags WHERE person_sha IS NOT NULL
    UNION ALL SELECT id, 'garment', garment_sha FROM flags WHERE garment_sha IS NOT NULL
    UNION ALL SELECT id, 'output', output_sha FROM flags WHERE output_sha IS NOT NULL;
ALTER TABLE flags DROP COLUMN person_sha;
ALTER TABLE flags DROP COLUMN garment_sha;
ALTER TABLE flags DROP COLUMN output_sha;
UPDATE flags SET category = COALESCE(json_extract(params, '$.result.category'), '');
CREATE TABLE review_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    flag_id INTEGER NOT NULL REFERENCES flags(id) ON DELETE CASCADE,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    status TEXT NOT NULL,
    comment TEXT NOT NULL
);
CREATE INDEX history_flag ON review_history(flag_id);
CREATE INDEX flags_status ON flags(status);
CREATE INDEX flags_renderer ON flags(renderer);
"""

# MIGRATIONS[i] takes the schema from version i to version i + 1.
MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1, _SCHEMA_V2)
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to schema ``target``, one version per transaction.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Returns the
    version found before migrating.

    Raises:
        TryOnError: the database was written by a newer tryon (its version is higher).
    """
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise TryOnError(
            f"The flag database has schema version {found}, newer than this tryon "
            f"({__version__}, schema {SCHEMA_VERSION}): upgrade tryon, or point TRYON_DATA_DIR elsewhere."
        )
    version = found
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= target:
                conn.execute("COMMIT")
                break
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version += 1
    return found


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit on its own)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [statement for statement in statements if statement]


# --------------------------------------------------------------------------- store

_FLAG_COLUMNS = (
    "id, idempotency_key, created_at, flagged_by, reasons, note, description, renderer, category, "
    "params, version, timings, scores, consent, status, comment, updated_by, updated_at"
)


class AnnotationStore:
    """The flag database and its images in one directory; safe across threads and processes.

    Every call opens its own SQLite connection, so one store can be shared by all
    request threads. Opening the store migrates the schema and sweeps files that
    an interrupted write or delete left behind.
    """

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.images_dir = self.data_dir / IMAGES_DIRNAME
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / DB_FILENAME
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                # Some network/FUSE filesystems cannot share WAL memory; SQLite stays in
                # its rollback journal, which is still transactional (just one writer or reader).
                log.warning("SQLite WAL mode unavailable in %s; using journal mode %s", self.data_dir, mode)
            self.journal_mode = mode.lower()
            self.migrated_from = migrate(conn)
        finally:
            conn.close()
        self.last_sweep = self.sweep()

    # ---- connections

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: consistent after any crash
        return conn

    # ---- writing

    def add(self, record: FlagRecord) -> tuple[int, bool]:
        """Store ``record`` and its images; idempotent on ``record.idempotency_key``.

        Returns:
            ``(record id, created)``; ``created`` is False when a record with the same
            key already existed (nothing was written).
        """
        encoded = {role: encode_png(image) for role, image in record.images.items()}
        hashes = {role: hashlib.sha256(data).hexdigest() for role, data in encoded.items()}
        created_at = record.created_at or utc_now()
        conn = self._connect()
        created_files: list[Path] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                existing = conn.execute(
                    "SELECT id FROM flags WHERE idempotency_key = ?", (record.idempotency_key,)
                ).fetchone()
                if existing is not None:
                    conn.execute("ROLLBACK")
                    return int(existing["id"]), False
                for role, data in encoded.items():
                    if self._write_image(hashes[role], data):
                        created_files.append(self.image_path(hashes[role]))
                cursor = conn.execute(
                    "INSERT INTO flags (idempotency_key, created_at, flagged_by, reasons, note, description, "
                    "renderer, category, params, version, timings, scores, consent) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.idempotency_key,
                        created_at,
                        record.flagged_by,
                        _dumps(list(record.reasons)),
                        record.note,
                        record.description,
                        record.renderer,
                        record.category,
                        _dumps(record.params),
                        record.version,
                        _dumps(record.timings),
                        _dumps(record.scores),
                        int(record.consent),
                    ),
                )
                flag_id = int(cursor.lastrowid)
                conn.executemany(
                    "INSERT INTO images (flag_id, role, sha256) VALUES (?, ?, ?)",
                    [(flag_id, role, sha) for role, sha in hashes.items()],
                )
                self._before_commit(conn)
                conn.execute("COMMIT")
            except BaseException:
                # Files this transaction created are referenced by nothing: remove them
                # while still holding the lock, so no other writer can have reused them.
                for path in created_files:
                    path.unlink(missing_ok=True)
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return flag_id, True

    def _before_commit(self, conn: sqlite3.Connection) -> None:
        """Called inside the write transaction just before COMMIT (a seam for crash tests)."""

    def _write_image(self, sha: str, data: bytes) -> bool:
        """Write one image file atomically unless it exists; True when this call created it."""
        final = self.image_path(sha)
        if final.exists():
            return False
        temp = self.images_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}{IMAGE_SUFFIX}"
        try:
            with open(temp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return True

    def set_status(self, flag_id: int, status: str, comment: str, changed_by: str) -> StoredRecord:
        """Set a flag's review status and comment, and append the change to its history.

        Raises:
            TryOnError: unknown flag id or status, comment too long.
        """
        if status not in STATUSES:
            raise TryOnError(f"Unknown status {status!r}: choose one of {', '.join(STATUSES)}.")
        comment = (comment or "").strip()
        if len(comment) > COMMENT_MAX_CHARS:
            raise TryOnError(f"The comment is longer than {COMMENT_MAX_CHARS} characters: shorten it.")
        now = utc_now()
        with self._transaction() as conn:
            updated = conn.execute(
                "UPDATE flags SET status = ?, comment = ?, updated_by = ?, updated_at = ? WHERE id = ?",
                (status, comment, changed_by, now, flag_id),
            ).rowcount
            if not updated:
                raise TryOnError(f"There is no flag #{flag_id}: refresh the list and pick another.")
            conn.execute(
                "INSERT INTO review_history (flag_id, changed_at, changed_by, status, comment) "
                "VALUES (?, ?, ?, ?, ?)",
                (flag_id, now, changed_by, status, comment),
            )
        record = self.get(flag_id)
        if record is None:  # deleted by another annotator right after the update
            raise TryOnError(f"Flag #{flag_id} was deleted meanwhile: refresh the list.")
        return record

    def delete(self, flag_id: int) -> bool:
        """Delete a flag, its history, and its image files that no other flag uses.

        Returns:
            False when no flag has this id.
        """
        trashed: list[tuple[Path, Path]] = []
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                shas = [
                    row["sha256"]
                    for row in conn.execute("SELECT sha256 FROM images WHERE flag_id = ?", (flag_id,))
                ]
                deleted = conn.execute("DELETE FROM flags WHERE id = ?", (flag_id,)).rowcount
                for sha in sorted(set(shas)):
                    still_used = conn.execute(
                        "SELECT 1 FROM images WHERE sha256 = ? LIMIT 1", (sha,)
                    ).fetchone()
                    path = self.image_path(sha)
                    if still_used is None and path.exists():
                        trash = self.images_dir / f"{TRASH_PREFIX}{path.name}"
                        os.replace(path, trash)
                        trashed.append((path, trash))
                conn.execute("COMMIT")
            except BaseException:
                for path, trash in trashed:
                    os.replace(trash, path)
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        for _, trash in trashed:
            trash.unlink(missing_ok=True)
        return bool(deleted)

    def sweep(self) -> SweepReport:
        """Remove files no record refers to; finish or undo interrupted deletions.

        Holds the write lock while it looks, so no writer is between writing its
        files and committing them.
        """
        orphans = temp = removed = restored = 0
        with self._transaction() as conn:
            referenced = {row[0] for row in conn.execute("SELECT DISTINCT sha256 FROM images")}
            for path in self.images_dir.iterdir():
                name = path.name
                if not path.is_file():
                    continue
                if name.startswith(TMP_PREFIX):
                    path.unlink(missing_ok=True)
                    temp += 1
                elif name.startswith(TRASH_PREFIX):
                    original = self.images_dir / name[len(TRASH_PREFIX):]
                    if original.stem in referenced and not original.exists():
                        os.replace(path, original)
                        restored += 1
                    else:
                        path.unlink(missing_ok=True)
                        removed += 1
                elif name.endswith(IMAGE_SUFFIX) and name[: -len(IMAGE_SUFFIX)] not in referenced:
                    path.unlink(missing_ok=True)
                    orphans += 1
        report = SweepReport(orphans=orphans, temp=temp, trash_removed=removed, trash_restored=restored)
        if report != SweepReport():
            log.info("flag store sweep in %s: %s", self.images_dir, report)
        return report

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    # ---- reading

    def image_path(self, sha: str) -> Path:
        """Where the image with content hash ``sha`` lives."""
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"not a sha256 hex digest: {sha!r}")
        return self.images_dir / f"{sha}{IMAGE_SUFFIX}"

    def load_image(self, record: StoredRecord, role: str) -> np.ndarray | None:
        """A record's image: RGB uint8 ``(H, W, 3)``, bool ``(H, W)`` for ``edit_mask``, or None."""
        sha = record.images.get(role)
        return None if sha is None else decode_png(self.image_path(sha), role)

    def get(self, flag_id: int) -> StoredRecord | None:
        """The flag with this id, or None."""
        conn = self._connect()
        try:
            row = conn.execute(f"SELECT {_FLAG_COLUMNS} FROM flags WHERE id = ?", (flag_id,)).fetchone()
            return None if row is None else self._records(conn, [row])[0]
        finally:
            conn.close()

    def get_by_key(self, key: str) -> StoredRecord | None:
        """The flag with this idempotency key, or None."""
        conn = self._connect()
        try:
            row = conn.execute(
                f"SELECT {_FLAG_COLUMNS} FROM flags WHERE idempotency_key = ?", (key,)
            ).fetchone()
            return None if row is None else self._records(conn, [row])[0]
        finally:
            conn.close()

    def query(
        self,
        *,
        reason: str | None = None,
        status: str | None = None,
        renderer: str | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[StoredRecord], int]:
        """Flags matching all given filters, newest first.

        Args:
            reason: a code from :data:`ALL_REASONS`.
            status: one of :data:`STATUSES`.
            renderer: renderer name.
            date_from, date_to: inclusive UTC dates of ``created_at``.
            offset, limit: the page (``limit=None``: all).

        Returns:
            ``(records on the page, total number matching)``.
        """
        where, args = [], []
        if reason:
            where.append("EXISTS (SELECT 1 FROM json_each(flags.reasons) WHERE json_each.value = ?)")
            args.append(reason)
        if status:
            where.append("status = ?")
            args.append(status)
        if renderer:
            where.append("renderer = ?")
            args.append(renderer)
        if date_from:
            where.append("created_at >= ?")
            args.append(date_from.isoformat())
        if date_to:
            where.append("created_at < ?")
            args.append((date_to + dt.timedelta(days=1)).isoformat())
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        conn = self._connect()
        try:
            # One read transaction: the count and the page come from the same snapshot.
            conn.execute("BEGIN")
            total = conn.execute(f"SELECT COUNT(*) FROM flags {clause}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_FLAG_COLUMNS} FROM flags {clause} ORDER BY created_at DESC, id DESC "
                "LIMIT ? OFFSET ?",
                [*args, -1 if limit is None else limit, offset],
            ).fetchall()
            records = self._records(conn, rows)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return records, total

    def count(self) -> int:
        """Number of flags stored."""
        conn = self._connect()
        try:
            return int(conn.execute("SELECT COUNT(*) FROM flags").fetchone()[0])
        finally:
            conn.close()

    def renderers(self) -> list[str]:
        """Renderer names seen in stored flags (for the review filter)."""
        conn = self._connect()
        try:
            return [row[0] for row in conn.execute("SELECT DISTINCT renderer FROM flags ORDER BY renderer")]
        finally:
            conn.close()

    def history(self, flag_id: int) -> list[HistoryEntry]:
        """Review changes of a flag, oldest first."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT changed_at, changed_by, status, comment FROM review_history "
                "WHERE flag_id = ? ORDER BY id",
                (flag_id,),
            ).fetchall()
        finally:
            conn.close()
        return [HistoryEntry(**dict(row)) for row in rows]

    def _records(self, conn: sqlite3.Connection, rows: Sequence[sqlite3.Row]) -> list[StoredRecord]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        images: dict[int, dict[str, str]] = {flag_id: {} for flag_id in ids}
        marks = ",".join("?" * len(ids))
        for image in conn.execute(
            f"SELECT flag_id, role, sha256 FROM images WHERE flag_id IN ({marks})", ids
        ):
            images[image["flag_id"]][image["role"]] = image["sha256"]
        return [
            StoredRecord(
                id=row["id"],
                idempotency_key=row["idempotency_key"],
                created_at=row["created_at"],
                flagged_by=row["flagged_by"],
                reasons=tuple(json.loads(row["reasons"])),
                note=row["note"],
                description=row["description"],
                renderer=row["renderer"],
                category=row["category"],
                params=json.loads(row["params"]),
                version=row["version"],
                timings=json.loads(row["timings"]),
                scores=json.loads(row["scores"]),
                consent=bool(row["consent"]),
                status=row["status"],
                comment=row["comment"],
                updated_by=row["updated_by"],
                updated_at=row["updated_at"],
                images=images[row["id"]],
            )
            for row in rows
        ]

    def iter_all(self, *, status: str | None = None, batch: int = 200) -> Iterator[StoredRecord]:
        """Every flag (optionally only those with ``status``), oldest first, read in batches."""
        last_id = 0
        while True:
            conn = self._connect()
            try:
                rows = conn.execute(
                    f"SELECT {_FLAG_COLUMNS} FROM flags WHERE id > ? AND (? IS NULL OR status = ?) "
                    "ORDER BY id LIMIT ?",
                    (last_id, status, status, batch),
                ).fetchall()
                records = self._records(conn, rows)
            finally:
                conn.close()
            if not records:
                return
            yield from records
            last_id = records[-1].id


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)


@functools.cache
def _open_store(data_dir: str) -> AnnotationStore:
    return AnnotationStore(data_dir)


def open_store(data_dir: str | os.PathLike | None = None) -> AnnotationStore:
    """The process's store in ``data_dir`` (default: ``Settings.data_dir``), opened and swept once."""
    path = Path(get_settings().data_dir if data_dir is None else data_dir)
    return _open_store(str(path.expanduser().resolve()))

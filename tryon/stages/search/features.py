"""What a garment photo looks like, as numbers a search can compare: colours, pattern, shape.

All measured on a small copy (long side :data:`MEASURE_SIDE`) of a product photo on a plain
background; the garment is what differs from the border colour.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ...errors import TryOnError
from ..text import colour_palette, delta_e, rgb_to_lab

MEASURE_SIDE = 192  # photos are measured at this long side (colour and shape need no detail)
BACKGROUND_DIFF = 24  # max abs RGB difference from the border colour that still counts as background
MIN_GARMENT_PIXELS = 50
PLAIN_BORDER_SHARE = 0.9  # a product photo: this share of its border is one colour (within BACKGROUND_DIFF)
PALETTE_SIZE = 3  # colours kept per photo
PALETTE_MIN_SHARE = 0.08  # a next colour is kept while this share of the garment is unexplained
PALETTE_SEPARATION = 12.0  # CIELAB distance within which shades are one colour
# Pattern: gradient-orientation histogram (magnitude-weighted) and detail energy on L*, inside the
# garment eroded by PATTERN_INSET px (its outline is shape, not pattern).
PATTERN_BINS = 8
PATTERN_INSET = 3
DETAIL_SIGMA = 1.5  # px: L* minus its blur at this scale is print, weave and stripes
DETAIL_SCALE = 8.0  # L* units: detail energy is squashed as x / (x + scale)
# Shape: the garment's mask cropped to its box and resized to SILHOUETTE x SILHOUETTE.
SILHOUETTE = 24
# Colour similarity: CIEDE2000 at or below COLOUR_MATCH is the same colour, above COLOUR_MISS another.
COLOUR_MATCH_DELTA_E = 8.0
COLOUR_MISS_DELTA_E = 40.0
ASPECT_TOLERANCE = 0.35  # |log(aspect ratio / other's)| at which the aspect term falls to 1/e


@dataclasses.dataclass(frozen=True, eq=False)
class PhotoFeatures:
    """A garment photo's colours, pattern and shape.

    Attributes:
        palette: ``(K, 3)`` float32 CIELAB main colours, most common first.
        shares: ``(K,)`` float32, the share of the garment in each colour.
        pattern: ``(PATTERN_BINS + 1,)`` float32: gradient-orientation histogram turned to start
            at its strongest direction (sums to the squashed detail energy in [0, 1)) and that
            energy (0 for a flat colour).
        silhouette: ``(SILHOUETTE, SILHOUETTE)`` float32 in [0, 1], the mask in its bounding box.
        aspect: height / width of the garment's bounding box.
    """

    palette: np.ndarray
    shares: np.ndarray
    pattern: np.ndarray
    silhouette: np.ndarray
    aspect: float


def small_copy(image: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` resized so the long side is at most :data:`MEASURE_SIDE`."""
    scale = MEASURE_SIDE / max(image.shape[:2])
    if scale >= 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def plain_background(image: np.ndarray) -> bool:
    """Whether ``image`` (RGB uint8) has a plain border, as a product photo has (a scene has not)."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.int16)
    near = np.abs(border - np.median(border, axis=0)).max(axis=1) <= BACKGROUND_DIFF
    return float(near.mean()) >= PLAIN_BORDER_SHARE


def product_mask(image: np.ndarray) -> np.ndarray:
    """bool ``(H, W)``: pixels that differ from the photo's border colour (the garment), or every
    pixel when too few do (no plain background)."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.int16)
    background = np.median(border, axis=0)
    garment = np.abs(image.astype(np.int16) - background).max(axis=2) > BACKGROUND_DIFF
    return garment if garment.sum() >= MIN_GARMENT_PIXELS else np.ones(image.shape[:2], bool)


def garment_or_product_mask(image: np.ndarray) -> np.ndarray:
    """The garment stage's silhouette (:func:`tryon.stages.garment.garment_mask`), or
    :func:`product_mask` where that finds no garment (a white tee on a near-white background)."""
    from ..garment import garment_mask

    try:
        return garment_mask(image)
    except TryOnError:
        return product_mask(image)


def measure(image: np.ndarray, mask: np.ndarray | None = None) -> PhotoFeatures:
    """Colours, pattern and shape of the garment in a product photo.

    Args:
        image: RGB uint8 ``(H, W, 3)``, any size (measured at :data:`MEASURE_SIDE`).
        mask: bool ``(H, W)``, the garment; default :func:`garment_or_product_mask`.
    """
    small = small_copy(image)
    if mask is None:
        mask = garment_or_product_mask(small)
    else:
        mask = cv2.resize(mask.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
    lab = rgb_to_lab(small.astype(np.float32))
    palette = colour_palette(lab[mask], PALETTE_SIZE, PALETTE_SEPARATION, PALETTE_MIN_SHARE)
    ys, xs = np.nonzero(mask)
    box = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    return PhotoFeatures(
        palette=np.asarray([c for c, _ in palette], np.float32),
        shares=np.asarray([s for _, s in palette], np.float32),
        pattern=_pattern(lab[..., 0], mask),
        silhouette=cv2.resize(box, (SILHOUETTE, SILHOUETTE), interpolation=cv2.INTER_AREA),
        aspect=float(box.shape[0]) / float(box.shape[1]),
    )


def _pattern(lightness: np.ndarray, mask: np.ndarray) -> np.ndarray:
    inner = cv2.erode(mask.astype(np.uint8), np.ones((2 * PATTERN_INSET + 1,) * 2, np.uint8)).astype(bool)
    if inner.sum() < MIN_GARMENT_PIXELS:
        inner = mask
    detail = lightness - cv2.GaussianBlur(lightness, (0, 0), DETAIL_SIGMA)
    energy = float(np.sqrt(np.mean(detail[inner] ** 2)))
    squashed = energy / (energy + DETAIL_SCALE)
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)[inner]
    angle = np.mod(np.arctan2(gy, gx)[inner], np.pi)
    hist = np.bincount((angle / np.pi * PATTERN_BINS).astype(int) % PATTERN_BINS, magnitude, PATTERN_BINS)
    hist = np.roll(hist, -int(np.argmax(hist)))  # stripes are stripes whichever way they run
    hist = hist / max(float(hist.sum()), 1e-6) * squashed
    return np.append(hist, squashed).astype(np.float32)


def colour_similarity(a: PhotoFeatures, b: PhotoFeatures) -> float:
    """In [0, 1]: each photo's colours found among the other's, weighted by their shares (symmetric)."""
    distances = delta_e(a.palette[:, None, :], b.palette[None, :, :])
    near = np.clip((COLOUR_MISS_DELTA_E - distances) / (COLOUR_MISS_DELTA_E - COLOUR_MATCH_DELTA_E), 0, 1)
    forward = float((near.max(axis=1) * a.shares).sum() / a.shares.sum())
    backward = float((near.max(axis=0) * b.shares).sum() / b.shares.sum())
    return (forward + backward) / 2


def pattern_similarity(a: PhotoFeatures, b: PhotoFeatures) -> float:
    """In [0, 1]: 1 - half the L1 distance of the pattern vectors (same detail and direction)."""
    return float(1.0 - 0.5 * np.abs(a.pattern - b.pattern).sum())


def shape_similarity(a: PhotoFeatures, b: PhotoFeatures) -> float:
    """In [0, 1]: silhouette overlap (soft IoU), lowered by a different aspect ratio. A garment
    and its mirror image (a back view) count as the same shape."""
    mirrored = b.silhouette[:, ::-1]
    iou = max(_soft_iou(a.silhouette, b.silhouette), _soft_iou(a.silhouette, mirrored))
    return iou * float(np.exp(-abs(np.log(a.aspect / b.aspect)) / ASPECT_TOLERANCE))


def _soft_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.minimum(a, b).sum() / max(float(np.maximum(a, b).sum()), 1e-6))

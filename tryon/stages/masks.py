"""Mask operations the stages share (bool ``(H, W)`` masks in, bool masks out; radii and areas in px).

Thin, documented wrappers over OpenCV, SciPy and scikit-image, written once here instead of in
each stage.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from skimage import morphology


def disc(radius: float) -> np.ndarray:
    """An elliptical structuring element of ``radius`` px (at least 1), uint8."""
    r = max(1, round(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """``mask`` dilated by a disc of ``radius`` px (a copy when ``radius`` <= 0)."""
    if radius <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), disc(radius)).astype(bool)


def close(mask: np.ndarray, radius: float) -> np.ndarray:
    """Morphological closing by a disc of ``radius`` px: gaps narrower than about ``2 * radius`` close."""
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, disc(radius)).astype(bool)


def grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """``mask`` grown by ``radius`` px (Euclidean), fast for any radius: a distance transform over the
    mask's bounding box only."""
    if radius <= 0 or not mask.any():
        return mask.copy()
    mask = np.ascontiguousarray(mask, dtype=bool)
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    r = int(np.ceil(radius)) + 1
    y0, y1 = max(0, y - r), min(mask.shape[0], y + h + r)
    x0, x1 = max(0, x - r), min(mask.shape[1], x + w + r)
    out = np.zeros_like(mask, dtype=bool)
    dist = cv2.distanceTransform((~mask[y0:y1, x0:x1]).astype(np.uint8), cv2.DIST_L2, 3)
    out[y0:y1, x0:x1] = dist <= radius
    return out


def keep_touching(mask: np.ndarray, seeds: np.ndarray, min_area: float = 0) -> np.ndarray:
    """The 8-connected components of ``mask`` that overlap ``seeds`` and have at least ``min_area`` px."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    out = np.zeros_like(mask)
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))  # labelled over the mask's bounding box only
    if w == 0:
        return out
    box = (slice(y, y + h), slice(x, x + w))
    inner = np.ascontiguousarray(mask[box])
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inner.view(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[labels[seeds[box] & inner]] = True
    keep &= stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    out[box] = keep[labels]
    return out


def fill_small_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """``mask`` with the holes it encloses completely (not open to the image border) filled when they
    are smaller than ``max_area`` px: eyes in skin, letters of a logo; not the gap framed by two arms."""
    mask = mask.astype(bool)
    # The 4-connected parts of the outside of the mask; those that reach no border are holes (as
    # scipy's binary_fill_holes, with sizes from the same pass).
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    if count <= 1:
        return mask
    small = stats[:, cv2.CC_STAT_AREA] < int(np.ceil(max_area))
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        small[edge] = False
    small[0] = False  # label 0 is the mask itself
    return mask | small[labels]


def drop_specks(mask: np.ndarray, min_area: float) -> np.ndarray:
    """``mask`` without its 8-connected parts smaller than ``min_area`` px."""
    mask = mask.astype(bool)
    if min_area <= 1 or not mask.any():
        return mask
    return morphology.remove_small_objects(mask, max_size=int(np.ceil(min_area)) - 1, connectivity=2)


def fill_nearest(labels: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Give the unlabelled (0) pixels of ``inside`` the label of the nearest labelled pixel.

    ``labels``: uint8 ``(H, W)`` label map; returns a new one.
    """
    missing = inside & (labels == 0)
    if not missing.any() or not (labels > 0).any():
        return labels
    # distanceTransformWithLabels measures to the zero pixels: make the labelled ones zero.
    _, nearest = cv2.distanceTransformWithLabels(
        (labels == 0).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    lookup = np.zeros(int(nearest.max()) + 1, labels.dtype)
    lookup[nearest[labels > 0]] = labels[labels > 0]
    filled = labels.copy()
    filled[missing] = lookup[nearest[missing]]
    return filled


def nearest(mask: np.ndarray, mask_size: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's distance to the nearest pixel of ``mask`` (bool ``(H, W)``, not empty) and that pixel's flat
    index into ``mask`` (float32, int64 ``(H, W)``); ``mask_size``: OpenCV's L2 distance mask (3, or 5: finer)."""
    # distanceTransformWithLabels measures to the zero pixels, labelling each in raster order from 1.
    dist, label = cv2.distanceTransformWithLabels((~mask).astype(np.uint8), cv2.DIST_L2, mask_size,
                                                  labelType=cv2.DIST_LABEL_PIXEL)
    return dist, np.flatnonzero(mask.ravel())[np.maximum(label, 1) - 1]


def capsule(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float, value: int = 1) -> None:
    """Draw on a uint8 ``canvas`` a filled capsule (a thick line with round ends) of ``radius`` px."""
    thickness = max(1, round(2 * radius))
    pa = (round(float(a[0])), round(float(a[1])))
    pb = (round(float(b[0])), round(float(b[1])))
    cv2.line(canvas, pa, pb, value, thickness=thickness, lineType=cv2.LINE_8)


def smooth_outline(mask: np.ndarray, sigma: float) -> np.ndarray:
    """``mask`` with its outline smoothed over ``sigma`` px (Gaussian, then halved): the stairs a mask
    built at a lower resolution leaves become curves; parts much larger than ``sigma`` keep their size."""
    mask = mask.astype(bool)
    if sigma <= 0 or not mask.any():
        return mask
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))  # the bounding box: ~15x faster than np.nonzero
    m = int(np.ceil(3 * sigma)) + 1
    y0, y1 = max(0, y - m), min(mask.shape[0], y + h + m)
    x0, x1 = max(0, x - m), min(mask.shape[1], x + w + m)
    out = np.zeros_like(mask)
    # On 8-bit (OpenCV's fixed-point path, ~2.5x faster than float32; the same outline).
    out[y0:y1, x0:x1] = cv2.GaussianBlur(mask[y0:y1, x0:x1].view(np.uint8) * 255, (0, 0), sigma) > 127
    return out


def row_spans(mask: np.ndarray, widen: np.ndarray | None = None, bridge: int = 0) -> np.ndarray:
    """Each row of ``mask`` filled from its leftmost to its rightmost pixel (bool ``(H, W)``; empty rows stay
    empty): what hangs across a gap, as a skirt across the legs. ``widen``: float ``(H,)``, px each row's
    span reaches further out on both sides (a skirt flaring as it falls). ``bridge``: a notch in the spans'
    ends fewer rows long than this (a hand hanging beside a hip, taken out of the mask) is bridged, the ends
    on either side of it joined (a closing of each end's curve down the rows)."""
    mask = mask.astype(bool)
    span = np.zeros_like(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    if not rows.size:
        return span
    first = np.argmax(mask[rows], axis=1).astype(np.float64)
    last = (mask.shape[1] - 1 - np.argmax(mask[rows, ::-1], axis=1)).astype(np.float64)
    if bridge > 1:
        last, first = _closing_1d(last, bridge), -_closing_1d(-first, bridge)
    if widen is not None:
        first, last = first - widen[rows], last + widen[rows]
    cols = np.arange(mask.shape[1])[None, :]
    span[rows] = (cols >= first[:, None]) & (cols <= last[:, None])
    return span


def _closing_1d(values: np.ndarray, size: int) -> np.ndarray:
    """A grey closing (running maximum, then minimum) of ``values`` (float ``(N,)``) over ``size`` samples: its
    dips narrower than that are filled, its rises and plateaus kept, up to both ends (beyond them nothing,
    not the end value repeated: a rising curve's first samples would take a later one's)."""
    padded = np.pad(values.astype(np.float64), size, constant_values=-np.inf)
    grown = ndimage.maximum_filter1d(padded, size, mode="constant", cval=-np.inf)
    return ndimage.minimum_filter1d(grown, size)[size:-size]


def upsample(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A low-resolution mask at ``size`` ``(H, W)`` with smooth outlines (bilinear, then halved), not
    the nearest-neighbour stairs."""
    h, w = size
    return cv2.resize(mask.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_LINEAR) > 127

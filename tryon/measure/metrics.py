"""Evaluation metrics for a rendered try-on, one documented function each.

Every metric works at the photo's own size on luminance (Rec. 601 luma in [0, 1]) or
CIE Lab (L in [0, 100], a/b in about [-128, 127]) and is the same for every renderer:
regions come from pose landmarks and the person mask of the *input* photo
(:func:`garment_region`, :func:`core_region`, :func:`allowed_region`), never from what a
renderer says it did.

The body geometry here (the frame, limb radii, the waistband height) is this module's own, on
purpose: a measurement that borrowed the renderer's person model
(:mod:`tryon.stages.person`) would agree with the renderer's mistakes. Only the landmark indices
are shared (:mod:`tryon.stages.landmarks`).

Inputs: images are RGB ``uint8`` ``(H, W, 3)``, masks ``bool`` ``(H, W)``, landmarks
``(33, 2)`` float pixels ``(x, y)`` in MediaPipe order (see :mod:`tryon.stages.landmarks`).
Metrics return a float; ``nan`` means "not measurable here" (e.g. an empty region).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from ..stages.landmarks import (
    LEFT_ANKLE,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_INDEX,
    LEFT_KNEE,
    LEFT_PINKY,
    LEFT_SHOULDER,
    LEFT_WRIST,
    RIGHT_ANKLE,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_INDEX,
    RIGHT_KNEE,
    RIGHT_PINKY,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
)
from ..stages.masks import row_spans

# --- SSIM -------------------------------------------------------------------------------
SSIM_WINDOW = 7  # px, the uniform window of scikit-image's structural_similarity

# --- Fine detail (high-pass = luminance minus its Gaussian blur) --------------------------
DETAIL_SIGMA = 2.0  # px, detail retention
GHOST_SIGMA = 3.0  # px, ghosting
# Pixels count as changed when some channel moved by more than this (absorbs rounding).
CHANGED_TOLERANCE = 2
# Unchanged specks up to this area (px) inside the changed region, where old and new colours
# happen to agree, count as changed (closing instead would also swallow narrow gaps of background).
CHANGED_HOLE_AREA = 8
# The contour of a garment (against the background or the kept body) is an edge in the
# high-pass that says nothing about texture: both sides of the ratio drop a band this wide.
DETAIL_BORDER_PX = 6  # ~3 sigma
GHOST_BORDER_PX = 9  # ~3 sigma: the edit border's edge appears in both images

# --- Colour -----------------------------------------------------------------------------
DOMINANT_CLUSTERS = 3  # k-means clusters; the dominant colour is the largest one's median
PALETTE_CLUSTERS = 5  # colours of a garment when testing "shows the garment"
MAIN_COLOUR_SHARE = 0.25  # a multi-colour render's colours that hold this share may match
KMEANS_ITERATIONS = 12
KMEANS_MAX_PIXELS = 20_000  # subsample for speed; deterministic stride
COLOUR_BORDER_PX = 3  # edge pixels blend with the background: left out of colour statistics
SOLID_DELTA_E = 20.0  # a pixel "has the dominant colour" within this Lab distance...
SOLID_L_WEIGHT = 0.5  # ...with lightness differences halved (folds and sheen shade one colour)
SOLID_SHARE = 0.9  # a garment is solid when this share of its pixels has the dominant colour

# --- Body geometry (fractions of shoulder width, hip width or torso length) -------------
VISIBLE = 0.5  # MediaPipe visibility above which a landmark counts as seen
SHOULDER_OVERHANG = 0.12  # garment extends this far past the shoulder joint
HIP_OVERHANG = 0.45  # hip joints lie inside the body: the flesh extends this far beyond
# A skirt may stand off the legs' outer line by this share of its drop below the hips (an A-line flares by
# about a quarter to a third of its length; a flared circle skirt more): no leakage.
SKIRT_DRAPE = 0.3
WAIST_ABOVE_HIPS = 0.25  # waistband sits this far (of torso length) above the hip joints
THIGH_RADIUS = 0.55  # of hip-joint distance
SHIN_RADIUS = 0.35
ARM_RADIUS = 0.22  # of shoulder width
FOREARM_RADIUS = 0.16
HAND_RADIUS = 0.12  # capsules from the wrist to the index and pinky knuckles cover a hand
CORE_TOP, CORE_BOTTOM = 0.15, 0.75  # torso span every top covers (crop tops score lower)
# Shares of hip -> knee every bottom and dress covers: below where an untucked top's hem hangs, above
# where the shortest shorts end.
CORE_THIGH = (0.15, 0.45)
TUNIC_BELOW_HIPS = 0.35  # a long top may hang this far below the hips (of torso length)
NECK_ABOVE_SHOULDERS = 0.1  # collars reach this far above the shoulder line (of torso length)
ZONE_MARGIN = 0.15  # of the body scale: loose garments stand off the body
DRESS_FLARE = 1.2  # a skirt may flare to this many hip-joint distances either side

# --- Length correctness --------------------------------------------------------------------
LENGTH_POINTS_PER_SIDE = 7
LENGTH_PATCH_PX = 2  # colour is the median of a (2r+1)^2 patch around each point
SKIN_MAHALANOBIS = 4.0  # a pixel is skin within this many standard deviations of the model
SKIN_COV_FLOOR = 9.0  # 8-bit Lab variance added to the model (a face has less spread than arms)
# Skin models carry a wide lightness spread (shade, highlights), which lets beige and grey cloth
# through the Mahalanobis test: skin must also lie this close to the model's mean in (a, b).
SKIN_CHROMA_DISTANCE = 20.0
# Bare skin is smooth at this scale, prints and weaves are not: the fine-detail std (sigma 2 px)
# in a (2r+1)^2 patch is below 0.045 on bare arms and legs and above 0.05 on patterned trousers.
SKIN_MAX_TEXTURE = 0.05
SKIN_TEXTURE_PATCH_PX = 3
GARMENT_DELTA_E = 25.0  # a pixel shows the garment within this distance of one of its colours
PERSON_SLACK_PX = 3  # points this close to the person mask still count (mask edges are soft)

SEGMENT_BONES = {
    # segment -> ((upper joint, lower joint) for the wearer's left, same for the right)
    "upperarm": ((LEFT_SHOULDER, LEFT_ELBOW), (RIGHT_SHOULDER, RIGHT_ELBOW)),
    "forearm": ((LEFT_ELBOW, LEFT_WRIST), (RIGHT_ELBOW, RIGHT_WRIST)),
    "thigh": ((LEFT_HIP, LEFT_KNEE), (RIGHT_HIP, RIGHT_KNEE)),
    "shin": ((LEFT_KNEE, LEFT_ANKLE), (RIGHT_KNEE, RIGHT_ANKLE)),
}
LENGTH_EXPECT = ("skin", "garment")


# =========================================================================================
# Colour spaces and filters
# =========================================================================================


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB uint8 ``(H, W, 3)`` image as float32 ``(H, W)`` in [0, 1]."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) of RGB uint8 ``(..., 3)``: float32, L in [0, 100], a/b about [-128, 127]."""
    flat = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1, 1, 3)
    lab = cv2.cvtColor(flat.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return lab.reshape(*rgb.shape[:-1], 3)


def fine_detail(lum: np.ndarray, sigma: float) -> np.ndarray:
    """High-pass: ``lum`` (float32 ``(H, W)``) minus its Gaussian blur of ``sigma`` px."""
    return lum - cv2.GaussianBlur(lum, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Shrink a bool mask by ``radius`` px (disc); pixels outside the image count as outside."""
    if radius <= 0:
        return mask.copy()
    padded = np.pad(mask.astype(np.uint8), radius)
    return cv2.erode(padded, _disc(radius))[radius:-radius, radius:-radius].astype(bool)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a bool mask by ``radius`` px (disc)."""
    if radius <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), _disc(radius)).astype(bool)


def changed_mask(result: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Pixels the renderer changed: some channel differs by more than :data:`CHANGED_TOLERANCE`.

    Args:
        result, person: RGB uint8 ``(H, W, 3)`` of the same size.

    Returns:
        bool ``(H, W)``; holes up to :data:`CHANGED_HOLE_AREA` px are filled so pixels where
        the new garment happens to match the old colour do not punch holes into the region.
    """
    changed = np.abs(result.astype(np.int16) - person.astype(np.int16)).max(axis=2) > CHANGED_TOLERANCE
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~changed).astype(np.uint8), connectivity=4)
    small = np.zeros(count, dtype=bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] <= CHANGED_HOLE_AREA
    return changed | small[labels]


# =========================================================================================
# 1. Region SSIM, whole-image SSIM, preservation
# =========================================================================================


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two RGB uint8 images on luminance, 7x7 uniform window: float ``(H, W)``."""
    _, full = structural_similarity(
        luminance(a), luminance(b), win_size=SSIM_WINDOW, data_range=1.0, full=True
    )
    return full.astype(np.float32)


def masked_mean(values: np.ndarray, mask: np.ndarray) -> float:
    """Mean of ``values`` over a bool ``mask``; nan when the mask is empty."""
    return float(values[mask].mean()) if mask.any() else math.nan


def region_ssim(result: np.ndarray, person: np.ndarray, region: np.ndarray) -> float:
    """SSIM of ``result`` vs ``person`` averaged over ``region`` (the garment region).

    For paired cases, where the person photo already shows the garment, 1 means the
    render reproduced the photo. ``region``: bool ``(H, W)``, see :func:`garment_region`.
    """
    return masked_mean(ssim_map(result, person), region)


def whole_ssim(result: np.ndarray, person: np.ndarray) -> float:
    """SSIM of ``result`` vs ``person`` over the whole image."""
    return float(ssim_map(result, person).mean())


def preservation(result: np.ndarray, person: np.ndarray, allowed: np.ndarray) -> float:
    """SSIM outside the region a try-on may change: 1 when everything else is kept.

    ``allowed``: bool ``(H, W)`` (see :func:`allowed_region`); it is grown by half the
    SSIM window so windows that straddle its border do not count.
    """
    return masked_mean(ssim_map(result, person), ~dilate(allowed, SSIM_WINDOW // 2))


def floor_render(person: np.ndarray, region: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The reference render: ``region`` of ``person`` filled with one ``colour`` (RGB uint8 (3,)).

    Its region SSIM is the floor a real render must beat.
    """
    out = person.copy()
    out[region] = np.asarray(colour, dtype=np.uint8)
    return out


# =========================================================================================
# 2-3. Detail retention and ghosting
# =========================================================================================


def _detail_std(image: np.ndarray, mask: np.ndarray) -> float:
    detail = fine_detail(luminance(image), DETAIL_SIGMA)
    inner = erode(mask, DETAIL_BORDER_PX)
    return float(detail[inner].std()) if inner.sum() > 1 else math.nan


def detail_retention(
    result: np.ndarray, person: np.ndarray, garment_image: np.ndarray, garment_mask: np.ndarray
) -> float:
    """Fine detail (sigma 2 px) kept by the render, relative to the garment photo.

    ``std(high-pass of result over the changed pixels) / std(high-pass of the garment
    photo over its garment)``, both regions eroded by :data:`DETAIL_BORDER_PX` so outlines
    do not count. A flat fill scores about 0.1, a garment blurred with sigma 3 about 0.3,
    a sharp, well warped garment 0.8-1.4.

    Args:
        result, person: RGB uint8 ``(H, W, 3)``, the render and its input photo.
        garment_image: RGB uint8 ``(h, w, 3)``, the garment photo.
        garment_mask: bool ``(h, w)``, the garment in that photo.
    """
    reference = _detail_std(garment_image, garment_mask)
    if not reference > 0:
        return math.nan
    return _detail_std(result, changed_mask(result, person)) / reference


def ghosting(result: np.ndarray, person: np.ndarray) -> float:
    """Correlation of fine detail (sigma 3 px) between render and input over changed pixels.

    Measured away from the edit border (eroded by :data:`GHOST_BORDER_PX`). Near 0: the
    old garment's prints and folds do not show through the new one; near 1: the input's
    high-pass was copied into the garment (a defect). Only meaningful for unpaired cases.
    """
    inner = erode(changed_mask(result, person), GHOST_BORDER_PX)
    if inner.sum() < 2:
        return math.nan
    a = fine_detail(luminance(result), GHOST_SIGMA)[inner].astype(np.float64)
    b = fine_detail(luminance(person), GHOST_SIGMA)[inner].astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else math.nan


# =========================================================================================
# 5. Coverage, leakage, colour fidelity
# =========================================================================================


def coverage(garment_mask: np.ndarray, region: np.ndarray) -> float:
    """Share of ``region`` (see :func:`core_region`) that shows the new garment, in [0, 1]."""
    total = int(region.sum())
    return float((garment_mask & region).sum() / total) if total else math.nan


def leakage(
    garment_mask: np.ndarray, person_mask: np.ndarray, landmarks: np.ndarray | None = None, category: str = "upper"
) -> float:
    """New-garment pixels outside the person, as a fraction of the person's pixels.

    A dress's skirt, or a lower garment (a skirt, wide trouser legs), hangs across the gap between the legs
    and stands off them as it falls (below the hip joints: between the outermost leg pixels of each row,
    widened by :data:`SKIRT_DRAPE` of the row's drop below the hips, an A-line's flare): that is not
    leakage, when ``landmarks`` are given. Sleeves, a bodice or pieces beside the body are.

    Args:
        garment_mask: bool ``(H, W)``, where the render shows the new garment.
        person_mask: bool ``(H, W)``, the person in the *input* photo.
        landmarks: ``(33, 2)`` px, to place the hips for a dress's skirt; category: the garment's.
    """
    total = int(person_mask.sum())
    if not total:
        return math.nan
    allowed = person_mask
    if category in ("dress", "lower") and landmarks is not None:
        allowed = person_mask | _skirt_drape(person_mask, landmarks)
    return float((garment_mask & ~allowed).sum() / total)


def _skirt_drape(person_mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Below the hip joints, each row of the person filled between its outermost pixels and widened by
    :data:`SKIRT_DRAPE` of its drop below the hips (bool)."""
    hip_y = max(0, int(max(landmarks[LEFT_HIP][1], landmarks[RIGHT_HIP][1])))
    below = np.zeros_like(person_mask, dtype=bool)
    below[hip_y:] = True
    drop = np.maximum(np.arange(person_mask.shape[0]) - hip_y, 0)
    return row_spans(person_mask & below, widen=SKIRT_DRAPE * drop)


def _subsample(pixels: np.ndarray) -> np.ndarray:
    step = max(1, len(pixels) // KMEANS_MAX_PIXELS)
    return pixels[::step]


def kmeans(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means of float ``(N, D)`` points.

    Starts from the means of ``k`` equal slices sorted by the first coordinate (lightness
    for Lab), so equal inputs give equal outputs.

    Returns:
        ``(centres (k', D), labels (N,))`` with empty clusters dropped.
    """
    points = points.astype(np.float64)
    k = max(1, min(k, len(points)))
    order = np.argsort(points[:, 0], kind="stable")
    centres = np.stack([points[chunk].mean(axis=0) for chunk in np.array_split(order, k)])
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(KMEANS_ITERATIONS):
        dist = ((points[:, None, :] - centres[None]) ** 2).sum(axis=2)
        labels = dist.argmin(axis=1)
        for j in range(len(centres)):
            members = points[labels == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    used = np.unique(labels)
    remap = np.zeros(len(centres), dtype=np.int64)
    remap[used] = np.arange(len(used))
    return centres[used], remap[labels]


def garment_lab_pixels(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Lab float ``(N, 3)`` of the pixels inside ``mask``, its edge band left out when possible."""
    inner = erode(mask, COLOUR_BORDER_PX)
    if inner.sum() < 0.25 * mask.sum():
        inner = mask
    return to_lab(image[inner])


def main_colours(
    image: np.ndarray, mask: np.ndarray, k: int = DOMINANT_CLUSTERS
) -> tuple[np.ndarray, np.ndarray]:
    """The main CIE Lab colours of ``image`` inside ``mask``, largest first.

    k-means with ``k`` clusters; each colour is its cluster's median, so a logo or a seam
    does not shift a solid garment's colour.

    Returns:
        ``(colours float32 (k', 3), shares float32 (k',) summing to 1)``; empty when the mask is.
    """
    pixels = garment_lab_pixels(image, mask)
    if not len(pixels):
        return np.zeros((0, 3), np.float32), np.zeros(0, np.float32)
    sample = _subsample(pixels)
    _, labels = kmeans(sample, k)
    counts = np.bincount(labels)
    order = np.argsort(-counts, kind="stable")
    colours = np.stack([np.median(sample[labels == j], axis=0) for j in order])
    return colours.astype(np.float32), (counts[order] / counts.sum()).astype(np.float32)


def dominant_colour(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The largest of :func:`main_colours`: Lab float ``(3,)``, nan when the mask is empty."""
    colours, _ = main_colours(image, mask)
    return colours[0] if len(colours) else np.full(3, np.nan, dtype=np.float32)


def colour_palette(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A garment's colours for "shows the garment" tests: :data:`PALETTE_CLUSTERS` Lab colours."""
    return main_colours(image, mask, PALETTE_CLUSTERS)[0]


def delta_e(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """CIE76 colour difference: Euclidean distance in Lab over the last axis."""
    return np.linalg.norm(np.asarray(lab_a, np.float64) - np.asarray(lab_b, np.float64), axis=-1)


def colour_fidelity(
    garment_image: np.ndarray, garment_mask: np.ndarray, result: np.ndarray, result_garment_mask: np.ndarray
) -> float:
    """CIE76 distance between the dominant colours of the photo's garment and the rendered one.

    For a garment that is not solid (:func:`is_solid`) the largest colour can flip between
    stripes or print colours of similar share, so the photo's dominant colour is compared
    with the closest of the render's main colours that hold at least :data:`MAIN_COLOUR_SHARE`.

    Args:
        garment_image, garment_mask: the garment photo (RGB uint8) and its garment (bool).
        result, result_garment_mask: the render and where it shows the new garment.
    """
    source = dominant_colour(garment_image, garment_mask)
    colours, shares = main_colours(result, result_garment_mask)
    if not len(colours):
        return math.nan
    if is_solid(garment_image, garment_mask):
        return float(delta_e(source, colours[0]))
    # The largest share is at least 1/k >= MAIN_COLOUR_SHARE, so the choice is never empty.
    return float(delta_e(source, colours[shares >= MAIN_COLOUR_SHARE]).min())


def is_solid(garment_image: np.ndarray, garment_mask: np.ndarray) -> bool:
    """True for one colour with shading and perhaps a small logo: at least :data:`SOLID_SHARE`
    of the garment lies within :data:`SOLID_DELTA_E` of its dominant colour, lightness
    weighted by :data:`SOLID_L_WEIGHT`. Stripes, prints and colour blocks are not solid."""
    pixels = garment_lab_pixels(garment_image, garment_mask)
    if not len(pixels):
        return False
    weight = np.array([SOLID_L_WEIGHT, 1.0, 1.0])
    dominant = dominant_colour(garment_image, garment_mask)
    share = (delta_e(pixels * weight, dominant * weight) <= SOLID_DELTA_E).mean()
    return bool(share >= SOLID_SHARE)


# =========================================================================================
# Body regions from landmarks + person mask
# =========================================================================================


class _Frame:
    """Landmark-derived lengths of one body, shared by the region functions."""

    def __init__(self, landmarks: np.ndarray, shape: tuple[int, int]) -> None:
        self.p = np.asarray(landmarks, dtype=np.float64)[:, :2]
        self.shape = shape
        self.shoulder_mid = (self.p[LEFT_SHOULDER] + self.p[RIGHT_SHOULDER]) / 2
        self.hip_mid = (self.p[LEFT_HIP] + self.p[RIGHT_HIP]) / 2
        self.shoulder_w = float(np.linalg.norm(self.p[LEFT_SHOULDER] - self.p[RIGHT_SHOULDER]))
        self.hip_w = float(np.linalg.norm(self.p[LEFT_HIP] - self.p[RIGHT_HIP]))
        self.torso_len = float(np.linalg.norm(self.shoulder_mid - self.hip_mid))
        # A turned body has close shoulders: the torso length keeps every width sensible.
        self.scale = max(self.shoulder_w, 0.5 * self.torso_len, 1.0)
        self.hip_scale = max(self.hip_w, 0.35 * self.torso_len, 1.0)
        down = self.hip_mid - self.shoulder_mid
        self.down = down / (np.linalg.norm(down) or 1.0)

    def canvas(self) -> np.ndarray:
        return np.zeros(self.shape, dtype=np.uint8)

    def outward(self, left: int, right: int, amount: float) -> tuple[np.ndarray, np.ndarray]:
        """Both points of a left/right pair pushed apart by ``amount`` px each."""
        a, b = self.p[left], self.p[right]
        d = (a - b) / (np.linalg.norm(a - b) or 1.0)
        return a + d * amount, b - d * amount


def _poly(canvas: np.ndarray, points: list[np.ndarray]) -> None:
    cv2.fillPoly(canvas, [np.round(np.array(points)).astype(np.int32)], 1)


def _capsule(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> None:
    r = max(1, round(radius))
    pa, pb = tuple(int(v) for v in np.round(a)), tuple(int(v) for v in np.round(b))
    cv2.line(canvas, pa, pb, 1, thickness=2 * r)
    cv2.circle(canvas, pa, r, 1, -1)
    cv2.circle(canvas, pb, r, 1, -1)


def _torso(f: _Frame, top: float = 0.0, bottom: float = 1.0, overhang: bool = True) -> np.ndarray:
    """Quadrilateral between the shoulder and hip lines, cut to [top, bottom] of the torso."""
    sh_l, sh_r = f.outward(LEFT_SHOULDER, RIGHT_SHOULDER, SHOULDER_OVERHANG * f.scale if overhang else 0.0)
    hp_l, hp_r = f.outward(LEFT_HIP, RIGHT_HIP, HIP_OVERHANG * f.hip_scale if overhang else 0.0)
    quad = []
    for t in (top, bottom):
        quad.append(sh_l + (hp_l - sh_l) * t)
    for t in (bottom, top):
        quad.append(sh_r + (hp_r - sh_r) * t)
    canvas = f.canvas()
    _poly(canvas, quad)
    return canvas.astype(bool)


def _pelvis(f: _Frame, overhang: bool = True) -> np.ndarray:
    """From the waistband down to the hip joints (and a bit below: the seat and crotch)."""
    amount = HIP_OVERHANG * f.hip_scale if overhang else 0.0
    hp_l, hp_r = f.outward(LEFT_HIP, RIGHT_HIP, amount)
    up = -f.down * WAIST_ABOVE_HIPS * f.torso_len
    below = f.down * 0.5 * THIGH_RADIUS * f.hip_scale
    canvas = f.canvas()
    _poly(canvas, [hp_l + up, hp_l + below, hp_r + below, hp_r + up])
    return canvas.astype(bool)


def _legs(f: _Frame, thigh_share: tuple[float, float] = (0.0, 1.0), shins: bool = True) -> np.ndarray:
    canvas = f.canvas()
    for hip, knee, ankle in ((LEFT_HIP, LEFT_KNEE, LEFT_ANKLE), (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE)):
        start = f.p[hip] + (f.p[knee] - f.p[hip]) * thigh_share[0]
        end = f.p[hip] + (f.p[knee] - f.p[hip]) * thigh_share[1]
        _capsule(canvas, start, end, THIGH_RADIUS * f.hip_scale)
        if shins:
            _capsule(canvas, f.p[knee], f.p[ankle], SHIN_RADIUS * f.hip_scale)
    return canvas.astype(bool)


def _arms(f: _Frame, upper: bool = True, lower: bool = True) -> np.ndarray:
    canvas = f.canvas()
    for sh, el, wr, index, pinky in (
        (LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST, LEFT_INDEX, LEFT_PINKY),
        (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST, RIGHT_INDEX, RIGHT_PINKY),
    ):
        if upper:
            _capsule(canvas, f.p[sh], f.p[el], ARM_RADIUS * f.scale)
        if lower:
            _capsule(canvas, f.p[el], f.p[wr], FOREARM_RADIUS * f.scale)
            for finger in (index, pinky):
                _capsule(canvas, f.p[wr], f.p[finger], HAND_RADIUS * f.scale)
    return canvas.astype(bool)


def _check_category(category: str) -> None:
    if category not in ("upper", "lower", "dress"):
        raise ValueError(f"category must be upper, lower or dress, not {category!r}")


def garment_region(landmarks: np.ndarray, person_mask: np.ndarray, category: str) -> np.ndarray:
    """Where the garment of ``category`` sits on this body: bool ``(H, W)`` inside ``person_mask``.

    ``upper``: the torso (shoulder line to hip line, widened past the joints);
    ``lower``: the legs (waistband, thighs and shins); ``dress``: both.
    Defined from landmarks ``(33, 2)`` px and the person mask only, so every renderer is
    measured on the same pixels.
    """
    _check_category(category)
    f = _Frame(landmarks, person_mask.shape)
    region = np.zeros(person_mask.shape, dtype=bool)
    if category in ("upper", "dress"):
        region |= _torso(f)
    if category in ("lower", "dress"):
        region |= _pelvis(f) | _legs(f)
    return region & person_mask


def core_region(landmarks: np.ndarray, person_mask: np.ndarray, category: str) -> np.ndarray:
    """The part of the body every garment of ``category`` covers (for :func:`coverage`).

    ``upper``: the torso between the joints from :data:`CORE_TOP` to :data:`CORE_BOTTOM`
    of its length; ``lower``: the thighs between the shares :data:`CORE_THIGH` of hip -> knee (the
    waistband and the top of the thighs are often under a top that hangs over them, which a try-on
    of trousers keeps); ``dress``: the torso, the waistband to the hips and those thighs. Forearms
    and hands are cut out (they may lie on the garment).
    """
    _check_category(category)
    f = _Frame(landmarks, person_mask.shape)
    region = np.zeros(person_mask.shape, dtype=bool)
    if category in ("upper", "dress"):
        region |= _torso(f, CORE_TOP, CORE_BOTTOM, overhang=False)
    if category in ("lower", "dress"):
        region |= _legs(f, CORE_THIGH, shins=False)
    if category == "dress":
        region |= _pelvis(f, overhang=False)
    return region & person_mask & ~_arms(f, upper=False)


def allowed_region(landmarks: np.ndarray, shape: tuple[int, int], category: str) -> np.ndarray:
    """Everything a try-on of ``category`` may change (for :func:`preservation`): bool ``(H, W)``.

    ``upper``: torso from the base of the neck to :data:`TUNIC_BELOW_HIPS` below the hips, arms;
    ``lower``: waistband, legs and feet; ``dress``: both plus a flared skirt. Grown by
    :data:`ZONE_MARGIN` of the body scale, not limited to the person (loose garments).
    """
    _check_category(category)
    f = _Frame(landmarks, shape)
    zone = np.zeros(shape, dtype=bool)
    if category in ("upper", "dress"):
        tunic = 1.0 + TUNIC_BELOW_HIPS
        zone |= _torso(f, -NECK_ABOVE_SHOULDERS, tunic) | _arms(f)
    if category in ("lower", "dress"):
        zone |= _pelvis(f) | _legs(f)
        feet = f.canvas()
        for ankle in (LEFT_ANKLE, RIGHT_ANKLE):
            _capsule(feet, f.p[ankle], f.p[ankle] + f.down * 0.15 * f.torso_len, SHIN_RADIUS * f.hip_scale)
        zone |= feet.astype(bool)
    if category == "dress":
        skirt = f.canvas()
        hp_l, hp_r = f.outward(LEFT_HIP, RIGHT_HIP, HIP_OVERHANG * f.hip_scale)
        knees = (f.p[LEFT_KNEE] + f.p[RIGHT_KNEE]) / 2
        ankles = (f.p[LEFT_ANKLE] + f.p[RIGHT_ANKLE]) / 2
        hem = ankles if ankles[1] > knees[1] else knees
        side = (hp_l - hp_r) / (np.linalg.norm(hp_l - hp_r) or 1.0) * DRESS_FLARE * f.hip_scale
        _poly(skirt, [hp_l, hem + side, hem - side, hp_r])
        zone |= skirt.astype(bool)
    return dilate(zone, round(ZONE_MARGIN * f.scale))


# =========================================================================================
# 4. Length correctness
# =========================================================================================


def length_points(
    landmarks: np.ndarray,
    visibility: np.ndarray,
    person_mask: np.ndarray,
    segment: str,
    start: float,
    stop: float,
) -> np.ndarray:
    """Points along ``segment`` (both sides, where seen) from ``start`` to ``stop`` of the bone.

    Args:
        landmarks: ``(33, 2)`` px; visibility: ``(33,)`` in [0, 1].
        person_mask: bool ``(H, W)``; points off the person (landmark error) are dropped.
        segment: a key of :data:`SEGMENT_BONES`; start/stop: fractions from the upper joint.

    Returns:
        int ``(N, 2)`` pixel ``(x, y)``.
    """
    if segment not in SEGMENT_BONES:
        raise ValueError(f"segment must be one of {', '.join(SEGMENT_BONES)}, not {segment!r}")
    h, w = person_mask.shape
    near_person = dilate(person_mask, PERSON_SLACK_PX)
    points = []
    for top, bottom in SEGMENT_BONES[segment]:
        if visibility[top] < VISIBLE or visibility[bottom] < VISIBLE:
            continue
        for t in np.linspace(start, stop, LENGTH_POINTS_PER_SIDE):
            x, y = np.round(landmarks[top] + (landmarks[bottom] - landmarks[top]) * t).astype(int)
            if 0 <= x < w and 0 <= y < h and near_person[y, x]:
                points.append((x, y))
    return np.array(points, dtype=np.int64).reshape(-1, 2)


def _patch_median(image: np.ndarray, x: int, y: int) -> np.ndarray:
    r = LENGTH_PATCH_PX
    patch = image[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].reshape(-1, image.shape[-1])
    return np.median(patch, axis=0)


def looks_like_skin(rgb: np.ndarray, skin_lab_mean: np.ndarray, skin_lab_cov: np.ndarray) -> bool:
    """Test one RGB colour (``(3,)``) against a skin model in OpenCV 8-bit Lab.

    Skin: within :data:`SKIN_MAHALANOBIS` standard deviations of the model and within
    :data:`SKIN_CHROMA_DISTANCE` of its mean chroma (a, b): skin models carry a wide
    lightness spread (shade, highlights) that alone lets beige and grey cloth through.
    """
    lab = cv2.cvtColor(np.asarray(rgb, np.uint8).reshape(1, 1, 3), cv2.COLOR_RGB2Lab).reshape(3)
    cov = np.asarray(skin_lab_cov, np.float64) + SKIN_COV_FLOOR * np.eye(3)
    d = lab.astype(np.float64) - np.asarray(skin_lab_mean, np.float64)
    close = d @ np.linalg.solve(cov, d) <= SKIN_MAHALANOBIS**2
    return bool(close and np.hypot(d[1], d[2]) <= SKIN_CHROMA_DISTANCE)


def length_correctness(
    result: np.ndarray,
    result_garment_mask: np.ndarray,
    points: np.ndarray,
    expect: str,
    skin_lab_mean: np.ndarray,
    skin_lab_cov: np.ndarray,
    garment_palette: np.ndarray,
) -> tuple[int, int]:
    """Count the points where the render shows what a length annotation expects.

    ``garment``: the point is inside ``result_garment_mask`` and its colour (patch median)
    is within :data:`GARMENT_DELTA_E` of a colour of ``garment_palette`` (Lab ``(k, 3)``).
    ``skin``: the point is outside the garment mask, its colour passes the person's skin
    model (OpenCV 8-bit Lab mean ``(3,)`` and covariance ``(3, 3)``, see
    :func:`looks_like_skin`) and it is smooth (:data:`SKIN_MAX_TEXTURE`).

    Returns:
        ``(correct, total)``; the score is ``correct / total``.
    """
    if expect not in LENGTH_EXPECT:
        raise ValueError(f"expect must be skin or garment, not {expect!r}")
    detail = fine_detail(luminance(result), DETAIL_SIGMA) if expect == "skin" else None
    correct = 0
    for x, y in points:
        colour = np.round(_patch_median(result, int(x), int(y))).astype(np.uint8)
        in_mask = bool(result_garment_mask[y, x])
        if expect == "garment":
            near = len(garment_palette) and delta_e(to_lab(colour), garment_palette).min() <= GARMENT_DELTA_E
            correct += int(in_mask and bool(near))
        else:
            r = SKIN_TEXTURE_PATCH_PX
            smooth = detail[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].std() <= SKIN_MAX_TEXTURE
            correct += int(not in_mask and smooth and looks_like_skin(colour, skin_lab_mean, skin_lab_cov))
    return correct, len(points)

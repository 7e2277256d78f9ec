"""Garment analysis of a product photo: mask, category, keypoints, part masks.

Input: the garment photo, RGB ``uint8`` ``(H, W, 3)`` (flat white, light grey or
flat-colour background), one garment shown from the front.
Output: :class:`GarmentAnalysis`.

Steps (:func:`analyze_garment`):

1. mask: flood the background in from the image border (colour tolerance from the
   border's own spread), keep the garment component(s), decide which enclosed
   background-coloured regions are real holes; where the flood ran into a light garment
   (textured off-white beside the mask), the salient-object model U²-Netp
   (``load_model("u2netp")``) keeps it out of the garment; where the outline is doubtful
   (a white garment on white, a soft drop shadow) GrabCut refines it at reduced
   resolution. A person wearing clothes (MediaPipe pose over most of the silhouette) is
   refused.
2. category: "upper", "lower" or "dress" from the mask's shape (a crotch gap, a
   straight waistband, length against the overall and the torso width).
3. for tops and dresses, the inside that shows above the front neckline (the inner
   back of the neck, its label, a V-neck's lining) is cut out of the mask (it would be
   painted over the wearer's neck): the front neckline is traced from one neck corner to
   the other as a smooth edge below the (shallow) back neckline, and kept only when the
   inside above it differs from the front below it.
4. keypoints from the outline (shoulder points past any collar; armpits where the side
   seam meets a sleeve or an armhole, or, under a sleeve hanging over the body's side, at
   a typical armhole depth), the sleeve length, and part masks (body, sleeves cut along
   the shoulder-armpit line and the body's side line, or legs) for the warp stage.

Keypoint names use the *wearer's* sides (see :mod:`tryon.stages.body`): on a product
photo shown from the front, the garment's ``left`` sleeve is on the image's right.
"""

from __future__ import annotations

import dataclasses
import logging

import cv2
import numpy as np

from ..errors import TryOnError
from ..models import load_model, model_lock
from . import masks

_log = logging.getLogger(__name__)

CATEGORIES = ("upper", "lower", "dress")
SLEEVE_LENGTHS = ("none", "short", "three_quarter", "long")

# Keypoint names in GarmentAnalysis.keypoints; missing ones are absent from the dict.
UPPER_KEYPOINTS = (
    "neck_left", "neck_right", "neck_center",  # neckline corners and the front neckline's lowest point
    "shoulder_left", "shoulder_right",
    "armpit_left", "armpit_right",
    "sleeve_end_left", "sleeve_end_right",  # centre of the cuff opening (absent when sleeveless)
    "hem_left", "hem_right",
)
LOWER_KEYPOINTS = (
    "waist_left", "waist_right",
    "crotch",  # trousers only
    "hem_left", "hem_right",  # outer corners of the hem (skirts) or of each leg opening
    "leg_end_left", "leg_end_right",  # centre of each leg opening (trousers only)
)
# Dresses also get a waist estimate (the narrowest row between armpits and hem).
DRESS_EXTRA_KEYPOINTS = ("waist_left", "waist_right")

SIDES = ("left", "right")  # the wearer's sides

# Part masks in GarmentAnalysis.parts (present ones only).
PART_NAMES = ("body", "sleeve_left", "sleeve_right", "leg_left", "leg_right")

NO_GARMENT_MESSAGE = (
    "No garment found in the garment photo: upload a product photo of one garment, "
    "shown flat or on an invisible mannequin, on a plain white, grey or single-colour background."
)

PERSON_PHOTO_MESSAGE = (
    "The garment photo shows a person wearing clothes, not a garment on its own: upload a product "
    "photo of the garment alone (laid flat or on an invisible mannequin) on a plain background."
)

# --- a person photo in the garment slot --------------------------------------------
# MediaPipe pose runs (about 35 ms) where a person could be: the silhouette is tall (a standing
# person, face cropped or not) or a face shows. It is a person photo when most body landmarks lie
# confidently on the silhouette and reach over most of its height (a printed portrait on a tee
# covers only part of the garment).
PERSON_CHECK_MIN_ASPECT = 1.6  # silhouette height / width from which pose always runs
PERSON_MIN_LANDMARKS = 15  # of MediaPipe's 33, visible (> 0.5) and on the silhouette
PERSON_MIN_VISIBILITY = 0.5
PERSON_MIN_EXTENT = 0.7  # their vertical extent over the silhouette's height

# --- background and mask -------------------------------------------------------
BORDER_PX = 4  # width of the border band the background colour is estimated from
TOL_MIN = 6  # colour tolerance (max abs RGB difference) on a perfectly flat background
TOL_SPREAD_GAIN = 3.0  # tolerance grows with the border's own noise/gradient
TOL_MAX = 32
BORDER_SPREAD_PERCENTILE = 75  # robust to a garment touching part of the border
BACKGROUND_FIT_KEEP = 0.75  # the backdrop's surface is fitted again to this best-fitting share of the border
BACKGROUND_GRID = 64  # the surface is evaluated on this many points a side and resized
# ...tried when the border strays this far (grey levels) from one colour, used when it strays no more
# than this from the surface.
BACKGROUND_GRADIENT_MIN = 4.0
BACKGROUND_SURFACE_SPREAD = 3.0
MAX_BORDER_SPREAD = 18  # a border noisier than this is a scene, not a plain background
MIN_BORDER_BACKGROUND = 0.55  # share of border pixels that must match the background colour
GAP_CLOSE_PX = 2  # the flood cannot pass through gaps in the garment edge narrower than ~2x this
COMPONENT_KEEP_FRAC = 0.08  # keep extra components at least this fraction of the largest
MIN_MASK_FRAC = 0.02  # a garment covers at least this share of the photo
MAX_MASK_FRAC = 0.97
MAX_BORDER_TOUCH = 0.5  # a mask along more than half of the border is a scene, not a product photo
# Enclosed background-coloured regions: real holes (between a strap and the body) only when
# they are flat background (print is textured) and not most of the garment (a white garment).
HOLE_MIN_FRAC = 0.01
HOLE_MAX_FRAC = 0.15
HOLE_STRICT_TOL = 3  # max abs RGB difference from the background inside a real hole
HOLE_RIM_PX = 3  # width of the rim around a hole that must be a clear garment edge
HOLE_RIM_CONTRAST = 2.0  # rim pixels differ from the background by this many tolerances...
HOLE_RIM_SHARE = 0.8  # ... on this share of the rim
# White on white: GrabCut the outline when the garment's edge is this close to the background
# (times the tolerance, median over the mask's inner boundary band).
LOW_CONTRAST_FACTOR = 2.5
RIM_PX = 3  # the outline's inner rim, px
SHADOW_BAND_PX = 16  # drop shadows are looked for this far inside the flood-fill outline
SHADOW_HUE_TOLERANCE = 0.04  # a shadow scales the background's RGB evenly (ratio spread)...
SHADOW_MIN_LEVEL = 0.55  # ... by a factor in this range
SHADOW_MAX_LEVEL = 0.97
SHADOW_MAX_CURVATURE = 0.02  # and bends this little (|Laplacian| of relative brightness)
SHADOW_MIN_SHARE = 0.15  # refine when this share of the outline band looks like shadow
GRABCUT_SIDE = 256  # long side of the image GrabCut runs on, px
GRABCUT_BAND = 3  # px at GrabCut size around the flood outline that GrabCut may relabel
GRABCUT_ITERATIONS = 1
GRABCUT_SEED = 0
FAINT_OUTLINE_SMOOTH_CELLS = 1.0  # sigma (GrabCut cells) of the smoothing of a faint outline's torn edge
SMOOTH_KERNEL = 5  # median filter that removes JPEG jaggies from the outline
# A flood that ran into a light garment leaves textured off-white "background" beside the mask: the
# salient-object model is asked when more than LEAK_SHARE of a band LEAK_BAND_PX outside the mask
# (past the outline's blur) is LEAK_MIN_DISTANCE or more from the background colour.
LEAK_BAND_PX = (4, 16)
LEAK_MIN_DISTANCE = 3
LEAK_SHARE = 0.15
# U²-Netp: 320x320 input, ImageNet mean/std on RGB scaled by its maximum; output in [0, 1].
SALIENT_SIDE = 320
SALIENT_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
SALIENT_STD = np.array([0.229, 0.224, 0.225], np.float32)
SALIENT_THRESHOLD = 0.5

# --- category -------------------------------------------------------------------
CROTCH_WINDOW_FRAC = 0.06  # columns either side of the centre searched for the crotch (x mask width)
LEG_GAP_MIN_FRAC = 0.12  # trousers: the gap below the crotch spans at least this share of the height
LEG_GAP_MAX_WIDTH = 0.45  # ... and is narrow just below the crotch (x hip width)
# A dress is longer (to the hem) than DRESS_LENGTH_RATIO x its overall width and DRESS_TORSO_RATIO x
# its torso width (measured at the waist and hips): a long tee reaches ~1.5 and ~2.9 of them, a
# long narrow tank ~2.0 and ~2.4, a short-sleeved A-line mini dress ~1.6 (its sleeves widen it)
# and ~3.4. Both soft steps must be passed; the boundary stays soft (the caller may override).
DRESS_LENGTH_RATIO = 1.55
DRESS_TORSO_RATIO = 2.4
WAISTBAND_ROWS = (0.005, 0.015)  # rows (x height) where a waistband fills the garment's width...
WAISTBAND_REFERENCE_ROW = 0.1  # ... measured against the outline's extent here
WAISTBAND_FILL = 0.6
CATEGORY_SOFTNESS = 0.08  # width of the logistic ramps that turn features into scores (x threshold)

# --- neck ---------------------------------------------------------------------------
NECK_CORNER_REACH = 0.6  # neck corners are searched this far either side of the centre (x torso)
NECK_CORNER_TOLERANCE = 0.01  # ... as the outermost column this close to the highest (x torso)
NECK_MIN_WIDTH = 0.15  # narrower "necks" are not searched (x torso width)
# The front neckline is traced along rays from the corners' midpoint (polar coordinates): a path
# from one corner round to the other through the strongest colour steps, kept smooth.
NECK_WORK_WIDTH = 128  # the neck is searched at a scale where the corners are this far apart, px
NECK_REACH = 1.5  # rays reach this far from the corners' midpoint (x neck width)
NECK_RAYS = 72  # rays from one corner (angle 0, image right) round to the other (pi)
NECK_CUT_SMOOTH = 1.5  # rays (sigma): the cut follows the traced neckline smoothed over this many
NECK_BLUR_SIGMA = 1.0  # work px; a garment-only blur (the background does not bleed in)
NECK_STEP_PX = 2  # a colour step along a ray is measured between r - this and r + this (work px)
NECK_TYPICAL_PERCENTILE = 25  # the typical step: this percentile over the neck area (flat within stripes)
NECK_STEP_FLOOR = 0.5  # Lab units per px added to the typical step (the noise of a flat fabric)
NECK_STEP_CAP = 3.0  # one edge counts at most this many typical steps (labels and prints stand out)
NECK_OUTLINE_GAP = 3  # work px the front neckline keeps below the outline...
NECK_FREE_ANGLE = np.radians(10.0)  # ... except this close to the corners, where the two meet
NECK_CORNER_RADIUS = (0.35, 0.6)  # the neckline starts and ends at the corners (x neck width)
NECK_MAX_JUMP = 4  # work px the neckline's radius may change from one ray to the next
NECK_JUMP_COST = 1.0  # per px of change (in typical steps): the neckline is a smooth curve...
NECK_JUMP_FREE = 3.0  # ... unless an edge this strong runs along the change (the steep side of a V)
# Hypotheses for the depth of the front neckline below the outline at the centre (x neck width):
# the back's own seams and ribs run close to the outline, the front neckline dips well below it.
NECK_DIPS = (0.12, 0.22, 0.35, 0.5, 0.7)
NECK_CENTRE_ANGLE = np.radians(15.0)  # the dip is required on rays this close to straight down
NECK_SUPPORT_PERCENTILE = 30  # a neckline is an edge along most of its length, and at its centre...
NECK_MIN_SUPPORT = 1.0  # ... at least this strong (in typical steps)
NECK_TIE = 0.9  # a deeper neckline with this share of the best support wins (the front, not a back seam)...
NECK_DETOUR_SHARE = 0.5  # ... unless it runs along the shallower one on this share of the rays...
NECK_SAME_PX = 2  # ... (within this many work px)
NECK_MAX_ROUGHNESS = 0.25  # mean |second difference| of the radius (x the arc between rays): a sewn edge
# Along the traced curve itself (steep stretches included), every stretch this long (x neck width)
# must be an edge of at least NECK_MIN_STRETCH typical steps on average (a print's outline, or a
# path that drops across plain fabric, has a gap); the ends, where the curve meets the outline,
# are left out (NECK_END_SHARE of the length each).
NECK_STRETCH = 0.15
NECK_MIN_STRETCH = 0.8
NECK_END_SHARE = 0.1
NECK_BAND = 0.06  # the front fabric under the neckline: a band this deep (x neck width)
NECK_INSIDE_REACH = 0.12  # the inside's shadowed part below the traced edge reaches at most this far (x neck width)
NECK_INSIDE_MIN_CONTRAST = 1.5  # ... when the inside and the front differ by this much over their spreads
NECK_INSIDE_RAYS = 7  # ... and is measured as the median of this many neighbouring rays, then their mean
# A detail (a label, its size tag) the cut runs through goes with the inside when this share of it lies
# there: a blob of colours this far (Lab) from the front fabric just below the cut (NECK_BAND x torso deep,
# at least NECK_DETAIL_MIN_PIXELS).
NECK_DETAIL_LAB = 12.0
NECK_DETAIL_INSIDE_SHARE = 0.5
NECK_DETAIL_MIN_PIXELS = 50
NECK_DETAIL_INPAINT_PX = 3  # the inpainting's neighbourhood
NECK_DETAIL_REACH = 0.3  # details are looked for this far around the inside (x torso width)
# A label inside the back neck is looked for in a box this wide either side of the centre and this deep below the
# outline's middle, or below the inside already cut (x torso width): a blob of colours further from the fabric's
# median than LABEL_SPREAD x the fabric's median distance (a stripe or a knit's relief is not a label; again at
# LABEL_THRESHOLDS' multiples), at most LABEL_MAX_AREA (x torso width squared), a rectangle (filling LABEL_FILL
# of its rotated bounding box: more than an ellipse's pi/4) LABEL_MIN_ASPECT to LABEL_MAX_ASPECT long for its width
# (a woven brand strip), clear of the outline by LABEL_CLEAR_PX except along its top (seen through a strap top's
# front neckline, it hangs from the back's edge).
LABEL_BOX = (0.12, 0.15)
LABEL_SPREAD = 3.0
LABEL_THRESHOLDS = (1.0, 2.0, 4.0)
LABEL_MIN_LAB = 3 * NECK_DETAIL_LAB  # a woven or printed label stands out (its median px this far from the fabric)
LABEL_CLEAR_PX = 2
LABEL_MAX_AREA = 0.01
LABEL_FILL = 0.8
LABEL_MAX_ASPECT = 8.0
LABEL_MIN_ASPECT = 1.3  # a round button is no label...
LABEL_MIN_SIDE = 0.015  # ...nor a line this thin (x torso width: a label's border, a seam)
NECK_MIN_COLOUR_DIFF = 3.0  # Lab distance between the inside (above the neckline) and the front below...
NECK_MIN_CONTRAST = 0.5  # ... and that distance over the spread within each side (plus a floor)
NECK_SPREAD_FLOOR = 2.0
# The inside is at most NECK_MAX_AREA x the square of the torso's width (a deep V's lining reaches
# ~0.27): against the garment's width, not its area, which a crop top's short body makes small.
NECK_MAX_AREA = 0.4
# The back neckline is shallow: an outline that dips deeper than this below the corners at the
# centre (x neck width) is the front neckline itself (a strap top, a scoop seen from the front).
NECK_MAX_BACK_DIP = 0.3
NECK_CENTRE_BAND = 0.1  # the front neckline's lowest point is this close to the centre (x torso)
STRAP_MAX_WIDTH = 0.15  # a neck corner on a run this narrow (x torso) is the top of a strap
STRAP_PROBE = 0.04  # the strap's width is measured this far below its top (x torso)
# Off the shoulder (a bardot or a strapless top): the neckline runs straight across the whole top, its
# corners are the shoulder points (on the eval's two bardots 0.002 of the shoulder span apart, on a tube cut
# from one 0.05; straps and wide scoops from 0.06, which the next test tells apart) and the top edge is fabric
# all across just below them (0.87-0.99; a neck opening leaves 0.1-0.9 of the row empty).
OFF_SHOULDER_CORNER_SHARE = 0.1  # of the shoulder span: neck corner to shoulder point
OFF_SHOULDER_PROBE = 0.04  # the top edge's row is measured this far below the shoulder points (x height)
OFF_SHOULDER_FILL = 0.8  # share of that row, between the shoulder points, that is fabric

# --- keypoints ---------------------------------------------------------------------
# Row bands (x height) where the torso width is measured: the upper one, unless the lower one is
# narrower than TORSO_SLEEVE_SHARE of it (wide sleeves on a boxy top reach down into the upper).
TORSO_ROWS = ((0.3, 0.55), (0.6, 0.9))
TORSO_SLEEVE_SHARE = 0.85
CENTRE_ROWS = (0.15, 0.6)  # rows (x height) whose extents give the garment's centre line
SIDE_SLOPE_ROWS = 4  # rows over which the side seam's slope is measured
SIDE_MAX_SLOPE = 1.0  # |dx/dy| above which the outline is no longer the side seam
SIDE_START_ROWS = (0.35, 0.75)  # rows (x body height) where the side seam trace starts...
SIDE_START_MIN_WIDTH = 0.75  # ... on the lowest row at least this wide (x torso)
SIDE_MAX_JUMP = 0.03  # the seam ends at a one-row jump of the outline larger than this (x torso)...
SIDE_MAX_INWARD = 0.04  # ... where, having widened, it comes back inwards by this much (x torso)...
SIDE_MIN_RUN = 0.3  # ... or where the garment beside it narrows to a strap (x torso)
SIDE_ARMPIT_MAX_DEPTH = 0.55  # armpits are in the upper part of the body (x body height)
ARMPIT_MIN_DROP = 0.2  # armpits are at least this far below the neck corners (x torso)
SHOULDER_STEEP_SLOPE = 1.6  # dy/dx where the shoulder line turns down into an armhole or sleeve
SHOULDER_OUTSET = 0.06  # shoulder point may sit this far outside the armpit (x torso width)
SHOULDER_WINDOW = 0.08  # columns over which the outline's slope is measured (x torso width)
# A sleeve beside the body: rows where a separate run of the garment lies beside the body's run
# (under a sleeve sticking out, or between a hanging sleeve and the body). The top of the lowest
# such stretch of rows is where the sleeve joins the body: the armpit, or, for a sleeve that lies
# over the body's side further up, the lowest point of their seam.
NOTCH_GAP_ROWS = 2  # rows without a run beside the body that do not end the stretch
NOTCH_MIN_HEIGHT = 0.02  # a shorter stretch (x torso) is a speck of the outline's jaggies
# A sleeve hangs from the shoulder: its notch is at most this far below the garment's top (x torso;
# an arm is about 1.5 torso widths long), lower ones are between the lobes of a hem.
NOTCH_MAX_DROP = 2.0
# ... and it is a sleeve, not a tie or a bow hanging from the side, when the garment reaches this
# far beyond the body's side (x torso) on most rows above the notch (SLEEVE_ABOVE_SHARE of the rows
# from SLEEVE_ABOVE_GAP x torso above it up to halfway to the garment's top, at least
# SLEEVE_ABOVE_MIN x torso): a tie's knot is short, a sleeve runs up towards the shoulder.
SLEEVE_MIN_REACH = 0.1
SLEEVE_ABOVE_GAP = 0.05
SLEEVE_ABOVE_MIN = 0.3
SLEEVE_ABOVE_SHARE = 0.75
# A flat garment's armhole (shoulder point to armpit) is about 0.55-0.65 of its shoulder width; a
# sleeve hanging over the body's side hides its armpit: an armpit found deeper than
# ARMHOLE_MAX_DEPTH (x the shoulder or body width, the larger: a puff sleeve's underside sits low
# on a narrow-shouldered dress) is put at ARMHOLE_DEPTH (x shoulder width) below the shoulder
# point, on the body's side line.
ARMHOLE_DEPTH = 0.6
ARMHOLE_MAX_DEPTH = 0.85
# A collar or stand collar rises above the shoulder line: the outline drops steeply near the neck
# corner (at most COLLAR_MAX_DROP, x torso) and then runs gently (slope below SHOULDER_LINE_SLOPE
# over COLLAR_WINDOW, x torso) along the shoulder; the shoulder point is searched beyond it.
COLLAR_MAX_DROP = 0.25
COLLAR_MAX_WIDTH = 0.15  # the collar's side is this close to the neck corner (x torso)
COLLAR_WINDOW = 0.03
SHOULDER_LINE_SLOPE = 1.0
# A sleeve, even a cap sleeve, covers at least this much (x the body's width squared); what lies
# beyond a sleeveless armhole's shoulder-armpit line is a sliver. (Against the body's width, not
# its area: a maxi dress's short sleeves are a tiny share of its area.)
SLEEVE_MIN_AREA = 0.03
# Sleeve length (shoulder point to cuff centre, the shorter sleeve where both are found) against the
# garment's shoulder width (with straps, as on a cold-shoulder top, its body width over
# TORSO_PER_SHOULDER). On a body the elbow is ~0.85 shoulder widths from the shoulder point,
# mid-forearm ~1.15 and the wrist ~1.5.
TORSO_PER_SHOULDER = 0.88  # a flat top's body width (below the armpits) over its shoulder width
SLEEVE_SHORT_MAX = 0.95  # up to just past the elbow (elbow-length sleeves are short)
SLEEVE_THREE_QUARTER_MAX = 1.4  # up to most of the way to the wrist
DRESS_WAIST_SPAN = 0.6  # the waist is in this upper share of the armpit-to-hem span
HEM_MIN_WIDTH = 0.5  # the hem is the lowest row at least this wide (x torso width)
HEM_INSET = 0.01  # measure hem corners this far above the hem (x height)
LEG_END_SHARE = 0.03  # leg opening: the lowest rows of a leg (x height)
WAIST_INSET = 0.01  # waist corners are measured this far below the top (x height)
CROTCH_MAX_RISE = 0.4  # the crotch is at most this far below the waist (x height)


@dataclasses.dataclass(frozen=True, eq=False)
class GarmentAnalysis:
    """What the garment stage found in one product photo.

    Attributes:
        image: RGB uint8 ``(H, W, 3)``, the garment photo at processing size.
        mask: bool ``(H, W)``, the garment (front only: the inner back of the neck removed).
        category: "upper", "lower" or "dress" (the guess, or the caller's override).
        category_scores: category -> score in [0, 1] behind the guess (they sum to 1).
        keypoints: name -> float32 ``(2,)`` pixel ``(x, y)``; names from
            :data:`UPPER_KEYPOINTS` (upper, dress; dresses also
            :data:`DRESS_EXTRA_KEYPOINTS`) or :data:`LOWER_KEYPOINTS` (lower).
        sleeve: one of :data:`SLEEVE_LENGTHS` (upper and dress), "none" for lower.
        mean_rgb: ``(3,)`` uint8, mean colour over the mask.
        parts: part name -> bool ``(H, W)`` mask; the parts split ``mask``: "body" always,
            "sleeve_left"/"sleeve_right" for sleeved tops and dresses (cut along the
            shoulder-armpit line), "leg_left"/"leg_right" for trousers (below the crotch).
        back_neck_mask: bool ``(H, W)``, the inside removed from ``mask``: the inner back of the
            neck, its label, the lining inside a V-neck (all False when none shows).
        outline: int32 ``(N, 2)`` pixel ``(x, y)`` points of the outer contour of ``mask``.
        off_shoulder: worn off the shoulders (a bardot or a strapless top): see :func:`off_the_shoulder`.
    """

    image: np.ndarray
    mask: np.ndarray
    category: str
    category_scores: dict[str, float]
    keypoints: dict[str, np.ndarray]
    sleeve: str
    mean_rgb: np.ndarray
    parts: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    back_neck_mask: np.ndarray | None = None
    outline: np.ndarray | None = None
    off_shoulder: bool = False


def analyze_garment(image: np.ndarray, category: str = "auto") -> GarmentAnalysis:
    """Segment the garment, guess its category and find its keypoints.

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        category: "auto" to guess, or one of :data:`CATEGORIES` to force it.

    Raises:
        TryOnError: no garment found (empty or photo of a scene), unknown category.
    """
    if category != "auto" and category not in CATEGORIES:
        raise TryOnError(f"Unknown garment category {category!r}: choose auto, {', '.join(CATEGORIES)}.")
    image = np.ascontiguousarray(image, dtype=np.uint8)
    full_mask = garment_mask(image)
    shape = _Shape(full_mask)
    if _person_photo(image, shape):
        raise TryOnError(PERSON_PHOTO_MESSAGE)
    scores = category_scores(full_mask, shape)
    chosen = max(scores, key=scores.__getitem__) if category == "auto" else category

    if chosen == "lower":
        mask, back_neck = full_mask, np.zeros_like(full_mask)
        keypoints, parts = _lower_keypoints(shape)
        sleeve = "none"
    else:
        back_neck = find_back_neck(image, full_mask, shape)
        mask = full_mask & ~back_neck
        # A label below the cut (the inside traced too shallow) is looked for as on a top with no inside.
        details = _back_label(image, full_mask, shape, back_neck)
        if back_neck.any():
            details |= _details_cut_through(image, full_mask, back_neck, shape)
        if details.any():
            image = _paint_over(image, details, full_mask)
        keypoints, parts, sleeve = _upper_keypoints(mask, shape, back_neck, dress=chosen == "dress")

    mean_rgb = np.round(cv2.mean(image, mask.astype(np.uint8))[:3]).astype(np.uint8)
    off_shoulder = chosen != "lower" and off_the_shoulder(keypoints, mask)
    return GarmentAnalysis(
        image=image,
        mask=mask,
        category=chosen,
        category_scores=scores,
        keypoints={name: np.asarray(point, dtype=np.float32) for name, point in keypoints.items()},
        sleeve=sleeve,
        mean_rgb=mean_rgb,
        parts=parts,
        back_neck_mask=back_neck,
        outline=_outline(mask),
        off_shoulder=off_shoulder,
    )


# ---------------------------------------------------------------------------------
# 1. Mask
# ---------------------------------------------------------------------------------


def garment_mask(image: np.ndarray) -> np.ndarray:
    """The garment's silhouette (front and any visible inner back) in a product photo.

    Args:
        image: RGB uint8 ``(H, W, 3)`` on a plain background.

    Returns:
        bool ``(H, W)``.

    Raises:
        TryOnError: no plain background, or nothing garment-sized in front of it.
    """
    height, width = image.shape[:2]
    background, tolerance, spread = _background_colour(image)
    distance = _colour_distance(image, background)
    candidate = distance <= tolerance
    mask = _keep_main_components(~_flood_from_border(candidate))
    leaked = _flood_leaked(distance, mask)
    if mask.mean() < MIN_MASK_FRAC or leaked:
        # A light garment on a light background: where the salient-object model sees the garment,
        # only flat background lets the flood through (fabric is a little off-white and textured).
        salient = _salient_garment(image)
        if salient is not None:
            strict = max(HOLE_STRICT_TOL, 2.0 * spread)
            candidate &= ~salient | (distance <= strict)
            mask = _keep_main_components(~_flood_from_border(candidate))
    if mask.mean() < MIN_MASK_FRAC:
        raise TryOnError(NO_GARMENT_MESSAGE)

    low_contrast = _low_contrast(mask, distance, tolerance)
    mask = _refine_outline(image, mask, distance, low_contrast)
    mask = _open_real_holes(mask, distance, spread, tolerance)
    mask = cv2.medianBlur(mask.astype(np.uint8), SMOOTH_KERNEL).astype(bool)
    if leaked or low_contrast:
        mask = _smooth_faint_outline(mask, distance, tolerance)
    mask = _keep_main_components(mask)

    area = mask.mean()
    if area < MIN_MASK_FRAC or area > MAX_MASK_FRAC or _border_touch(mask) > MAX_BORDER_TOUCH:
        raise TryOnError(NO_GARMENT_MESSAGE)
    assert mask.shape == (height, width)
    return mask


def _smooth_faint_outline(mask: np.ndarray, distance: np.ndarray, tolerance: float) -> np.ndarray:
    """The mask of a light garment on a light background with its outline smoothed where the edge is faint:
    there the flood and GrabCut find it pixel by pixel as the noise allows, torn into notches and bumps a
    GrabCut cell or two wide, and the torn edge showed on the body (v27's tank, v17's tee). Only pixels near
    the background's colour (within :data:`LOW_CONTRAST_FACTOR` tolerances) change: where the edge is clear
    (a print, a dark trim) it stays where it is. bool ``(H, W)``."""
    sigma = FAINT_OUTLINE_SMOOTH_CELLS * max(mask.shape) / GRABCUT_SIDE
    return np.where(distance < LOW_CONTRAST_FACTOR * tolerance, masks.smooth_outline(mask, sigma), mask)


def _flood_leaked(distance: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the flood fill may have run into a light garment: the background just outside the
    mask is not flat (more than :data:`LEAK_SHARE` of a band :data:`LEAK_BAND_PX` outside it, past
    the outline's own blur, differs from the background colour by :data:`LEAK_MIN_DISTANCE`)."""
    near, far = (cv2.dilate(mask.astype(np.uint8), np.ones((2 * r + 1,) * 2, np.uint8)) for r in LEAK_BAND_PX)
    band = (far > 0) & (near == 0)
    return bool(band.any()) and float(np.mean(distance[band] >= LEAK_MIN_DISTANCE)) > LEAK_SHARE


def _salient_garment(image: np.ndarray) -> np.ndarray | None:
    """Where the salient-object model (U²-Netp, ``load_model("u2netp")``) sees the garment: bool
    ``(H, W)``, or None when the model is not installed (the flood fill then works alone)."""
    try:
        session = load_model("u2netp")
    except TryOnError:
        _log.warning("U²-Netp is not installed: light garments on light backgrounds may lose parts")
        return None
    side = SALIENT_SIDE
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = (small / max(float(small.max()), 1.0) - SALIENT_MEAN) / SALIENT_STD
    prob = session.run(None, {session.get_inputs()[0].name: small.transpose(2, 0, 1)[None]})[0][0, 0]
    prob = (prob - prob.min()) / max(float(prob.max() - prob.min()), 1e-6)
    height, width = image.shape[:2]
    return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR) > SALIENT_THRESHOLD


def _border_pixels(image: np.ndarray) -> np.ndarray:
    """The pixels of a :data:`BORDER_PX` wide band along the image border, int16 ``(N, 3)``."""
    return _border_band(image).astype(np.int16)


def _border_band(a: np.ndarray) -> np.ndarray:
    """The values of ``a`` (``(H, W, C)``) on a :data:`BORDER_PX` wide band along its border, ``(N, C)``:
    the top and bottom rows, then the left and right columns between them."""
    band, c = BORDER_PX, a.shape[2]
    return np.concatenate(
        [a[:band].reshape(-1, c), a[-band:].reshape(-1, c), a[band:-band, :band].reshape(-1, c),
         a[band:-band, -band:].reshape(-1, c)]
    )


def _background_colour(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The background's colour at every pixel (uint8 ``(H, W, 3)``), the flood's tolerance and the
    border's spread (grey levels) around that colour.

    One colour (the border's median), or, for a backdrop lit unevenly (brighter on one side, a vignette
    to the corners), a smooth surface: a quadratic in x and y per channel fitted to the border
    (:func:`_smooth_background`), so the tolerance covers the border's noise, not its gradient. With one
    colour, 20-30 grey levels of gradient made the tolerance so wide that light prints at the
    garment's edge (white flowers on a blue dress) were flooded as background.

    Raises:
        TryOnError: the border is not a plain background (a scene photo, a busy backdrop).
    """
    border = _border_pixels(image)
    flat = np.median(border, axis=0)
    offsets = np.abs(border - flat).max(axis=1)
    spread = float(np.percentile(offsets, BORDER_SPREAD_PERCENTILE))
    background = np.full(image.shape, np.round(flat), np.uint8)
    if spread >= BACKGROUND_GRADIENT_MIN:
        # A surface only where it explains the border down to a plain backdrop's noise: a backdrop that
        # changes in steps (a wall and a white floor, a person's shadow on the wall) is no quadratic.
        surface = _smooth_background(image, border)
        surface_offsets = np.abs(border - _border_pixels(surface)).max(axis=1)
        surface_spread = float(np.percentile(surface_offsets, BORDER_SPREAD_PERCENTILE))
        if surface_spread <= BACKGROUND_SURFACE_SPREAD:
            background, offsets, spread = surface, surface_offsets, surface_spread
    tolerance = float(np.clip(TOL_MIN + TOL_SPREAD_GAIN * spread, TOL_MIN, TOL_MAX))
    if spread > MAX_BORDER_SPREAD or (offsets <= tolerance).mean() < MIN_BORDER_BACKGROUND:
        raise TryOnError(NO_GARMENT_MESSAGE)
    return background, tolerance, spread


def _smooth_background(image: np.ndarray, border: np.ndarray) -> np.ndarray:
    """A quadratic surface per channel through the border pixels (``border``: :func:`_border_pixels`),
    uint8 ``(H, W, 3)``: least squares, then again on the :data:`BACKGROUND_FIT_KEEP` share that fits
    best (where the garment touches the border, its pixels are not background)."""
    h, w = image.shape[:2]
    # The border's coordinates, in the order of ``border`` (from broadcast views: only the band is copied).
    xs = _border_band(np.broadcast_to(np.arange(w), (h, w))[..., None])[:, 0]
    ys = _border_band(np.broadcast_to(np.arange(h)[:, None], (h, w))[..., None])[:, 0]
    terms = _quadratic_terms(xs / max(w - 1, 1), ys / max(h - 1, 1))
    values = border.astype(np.float64)
    keep = np.ones(len(values), bool)
    for _ in range(2):
        coef, *_ = np.linalg.lstsq(terms[keep], values[keep], rcond=None)
        residual = np.abs(values - terms @ coef).max(axis=1)
        keep = residual <= np.quantile(residual, BACKGROUND_FIT_KEEP)
    # Evaluated on a coarse grid and brought up (a quadratic is smooth): ~20x cheaper than per pixel.
    gh, gw = min(h, BACKGROUND_GRID), min(w, BACKGROUND_GRID)
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float64)
    surface = (_quadratic_terms((gx / max(gw - 1, 1)).ravel(), (gy / max(gh - 1, 1)).ravel()) @ coef).reshape(gh, gw, 3)
    return cv2.resize(np.clip(np.round(surface), 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)


def _quadratic_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The terms ``1, x, y, x^2, y^2, xy`` of a quadratic surface, float64 ``(N, 6)``."""
    x, y = x - 0.5, y - 0.5
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1).astype(np.float64)


def _colour_distance(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Max abs RGB difference from the background (uint8 ``(H, W, 3)``) after a 3x3 blur (JPEG noise);
    uint8 ``(H, W)``."""
    difference = cv2.absdiff(cv2.blur(image, (3, 3)), background)
    red, green, blue = cv2.split(difference)
    return cv2.max(cv2.max(red, green), blue)


def _flood_from_border(candidate: np.ndarray) -> np.ndarray:
    """Background: the background-coloured pixels connected to the image border.

    The flood runs on the candidate eroded by :data:`GAP_CLOSE_PX` so that it cannot
    leak into a light garment through a one- or two-pixel gap in its outline, then
    grows back by the same amount.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * GAP_CLOSE_PX + 1,) * 2)
    core = cv2.erode(candidate.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE)
    reached = _border_connected(core.astype(bool))
    grown = cv2.dilate(reached.astype(np.uint8), kernel, iterations=2).astype(bool)
    return _border_connected(candidate & grown)


def _border_connected(region: np.ndarray) -> np.ndarray:
    """The components of ``region`` (bool) that touch the image border."""
    count, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros_like(region)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    keep = np.zeros(count, bool)
    keep[np.unique(edge)] = True
    keep[0] = False
    return keep[labels]


def _keep_main_components(mask: np.ndarray) -> np.ndarray:
    """The largest component and any other at least :data:`COMPONENT_KEEP_FRAC` of its size."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, bool)
    keep[1:] = areas >= COMPONENT_KEEP_FRAC * areas.max()
    return keep[labels]


def _refine_outline(image: np.ndarray, mask: np.ndarray, distance: np.ndarray, low_contrast: bool) -> np.ndarray:
    """GrabCut the outline band of ``mask`` (bool ``(H, W)``, not empty) when the flood fill cannot be trusted there.

    Two cases: a light garment whose edge barely differs from the background (white on
    white, ``low_contrast``: see :func:`_low_contrast`), and a soft drop shadow that the flood fill
    took for garment. Shadow pixels (darker, same hue as the background) in the outer band start as
    probable background.
    """
    outer = mask & ~_erode(mask, SHADOW_BAND_PX)
    shadow = _shadow_like(image, distance, outer)
    if not low_contrast and shadow.sum() < SHADOW_MIN_SHARE * outer.sum():
        return mask
    return _grabcut_refine(image, mask, shadow, distance)


def _low_contrast(mask: np.ndarray, distance: np.ndarray, tolerance: float) -> bool:
    """Whether the garment's edge barely differs from the background (white on white): the median colour
    distance over the mask's inner rim is under :data:`LOW_CONTRAST_FACTOR` tolerances."""
    rim = mask & ~_erode(mask, RIM_PX)
    return bool(rim.any()) and float(np.median(distance[rim])) < LOW_CONTRAST_FACTOR * tolerance


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` eroded by a square of half-width ``radius`` px."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8)).astype(bool)


def _shadow_like(image: np.ndarray, distance: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pixels of ``where`` that look like the background in shadow: darker by an even factor
    on all three channels, and smooth (a shadow is a gentle ramp; stripes and prints next to
    white are not). bool ``(H, W)``."""
    reference = np.median(_border_pixels(image).astype(np.float32), axis=0) + 1.0
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / float(reference.mean())
    curvature = np.abs(cv2.Laplacian(cv2.blur(grey, (3, 3)), cv2.CV_32F))
    ys, xs = np.nonzero(where & (distance > 0) & (curvature <= SHADOW_MAX_CURVATURE))
    ratio = (image[ys, xs].astype(np.float32) + 1.0) / reference
    level = ratio.mean(axis=1)
    keep = (
        (ratio.max(axis=1) - ratio.min(axis=1) <= SHADOW_HUE_TOLERANCE)
        & (level >= SHADOW_MIN_LEVEL)
        & (level <= SHADOW_MAX_LEVEL)
    )
    shadow = np.zeros(where.shape, bool)
    shadow[ys[keep], xs[keep]] = True
    return shadow


def _grabcut_refine(
    image: np.ndarray, mask: np.ndarray, doubtful: np.ndarray, distance: np.ndarray
) -> np.ndarray:
    """Let GrabCut (at reduced resolution) relabel a band around the flood-fill outline.

    ``doubtful`` mask pixels (shadow-like) start as probable background, the rest of the
    mask as probable garment (sure garment well inside), the surroundings as background;
    pixels identical to the background are never added.
    """
    height, width = mask.shape
    scale = min(1.0, GRABCUT_SIDE / max(height, width))
    # Only the garment's bounding box (with a margin) goes to GrabCut: its cost grows with the area.
    band_px = int(np.ceil(GRABCUT_BAND / scale))
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    margin = 2 * band_px + 2
    y0, y1 = max(0, rows[0] - margin), min(height, rows[-1] + margin + 1)
    x0, x1 = max(0, columns[0] - margin), min(width, columns[-1] + margin + 1)
    box = (slice(y0, y1), slice(x0, x1))
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    small_image = cv2.resize(image[box], size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask[box].astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
    small_doubt = cv2.resize(doubtful[box].astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
    kernel = np.ones((2 * GRABCUT_BAND + 1,) * 2, np.uint8)
    sure_fg = cv2.erode(small_mask.astype(np.uint8), kernel).astype(bool)
    near = cv2.dilate(small_mask.astype(np.uint8), kernel).astype(bool)
    labels = np.full(small_mask.shape, cv2.GC_BGD, np.uint8)
    labels[near] = cv2.GC_PR_BGD
    labels[small_mask & ~small_doubt] = cv2.GC_PR_FGD
    labels[sure_fg & ~small_doubt] = cv2.GC_FGD
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models with k-means on OpenCV's (per-thread) random generator: a
    # fixed seed gives the same mask for the same photo whatever ran before in the thread.
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(
        cv2.cvtColor(small_image, cv2.COLOR_RGB2BGR), labels, None, bgd_model, fgd_model,
        GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK,
    )
    small_fg = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)
    fg = np.zeros(mask.shape, bool)
    fg[box] = cv2.resize(small_fg, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) > 0.5
    # GrabCut may drop only the doubtful (shadow-like) pixels, and add pixels just outside
    # the flood fill's outline (a white garment's edge that the flood took for background).
    near_full = cv2.dilate(mask.astype(np.uint8), np.ones((2 * band_px + 1,) * 2, np.uint8)).astype(bool)
    return (mask & ~(doubtful & ~fg)) | (fg & near_full & ~mask & (distance > 0))


def _open_real_holes(
    mask: np.ndarray, distance: np.ndarray, spread: float, tolerance: float
) -> np.ndarray:
    """Cut out enclosed regions that are clearly background (e.g. between a strap and the body).

    Only large, flat, background-coloured regions whose rim is a clear garment edge are
    cut: white print sits next to other white fabric or is small, and the inside of a
    white garment is most of the garment.
    """
    strict = max(HOLE_STRICT_TOL, 2.0 * spread)
    flat = (distance <= strict) & mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(flat.astype(np.uint8), connectivity=4)
    total = mask.sum()
    result = mask.copy()
    ring_kernel = np.ones((2 * HOLE_RIM_PX + 1,) * 2, np.uint8)
    for label in range(1, count):
        area = stats[label, cv2.CC_STAT_AREA]
        if not HOLE_MIN_FRAC * total <= area <= HOLE_MAX_FRAC * total:
            continue
        x, y, w, h = stats[label, :4]
        pad = HOLE_RIM_PX + 1
        y0, y1, x0, x1 = max(0, y - pad), y + h + pad, max(0, x - pad), x + w + pad
        hole = labels[y0:y1, x0:x1] == label
        ring = cv2.dilate(hole.astype(np.uint8), ring_kernel).astype(bool) & ~hole
        rim = distance[y0:y1, x0:x1][ring]
        if rim.size and (rim > HOLE_RIM_CONTRAST * tolerance).mean() >= HOLE_RIM_SHARE:
            result[y0:y1, x0:x1][hole] = False
    return result


def _border_touch(mask: np.ndarray) -> float:
    """Share of the image border covered by the mask."""
    edge = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    return float(edge.mean())


def _outline(mask: np.ndarray) -> np.ndarray:
    """Outer contour of the mask's largest component, int32 ``(N, 2)`` pixel ``(x, y)``."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2), np.int32)
    return max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.int32)


def _person_photo(image: np.ndarray, shape: _Shape) -> bool:
    """Whether the "garment" is a person wearing clothes (see :data:`PERSON_CHECK_MIN_ASPECT`)."""
    if shape.height < PERSON_CHECK_MIN_ASPECT * shape.width:
        with model_lock("faces"):
            if not load_model("faces").process(image).detections:
                return False
    with model_lock("pose"):
        result = load_model("pose").process(image)
    if result.pose_landmarks is None:
        return False
    height, width = shape.mask.shape
    points = np.array([(lm.x * width, lm.y * height, lm.visibility) for lm in result.pose_landmarks.landmark])
    xs, ys = np.round(points[:, 0]).astype(int), np.round(points[:, 1]).astype(int)
    on = (points[:, 2] > PERSON_MIN_VISIBILITY) & (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    on[on] = shape.mask[ys[on], xs[on]]
    if on.sum() < PERSON_MIN_LANDMARKS:
        return False
    return float(np.ptp(points[on, 1])) >= PERSON_MIN_EXTENT * shape.height


# ---------------------------------------------------------------------------------
# 2. Shape measurements and category
# ---------------------------------------------------------------------------------


class _Shape:
    """Row/column measurements of a garment mask shared by the category and keypoint steps."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask
        # Runs of mask pixels, all rows: first and last columns, and each row's slice of them.
        self._run_starts = self._run_ends = np.zeros(0, np.int64)
        self._run_rows: np.ndarray | None = None
        rows_any, columns_any = mask.any(axis=1), mask.any(axis=0)
        self.top, self.bottom = int(rows_any.argmax()), int(rows_any.size - 1 - rows_any[::-1].argmax())
        self.left, self.right = int(columns_any.argmax()), int(columns_any.size - 1 - columns_any[::-1].argmax())
        self.height = self.bottom - self.top + 1
        self.width = self.right - self.left + 1
        rows = np.arange(mask.shape[0])
        filled = rows_any
        first = np.where(filled, mask.argmax(axis=1), -1)
        last = np.where(filled, mask.shape[1] - 1 - mask[:, ::-1].argmax(axis=1), -1)
        # The centre line: the middle of the outline's extent over the upper body rows.
        lo, hi = (self.top + fraction * self.height for fraction in CENTRE_ROWS)
        band = (rows >= lo) & (rows <= hi) & filled
        middle = (first[band] + last[band]) / 2
        self.cx = float(np.median(middle)) if band.any() else (self.left + self.right) / 2
        # The torso's width in the upper band (the neckline's scale), and the body's width: the
        # lower band's where that is clearly narrower (the upper went through a boxy top's sleeves).
        upper, lower = self._band_widths()
        if not np.isfinite(upper):
            upper = lower if np.isfinite(lower) else float(self.width)
        self.torso_width = upper
        self.body_width = lower if lower < TORSO_SLEEVE_SHARE * upper else upper
        # Height down to the hem: what hangs below it (ties, straps, sleeves) is narrow.
        wide = np.flatnonzero(np.count_nonzero(mask, axis=1) >= HEM_MIN_WIDTH * self.torso_width)
        self.body_height = (int(wide.max()) if wide.size else self.bottom) - self.top + 1

    def run_at(self, y: int, x: float) -> tuple[int, int] | None:
        """The run ``(x0, x1)`` of mask pixels in row ``y`` that contains column ``x``."""
        xi = round(x)
        if not 0 <= xi < self.mask.shape[1] or not self.mask[y, xi]:
            return None
        if self._run_rows is None:
            self._find_runs()
        first, last = self._run_rows[y], self._run_rows[y + 1]
        i = first + int(np.searchsorted(self._run_starts[first:last], xi, side="right")) - 1
        return int(self._run_starts[i]), int(self._run_ends[i])

    def runs(self, y: int) -> tuple[np.ndarray, np.ndarray]:
        """First and last columns of every run of mask pixels in row ``y``, left to right."""
        if self._run_rows is None:
            self._find_runs()
        first, last = self._run_rows[y], self._run_rows[y + 1]
        return self._run_starts[first:last], self._run_ends[first:last]

    def _find_runs(self) -> None:
        """Every row's runs of mask pixels, found in one pass when first needed."""
        height = self.mask.shape[0]
        padded = np.zeros((height, self.mask.shape[1] + 2), np.int8)
        padded[:, 1:-1] = self.mask
        rows, columns = np.nonzero(np.diff(padded, axis=1))
        # Transitions alternate start, end within each row (row-major order).
        self._run_starts, self._run_ends = columns[0::2], columns[1::2] - 1
        self._run_rows = np.searchsorted(rows[0::2], np.arange(height + 1))

    def _band_widths(self) -> tuple[float, float]:
        """Median widths of the run through the centre line over the :data:`TORSO_ROWS` bands
        (inf where the centre line misses the garment)."""
        medians = []
        for band in TORSO_ROWS:
            widths = [
                run[1] - run[0] + 1
                for frac in np.linspace(*band, 12)
                if (run := self.run_at(int(self.top + frac * self.height), self.cx)) is not None
            ]
            medians.append(float(np.median(widths)) if widths else np.inf)
        return medians[0], medians[1]


def _ramp(value: float, threshold: float, scale: float) -> float:
    """Logistic step from 0 (well below ``threshold``) to 1 (well above), width ``scale``."""
    return float(1.0 / (1.0 + np.exp(-(value - threshold) / max(scale, 1e-6))))


def _crotch(shape: _Shape) -> tuple[float, float, float] | None:
    """``(x, y, gap_fraction)`` of the top of the gap between two legs, or None.

    The gap is open to the bottom: in its columns the garment ends at the crotch and
    nothing of it lies below (a hole in a top does not count).
    """
    half = max(2, int(CROTCH_WINDOW_FRAC * shape.width))
    best = None
    for x in range(max(shape.left, int(shape.cx) - half), min(shape.right, int(shape.cx) + half) + 1):
        column = shape.mask[:, x]
        if not column.any():
            continue
        end = column.size - 1 - int(column[::-1].argmax())
        if column[int(column.argmax()):end + 1].all() and (best is None or end < best[0]):
            best = (end, x)
    if best is None:
        return None
    end, x = best
    return float(x), float(end), (shape.bottom - end) / shape.height


def category_scores(mask: np.ndarray, shape: _Shape | None = None) -> dict[str, float]:
    """Scores in [0, 1] (summing to 1) for "upper", "lower" and "dress" from the mask's shape.

    Features, each turned into a soft step: a narrow gap between two legs open to the
    bottom (trousers); a waistband filling the top rows straight across, where a top has a
    neckline and sloping shoulders (trousers and skirts); the length down to the hem against
    the overall width (dresses are long, tops are not).

    Args:
        mask: bool ``(H, W)`` garment mask.
        shape: its measurements, when the caller has them already.
    """
    shape = shape or _Shape(mask)
    crotch = _crotch(shape)
    trousers = 0.0
    if crotch is not None:
        x, y, gap = crotch
        below = min(shape.bottom, int(y + 0.1 * gap * shape.height) + 2)
        hips = shape.run_at(max(shape.top, int(y) - 2), x)
        hip_width = (hips[1] - hips[0] + 1) if hips else shape.width
        row = mask[below, shape.left:shape.right + 1]
        gap_width = _gap_width_at(row, x - shape.left)
        narrow = 1.0 - gap_width / max(hip_width, 1)
        trousers = _ramp(gap, LEG_GAP_MIN_FRAC, CATEGORY_SOFTNESS * LEG_GAP_MIN_FRAC) * _ramp(
            narrow, 1 - LEG_GAP_MAX_WIDTH, CATEGORY_SOFTNESS * (1 - LEG_GAP_MAX_WIDTH)
        )

    # A waistband: the top rows are filled straight across (a neckline leaves them mostly empty).
    extent = _row_extent(mask, int(shape.top + WAISTBAND_REFERENCE_ROW * shape.height))
    first, last = (int(shape.top + fraction * shape.height) for fraction in WAISTBAND_ROWS)
    top_rows = mask[first:last + 1]
    top_fill = float(top_rows.sum(axis=1).mean()) / max(extent, 1)
    waistband = _ramp(top_fill, WAISTBAND_FILL, CATEGORY_SOFTNESS * WAISTBAND_FILL)
    # Length without what hangs below the hem (ties, straps) against the overall width (a long tank
    # is narrow) and against the torso (short sleeves make a dress wide): a dress is long on both.
    long_garment = _ramp(
        shape.body_height / shape.width, DRESS_LENGTH_RATIO, CATEGORY_SOFTNESS * DRESS_LENGTH_RATIO
    ) * _ramp(shape.body_height / shape.torso_width, DRESS_TORSO_RATIO, CATEGORY_SOFTNESS * DRESS_TORSO_RATIO)

    lower = max(trousers, waistband)
    raw = {"upper": (1 - lower) * (1 - long_garment), "lower": lower, "dress": (1 - lower) * long_garment}
    total = sum(raw.values())
    return {name: round(value / total, 4) for name, value in raw.items()}


def _row_extent(mask: np.ndarray, y: int) -> int:
    """Columns from the first to the last mask pixel in row ``y``."""
    xs = np.flatnonzero(mask[y])
    return int(xs[-1] - xs[0] + 1) if xs.size else 0


def _gap_width_at(row: np.ndarray, x: float) -> int:
    """Width of the background gap in ``row`` around column ``x`` (0 if ``x`` is on the mask)."""
    xi = round(np.clip(x, 0, row.size - 1))
    if row[xi]:
        return 0
    left = row[:xi][::-1]
    right = row[xi:]
    lw = int(left.argmax()) if left.any() else left.size
    rw = int(right.argmax()) if right.any() else right.size
    return lw + rw


# ---------------------------------------------------------------------------------
# 3. Inner back of the neck
# ---------------------------------------------------------------------------------


def find_back_neck(image: np.ndarray, mask: np.ndarray, shape: _Shape | None = None) -> np.ndarray:
    """The inside of the garment (inner back, label, lining) that shows above the front neckline.

    Geometry first: the front neckline runs from one neck corner of the outline to the other,
    below the top outline between them (the back neckline). It is traced as the smoothest path
    through the strongest colour steps along rays from the corners' midpoint, under several
    hypotheses of how deep it dips (a back rib's seam runs close to the outline, the front
    neckline well below it; a V-neck's lining reaches deep). The chosen path must be an edge
    along most of its length, smooth like a sewn edge (print shapes are ragged), and the inside
    above it must differ in colour from the front fabric below it, however little (a navy
    tee's navy inside is a little lighter, a knit's inside smoother).

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        mask: bool ``(H, W)``, the garment including the inner back.

    Returns:
        bool ``(H, W)``, all False when no inside shows.
    """
    shape = shape or _Shape(mask)
    none = np.zeros_like(mask)
    rays = _neck_rays(image, mask, shape)
    if rays is None:
        return none
    path = _choose_neckline(rays)
    if path is None:
        return none
    region = _neck_region(rays, _through_shadowed_inside(rays, path, image, mask), mask)
    if not region.any() or region.sum() > NECK_MAX_AREA * shape.torso_width**2:
        return none
    return region


def _details_cut_through(image: np.ndarray, mask: np.ndarray, inside: np.ndarray, shape: _Shape) -> np.ndarray:
    """The parts below the cut of the details inside the neck (a label, its size tag) that the cut runs
    through (bool ``(H, W)``): a label's strong border draws the neckline's trace when the front's own
    edge is faint (a white tee), and its lower border stayed on the garment, drawn on the wearer's throat
    (cut out with the inside, it left a notch in the neckline: they are painted over with the fabric).

    A detail is a blob of colours unlike the front fabric just below the cut (Lab distance over
    :data:`NECK_DETAIL_LAB`); it goes with the inside when most of it lies there."""
    out = np.zeros_like(mask)
    # Around the neck only (a detail the cut runs through reaches little below it): the inside's box, grown.
    x, y, w, h = cv2.boundingRect(inside.view(np.uint8))
    m = int(np.ceil(NECK_DETAIL_REACH * shape.torso_width))
    box = (slice(max(0, y - m), y + h + m), slice(max(0, x - m), x + w + m))
    inside, mask = inside[box], mask[box]
    band = masks.grow(inside, NECK_BAND * shape.torso_width) & mask & ~inside
    if band.sum() < NECK_DETAIL_MIN_PIXELS:
        return out
    lab = cv2.cvtColor(np.ascontiguousarray(image[box]), cv2.COLOR_RGB2LAB)  # 8-bit Lab: a tolerance of levels
    fabric = np.median(lab[band], axis=0)
    reference = np.empty_like(lab)
    reference[:] = np.round(fabric).astype(np.uint8)
    # The squared distance summed over the channels by OpenCV (no float copies of the box's three channels).
    d2 = cv2.transform(cv2.absdiff(lab, reference).astype(np.float32) ** 2, np.ones((1, 3), np.float32))
    unlike = (d2 > NECK_DETAIL_LAB**2) & mask
    count, labels = cv2.connectedComponents(unlike.view(np.uint8), connectivity=8)
    if count <= 1:
        return out
    inside_px = np.bincount(labels[inside & unlike], minlength=count)
    total = np.bincount(labels.ravel(), minlength=count)
    straddle = (inside_px > 0) & (total > inside_px) & (inside_px >= NECK_DETAIL_INSIDE_SHARE * total)
    # A blob the box cuts reaches further than a detail does (a print, the sleeves): left alone.
    straddle[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = False
    straddle[0] = False
    out[box] = straddle[labels] & ~inside
    return out


def _paint_over(image: np.ndarray, details: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with ``details`` (bool ``(H, W)``) painted over with the garment's fabric around them. Neither
    the background nor the outline's anti-aliased rim is a source (a label at the outline drew white in): in a
    box around the details they are set to the fabric's median and marked unknown too, and only the details
    are copied back."""
    ys, xs = np.nonzero(details)
    pad = 4 * NECK_DETAIL_INPAINT_PX
    box = (slice(max(0, ys.min() - pad), ys.max() + pad + 1), slice(max(0, xs.min() - pad), xs.max() + pad + 1))
    inner = cv2.erode(mask[box].view(np.uint8), masks.disc(NECK_DETAIL_INPAINT_PX)).astype(bool)
    unknown = details[box] | ~inner
    work = image[box].copy()
    if (~unknown).any():
        work[unknown] = np.median(work[~unknown], axis=0).astype(np.uint8)
    filled = cv2.inpaint(work, unknown.view(np.uint8), NECK_DETAIL_INPAINT_PX, cv2.INPAINT_TELEA)
    out = image.copy()
    out[box] = np.where(details[box][..., None], filled, image[box])
    return out


def _back_label(image: np.ndarray, mask: np.ndarray, shape: _Shape, cut: np.ndarray) -> np.ndarray:
    """A label sewn inside the back neck (bool ``(H, W)``) that no cut removes: on a top whose inside could not be
    told from its front (navy on navy, a strap top's back seen through its neckline), or below an inside traced
    too shallow; it would sit on the wearer's throat or chest.

    A label is a rectangular blob of colours unlike the fabric around it in a box :data:`LABEL_BOX` (x torso
    width) below the outline's middle, or below the inside already ``cut`` (bool ``(H, W)``; a shallow trace
    leaves the label below it), see the constants; nothing when more than one blob qualifies.
    """
    out = np.zeros_like(mask)
    cx, width = int(np.rint(shape.cx)), shape.torso_width
    column = np.flatnonzero((mask & ~cut)[:, min(max(cx, 0), mask.shape[1] - 1)])
    if not column.size:
        return out
    half, depth = (int(np.ceil(f * width)) for f in LABEL_BOX)
    box = (slice(int(column[0]), int(column[0]) + depth), slice(max(0, cx - half), cx + half + 1))
    sub = mask[box] & ~cut[box]
    if sub.sum() < NECK_DETAIL_MIN_PIXELS:
        return out
    lab = cv2.cvtColor(np.ascontiguousarray(image[box]), cv2.COLOR_RGB2LAB).astype(np.float32)
    distance = np.linalg.norm(lab - np.median(lab[sub], axis=0), axis=-1)
    # Clear of the garment's outline (the background), not of the cut: a label hangs from the inside.
    clear = cv2.erode(np.ascontiguousarray(mask[box]).view(np.uint8), masks.disc(LABEL_CLEAR_PX)).astype(bool)
    # A shadowed inside in the box (a crew neck's) is unlike the front too, and joins a label it touches: a
    # label is looked for again at each of LABEL_THRESHOLDS' multiples, stopping at the first that finds one.
    threshold = max(NECK_DETAIL_LAB, LABEL_SPREAD * float(np.median(distance[sub])))
    for multiple in LABEL_THRESHOLDS:
        found = _label_blobs(distance, (distance > multiple * threshold) & sub, clear, width)
        if found:
            if len(found) == 1:
                out[box] = masks.dilate(found[0], LABEL_CLEAR_PX)
            break
    return out


def _label_blobs(distance: np.ndarray, unlike: np.ndarray, clear: np.ndarray, width: float) -> list[np.ndarray]:
    """The blobs of ``unlike`` (bool ``(h, w)``) that look like a label (see :data:`LABEL_BOX`); ``distance``:
    each px's Lab distance from the fabric (float32), ``clear``: px clear of the outline (bool), ``width``: the
    torso's (px)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(unlike.view(np.uint8), connectivity=8)
    found = []
    for i in range(1, count):
        x, y, w, h, area = stats[i]
        if (area < NECK_DETAIL_MIN_PIXELS or area > LABEL_MAX_AREA * width**2
                or x == 0 or x + w >= unlike.shape[1] or y + h >= unlike.shape[0]):
            continue
        blob = labels == i
        touching = np.nonzero(blob & ~clear)[0]
        if (touching.size and touching.max() > y + LABEL_CLEAR_PX) or np.median(distance[blob]) < LABEL_MIN_LAB:
            continue
        (_, _), (rw, rh), _ = cv2.minAreaRect(np.argwhere(blob)[:, ::-1].astype(np.float32))
        aspect = max(rw, rh) / max(min(rw, rh), 1.0)
        if (area >= LABEL_FILL * rw * rh and LABEL_MIN_ASPECT <= aspect <= LABEL_MAX_ASPECT
                and min(rw, rh) >= LABEL_MIN_SIDE * width):
            found.append(blob)
    return found


def _neck_corners(mask: np.ndarray, shape: _Shape) -> tuple[int, int]:
    """Columns of the neckline corners: on each side of the centre, the outermost column
    whose top is within a small tolerance of that side's highest point (image-left, image-right)."""
    height, width = mask.shape
    has = mask.any(axis=0)
    top = np.where(has, mask.argmax(axis=0), height)
    reach = int(NECK_CORNER_REACH * shape.torso_width)
    corners = []
    for sign in (-1, 1):
        xs = np.arange(int(shape.cx), int(shape.cx) + sign * reach, sign)
        xs = xs[(xs >= 0) & (xs < width)]
        if xs.size == 0:
            corners.append(int(shape.cx))
            continue
        near = xs[top[xs] <= top[xs].min() + NECK_CORNER_TOLERANCE * shape.torso_width]
        corners.append(int(near[np.argmax(np.abs(near - shape.cx))]))
    return corners[0], corners[1]


@dataclasses.dataclass(frozen=True)
class _NeckRays:
    """The neck area resampled along rays from the corners' midpoint, at work scale.

    ``steps``, ``lab`` and ``inside`` are indexed ``[ray, radius]``; ray ``i`` points at angle
    ``angles[i]`` (0 = image right, pi/2 = straight down, pi = image left).
    """

    centre: tuple[float, float]  # full-resolution pixel (x, y)
    scale: float  # work px per full-resolution px
    width: float  # corner to corner, work px
    angles: np.ndarray  # float (N,)
    steps: np.ndarray  # float32 (N, R): colour step across each radius, in typical steps (capped)
    turns: np.ndarray  # float32 (N, R): colour step from ray i - 1 to ray i at each radius, likewise
    lab: np.ndarray  # float32 (N, R, 3): blurred Lab
    image_lab: np.ndarray  # float32 (h, w, 3): the blurred Lab crop the rays were sampled from
    image_mask: np.ndarray  # bool (h, w): the garment in that crop
    origin: tuple[float, float]  # the corners' midpoint in the crop, work px (x, y)
    typical: float  # Lab units per work px: the typical step
    inside: np.ndarray  # bool (N, R): on the garment
    outline: np.ndarray  # int (N,): first radius on the garment


def _neck_rays(image: np.ndarray, mask: np.ndarray, shape: _Shape) -> _NeckRays | None:
    """Resample the neck area along :data:`NECK_RAYS` rays (None when there is no neck opening)."""
    height, width = mask.shape
    left, right = _neck_corners(mask, shape)
    neck_width = right - left
    if neck_width < NECK_MIN_WIDTH * shape.torso_width:
        return None
    has = mask.any(axis=0)
    top = np.where(has, mask.argmax(axis=0), height)
    cx, cy = 0.5 * (left + right), 0.5 * (top[left] + top[right])
    reach = NECK_REACH * neck_width
    x0, x1 = max(0, int(cx - reach) - 2), min(width, int(cx + reach) + 3)
    y0, y1 = max(0, int(cy) - 2), min(height, int(cy + reach) + 3)
    scale = min(1.0, NECK_WORK_WIDTH / neck_width)
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    crop = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    crop_mask = cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    lab = _masked_blur_lab(crop, crop_mask.astype(bool))

    radii = int(reach * scale)
    angles = np.linspace(0.0, np.pi, NECK_RAYS)
    r = np.arange(radii, dtype=np.float32)
    map_x = ((cx - x0) * scale + r[None, :] * np.cos(angles)[:, None]).astype(np.float32)
    map_y = ((cy - y0) * scale + r[None, :] * np.sin(angles)[:, None]).astype(np.float32)
    ray_lab = cv2.remap(lab, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.remap(crop_mask, map_x, map_y, cv2.INTER_NEAREST, borderValue=0) > 0

    # Colour step across each radius; only where both ends are on the garment.
    d = NECK_STEP_PX
    steps = np.zeros(inside.shape, np.float32)
    steps[:, d:-d] = np.linalg.norm(ray_lab[:, 2 * d:] - ray_lab[:, :-2 * d], axis=-1) / (2 * d)
    valid = inside.copy()
    valid[:, d:-d] &= inside[:, 2 * d:] & inside[:, :-2 * d]
    valid[:, :d] = valid[:, -d:] = False
    if not valid.any():
        return None
    steps[~valid] = 0.0
    typical = float(np.percentile(steps[valid], NECK_TYPICAL_PERCENTILE)) + NECK_STEP_FLOOR
    steps = np.minimum(steps / typical, NECK_STEP_CAP)
    # The step between neighbouring rays (across a steep stretch of neckline, which runs along a ray).
    arc = np.maximum(r * (angles[1] - angles[0]), 1.0)
    turns = np.zeros(inside.shape, np.float32)
    turns[1:] = np.linalg.norm(ray_lab[1:] - ray_lab[:-1], axis=-1) / arc / typical
    turns[1:] *= inside[1:] & inside[:-1]
    turns = np.minimum(turns, NECK_STEP_CAP)
    outline = np.where(inside.any(axis=1), inside.argmax(axis=1), radii)
    if outline[NECK_RAYS // 2] > NECK_MAX_BACK_DIP * neck_width * scale:
        return None
    return _NeckRays(
        centre=(cx, cy), scale=scale, width=neck_width * scale, angles=angles, steps=steps, turns=turns,
        lab=ray_lab, image_lab=lab, image_mask=crop_mask.astype(bool),
        origin=((cx - x0) * scale, (cy - y0) * scale), typical=typical, inside=inside, outline=outline,
    )


def _trace_necklines(rays: _NeckRays) -> list[np.ndarray]:
    """For each of :data:`NECK_DIPS`: the radius per ray (int ``(N,)``) of the best smooth path
    from corner to corner (dynamic programming) that dips at least that many neck widths below
    the outline at the centre. The hypotheses share the pass up to the centre rays."""
    n, radii = rays.steps.shape
    forbidden = -1e6
    r = np.arange(radii)
    gain = rays.steps.copy()
    away = np.abs(np.sin(rays.angles)) > np.sin(NECK_FREE_ANGLE)
    gain[(r[None, :] < (rays.outline + NECK_OUTLINE_GAP)[:, None]) & away[:, None]] = forbidden
    lo, hi = (fraction * rays.width for fraction in NECK_CORNER_RADIUS)
    for end in (0, n - 1):
        gain[end, (r < lo) | (r > hi)] = forbidden
    centre = np.flatnonzero(np.abs(rays.angles - np.pi / 2) < NECK_CENTRE_ANGLE)

    # Moving from radius r + jumps[k] on ray i - 1 to r on ray i costs the move's length, less
    # where an edge runs along it (the mean turn step over the radii it crosses).
    jumps = np.arange(-NECK_MAX_JUMP, NECK_MAX_JUMP + 1)
    cumulative = np.concatenate([np.zeros((n, 1), np.float32), np.cumsum(rays.turns, axis=1)], axis=1)
    start = np.clip(r[:, None] + np.minimum(jumps, 0)[None, :], 0, radii)
    stop = np.clip(r[:, None] + np.maximum(jumps, 0)[None, :] + 1, 0, radii)
    along = (cumulative[:, stop] - cumulative[:, start]) / np.maximum(stop - start, 1)
    move_cost = NECK_JUMP_COST * np.abs(jumps) * np.clip(1 - along / NECK_JUMP_FREE, 0.0, 1.0)

    padded = np.full(radii + 2 * NECK_MAX_JUMP, 2 * forbidden, np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(padded, jumps.size)  # a view of `padded`

    def run(score: np.ndarray, rays_from: int, rays_to: int, ray_gain: np.ndarray, back: np.ndarray) -> np.ndarray:
        for i in range(rays_from, rays_to):
            padded[NECK_MAX_JUMP:-NECK_MAX_JUMP] = score
            moves = windows - move_cost[i]
            k = moves.argmax(axis=1)
            score = moves[r, k] + ray_gain[i]
            back[i] = r + jumps[k]
        return score

    back = np.zeros((n, radii), np.int32)
    shared = run(gain[0].copy(), 1, int(centre[0]), gain, back)
    paths = []
    for min_dip in NECK_DIPS:
        level_gain = gain.copy()
        shallow = r[None, :] < (rays.outline[centre] + min_dip * rays.width)[:, None]
        level_gain[centre] = np.where(shallow, forbidden, level_gain[centre])
        level_back = back.copy()
        score = run(shared, int(centre[0]), n, level_gain, level_back)
        path = np.empty(n, np.int64)
        path[-1] = int(np.argmax(score))
        for i in range(n - 1, 0, -1):
            path[i - 1] = level_back[i, path[i]]
        paths.append(path)
    return paths


def _neckline_evidence(rays: _NeckRays, path: np.ndarray) -> dict[str, float]:
    """What speaks for ``path`` being the front neckline: edge support along it, its depth
    below the outline at the centre, its roughness, and the colour difference between the
    inside above it and the front fabric below it."""
    n = len(path)
    index = np.arange(n)
    away = np.abs(np.sin(rays.angles)) > np.sin(NECK_FREE_ANGLE)
    along = rays.steps[index, path]
    centre = np.abs(rays.angles - np.pi / 2) < NECK_CENTRE_ANGLE
    support = float(min(np.percentile(along[away], NECK_SUPPORT_PERCENTILE), np.median(along[centre])))
    middle = n // 2
    arc = rays.width * np.pi / n
    roughness = float(np.mean(np.abs(np.diff(path, 2)))) / arc
    sides = _inside_and_front(rays, path, index[away], 0)
    colour, contrast = _colour_contrast(*sides) if sides is not None else (0.0, 0.0)
    return {
        "stretch": _weakest_stretch(rays, path),
        "support": support,
        "dip": float(path[middle] - rays.outline[middle]) / rays.width,
        "roughness": roughness,
        "colour": colour,
        "contrast": contrast,
    }


def _inside_and_front(
    rays: _NeckRays, path: np.ndarray, which: np.ndarray, front_from: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Lab float32 ``(N, 3)`` of the garment's px along the rays ``which`` (work scale): above ``path`` (the
    inside) and in a :data:`NECK_BAND` deep band ``front_from`` px below it (the front); None when a side has none."""
    band = max(2, round(NECK_BAND * rays.width))
    gap = NECK_STEP_PX + 1
    radii = rays.lab.shape[1]
    above, below = [], []
    for i in which:
        a0, a1 = rays.outline[i] + gap, path[i] - gap
        if a1 > a0:
            above.append(rays.lab[i, a0:a1][rays.inside[i, a0:a1]])
        b0 = min(path[i] + front_from + gap, radii)
        below.append(rays.lab[i, b0:b0 + band][rays.inside[i, b0:b0 + band]])
    above_lab = np.concatenate(above or [np.zeros((0, 3), np.float32)])
    below_lab = np.concatenate(below or [np.zeros((0, 3), np.float32)])
    return (above_lab, below_lab) if len(above_lab) and len(below_lab) else None


def _colour_contrast(inside: np.ndarray, front: np.ndarray) -> tuple[float, float]:
    """The Lab distance between two sides' median colours, and that distance against how much each side varies
    in itself (plus :data:`NECK_SPREAD_FLOOR`): one fabric each side, not a print's patches."""
    inside_mid, front_mid = np.median(inside, axis=0), np.median(front, axis=0)
    colour = float(np.linalg.norm(inside_mid - front_mid))
    spread = np.median(np.linalg.norm(inside - inside_mid, axis=1)) + np.median(
        np.linalg.norm(front - front_mid, axis=1))
    return colour, colour / (float(spread) + NECK_SPREAD_FLOOR)


def _weakest_stretch(rays: _NeckRays, path: np.ndarray) -> float:
    """The weakest edge support (in typical steps, capped) of any :data:`NECK_STRETCH` long
    stretch of ``path``, measured across the curve in the image, its ends left out."""
    ox, oy = rays.origin
    points = np.stack([ox + path * np.cos(rays.angles), oy + path * np.sin(rays.angles)], axis=1)
    lengths = np.hypot(*np.diff(points, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(lengths)])
    if arc[-1] < 4:
        return 0.0
    along = np.arange(0.0, arc[-1], 1.0)  # one sample per work px
    xs, ys = np.interp(along, arc, points[:, 0]), np.interp(along, arc, points[:, 1])
    tx, ty = np.gradient(xs), np.gradient(ys)
    norm = np.maximum(np.hypot(tx, ty), 1e-6)
    nx, ny = -ty / norm, tx / norm
    d = NECK_STEP_PX
    height, width = rays.image_mask.shape

    def sample(shift: float) -> tuple[np.ndarray, np.ndarray]:
        xi = np.clip(np.round(xs + shift * nx).astype(int), 0, width - 1)
        yi = np.clip(np.round(ys + shift * ny).astype(int), 0, height - 1)
        return rays.image_lab[yi, xi], rays.image_mask[yi, xi]

    (a, a_ok), (b, b_ok) = sample(-d), sample(d)
    support = np.linalg.norm(a - b, axis=1) / (2 * d) / rays.typical
    support = np.where(a_ok & b_ok, np.minimum(support, NECK_STEP_CAP), 0.0)
    end = int(NECK_END_SHARE * len(support))
    support = support[end:len(support) - end]
    window = max(1, int(NECK_STRETCH * rays.width))
    if len(support) < window:
        return float(support.mean()) if len(support) else 0.0
    means = np.convolve(support, np.ones(window) / window, mode="valid")
    return float(means.min())


def _choose_neckline(rays: _NeckRays) -> np.ndarray | None:
    """The front neckline among the depth hypotheses, or None when none is convincing.

    Convincing: supported, smooth, and with an inside that differs from the front. Of those,
    the best supported wins, or a deeper one nearly as well supported (a back rib's seam is
    often the strongest edge, but the front neckline lies below it).
    """
    candidates = []
    for path in _trace_necklines(rays):
        evidence = _neckline_evidence(rays, path)
        if (
            evidence["support"] >= NECK_MIN_SUPPORT
            and evidence["stretch"] >= NECK_MIN_STRETCH
            and evidence["roughness"] <= NECK_MAX_ROUGHNESS
            and evidence["colour"] >= NECK_MIN_COLOUR_DIFF
            and evidence["contrast"] >= NECK_MIN_CONTRAST
        ):
            candidates.append((evidence, path))
    if not candidates:
        return None
    best = max(evidence["support"] for evidence, _ in candidates)
    strong = sorted(
        ((e, p) for e, p in candidates if e["support"] >= NECK_TIE * best), key=lambda item: item[0]["dip"]
    )
    chosen = strong[0][1]
    for _, path in strong[1:]:
        # A deeper path that mostly runs along the chosen one is a detour at its centre (forced
        # down by its hypothesis), not a front neckline below a back seam.
        if np.mean(np.abs(path - chosen) <= NECK_SAME_PX) < NECK_DETOUR_SHARE:
            chosen = path
    return chosen


def _through_shadowed_inside(rays: _NeckRays, path: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``path`` moved out along each ray over the pixels next to it that are nearer the inside's colour than
    the front's (at most :data:`NECK_INSIDE_REACH` neck widths): the traced edge is often the back seam's or a
    lit fold's, with the inside's shadowed lower part still below it (a red tee's dark red band under the
    back rib; a label's lower half)."""
    reach = max(1, round(NECK_INSIDE_REACH * rays.width))
    # The front: a band below where the inside could still reach, so that it is fabric, not inside.
    sides = _inside_and_front(rays, path, np.arange(len(path)), reach)
    # Only a plain inside against a plain front: a print's colours are on both sides.
    if sides is None or _colour_contrast(*sides)[1] < NECK_INSIDE_MIN_CONTRAST:
        return path
    inside_mid, front_mid = (np.median(lab, axis=0) for lab in sides)
    # Walked at full resolution, one px at a time: at work scale a thin crescent blurs into the edge.
    cx, cy = rays.centre
    radius = path[:, None] / rays.scale + np.arange(int(np.ceil(reach / rays.scale)) + 1)[None, :]
    xs, ys = cx + radius * np.cos(rays.angles)[:, None], cy + radius * np.sin(rays.angles)[:, None]
    height, width = mask.shape
    x0, y0 = max(0, int(xs.min()) - 2), max(0, int(ys.min()) - 2)
    x1, y1 = min(width, int(xs.max()) + 3), min(height, int(ys.max()) + 3)
    if x1 <= x0 or y1 <= y0:
        return path
    crop_mask = mask[y0:y1, x0:x1]
    lab = _masked_blur_lab(image[y0:y1, x0:x1], crop_mask)
    map_x, map_y = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
    sampled = cv2.remap(lab, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    on = cv2.remap(crop_mask.view(np.uint8), map_x, map_y, cv2.INTER_NEAREST, borderValue=0) > 0
    nearer_inside = on & (
        np.linalg.norm(sampled - inside_mid, axis=-1) < np.linalg.norm(sampled - front_mid, axis=-1))
    # The run of inside-coloured pixels from the traced edge outwards (the edge pixel itself may be either).
    run = np.argmin(np.concatenate([nearer_inside[:, 1:], np.zeros((len(path), 1), bool)], axis=1), axis=1)
    # Near the corners the rays run along the shoulder line, not across the neckline.
    run[np.abs(np.sin(rays.angles)) <= np.sin(NECK_FREE_ANGLE)] = 0
    # One ray's run is not the neckline's (a print's stroke touching the edge): the median of its neighbours,
    # and the shadow's depth changes slowly along the neckline: then averaged over as many.
    half = NECK_INSIDE_RAYS // 2
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(run, half, mode="edge"), 2 * half + 1)
    run = np.median(windows, axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(run, half, mode="edge"), 2 * half + 1)
    return path + windows.mean(axis=1) * rays.scale


def _neck_region(rays: _NeckRays, path: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The garment between the top outline and ``path`` (full resolution, bool ``(H, W)``)."""
    cx, cy = rays.centre
    radius = _smooth_radii(path) / rays.scale
    xs = cx + radius * np.cos(rays.angles)
    ys = cy + radius * np.sin(rays.angles)
    top = float(np.flatnonzero(mask.any(axis=1))[0]) - 2
    polygon = np.concatenate([[[xs[0], top]], np.stack([xs, ys], axis=1), [[xs[-1], top]]])
    region = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(region, [np.round(polygon).astype(np.int32)], 1)
    return region.astype(bool) & mask


def _smooth_radii(path: np.ndarray) -> np.ndarray:
    """The traced path's whole-pixel radii (work scale, one per ray) smoothed over :data:`NECK_CUT_SMOOTH`
    rays (Gaussian; the ends held): cut along the raw steps, the neckline looks torn once enlarged."""
    radius = path.astype(np.float64)
    half = int(np.ceil(3 * NECK_CUT_SMOOTH))
    offsets = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (offsets / NECK_CUT_SMOOTH) ** 2)
    padded = np.pad(radius, half, mode="edge")
    return np.convolve(padded, kernel / kernel.sum(), mode="valid")


def _masked_blur_lab(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Lab float32 ``(h, w, 3)`` blurred over the garment only (the background does not bleed in)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    weight = mask.astype(np.float32)
    blurred = cv2.GaussianBlur(lab * weight[..., None], (0, 0), NECK_BLUR_SIGMA)
    norm = cv2.GaussianBlur(weight, (0, 0), NECK_BLUR_SIGMA)
    return blurred / np.maximum(norm, 1e-3)[..., None]


# ---------------------------------------------------------------------------------
# 4. Keypoints, sleeves, parts
# ---------------------------------------------------------------------------------


def _upper_keypoints(
    mask: np.ndarray, full_shape: _Shape, back_neck: np.ndarray, *, dress: bool
) -> tuple[dict[str, tuple[float, float]], dict[str, np.ndarray], str]:
    """Keypoints, part masks and sleeve length of a top or dress.

    ``mask`` is the front (inner back removed); ``full_shape`` measures the whole garment.
    Order: neck, armpits (side seams), shoulders (outline above), sleeves (cut along the
    shoulder-armpit line and the body's side line), cuff centres and sleeve length, hem, and a
    dress's waist.
    """
    shape = _Shape(mask)
    shape.cx, shape.torso_width = full_shape.cx, full_shape.torso_width
    shape.body_width = full_shape.body_width
    straps = {} if back_neck.any() else _straps(shape)
    keypoints, notches = _frame_points(shape, full_shape.mask, back_neck, straps)
    parts = {"body": mask.copy()}
    lengths = []
    for side in SIDES:
        shoulder, armpit = keypoints[f"shoulder_{side}"], keypoints[f"armpit_{side}"]
        parts[f"sleeve_{side}"] = _sleeve_region(shape, shoulder, armpit, side, notches[side])
        parts["body"] &= ~parts[f"sleeve_{side}"]
    for side in SIDES:
        sleeve = parts.pop(f"sleeve_{side}")
        if sleeve.sum() < SLEEVE_MIN_AREA * shape.body_width**2:
            parts["body"] |= sleeve  # a sliver of a sleeveless armhole
            continue
        parts[f"sleeve_{side}"] = sleeve
        end = _sleeve_end(sleeve, keypoints[f"shoulder_{side}"], keypoints[f"armpit_{side}"])
        keypoints[f"sleeve_end_{side}"] = end
        lengths.append(float(np.hypot(*np.subtract(end, keypoints[f"shoulder_{side}"]))))

    body_shape = _Shape(parts["body"]) if parts["body"].any() else shape
    shoulder_width = abs(keypoints["shoulder_left"][0] - keypoints["shoulder_right"][0])
    # Straps (a cold-shoulder top) are closer together than the shoulders: the body's width tells.
    reference = body_shape.body_width / TORSO_PER_SHOULDER if straps else shoulder_width
    sleeve = _sleeve_length_name(min(lengths) if lengths else 0.0, float(reference))
    body_shape.cx, body_shape.torso_width = shape.cx, shape.torso_width
    keypoints.update(_hem_corners(body_shape))
    if dress:
        keypoints.update(_dress_waist(body_shape, keypoints))
    return keypoints, parts, sleeve


def off_the_shoulder(keypoints: dict[str, np.ndarray | tuple[float, float]], mask: np.ndarray) -> bool:
    """Whether a top or dress (its keypoints and its front's bool ``(H, W)`` mask) is worn off the shoulders:
    its neckline runs straight across its whole top (see :data:`OFF_SHOULDER_CORNER_SHARE`), so on a body that
    edge goes round the upper arms (sleeves) or the chest (strapless), not over the shoulders."""
    if any(f"{name}_{side}" not in keypoints for name in ("neck", "shoulder") for side in SIDES):
        return False
    point = {name: np.asarray(value, np.float64) for name, value in keypoints.items()}
    left, right = point["shoulder_left"], point["shoulder_right"]
    span = float(np.linalg.norm(left - right))
    gap = max(float(np.linalg.norm(point[f"neck_{side}"] - point[f"shoulder_{side}"])) for side in SIDES)
    if span < 1.0 or gap > OFF_SHOULDER_CORNER_SHARE * span:
        return False
    ys = np.flatnonzero(mask.any(axis=1))
    y = round(float(0.5 * (left[1] + right[1]) + OFF_SHOULDER_PROBE * (ys[-1] - ys[0])))
    x0, x1 = sorted((round(float(right[0])), round(float(left[0]))))
    row = mask[min(max(y, 0), mask.shape[0] - 1), max(x0, 0):x1 + 1]
    return bool(row.size) and float(row.mean()) >= OFF_SHOULDER_FILL


def _frame_points(
    shape: _Shape, full_mask: np.ndarray, back_neck: np.ndarray, straps: dict[str, tuple[int, int]]
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float] | None]]:
    """Neck points, shoulders and armpits of a top or dress, and where a sleeve hanging beside the
    body parts from its side (per side, None where it does not)."""
    torso = shape.body_width
    keypoints = dict(_neck_points(shape, back_neck, straps))
    neck_y = max(keypoints["neck_left"][1], keypoints["neck_right"][1])
    armpits, notches = _find_armpits(shape, neck_y)
    for side in SIDES:
        neck = keypoints[f"neck_{side}"]
        if straps:  # the outer edge of the strap's top
            x = straps[side][1] if _side_sign(side) > 0 else straps[side][0]
            keypoints[f"shoulder_{side}"] = (float(x), float(np.flatnonzero(shape.mask[:, x])[0]))
            continue
        hanging = notches[side] is not None
        keypoints[f"shoulder_{side}"] = _shoulder(full_mask, torso, side, neck, armpits[side], hanging=hanging)
        if _side_sign(side) * (keypoints[f"shoulder_{side}"][0] - neck[0]) <= 0:
            # The neck corner is the outer end of a narrow shoulder band (a sweetheart or square
            # neckline, an off-shoulder top's edge): it is the shoulder point; the neckline starts
            # at the band's inner edge.
            keypoints[f"shoulder_{side}"] = neck
            keypoints[f"neck_{side}"] = _band_inner_corner(shape, side, neck)
    shoulders = {side: keypoints[f"shoulder_{side}"] for side in SIDES}
    for side in SIDES:  # an armpit is below its shoulder point (a halter's seam climbs to the neck)
        y = min(shape.bottom, int(shoulders[side][1] + ARMPIT_MIN_DROP * torso))
        if armpits[side][1] < y and (run := shape.run_at(y, shape.cx)) is not None:
            armpits[side] = (float(run[1] if _side_sign(side) > 0 else run[0]), float(y))
    # A sleeve does not hang from a strap (a cold-shoulder top's sleeves start below the straps).
    hidden, mirrored = (armpits, set()) if straps else _hidden_armpits(shape, armpits, shoulders, notches)
    for side in SIDES:  # below a hidden armpit the sleeve parts from the body's side line
        if hidden[side] != armpits[side]:
            notches[side] = armpits[side]
        keypoints[f"armpit_{side}"] = hidden[side]
    for side, other in (SIDES, SIDES[::-1]):  # ...as on the other side, where that side's armpit is mirrored
        if side in mirrored and notches[other] is not None:
            notches[side] = (float(2.0 * shape.cx - notches[other][0]), notches[other][1])
    return keypoints, notches


def _side_sign(side: str) -> int:
    """+1 when the wearer's ``side`` is on the image's right (the wearer's left), else -1."""
    return 1 if side == "left" else -1


def _neck_points(
    shape: _Shape, back_neck: np.ndarray, straps: dict[str, tuple[int, int]]
) -> dict[str, tuple[float, float]]:
    """Neckline corners and the front neckline's lowest point.

    With an inner back found, its outer ends are the corners and its lowest point near the
    centre is the front neckline's; otherwise the corners come from the outline (its highest
    points either side of the centre) and the centre is the lowest outline point between.
    """
    mask = shape.mask
    if back_neck.any():
        ys, xs = np.nonzero(back_neck)
        centre = np.abs(xs - shape.cx) <= max(2.0, NECK_CENTRE_BAND * shape.torso_width)
        depth_x, depth_y = (xs[centre], ys[centre]) if centre.any() else (xs, ys)
        bottom = int(np.argmax(depth_y))
        points = {"neck_center": (float(depth_x[bottom]), float(depth_y[bottom] + 1))}
        for side, x in (("left", xs.max()), ("right", xs.min())):
            points[f"neck_{side}"] = (float(x), float(ys[xs == x].max()))
        return points

    right, left = _neck_corners(mask, shape)
    has = mask.any(axis=0)
    top = np.where(has, mask.argmax(axis=0), shape.bottom)
    if straps:  # the corners are the straps' outer edges; the neckline starts at their inner edges
        right, left = straps["right"][1], straps["left"][0]
    points = {"neck_left": (float(left), float(top[left])), "neck_right": (float(right), float(top[right]))}
    # The lowest outline point between the corners; a closed collar or high neck that does not dip
    # between them (a polo's, a mock neck's) has its centre midway, level with the lower corner.
    between = np.arange(right + 1, left)
    if between.size == 0:
        between = np.arange(right, left + 1)
    lowest = int(between[np.argmax(top[between])])
    corner_y = max(top[left], top[right])
    if top[lowest] <= corner_y:
        lowest = (left + right) // 2
    points["neck_center"] = (float(lowest), float(max(top[lowest], corner_y)))
    return points


def _band_inner_corner(shape: _Shape, side: str, corner: tuple[float, float]) -> tuple[float, float]:
    """The inner end of the shoulder band whose outer top corner is ``corner``: the top of the
    column at the band's inner edge, :data:`STRAP_PROBE` below its top (one pixel inwards of
    ``corner`` where the band runs across the centre line, as on an off-shoulder top)."""
    sign = _side_sign(side)
    x, y = int(corner[0]), int(corner[1])
    probe = min(shape.bottom, int(y + max(2.0, STRAP_PROBE * shape.torso_width)))
    run = shape.run_at(probe, x) or shape.run_at(probe, x - sign * 2)
    inner = x - sign
    if run is not None and not run[0] <= shape.cx <= run[1]:
        inner = run[0] if sign > 0 else run[1]
    column = np.flatnonzero(shape.mask[:, inner])
    return float(inner), float(column[0] if column.size else y)


def _straps(shape: _Shape) -> dict[str, tuple[int, int]]:
    """The runs ``(x0, x1)`` of both shoulder straps just below their tops, by side, or {} when
    the garment at the neck corners is wider than a strap (anything but a strap top)."""
    has = shape.mask.any(axis=0)
    top = np.where(has, shape.mask.argmax(axis=0), shape.bottom)
    straps = {}
    for side, x in zip(("right", "left"), _neck_corners(shape.mask, shape), strict=True):
        y = int(top[x] + max(2.0, STRAP_PROBE * shape.torso_width))
        xs = np.flatnonzero(shape.mask[min(y, shape.bottom)])
        if xs.size == 0:
            return {}
        run = shape.run_at(min(y, shape.bottom), float(xs[np.argmin(np.abs(xs - x))]))
        if run is None or run[1] - run[0] + 1 > STRAP_MAX_WIDTH * shape.torso_width:
            return {}
        straps[side] = run
    return straps


def _find_armpits(
    shape: _Shape, neck_y: float
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float] | None]]:
    """Both armpits, and where a sleeve hanging beside the body parts from it (None elsewhere).

    A side seam traced all the way up has climbed a sleeve hanging beside the body (its armpit is
    at the notch where they part, or hidden above it), or an armhole folded flat. Where one side
    found its armpit and the other climbed to the top without a notch, the other mirrors it (a
    garment photographed from the front is symmetric; tiers and ruffles hide one side's notch).
    Failing that the armpit is put just below the neck.
    """
    lowest = int(neck_y + ARMPIT_MIN_DROP * shape.body_width)
    armpits = {side: _armpit(shape, side) for side in SIDES}
    notches: dict[str, tuple[float, float] | None] = {side: None for side in SIDES}
    for side in SIDES:
        if armpits[side][1] >= lowest and not _on_outer_edge(shape, side, armpits[side]):
            continue  # the trace ended at a sleeve's underside or an armhole
        notch = _sleeve_notch(shape, side, neck_y)
        if notch is not None and (armpits[side][1] < lowest or _climbed_sleeve(shape, side, armpits[side], notch)):
            armpits[side] = notches[side] = notch
    climbed = {side: armpits[side][1] < lowest for side in SIDES}
    for side, other in (SIDES, SIDES[::-1]):
        if climbed[side] and not climbed[other]:
            armpits[side] = _mirrored(shape, side, armpits[other])
            notches[side] = None if notches[other] is None else _mirrored(shape, side, notches[other])
            climbed[side] = False
    row = np.flatnonzero(shape.mask[min(lowest, shape.bottom)])
    for side in SIDES:
        if climbed[side] and row.size:
            armpits[side] = (float(row.max() if _side_sign(side) > 0 else row.min()), float(lowest))
    return armpits, notches


def _mirrored(shape: _Shape, side: str, point: tuple[float, float]) -> tuple[float, float]:
    """``point`` (on the other side) mirrored about the centre line onto the garment's edge on
    ``side`` in its row (the body's run there, else the outermost garment pixel of the row)."""
    x, y = 2 * shape.cx - point[0], point[1]
    run = shape.run_at(int(y), shape.cx)
    xs = np.flatnonzero(shape.mask[int(y)])
    if run is not None:
        x = run[1] if _side_sign(side) > 0 else run[0]
    elif xs.size:
        x = xs.max() if _side_sign(side) > 0 else xs.min()
    return float(np.clip(x, 0, shape.mask.shape[1] - 1)), float(y)


def _sleeve_notch(shape: _Shape, side: str, neck_y: float) -> tuple[float, float] | None:
    """Where a sleeve hanging beside the body joins it, seen from below: ``(x, y)`` on the body's
    side, or None.

    Called when the side seam's trace climbed all the way up the outline (a sleeve hanging beside
    the body, or an armhole folded flat): rows are scanned upwards from the hem, and the top of the
    lowest stretch of rows where a separate run of the garment lies beside the body's run on
    ``side`` (the gap between a hanging sleeve and the body) is returned; a folded armhole has none.
    """
    sign = _side_sign(side)
    torso = shape.body_width
    highest = int(neck_y + ARMPIT_MIN_DROP * torso)
    lowest = min(shape.bottom, int(shape.top + NOTCH_MAX_DROP * torso))
    stretch: list[tuple[int, int]] = []  # (y, the body's edge) of the current stretch, bottom up
    misses = 0
    for y in range(lowest, highest, -1):
        central = shape.run_at(y, shape.cx)
        beside = False
        if central is not None:
            starts, ends = shape.runs(y)
            edge = central[1] if sign > 0 else central[0]
            beside = bool(np.any(starts > edge) if sign > 0 else np.any(ends < edge))
        if beside:
            stretch.append((y, edge))
            misses = 0
            continue
        misses += 1
        if stretch and (misses > NOTCH_GAP_ROWS or central is None):
            if stretch[0][0] - stretch[-1][0] >= NOTCH_MIN_HEIGHT * torso:
                y_top, x_edge = stretch[-1]
                return float(x_edge), float(y_top)
            stretch = []
    return None


def _on_outer_edge(shape: _Shape, side: str, point: tuple[float, float]) -> bool:
    """Whether ``point`` is (within :data:`SIDE_MAX_JUMP`) the garment's outermost in its row."""
    xs = np.flatnonzero(shape.mask[int(point[1])])
    if xs.size == 0:
        return False
    outermost = xs.max() if _side_sign(side) > 0 else xs.min()
    return abs(outermost - point[0]) <= SIDE_MAX_JUMP * shape.body_width


def _climbed_sleeve(
    shape: _Shape, side: str, armpit: tuple[float, float], notch: tuple[float, float]
) -> bool:
    """Whether the side seam's trace ended up on a sleeve's outer edge: its end is the garment's
    outermost point in its row, above ``notch`` and outside it by at least a sleeve's width."""
    (x, y), (notch_x, notch_y) = armpit, notch
    if notch_y <= y or not _on_outer_edge(shape, side, armpit):
        return False
    return _side_sign(side) * (x - notch_x) >= SLEEVE_MIN_REACH * shape.body_width


def _sleeve_above(shape: _Shape, side: str, y: int, edge: int) -> bool:
    """Whether the garment reaches :data:`SLEEVE_MIN_REACH` beyond the body's side ``edge`` on most
    rows above ``y`` (a sleeve hangs there) on ``side``."""
    sign = _side_sign(side)
    torso = shape.body_width
    reach_up = max(SLEEVE_ABOVE_MIN * torso, 0.5 * (y - shape.top))
    rows = np.arange(int(y - reach_up), int(y - SLEEVE_ABOVE_GAP * torso) + 1)
    rows = rows[(rows >= shape.top) & (rows <= shape.bottom)]
    if rows.size == 0:
        return False
    band = shape.mask[rows]
    present = band.any(axis=1)
    outer = np.where(sign > 0, band.shape[1] - 1 - band[:, ::-1].argmax(axis=1), band.argmax(axis=1))
    reach = np.where(present, sign * (outer - edge), 0)
    return float(np.mean(reach >= SLEEVE_MIN_REACH * torso)) >= SLEEVE_ABOVE_SHARE


def _hidden_armpits(
    shape: _Shape,
    armpits: dict[str, tuple[float, float]],
    shoulders: dict[str, tuple[float, float]],
    notches: dict[str, tuple[float, float] | None],
) -> tuple[dict[str, tuple[float, float]], set[str]]:
    """Armpits under sleeves that lie over the body's side, and the sides whose armpit mirrors the
    other's. Where a hanging sleeve parts from the body far below the shoulder is not its armpit, which
    is put at a typical armhole depth (:data:`ARMHOLE_DEPTH`) on the body's side line, no further out
    than the shoulder point; where only one side's side line lies inside its shoulder, the other
    mirrors it. (A deep armhole without a sleeve beside it is left where it is.)"""
    span = abs(shoulders["left"][0] - shoulders["right"][0])
    result = dict(armpits)
    moved, at_shoulder, mirrored = set(), set(), set()
    for side in SIDES:
        (x, y), (sx, sy) = armpits[side], shoulders[side]
        if y - sy <= ARMHOLE_MAX_DEPTH * max(span, shape.body_width):
            continue
        if notches[side] is not None or _sleeve_above(shape, side, int(y), int(x)):
            sign = _side_sign(side)
            if sign * (x - sx) > 0:
                x = sx
                at_shoulder.add(side)
            result[side] = (float(x), float(sy + ARMHOLE_DEPTH * span))
            moved.add(side)
    # Where the parting lay beyond the shoulder (tiers hanging over the body's side hide it), the other
    # side's, inside its shoulder, tells where the body's side is: a front view is symmetric.
    for side, other in (SIDES, SIDES[::-1]):
        if side in at_shoulder and other in moved - at_shoulder:
            sx, sign = shoulders[side][0], _side_sign(side)
            x = 2.0 * shape.cx - result[other][0]
            result[side] = (float(sx if sign * (x - sx) > 0 else x), result[side][1])
            mirrored.add(side)
    return result, mirrored


@dataclasses.dataclass
class _Seam:
    """A side seam traced upwards: its edge x per row since the last restart (bottom up), the
    index of the outermost of them and the row of the last."""

    edges: list[int]
    y_end: int
    best: int = 0

    def restart(self, x: int, y: int) -> None:
        self.edges, self.y_end, self.best = [x], y, 0


def _armpit(shape: _Shape, side: str) -> tuple[float, float]:
    """Where the body's side seam ends at the top: under the sleeve, or the bottom of the armhole.

    The side seam is traced upwards from a torso-wide row low on the body; it ends where the
    outline turns outwards into a sleeve (its underside, or a jump where a hanging sleeve joins the
    body), comes back inwards after widening (a steep armhole) or where the garment beside it
    narrows to a strap. What sticks out from the side without a sleeve above it (a tie, a bow, a
    pocket) and bulges low on the side (a peplum) do not end it.
    """
    sign = _side_sign(side)
    torso = shape.body_width
    y_start = _seam_start(shape)
    if y_start is None:
        return shape.cx + sign * torso / 2, shape.top + 0.3 * shape.height
    run = shape.run_at(y_start, shape.cx)
    seam = _Seam([run[1] if sign > 0 else run[0]], y_start)
    for y in range(y_start - 1, shape.top - 1, -1):
        # The run along the seam; the body's where that is off the garment or a speck beside it
        # (the outline stepped in); none, or a strap's, where the centre line is off the garment.
        run = shape.run_at(y, seam.edges[-1] - sign * max(2, int(0.02 * torso)))
        if run is None or run[1] - run[0] < SIDE_MIN_RUN * torso:
            run = shape.run_at(y, shape.cx)
        if run is None or run[1] - run[0] < SIDE_MIN_RUN * torso:
            break
        if _seam_step(shape, side, y, run[1] if sign > 0 else run[0], seam):
            break
    return float(seam.edges[-1]), float(seam.y_end)


def _seam_step(shape: _Shape, side: str, y: int, x_edge: int, seam: _Seam) -> str:
    """One row of the side seam's trace (see :func:`_armpit`), updating ``seam``; why the trace
    ends there: "" (it goes on up), "armpit" (a sleeve or an armhole) or "top" (a step in, high
    on the side)."""
    sign = _side_sign(side)
    torso = shape.body_width
    high = shape.top + SIDE_ARMPIT_MAX_DEPTH * shape.body_height  # armpits are above this row
    edges = seam.edges
    if abs(x_edge - edges[-1]) > max(3.0, SIDE_MAX_JUMP * torso):
        outwards = sign * (x_edge - edges[-1]) > 0
        if outwards and _sleeve_above(shape, side, y, edges[-1]):
            return "armpit"  # a sleeve hanging beside the body joins it
        if not (y > high or outwards):
            return "top"
        seam.restart(x_edge, y)  # past something sticking out from the side (a tie, a ruffle)
        return ""
    edges.append(x_edge)
    seam.y_end = y
    if sign * x_edge >= sign * edges[seam.best]:
        seam.best = len(edges) - 1
    elif (
        sign * (edges[seam.best] - edges[0]) > SIDE_MAX_INWARD * torso
        and sign * (edges[seam.best] - x_edge) > SIDE_MAX_INWARD * torso
    ):
        y_best = y + len(edges) - 1 - seam.best
        if y_best > high:
            seam.restart(x_edge, y)  # a bulge low on the side (a peplum): restart above it
            return ""
        del edges[seam.best + 1:]  # an armhole curving in: the armpit is the seam's outermost point
        seam.y_end = y_best
        return "armpit"
    # Turning outwards: a sleeve's underside when a sleeve is above, else a kink (a tie, a bow).
    if len(edges) > SIDE_SLOPE_ROWS and sign * (edges[-1] - edges[-1 - SIDE_SLOPE_ROWS]) > (
        SIDE_MAX_SLOPE * SIDE_SLOPE_ROWS
    ):
        back = SIDE_SLOPE_ROWS // 2
        if not _sleeve_above(shape, side, y + back, edges[-1 - back]):
            seam.restart(x_edge, y)
            return ""
        del edges[-back:]  # back to where the turn began
        seam.y_end = y + back
        return "armpit"
    return ""


def _seam_start(shape: _Shape) -> int | None:
    """The row the side seams are traced up from: the lowest torso-wide row (not the point of a
    V-shaped hem, not between straps, not a row through the sleeves of a boxy top) in
    :data:`SIDE_START_ROWS`; None when the body has no row there."""
    first, last = (int(shape.top + fraction * shape.body_height) for fraction in SIDE_START_ROWS)
    rows = np.arange(first, last + 1)
    widths = np.array([(run[1] - run[0]) if (run := shape.run_at(int(y), shape.cx)) else 0 for y in rows])
    if not widths.any():
        return None
    wide = widths >= SIDE_START_MIN_WIDTH * shape.body_width
    return int(rows[wide][-1] if wide.any() else rows[np.argmax(widths)])


def _shoulder(
    mask: np.ndarray,
    torso: float,
    side: str,
    neck: tuple[float, float],
    armpit: tuple[float, float],
    *,
    hanging: bool = False,
) -> tuple[float, float]:
    """Outer end of the shoulder line: where the top outline turns steeply down into the
    sleeve or armhole, searched from beyond any collar out to just beyond the armpit (or, for a
    sleeve that hangs beside the body, as far as the garment reaches: its outer edge turns down
    at the shoulder).

    ``mask`` is the whole garment (with any inner back), whose top outline is the shoulders'.
    """
    sign = _side_sign(side)
    width = mask.shape[1]
    window = max(4, int(SHOULDER_WINDOW * torso))
    columns_any = mask.any(axis=0)
    outermost = (width - 1 - int(columns_any[::-1].argmax())) if sign > 0 else int(columns_any.argmax())
    limit = outermost if hanging else armpit[0] + sign * SHOULDER_OUTSET * torso
    xs = np.arange(int(neck[0]) + sign, int(limit) + sign * (window + 1), sign)
    xs = xs[(xs >= 0) & (xs < width)]
    if xs.size <= window:
        return armpit[0], neck[1]
    columns = mask[:, xs]
    present = columns.any(axis=0)
    top = np.where(present, columns.argmax(axis=0), mask.shape[0]).astype(np.float32)
    searched = int(np.sum(sign * (xs - limit) <= 0))
    first = _collar_end(top, torso)
    for i in range(first, min(searched, xs.size - window)):
        if top[i + window] - top[i] > SHOULDER_STEEP_SLOPE * window:
            return float(xs[i]), float(top[i])
    i = max(0, min(searched, xs.size) - 1)
    return float(xs[i]), float(top[i])


def _collar_end(top: np.ndarray, torso: float) -> int:
    """Index into ``top`` (the outline's top row per column, from the neck corner outwards) where
    the shoulder line starts: past a collar's or stand collar's steep side (0 when there is none).

    A collar's side drops steeply within :data:`COLLAR_MAX_WIDTH` of the neck corner (which may sit
    on the collar's top, or at its inner edge), by at most :data:`COLLAR_MAX_DROP`, onto the gentle
    shoulder line; an armhole's drop goes on down and a sleeve starts further out.
    """
    window = max(2, int(COLLAR_WINDOW * torso))
    if top.size <= 2 * window:
        return 0
    slopes = (top[window:] - top[:-window]) / window
    steep = np.flatnonzero(slopes > SHOULDER_LINE_SLOPE)
    if steep.size == 0 or steep[0] > COLLAR_MAX_WIDTH * torso:
        return 0
    gentle = steep[0] + np.flatnonzero(slopes[steep[0]:] <= SHOULDER_LINE_SLOPE)
    if gentle.size == 0 or top[gentle[0]] - top[steep[0]] > COLLAR_MAX_DROP * torso:
        return 0
    return int(gentle[0])


def _sleeve_region(
    shape: _Shape,
    shoulder: tuple[float, float],
    armpit: tuple[float, float],
    side: str,
    notch: tuple[float, float] | None = None,
) -> np.ndarray:
    """The sleeve on ``side``: mask pixels beyond the shoulder-armpit line down to the armpit,
    beyond the body's side line from the armpit down to ``notch`` (where a sleeve lying over the
    body's side parts from it), plus any part below that hangs separate from the body (a long
    sleeve). For a sleeveless garment this is only a sliver of the armhole."""
    mask = shape.mask
    sign = _side_sign(side)
    ys = np.arange(mask.shape[0], dtype=np.float32)[:, None]
    xs = np.arange(mask.shape[1], dtype=np.float32)[None, :]
    upper = mask & _beyond_line(xs, ys, shoulder, armpit, sign) & (ys <= armpit[1])
    low = armpit[1]
    if notch is not None and notch[1] > armpit[1]:
        upper |= mask & _beyond_line(xs, ys, armpit, notch, sign) & (ys > armpit[1]) & (ys <= notch[1])
        low = notch[1]
    below = mask & (ys > low)
    count, labels, _, centroids = cv2.connectedComponentsWithStats(below.astype(np.uint8), connectivity=8)
    body_labels = set(np.unique(labels[:, round(shape.cx)]).tolist()) | {0}
    near_upper = cv2.dilate(upper.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    hanging = np.zeros(count, bool)
    for label in set(np.unique(labels[near_upper]).tolist()) - body_labels:
        hanging[label] = sign * (centroids[label][0] - shape.cx) > 0
    return upper | hanging[labels]


def _beyond_line(
    xs: np.ndarray, ys: np.ndarray, a: tuple[float, float], b: tuple[float, float], sign: int
) -> np.ndarray:
    """Pixels on the far side (away from the centre, ``sign`` +1 = image right) of the line a-b."""
    nx, ny = b[1] - a[1], -(b[0] - a[0])
    if nx * sign < 0:
        nx, ny = -nx, -ny
    return (xs - a[0]) * nx + (ys - a[1]) * ny > 0


def _sleeve_end(
    sleeve: np.ndarray, shoulder: tuple[float, float], armpit: tuple[float, float]
) -> tuple[float, float]:
    """Centre of the cuff: midway between the sleeve's two far corners along its axis.

    The axis runs from the middle of the armhole (shoulder-armpit) to the sleeve's centroid;
    the far corners maximise distance along the axis plus or minus distance across it.
    """
    ys, xs = np.nonzero(sleeve)
    origin = (np.asarray(shoulder) + np.asarray(armpit)) / 2
    axis = np.array([xs.mean(), ys.mean()]) - origin
    axis /= max(float(np.linalg.norm(axis)), 1e-6)
    along = (xs - origin[0]) * axis[0] + (ys - origin[1]) * axis[1]
    across = -(xs - origin[0]) * axis[1] + (ys - origin[1]) * axis[0]
    corner_a = int(np.argmax(along + across))
    corner_b = int(np.argmax(along - across))
    end = np.array([xs[corner_a] + xs[corner_b], ys[corner_a] + ys[corner_b]], np.float64) / 2
    # A curved cuff (a puff's) can put the midpoint off the sleeve: the nearest sleeve pixel then.
    if not sleeve[round(end[1]), round(end[0])]:
        nearest = int(np.argmin((xs - end[0]) ** 2 + (ys - end[1]) ** 2))
        end = np.array([xs[nearest], ys[nearest]], np.float64)
    return float(end[0]), float(end[1])


def _sleeve_length_name(length: float, reference: float) -> str:
    """One of :data:`SLEEVE_LENGTHS` from the shoulder-to-cuff length against the garment's size
    (see :data:`SLEEVE_SHORT_MAX`)."""
    if length <= 0:
        return "none"
    ratio = length / max(reference, 1.0)
    if ratio <= SLEEVE_SHORT_MAX:
        return "short"
    if ratio <= SLEEVE_THREE_QUARTER_MAX:
        return "three_quarter"
    return "long"


def _hem_corners(shape: _Shape) -> dict[str, tuple[float, float]]:
    """Outer corners of the lowest row that is still torso-wide (ties and straps hang below)."""
    counts = shape.mask.sum(axis=1)
    wide = np.flatnonzero(counts >= HEM_MIN_WIDTH * shape.torso_width)
    hem_y = int(wide.max()) if wide.size else shape.bottom
    y = max(shape.top, int(hem_y - HEM_INSET * shape.height))
    xs = np.flatnonzero(shape.mask[y])
    return {"hem_left": (float(xs.max()), float(y)), "hem_right": (float(xs.min()), float(y))}


def _dress_waist(
    shape: _Shape, keypoints: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Waist corners of a dress: the narrowest body row in the upper part between the armpits (or
    the front neckline, when deeper) and the hem."""
    top = int(max(keypoints["armpit_left"][1], keypoints["armpit_right"][1], keypoints["neck_center"][1])) + 1
    bottom = int(keypoints["hem_left"][1])
    rows = np.arange(top, top + int(DRESS_WAIST_SPAN * max(1, bottom - top)))
    best, best_width = None, np.inf
    for y in rows:
        run = shape.run_at(int(y), shape.cx)
        if run is not None and run[1] - run[0] < best_width:
            best, best_width = (int(y), run), run[1] - run[0]
    if best is None:
        return {}
    y, (x0, x1) = best
    return {"waist_left": (float(x1), float(y)), "waist_right": (float(x0), float(y))}


def _lower_keypoints(shape: _Shape) -> tuple[dict[str, tuple[float, float]], dict[str, np.ndarray]]:
    """Waist corners, crotch, leg openings (trousers) or hem corners (skirts), and leg masks.

    Where the legs touch below the crotch (photographed together), the visible gap starts
    low; the crotch is then put at a typical rise below the waist and the legs are split
    along the centre line down to the gap.
    """
    mask = shape.mask
    keypoints: dict[str, tuple[float, float]] = {}
    y_waist = int(shape.top + WAIST_INSET * shape.height)
    while not mask[y_waist].any():  # a gap right below the top (a detached belt loop)
        y_waist += 1
    xs = np.flatnonzero(mask[y_waist])
    keypoints["waist_left"] = (float(xs.max()), float(y_waist))
    keypoints["waist_right"] = (float(xs.min()), float(y_waist))
    crotch = _crotch(shape)
    if crotch is None or crotch[2] < LEG_GAP_MIN_FRAC:
        y = int(shape.bottom - HEM_INSET * shape.height)
        xs = np.flatnonzero(mask[y])
        keypoints["hem_left"] = (float(xs.max()), float(y))
        keypoints["hem_right"] = (float(xs.min()), float(y))
        return keypoints, {"body": mask.copy()}

    x_gap, y_gap, _ = crotch
    y_crotch = min(y_gap + 1, shape.top + CROTCH_MAX_RISE * shape.height)
    keypoints["crotch"] = (x_gap, float(y_crotch))
    below = mask.copy()
    below[: int(y_crotch) + 1] = False
    below[:, int(x_gap)] = False  # the centre line separates legs that touch
    _, labels, stats, centroids = cv2.connectedComponentsWithStats(below.astype(np.uint8), connectivity=4)
    legs = {}
    for label in np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1][:2] + 1:
        legs["left" if centroids[label][0] > x_gap else "right"] = labels == label
    if len(legs) == 2:
        # What the cut left below the crotch (the centre line, specks) joins the leg on its side.
        leftover = mask & ~legs["left"] & ~legs["right"]
        leftover[: int(y_crotch) + 1] = False
        image_right = np.arange(mask.shape[1])[None, :] >= x_gap
        legs["left"] |= leftover & image_right
        legs["right"] |= leftover & ~image_right
    parts = {"body": mask.copy()}
    for side, leg in legs.items():
        parts[f"leg_{side}"] = leg
        parts["body"] &= ~leg
        ys, xs = np.nonzero(leg)
        low = ys >= ys.max() - LEG_END_SHARE * shape.height
        keypoints[f"leg_end_{side}"] = (float(xs[low].mean()), float(ys.max()))
        outer = xs[low].max() if _side_sign(side) > 0 else xs[low].min()
        keypoints[f"hem_{side}"] = (float(outer), float(ys[low][xs[low] == outer].mean()))
    return keypoints, parts

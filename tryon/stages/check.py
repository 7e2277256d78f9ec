"""An honest self-check of a rendered try-on: it measures the picture, not the request.

Input: the person photo and the result (RGB ``uint8 (H, W, 3)``), the pixels that show the new garment
(``bool (H, W)``), the body analysis (with its person model), the garment analysis and, when there was
one, the parsed description.
Output: :class:`ResultCheck`: what was measured, and the problems found in a shopper's words.

What is measured (every figure on the result's pixels):

* **old garment left over**: along each arm below where the new garment's sleeve ends, and along the
  legs below a dress's or skirt's hem, the arm's or leg's core should look like this person's skin
  (their own skin-colour model); where it does not, the old sleeves or trouser legs probably still show;
* **coverage**: the part of the body every garment of the category covers (the chest for tops, the
  thighs for trousers and skirts, both for dresses) is covered by the new garment;
* **sleeve length**: how far down each arm the new garment reaches, as a share of the arm, against the
  garment photo's sleeve length and the description's;
* **colour**: the garment's main colours on the result against the described colour (CIEDE2000);
* **painted skin**: how much skin the result shows where the photo showed none (skin the renderer had
  to make up, its weakest part), over the whole person and at the neck and shoulders (where fills meet
  the face, the hair and the new neckline), and whether the pose (seated, arms crossed) is one the warp
  handles badly;
* **ragged edges**: how far, on average, the new garment's outline strays from the same outline smoothed
  over a few hundredths of the body (torn edges, slivers and pieces stray; a clean hem or seam does not;
  the fingers of a hand in front of the garment cut it in their own shape, and are not counted).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from . import masks
from .landmarks import (
    LEFT_ANKLE,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    RIGHT_ANKLE,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    VISIBLE_MIN,
)

if TYPE_CHECKING:
    from .body import BodyAnalysis
    from .garment import GarmentAnalysis

SLEEVE_ORDER = ("none", "short", "three_quarter", "long")
# Sleeve lengths as a shopper says them: how the sleeves look, and what the garment has.
SLEEVES_LOOK = {"none": "missing", "short": "short", "three_quarter": "three-quarter length", "long": "long"}
GARMENT_HAS = {"none": "the garment is sleeveless", "short": "the garment's are short",
               "three_quarter": "the garment's are three-quarter length", "long": "the garment's are long"}


@dataclasses.dataclass(frozen=True)
class CheckRules:
    """Thresholds of the self-check (``_share``: of the measured pixels or of a limb's length)."""

    station_share: float = 0.04  # stations down a limb, this share of its length apart
    core_share: float = 0.7  # a limb's core: this share of the bare limb's radius around the bone
    min_core_pixels: int = 40  # fewer visible core pixels than this: not measured
    skin_share_min: float = 0.55  # below the new garment, at least this share of a limb's core looks like skin
    skin_weak_sq: float = 22.0  # Mahalanobis distance (squared) to the skin model that still counts as skin
    below_margin_share: float = 0.08  # the core is judged from this far below the garment's end...
    leg_end_share: float = 0.85  # ...down to this share of a leg (hip to ankle; socks and shoes below)
    coverage_min: float = 0.85  # the region every garment of the category covers is covered this much
    chest_tl: tuple[float, float] = (0.15, 0.55)  # depths (torso lengths) of the chest a top covers
    chest_half_u: float = 0.3  # half-width of that chest region (body units)
    thigh_share: tuple[float, float] = (0.15, 0.5)  # of hip -> knee: the thigh every bottom covers
    # Sleeve lengths as the share of the arm (shoulder -> elbow -> wrist) the garment covers: below
    # the first bound "none", then "short", "three_quarter", and from the last bound "long".
    sleeve_bounds: tuple[float, float, float] = (0.12, 0.55, 0.85)
    sleeve_covered_share: float = 0.5  # a station is covered when this share of its core is garment
    colour_delta_e_max: float = 20.0  # CIEDE2000 from the described colour to the nearest main colour
    # Skin the renderer made up (where the photo showed none), as a share of the person, above which
    # the result is flagged: painted skin is the warp renderer's weakest part.
    painted_skin_max: float = 0.04
    # Painted skin at the neck and shoulders (above neck_zone_tl torso lengths down), in square body units,
    # above which the result is flagged: fills there meet the face, the hair and the new neckline, and
    # show as patches where the old top rose higher than the new one.
    neck_zone_tl: float = 0.25
    painted_neck_max_u2: float = 0.06
    # The garment's outline against itself smoothed over this share of the body unit (Gaussian sigma): the
    # mean distance between the two (area between them per outline pixel), in body units, above which
    # the edges look ragged. On the 64 evaluation results, those labelled acceptable measure 0.0007-0.0014
    # (one 0.0018); the torn and pieced ones up to 0.0029.
    ragged_sigma_u: float = 0.03
    ragged_max_u: float = 0.0015
    ragged_hand_reach_u: float = 0.02  # ...not measured within a finger's half width of the hands (cut in their shape)
    seated_thigh_sin: float = 0.6  # a thigh this far from the torso's axis (sine of the angle): seated
    crossed_reach_u: float = 0.1  # each wrist this far past the body's middle (body units): arms crossed
    palette_colours: int = 4
    palette_min_share: float = 0.15
    palette_samples: int = 4000


RULES = CheckRules()


@dataclasses.dataclass(frozen=True)
class ResultCheck:
    """The self-check's verdict on one result.

    Attributes:
        ok: no problem was found.
        problems: what is probably wrong, each a sentence a shopper understands.
        measures: the figures behind it (shares in [0, 1], sleeve lengths by name, ΔE), for the flag
            store and the evaluation; values are None where nothing could be measured.
    """

    ok: bool
    problems: tuple[str, ...]
    measures: dict[str, Any]

    @property
    def summary(self) -> str:
        if self.ok:
            return "Self-check passed: the result looks like the garment on your body."
        return "Self-check: " + " ".join(self.problems)


def check_result(
    person: np.ndarray, image: np.ndarray, garment_mask: np.ndarray, body: BodyAnalysis,
    garment: GarmentAnalysis, category: str, spec: Any = None,
) -> ResultCheck:
    """Measure the rendered ``image`` (see the module docstring).

    Args:
        person: RGB uint8 ``(H, W, 3)``, the input photo (its skin model is in ``body``).
        image: RGB uint8 ``(H, W, 3)``, the result.
        garment_mask: bool ``(H, W)``, the result's pixels that show the new garment.
        body: the person's :class:`~tryon.stages.body.BodyAnalysis` (with its person model).
        garment: the :class:`~tryon.stages.garment.GarmentAnalysis` that was rendered.
        category: "upper", "lower" or "dress".
        spec: the parsed description (with ``colours`` as ``(name, sRGB)`` and ``sleeve``), or None.
    """
    garment_mask = np.asarray(garment_mask, bool)
    skin_like = _skin_like(body, image)
    measures: dict[str, Any] = {}
    problems: list[str] = []
    sleeves = [_sleeve_share(body, garment_mask, side) for side in ("left", "right")]
    if category in ("upper", "dress"):
        # An open jacket kept over the new garment covers the arms on purpose (the result says so).
        kept_outer = body.person.clothing.outer is not None
        residue = None if kept_outer else _arm_residue(body, garment_mask, skin_like, sleeves)
        measures["arm_skin_share"] = residue
        if residue is not None and residue < RULES.skin_share_min:
            problems.append("The old sleeves may still show on the arms.")
        measured = _sleeve_name(sleeves)
        measures["sleeve_measured"] = measured
        expected = spec.sleeve if spec is not None and getattr(spec, "sleeve", None) else garment.sleeve
        measures["sleeve_expected"] = expected
        if measured is not None and expected in SLEEVE_ORDER and _far(measured, expected):
            problems.append(f"The sleeves look {SLEEVES_LOOK[measured]} on you, but {GARMENT_HAS[expected]}.")
    if category in ("lower", "dress"):
        legs = _leg_residue(body, garment_mask, skin_like)
        measures["leg_skin_share"] = legs
        if legs is not None and legs < RULES.skin_share_min:
            problems.append("The old trousers may still show on the legs below the new garment.")
    coverage = _coverage(body, garment_mask, category)
    measures["coverage"] = coverage
    if coverage is not None and coverage < RULES.coverage_min:
        problems.append("Parts of the garment may be missing on the body.")
    painted_mask = _painted_skin(body, person, image, skin_like & ~garment_mask)
    painted = float(np.count_nonzero(painted_mask) / max(int(body.person_mask.sum()), 1))
    measures["painted_skin_share"] = painted
    if painted > RULES.painted_skin_max:
        problems.append("Skin the old clothes covered had to be painted in: it may look flat.")
    frame = body.person.frame
    neck = float(np.count_nonzero(painted_mask & (frame.depth_map_tl() < RULES.neck_zone_tl))) / frame.unit_px**2
    measures["painted_neck_u2"] = neck
    if neck > RULES.painted_neck_max_u2:
        problems.append("The skin at your neck and shoulders was painted in where the old top covered it: "
                        "it may look patchy.")
    ragged = _raggedness(garment_mask, body.person.frame.unit_px, body.regions.union(("hand_left", "hand_right")))
    measures["ragged_edges_u"] = ragged
    if ragged is not None and ragged > RULES.ragged_max_u:
        problems.append("The garment's edges may look ragged or torn.")
    pose = _unusual_pose(body)
    measures["pose"] = pose
    if pose is not None:
        problems.append(f"The pose ({pose}) is hard for this renderer: the garment may not follow the body.")
    if spec is not None and getattr(spec, "colours", None):
        de = _colour_delta_e(image, garment_mask, spec.colours)
        measures["colour_delta_e"] = de
        if de is not None and de > RULES.colour_delta_e_max:
            problems.append("The colour may not match your description.")
    return ResultCheck(ok=not problems, problems=tuple(problems), measures=measures)


def _raggedness(garment_mask: np.ndarray, unit: float, hands: np.ndarray | None = None) -> float | None:
    """Mean distance (body units) between the garment's outline and that outline smoothed over
    :attr:`CheckRules.ragged_sigma_u`: the area between the two per outline pixel. None without a garment.
    Not along ``hands`` (bool ``(H, W)``): fingers in front of the garment cut it in their own shape."""
    if unit <= 0 or not garment_mask.any():
        return None
    edge = cv2.morphologyEx(garment_mask.view(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool)
    stray = garment_mask ^ masks.smooth_outline(garment_mask, RULES.ragged_sigma_u * unit)
    if hands is not None and hands.any():
        near = masks.dilate(hands, RULES.ragged_hand_reach_u * unit)
        edge, stray = edge & ~near, stray & ~near
    return float(np.count_nonzero(stray)) / max(int(np.count_nonzero(edge)), 1) / unit


def _skin_like(body: BodyAnalysis, image: np.ndarray) -> np.ndarray:
    """Where ``image`` (RGB uint8 ``(H, W, 3)``) looks like this person's skin, bool ``(H, W)``; worked
    out on the person's bounding box only (every measure here looks inside the person)."""
    out = np.zeros(body.size, bool)
    if not body.person_mask.any():
        return out
    x, y, w, h = cv2.boundingRect(body.person_mask.view(np.uint8))
    box = (slice(y, y + h), slice(x, x + w))
    out[box] = body.skin_distance_sq(np.ascontiguousarray(image[box])) < RULES.skin_weak_sq
    return out


def _painted_skin(body: BodyAnalysis, person: np.ndarray, image: np.ndarray, skin_like: np.ndarray) -> np.ndarray:
    """Where the result shows skin (``skin_like``: off the new garment) and the photo showed none: skin the
    renderer had to make up (a bared arm, midriff, leg or neck); bool ``(H, W)``."""
    ys, xs = np.nonzero(skin_like & body.person_mask)
    changed = np.any(image[ys, xs] != person[ys, xs], axis=1)
    ys, xs = ys[changed], xs[changed]
    painted = np.zeros(skin_like.shape, bool)
    if len(ys):
        # The photo's colours are looked up only where skin shows that the renderer changed.
        was_skin = body.skin_distance_sq(person[ys, xs][None])[0] < RULES.skin_weak_sq
        painted[ys[~was_skin], xs[~was_skin]] = True
    return painted


def _unusual_pose(body: BodyAnalysis) -> str | None:
    """A pose the warp renderer handles badly, named, or None: seated (thighs far from upright) or
    arms crossed in front of the body (both wrists past the body's middle)."""
    frame = body.person.frame
    lm = frame.landmarks
    thighs = [lm[knee] - lm[hip] for hip, knee in ((LEFT_HIP, LEFT_KNEE), (RIGHT_HIP, RIGHT_KNEE))
              if body.visibility[[hip, knee]].min() >= VISIBLE_MIN]
    if thighs and max(abs(float(np.dot(t, frame.across))) / max(float(np.linalg.norm(t)), 1e-6)
                      for t in thighs) > RULES.seated_thigh_sin:
        return "seated"
    wrists = [(LEFT_WRIST, 1.0), (RIGHT_WRIST, -1.0)]
    if all(body.visibility[w] >= VISIBLE_MIN for w, _ in wrists) and all(
        sign * float(np.dot(lm[w] - frame.mid_shoulder, frame.across)) < -RULES.crossed_reach_u * frame.unit_px
        for w, sign in wrists
    ):
        return "arms crossed"
    return None


def _far(measured: str, expected: str) -> bool:
    """Sleeve lengths more than one step apart (short vs three-quarter is not a mistake worth a flag)."""
    return abs(SLEEVE_ORDER.index(measured) - SLEEVE_ORDER.index(expected)) > 1


def _stations(chain: tuple[np.ndarray, ...], count: int) -> list[tuple[float, np.ndarray]]:
    """``(share of the chain's length, point)`` at ``count`` + 1 even steps down a joint chain."""
    lengths = [float(np.linalg.norm(b - a)) for a, b in itertools.pairwise(chain)]
    total = max(sum(lengths), 1e-6)
    out = []
    for share in np.linspace(0.0, 1.0, count + 1):
        at, i = share * total, 0
        while i < len(lengths) - 1 and at > lengths[i]:
            at -= lengths[i]
            i += 1
        out.append((float(share), chain[i] + (chain[i + 1] - chain[i]) * (at / max(lengths[i], 1e-6))))
    return out


def _core_disc(size: tuple[int, int], point: np.ndarray, radius: float) -> tuple[slice, slice, np.ndarray]:
    """A disc's bounding box and mask (bool) around ``point``."""
    h, w = size
    r = max(1, round(radius))
    x, y = round(float(point[0])), round(float(point[1]))
    y0, y1, x0, x1 = max(0, y - r), min(h, y + r + 1), max(0, x - r), min(w, x + r + 1)
    if y1 <= y0 or x1 <= x0:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0), bool)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return slice(y0, y1), slice(x0, x1), (yy - y) ** 2 + (xx - x) ** 2 <= r * r


def _limb_profile(
    body: BodyAnalysis, limb: str, masks: tuple[np.ndarray, ...]
) -> list[tuple[float, int, list[int]]]:
    """Down ``limb`` ("arm_left", ...): per station, its share of the limb, the visible core pixels and
    how many of them each of ``masks`` holds."""
    model = body.person
    chain = model.frame.chain(limb)
    total = sum(float(np.linalg.norm(b - a)) for a, b in itertools.pairwise(chain))
    count = max(2, round(1.0 / RULES.station_share))
    person = body.person_mask
    stations = _stations(chain, count)
    radii = RULES.core_share * model.shape.limb_radii_px(limb, np.array([share * total for share, _ in stations]))
    rows = []
    for (share, point), radius in zip(stations, radii, strict=True):
        ys, xs, disc = _core_disc(body.size, point, float(radius))
        core = disc & person[ys, xs]
        rows.append((share, int(core.sum()), [int((core & m[ys, xs]).sum()) for m in masks]))
    return rows


def _sleeve_share(body: BodyAnalysis, garment_mask: np.ndarray, side: str) -> float | None:
    """How far down arm ``side`` (share of its length) the garment covers it without a break, or None
    when the arm is not seen."""
    joints = [LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST] if side == "left" else [RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST]
    chain_visibility = body.visibility[joints]
    if chain_visibility.min() < VISIBLE_MIN or body.person is None:
        return None
    reached = 0.0
    for share, core, (covered,) in _limb_profile(body, f"arm_{side}", (garment_mask,)):
        if core < RULES.min_core_pixels // 4:
            continue  # hidden here (behind the body): it says nothing
        if covered < RULES.sleeve_covered_share * core:
            break
        reached = share
    return reached


def _sleeve_name(shares: list[float | None]) -> str | None:
    seen = [s for s in shares if s is not None]
    if not seen:
        return None
    share = max(seen)
    index = int(np.searchsorted(RULES.sleeve_bounds, share, side="right"))
    return SLEEVE_ORDER[index]


def _arm_residue(
    body: BodyAnalysis, garment_mask: np.ndarray, skin_like: np.ndarray, sleeves: list[float | None]
) -> float | None:
    """The share of the arms' cores below the new sleeves (down to the wrists) that looks like skin."""
    core = skin = 0
    for side, reached in zip(("left", "right"), sleeves, strict=True):
        if reached is None:
            continue
        start = reached + RULES.below_margin_share
        profile = _limb_profile(body, f"arm_{side}", (garment_mask, skin_like & ~garment_mask))
        for share, pixels, (covered, skin_count) in profile:
            if share >= start:
                core += pixels - covered
                skin += skin_count
    return None if core < RULES.min_core_pixels else skin / core


def _leg_residue(body: BodyAnalysis, garment_mask: np.ndarray, skin_like: np.ndarray) -> float | None:
    """The share of the legs' uncovered cores below the new garment's hem (down to the socks and shoes)
    that looks like skin, or None when the garment covers the legs that far or they are not seen. The
    hem is where the garment last covers a leg's core going down (a top that stays may hang over the
    garment's waistband above it)."""
    uncovered_skin = skin_like & ~garment_mask
    core = skin = 0
    legs = (("leg_left", (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE)), ("leg_right", (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE)))
    for limb, joints in legs:
        if body.visibility[list(joints)].min() < VISIBLE_MIN:
            continue
        profile = [row for row in _limb_profile(body, limb, (garment_mask, uncovered_skin))
                   if row[0] <= RULES.leg_end_share]  # socks and shoes below
        covered = [i for i, (_, pixels, (on, _)) in enumerate(profile)
                   if pixels and on >= RULES.sleeve_covered_share * pixels]
        if not covered:
            continue
        hem = profile[covered[-1]][0] + RULES.below_margin_share
        for share, pixels, (on, skin_count) in profile:
            if share >= hem:
                core += pixels - on
                skin += skin_count
    return None if core < RULES.min_core_pixels else skin / core


def _coverage(body: BodyAnalysis, garment_mask: np.ndarray, category: str) -> float | None:
    """The share of the body every garment of ``category`` covers that the result's garment covers
    (what is in front of it, face, hair and hands, left out)."""
    frame = body.person.frame
    region = np.zeros(body.size, bool)
    if category in ("upper", "dress"):
        # The chest: a rectangle in the torso's frame (drawn, not tested pixel by pixel over the whole photo).
        half = RULES.chest_half_u * frame.unit_px
        corners = [frame.mid_shoulder + depth * frame.torso_px * frame.down + side * half * frame.across
                   for depth, side in ((RULES.chest_tl[0], -1), (RULES.chest_tl[0], 1), (RULES.chest_tl[1], 1),
                                       (RULES.chest_tl[1], -1))]
        canvas = np.zeros(body.size, np.uint8)
        cv2.fillConvexPoly(canvas, np.round(np.array(corners)).astype(np.int32), 1)
        region |= canvas.astype(bool)
    if category in ("lower", "dress"):
        for hip, knee, limb in ((LEFT_HIP, LEFT_KNEE, "leg_left"), (RIGHT_HIP, RIGHT_KNEE, "leg_right")):
            if body.visibility[[hip, knee]].min() < VISIBLE_MIN:
                continue
            a, b = frame.landmarks[hip], frame.landmarks[knee]
            canvas = np.zeros(body.size, np.uint8)
            p0, p1 = a + RULES.thigh_share[0] * (b - a), a + RULES.thigh_share[1] * (b - a)
            radius = RULES.core_share * body.person.shape.limb_radius_px(limb, float(np.linalg.norm(b - a)) * 0.3)
            cv2.line(canvas, tuple(int(v) for v in np.round(p0)), tuple(int(v) for v in np.round(p1)), 1,
                     max(1, round(2 * radius)))
            region |= canvas.astype(bool)
    in_front = body.regions["face_hair"] | body.regions["hand_left"] | body.regions["hand_right"]
    region &= body.person_mask & ~in_front
    if region.sum() < RULES.min_core_pixels:
        return None
    return float((garment_mask & region).sum() / region.sum())


def _colour_delta_e(image: np.ndarray, garment_mask: np.ndarray, colours: Any) -> float | None:
    """The worst CIEDE2000 from a described colour to the nearest of the garment's main colours on
    the result (the white of red gingham is no mismatch: each described colour needs one match)."""
    pixels = image[garment_mask]
    if len(pixels) < RULES.min_core_pixels:
        return None
    pixels = pixels[np.linspace(0, len(pixels) - 1, min(len(pixels), RULES.palette_samples)).astype(int)]
    lab = rgb2lab(pixels[None, :, :].astype(np.float32) / 255.0)[0].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 0.5)
    cv2.setRNGSeed(0)
    k = min(RULES.palette_colours, len(lab))
    _, labels, centres = cv2.kmeans(lab, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    shares = np.bincount(labels.ravel(), minlength=k) / len(lab)
    main = centres[shares >= RULES.palette_min_share]
    if not len(main):
        main = centres[[int(np.argmax(shares))]]
    worst = 0.0
    for _, rgb in colours:
        target = rgb2lab(np.asarray(rgb, np.float32).reshape(1, 1, 3) / 255.0).reshape(1, 3)
        worst = max(worst, float(deltaE_ciede2000(np.repeat(target, len(main), 0), main).min()))
    return round(worst, 1)

"""Draw a product photo of a garment from a description (text-only try-on).

Input: a :class:`tryon.stages.text.GarmentSpec`.
Output: RGB ``uint8`` ``(H, W, 3)``: one garment, front view, flat-laid on a clean white
background, as in a shop's product photo, so that :func:`tryon.stages.garment.analyze_garment`
can segment it, classify it and find its keypoints like any uploaded photo.

The garment is built from a shape template in *garment units* (torso or waist width = 1),
chosen by category, garment type, sleeve and length: tee, three-quarter and long-sleeve
tops, tank, shirt collar, trousers and jeans (two legs below a crotch), shorts, skirt
(plain or pleated), and mini/midi/maxi dresses. The template is scaled to fit the canvas,
filled with a procedural fabric (solid, stripes, checks, dots, denim twill, floral, graphic
print) and shaded (fabric grain, darker edges, soft folds, seams, pleats) so a warped
result still shows texture.

Proportions follow the eval set's product photos as the garment stage measures them (neck
width, shoulder span, armhole depth, sleeve angle, length), and lengths are set so that the
warp stage, which scales a top or dress by its shoulder span and trousers or a skirt by the
waist, puts the hem where the words say: a regular top at the hip joints, a mini dress at
mid-thigh, a midi below the knee, a maxi near the ankle, trousers at the ankle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import cv2
import numpy as np

from ..errors import TryOnError
from .garment import GarmentAnalysis
from .text import GarmentSpec, rgb_to_lab

DEFAULT_SIZE = (1024, 768)  # (height, width), px: portrait, like most product photos
BACKGROUND = 255
FIT_MARGIN = 0.86  # the garment fills this share of the canvas' limiting side...
MAX_UNIT = 0.46  # ... but one garment unit (torso or waist width) is at most this share of the width
SUPERSAMPLE = 2  # polygons are drawn at this scale and averaged down (anti-aliasing)

# Fabric look (fractions of the base colour's brightness).
GRAIN_SIGMA = 0.035  # per-pixel noise
THREAD_AMPLITUDE = 0.025  # fine weave
EDGE_DARKEN = 0.14  # darkening at the outline...
EDGE_WIDTH_UNITS = 0.06  # ... over this distance (garment units)
FOLD_DARKEN = 0.06
SEAM_DARKEN = 0.28
STITCH_DARKEN = 0.22
INNER_BACK_DARKEN = 0.78  # the inside of the back neck, seen through the neckline

# Default colours when the description names none.
DEFAULT_RGB = (128, 128, 132)
DENIM_RGB = (72, 100, 150)
FLORAL_GROUND = (244, 236, 212)  # cream, the usual ground of a flower print
LIGHT_SECOND = (246, 246, 243)
DARK_SECOND = (26, 36, 72)
LIGHT_BASE_L = 70.0  # CIELAB L above which a contrasting second colour is dark

# Template proportions, garment units (torso width = 1 for tops and dresses, waist = 1 below).
NECK_HALF_WIDTH = 0.23
SHOULDER_HALF_WIDTH = 0.56
SHOULDER_DROP = 0.12
STRAP_HALF_WIDTH = 0.44  # sleeveless tops and dresses: wide shoulder straps (a shell, not spaghetti straps)
ARMPIT_DEPTH = 0.66
# Top lengths (neck to hem) are in shoulder spans, as the warp scales a top by its shoulders (or straps).
TORSO_LENGTH = {"cropped": 1.07, "regular": 1.79, "long": 2.23}
NECK_DEPTH = {
    "crew": 0.12,
    "v_neck": 0.36,
    "scoop": 0.24,
    "square": 0.22,
    "boat": 0.06,
    "collar": 0.16,
    "turtleneck": 0.0,
    "hood": 0.14,
    "off_shoulder": 0.06,
    "strapless": 0.03,
    "halter": 0.3,
}
BACK_NECK_DEPTH = 0.05
OFF_SHOULDER = ("off_shoulder", "strapless")  # necklines straight across the top, off the shoulders
TUBE_BAND = 0.12  # a strapless top's gathered band at the top, of its length
# sleeve: (length x shoulder width, cuff width, angle below horizontal in degrees)
# Lengths sit mid-way in the garment stage's sleeve bins (shoulder-to-cuff over shoulder width).
SLEEVE_SHAPES = {"short": (0.5, 0.4, 48.0), "three_quarter": (1.15, 0.3, 62.0), "long": (1.6, 0.24, 72.0)}
# Dresses hang their sleeves closer to the body (a dress photo stays much longer than wide).
DRESS_SLEEVE_ANGLE = {"short": 45.0, "three_quarter": 68.0, "long": 76.0}
DRESS_ARMPIT_DEPTH = 0.6
SLEEVE_CLEARANCE = 0.05  # the cuff's inner corner stays this far outside the armpit (units)
# Dress lengths are in shoulder spans: the warp scales a top or dress by its shoulders (or straps).
DRESS_LENGTH = {"mini": 2.55, "midi": 3.65, "maxi": 4.25}
DRESS_HEM_HALF_WIDTH = {"mini": 0.62, "midi": 0.72, "maxi": 0.8}
DRESS_WAIST_Y = 1.25
SKIRT_LENGTH = {"mini": 1.05, "midi": 2.1, "maxi": 2.8}
SKIRT_HEM_HALF_WIDTH = {"mini": 0.7, "midi": 0.8, "maxi": 0.9}
TROUSER_LENGTH = {"trousers": 3.0, "cropped": 2.5, "shorts": 1.0}
CROTCH_Y = 0.7
HIP_Y = 0.4
WAISTBAND = 0.07
PLEAT_COUNT = 14
PLEAT_DARKEN = 0.22  # a pleat's fold is this much darker than its lit face
FIT_SCALE = {"slim": 0.9, "regular": 1.0, "loose": 1.1, "oversized": 1.18}

Point = tuple[float, float]


def synthesize_garment(spec: GarmentSpec, size: tuple[int, int] = DEFAULT_SIZE) -> np.ndarray:
    """Draw the garment a description names.

    Args:
        spec: the parsed description (category, type, colours, sleeve, length, pattern...).
            Unsaid attributes take the garment type's usual value (a shirt has long
            sleeves, a dress is midi, jeans are denim blue).
        size: ``(height, width)`` of the image in px.

    Returns:
        RGB uint8 ``(height, width, 3)``: the garment on a white (255) background.

    Raises:
        TryOnError: the description names no garment, colour or pattern to draw.
    """
    height, width = int(size[0]), int(size[1])
    if height < 64 or width < 48:
        raise TryOnError(f"Garment images are drawn at 64x48 px or more, not {height}x{width}.")
    template = choose_template(spec)
    shape = _build_shape(template, spec)
    rng = np.random.default_rng(_seed(spec))

    # Fit the template to the canvas (garment units -> px), drawing at SUPERSAMPLE x.
    points = np.concatenate([np.asarray(p, np.float64) for p in shape["body"]])
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = min(FIT_MARGIN * width / (hi[0] - lo[0]), FIT_MARGIN * height / (hi[1] - lo[1]), MAX_UNIT * width)
    offset = np.array([width / 2, height / 2]) - scale * (lo + hi) / 2

    def to_px(poly: list[Point], s: int = 1) -> np.ndarray:
        return np.round((np.asarray(poly) * scale + offset) * s * 8).astype(np.int32)  # 3 fractional bits

    # The inside of the back neck (seen through the front neckline) is garment too, in shadow.
    alpha = _fill([to_px(p, SUPERSAMPLE) for p in shape["body"] + shape["inner"]], (height, width))
    inner = (
        _fill([to_px(p, SUPERSAMPLE) for p in shape["inner"]], (height, width)) if shape["inner"] else None
    )

    base, second = _colours(spec)
    fabric = _fabric(spec, template, (height, width), scale, base, second, rng, shape, to_px)
    if _is_denim(spec):
        _topstitch(fabric, shape["seams"] + shape["stitches"], scale, to_px)
    shade = _shading(alpha, scale, shape, to_px, rng)
    if shape.get("pleats"):
        shade *= _pleat_shade(shape["pleats"], (height, width), scale, offset)
    garment = fabric * shade[..., None]
    if inner is not None:
        garment = garment * (1 - (1 - INNER_BACK_DARKEN) * inner[..., None])
    image = BACKGROUND * (1 - alpha[..., None]) + garment * alpha[..., None]
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def as_drawn(analysis: GarmentAnalysis, spec: GarmentSpec) -> GarmentAnalysis:
    """The analysis of a garment :func:`synthesize_garment` drew for ``spec``, with what the drawing knows and a
    photo's analysis may miss: an off-the-shoulder or strapless neckline runs straight across the top, its
    corners are the top's (a sleeved top's shoulder points; a strapless one's neck corners, the tube's top
    corners), so it is worn off the shoulders (see :func:`tryon.stages.garment.off_the_shoulder`)."""
    kp = analysis.keypoints
    names = [f"{name}_{side}" for name in ("neck", "shoulder") for side in ("left", "right")]
    if spec.neckline not in OFF_SHOULDER or analysis.category == "lower" or any(n not in kp for n in names):
        return analysis
    keypoints = dict(kp)
    # Drawn strapless: the words say so, or say no sleeves (a dress's default), whatever the analysis made of the
    # top corners (it took a strapless dress's for sleeve ends).
    sleeve = spec.sleeve or ("none" if analysis.category == "dress" else "short")  # as _top and _dress draw it
    strapless = spec.neckline == "strapless" or sleeve == "none"
    if not strapless:
        for side in ("left", "right"):
            keypoints[f"neck_{side}"] = kp[f"shoulder_{side}"]
        return dataclasses.replace(analysis, keypoints=keypoints, off_shoulder=True)
    for side in ("left", "right"):
        keypoints[f"shoulder_{side}"] = kp[f"neck_{side}"]
        keypoints.pop(f"sleeve_end_{side}", None)
    return dataclasses.replace(analysis, keypoints=keypoints, off_shoulder=True, sleeve="none",
                               parts={"body": analysis.mask.copy()})


def choose_template(spec: GarmentSpec) -> str:
    """Template name for a spec: tank, tee, three_quarter, long_sleeve, trousers, shorts, skirt, dress."""
    category = spec.category
    gtype = spec.garment_type
    if category is None:
        if spec.length in ("mini", "midi", "maxi"):
            category = "dress"
        elif spec.sleeve is not None or spec.colours or spec.pattern or spec.neckline or spec.material:
            category = "upper"
        else:
            raise TryOnError(
                "Could not tell which garment to draw: describe it in words, e.g. 'a red long-sleeve shirt' "
                "or '一件蓝色的牛仔裤'."
            )
    if category == "lower":
        if gtype == "shorts":
            return "shorts"
        if gtype == "skirt":
            return "skirt"
        return "trousers"
    if category == "dress":
        return "dress"
    sleeve = spec.sleeve or ("long" if gtype in ("shirt", "blouse") else "short")
    return {"none": "tank", "short": "tee", "three_quarter": "three_quarter", "long": "long_sleeve"}[sleeve]


def _seed(spec: GarmentSpec) -> int:
    """Deterministic per description, so the same text always draws the same garment."""
    return int.from_bytes(hashlib.sha256(repr(spec).encode()).digest()[:4], "little")


def _is_denim(spec: GarmentSpec) -> bool:
    return spec.pattern == "denim" or (spec.pattern is None and spec.material == "denim")


def _colours(spec: GarmentSpec) -> tuple[np.ndarray, np.ndarray]:
    """Base and second colour (sRGB float) of the fabric."""
    if spec.colours and _is_denim(spec) and spec.colours[0][0] == "blue":
        base = DENIM_RGB  # "blue jeans" means the indigo of denim, not a saturated primary blue
    elif spec.colours:
        base = spec.colours[0][1]
    elif _is_denim(spec):
        base = DENIM_RGB
    elif spec.pattern in ("stripes", "dots"):
        base = DARK_SECOND
    elif spec.pattern == "floral":
        base = FLORAL_GROUND
    else:
        base = DEFAULT_RGB
    if len(spec.colours) > 1:
        second = spec.colours[1][1]
    else:
        light = float(rgb_to_lab(np.asarray(base, np.float32))[0]) > LIGHT_BASE_L
        second = DARK_SECOND if light else LIGHT_SECOND
    return np.asarray(base, np.float64), np.asarray(second, np.float64)


# ---------------------------------------------------------------------------
# Geometry helpers.
# ---------------------------------------------------------------------------


def _bezier(p0: Point, p1: Point, p2: Point, n: int = 16) -> list[Point]:
    """Quadratic Bézier from p0 to p2 (control p1), n points including both ends."""
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t**2 * np.array(p2)
    return [tuple(p) for p in pts]


def _mirror(points: list[Point]) -> list[Point]:
    return [(-x, y) for x, y in reversed(points)]


def _fill(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] (float32, ``shape``) of polygons given at SUPERSAMPLE scale."""
    big = np.zeros((shape[0] * SUPERSAMPLE, shape[1] * SUPERSAMPLE), np.uint8)
    for polygon in polygons:  # one at a time: fillPoly fills a list even-odd, so overlaps would cancel
        cv2.fillPoly(big, [polygon], 255, lineType=cv2.LINE_AA, shift=3)
    small = cv2.resize(big, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def _sleeve(
    shoulder: Point, armpit: Point, kind: str, angle_deg: float, shoulder_width: float
) -> list[Point]:
    """Right sleeve outline from the shoulder point round the cuff to the armpit."""
    length_ratio, cuff, default_angle = SLEEVE_SHAPES[kind]
    angle = math.radians(angle_deg or default_angle)
    d = np.array([math.cos(angle), math.sin(angle)])
    n = np.array([-d[1], d[0]])  # perpendicular, pointing down and inwards
    s, a = np.array(shoulder), np.array(armpit)
    length = length_ratio * shoulder_width
    top_end = s + d * length
    # A steep sleeve gets a narrower cuff so that its underarm stays outside the body's side.
    cuff = min(cuff, max(0.08, (top_end[0] - a[0] - SLEEVE_CLEARANCE) / max(-n[0], 1e-6)))
    bottom_end = top_end + n * cuff
    # The underarm seam runs from the cuff back to the armpit; bend it slightly.
    mid = (bottom_end + a) / 2 + n * 0.03
    return [
        tuple(s),
        tuple(s + d * length * 0.5 - n * 0.01),
        tuple(top_end),
        tuple(bottom_end),
        tuple(mid),
        tuple(a),
    ]


def _neckline(kind: str, half_width: float, depth: float, y0: float, n: int = 18) -> list[Point]:
    """Front neckline from the left neck point to the right one (x increasing)."""
    if kind == "v_neck":
        return [(-half_width, y0), (0.0, y0 + depth), (half_width, y0)]
    if kind == "square":
        return [
            (-half_width, y0),
            (-half_width * 0.9, y0 + depth),
            (half_width * 0.9, y0 + depth),
            (half_width, y0),
        ]
    return _bezier((-half_width, y0), (0.0, y0 + 2 * depth), (half_width, y0), n)


# ---------------------------------------------------------------------------
# Shape templates. Each returns {"body": [polygons], "inner": [polygons], "seams": [polylines],
# "stitches": [polylines], "folds": [polylines], "chest": (x, y, radius), "pleats": ..., "kind": ...}
# (built by _shape).
# ---------------------------------------------------------------------------


def _shape(
    kind: str,
    body: list[list[Point]],
    seams: list[list[Point]],
    stitches: list[list[Point]],
    folds: list[list[Point]],
    *,
    inner: list[list[Point]] | None = None,
    chest: tuple[float, float, float] | None = None,
    pleats: tuple[int, float, float, float, float] | None = None,
) -> dict:
    """A template's result; ``chest`` (where a print goes) only for tops and dresses, ``pleats`` only for
    pleated skirts (see :func:`_pleat_shade`)."""
    return {"body": body, "inner": inner or [], "seams": seams, "stitches": stitches, "folds": folds,
            "chest": chest, "pleats": pleats, "kind": kind}


def _cut_neckline(
    outline: list[Point], kind: str, half_width: float, depth: float, back: bool = True
) -> tuple[list[Point], list[list[Point]], list[list[Point]]]:
    """The front neckline of ``kind`` cut into ``outline``: ``(front, body, inner)``, where ``front`` is the
    neckline curve, ``body`` the garment polygons and ``inner`` the inside of the back neck that shows through
    a neckline deeper than the back's (only with ``back``)."""
    front = _neckline(kind, half_width, depth, 0.0)
    body = [outline + front[1:-1]] if depth > 0 else [outline]
    inner: list[list[Point]] = []
    if back and depth > BACK_NECK_DEPTH:
        inner.append(_neckline("crew", half_width, BACK_NECK_DEPTH, 0.0) + list(reversed(front))[1:-1])
    return front, body, inner


def _build_shape(template: str, spec: GarmentSpec) -> dict:
    if template in ("tank", "tee", "three_quarter", "long_sleeve"):
        return _top(template, spec)
    if template == "dress":
        return _dress(spec)
    if template == "skirt":
        return _skirt(spec)
    return _trousers(template, spec)


def _top(template: str, spec: GarmentSpec) -> dict:
    fit = FIT_SCALE.get(spec.fit or "regular", 1.0)
    neck_kind = spec.neckline or ("collar" if spec.garment_type in ("shirt", "polo", "blouse") else "crew")
    if template == "tank":
        neck_kind = neck_kind if neck_kind in ("v_neck", "square", "halter", *OFF_SHOULDER) else "scoop"
    half = 0.5 * fit
    shoulder_half = SHOULDER_HALF_WIDTH * fit if template != "tank" else STRAP_HALF_WIDTH
    length = 2 * shoulder_half * TORSO_LENGTH.get(
        spec.length or "", TORSO_LENGTH["long" if spec.garment_type == "coat" else "regular"]
    )
    if template == "tank" and neck_kind in OFF_SHOULDER:
        return _tube(half, length - ARMPIT_DEPTH)
    off = neck_kind in OFF_SHOULDER  # the neckline runs straight across, from one sleeve's top to the other's
    neck_half = shoulder_half if off else NECK_HALF_WIDTH if template != "tank" else 0.2
    shoulder = (shoulder_half, 0.0 if off else SHOULDER_DROP)
    armpit = (half, ARMPIT_DEPTH + (0.08 if template == "tank" else 0.0))
    hem = (half + 0.02, length)
    right: list[Point] = [] if off else [(neck_half, 0.0)]
    seams: list[list[Point]] = []
    if template == "tank":
        right += [shoulder, *_bezier(shoulder, (shoulder_half, armpit[1] * 0.8), armpit, 12)[1:]]
    else:
        sleeve_kind = {"tee": "short", "three_quarter": "three_quarter", "long_sleeve": "long"}[template]
        sleeve = _sleeve(shoulder, armpit, sleeve_kind, 0.0, 2 * shoulder_half)
        right += sleeve
        for line in ([shoulder, armpit], [sleeve[2], sleeve[3]]):  # armhole seam, cuff: both sides
            seams += [line, _mirror(line)]
    right += [(half + 0.01, (armpit[1] + length) / 2), hem, (0.0, length)]
    outline = right + _mirror(right)[1:]
    depth = NECK_DEPTH.get(neck_kind, 0.12)
    front, body, inner = _cut_neckline(outline, neck_kind, neck_half, depth, back=not off)
    extra: list[list[Point]] = []
    if neck_kind == "collar":
        flaps = _collar(neck_half, depth)
        extra += flaps
        seams += [flap + flap[:1] for flap in flaps[:2]]  # the flaps' edges
        placket_end = depth + 0.3 if spec.garment_type == "polo" else length
        seams.append([(0.0, depth), (0.0, placket_end)])  # button placket
    elif neck_kind == "turtleneck":
        extra.append(
            [(-neck_half, 0.02), (-neck_half * 0.95, -0.2), (neck_half * 0.95, -0.2), (neck_half, 0.02)]
        )
    elif neck_kind == "hood":  # the hood lies folded behind the back: its lining shows above the neckline
        lining = _bezier((-neck_half - 0.02, 0.03), (0.0, -0.26), (neck_half + 0.02, 0.03), 20)
        inner.append(lining + list(reversed(front))[1:-1])
        seams += [[(sign * 0.07, depth), (sign * 0.08, depth + 0.3)] for sign in (-1, 1)]  # drawstrings
        seams.append(
            [
                (-0.3, length * 0.62),
                (0.3, length * 0.62),
                (0.36, length - 0.1),
                (-0.36, length - 0.1),
                (-0.3, length * 0.62),
            ]
        )  # kangaroo pocket
    stitches = [[(-hem[0] + 0.02, length - 0.05), (hem[0] - 0.02, length - 0.05)]]
    if neck_kind in ("crew", "scoop", "v_neck"):
        stitches.append([(x, y + 0.035) for x, y in front])
    folds = [[(-0.3, 0.55), (-0.15, length * 0.8)], [(0.28, 0.6), (0.1, length * 0.9)]]
    return _shape("top", body + extra, seams, stitches, folds, inner=inner, chest=(0.0, 0.45 + depth * 0.5, 0.24))


def _collar(neck_half: float, depth: float) -> list[list[Point]]:
    """Two shirt-collar flaps over the neckline."""
    flaps = []
    for sign in (-1, 1):
        flaps.append(
            [
                (sign * (neck_half + 0.03), -0.03),
                (sign * 0.02, depth + 0.02),
                (sign * 0.2, depth + 0.05),
                (sign * (neck_half + 0.1), 0.05),
            ]
        )
    flaps.append(
        [(-neck_half - 0.03, -0.03), (neck_half + 0.03, -0.03), (neck_half, 0.04), (-neck_half, 0.04)]
    )
    return flaps


def _tube(half: float, length: float) -> dict:
    """A strapless top: its top edge straight across the chest (the warp puts its corners under the arms), a
    little gathered at the top, down to the hem."""
    hem = (half + 0.02, length)
    right: list[Point] = [(half, 0.0), (half + 0.01, length / 2), hem, (0.0, length)]
    outline = right + _mirror(right)[1:]
    _, body, _ = _cut_neckline(outline, "strapless", half, NECK_DEPTH["strapless"], back=False)
    band = TUBE_BAND * length
    stitches = [[(-half + 0.02, band), (half - 0.02, band)],
                _bezier((-half + 0.03, length - 0.04), (0.0, length - 0.03), (half - 0.03, length - 0.04), 12)]
    folds = [[(-0.2, band + 0.05), (-0.25, length * 0.9)], [(0.15, band + 0.05), (0.2, length * 0.9)]]
    return _shape("top", body, [], stitches, folds, chest=(0.0, 0.45 * length, 0.2))


def _dress(spec: GarmentSpec) -> dict:
    length_key = (
        spec.length if spec.length in DRESS_LENGTH else ("maxi" if spec.garment_type == "gown" else "midi")
    )
    hem_half = DRESS_HEM_HALF_WIDTH[length_key] * (1.1 if spec.fit in ("flared", "a_line", "loose") else 1.0)
    neck_kind = spec.neckline or ("collar" if spec.garment_type == "shirt dress" else "scoop")
    sleeve = spec.sleeve or "none"
    half = 0.46
    neck_half = NECK_HALF_WIDTH if sleeve != "none" else 0.22
    shoulder_half = 0.5 if sleeve != "none" else STRAP_HALF_WIDTH
    length = DRESS_LENGTH[length_key] * 2 * shoulder_half
    off = neck_kind in OFF_SHOULDER  # straight across: from one sleeve's top to the other's, or strapless
    if off:
        neck_half = shoulder_half
    shoulder = (shoulder_half, 0.0 if off else SHOULDER_DROP)
    armpit = (half, ARMPIT_DEPTH + 0.06 if sleeve == "none" else DRESS_ARMPIT_DEPTH)
    right: list[Point] = [] if off else [(neck_half, 0.0)]
    seams: list[list[Point]] = []
    if sleeve == "none" and off:
        right += [(half, armpit[1])]  # strapless: the bodice starts under the arms
    elif sleeve == "none":
        right += [shoulder, *_bezier(shoulder, (shoulder_half, armpit[1] * 0.8), armpit, 12)[1:]]
    else:
        sl = _sleeve(shoulder, armpit, sleeve, DRESS_SLEEVE_ANGLE[sleeve], 2 * shoulder_half)
        right += sl
        seams += [[shoulder, armpit], _mirror([shoulder, armpit])]
    waist = (0.4, DRESS_WAIST_Y)
    skirt = _bezier(waist, (hem_half * 0.8, (DRESS_WAIST_Y + length) / 2), (hem_half, length), 10)
    right += [waist, *skirt[1:]]
    right += _bezier((hem_half, length), (hem_half * 0.5, length + 0.04), (0.0, length + 0.05), 8)[1:]
    outline = right + _mirror(right)[1:]
    depth = NECK_DEPTH.get(neck_kind, 0.2)
    if sleeve == "none" and off:  # a straight top edge
        body, inner = [outline], []
    else:
        _, body, inner = _cut_neckline(outline, neck_kind, neck_half, depth, back=not off)
    extra = _collar(neck_half, depth) if neck_kind == "collar" else []
    seams.append([(-waist[0], DRESS_WAIST_Y), (waist[0], DRESS_WAIST_Y)])
    stitches = [
        _bezier((-hem_half + 0.03, length - 0.05), (0.0, length), (hem_half - 0.03, length - 0.05), 12)
    ]
    folds = [
        [(-0.15, DRESS_WAIST_Y + 0.1), (-hem_half * 0.5, length * 0.95)],
        [(0.12, DRESS_WAIST_Y + 0.1), (hem_half * 0.45, length * 0.95)],
        [(0.0, DRESS_WAIST_Y + 0.2), (0.0, length * 0.9)],
    ]
    return _shape("dress", body + extra, seams, stitches, folds, inner=inner, chest=(0.0, 0.5 + depth * 0.4, 0.2))


def _skirt(spec: GarmentSpec) -> dict:
    key = spec.length if spec.length in SKIRT_LENGTH else "midi"
    length = SKIRT_LENGTH[key]
    hem_half = SKIRT_HEM_HALF_WIDTH[key] * (0.82 if spec.fit == "slim" else 1.0)
    right = [(0.0, 0.0), (0.5, 0.0), (0.51, WAISTBAND)]
    right += _bezier((0.51, WAISTBAND), (0.56, length * 0.4), (hem_half, length), 10)[1:]
    right += _bezier((hem_half, length), (hem_half * 0.5, length + 0.03), (0.0, length + 0.035), 8)[1:]
    outline = right[1:] + _mirror(right[1:])[1:]
    seams = [[(-0.51, WAISTBAND), (0.51, WAISTBAND)]]
    folds = [
        [(x * 0.3, WAISTBAND + 0.05), (x * hem_half * 0.8, length * 0.95)] for x in (-1.0, -0.35, 0.35, 1.0)
    ]
    pleats = None
    if spec.fit == "pleated":  # knife pleats fanning out from the waistband to the hem
        pleats = (PLEAT_COUNT, 0.51, hem_half, WAISTBAND, length)
    stitches = [
        _bezier((-hem_half + 0.03, length - 0.04), (0.0, length - 0.01), (hem_half - 0.03, length - 0.04), 12)
    ]
    return _shape("skirt", [outline], seams, stitches, folds, pleats=pleats)


def _trousers(template: str, spec: GarmentSpec) -> dict:
    key = "shorts" if template == "shorts" else ("cropped" if spec.length == "cropped" else "trousers")
    length = TROUSER_LENGTH[key]
    fit = spec.fit or "regular"
    leg_hem = {"slim": 0.19, "wide_leg": 0.33, "flared": 0.32, "loose": 0.27, "oversized": 0.29}.get(
        fit, 0.23
    )
    if key == "shorts":
        leg_hem = 0.3
    hip = 0.56
    outer_hem = hip - 0.02 + (0.06 if fit in ("wide_leg", "flared") else 0.0)
    inner_hem = outer_hem - 2 * leg_hem
    crotch = (0.0, CROTCH_Y)
    right = [(0.0, 0.0), (0.5, 0.0), (0.53, WAISTBAND), (hip, HIP_Y)]
    right += _bezier((hip, HIP_Y), (hip + 0.01, (HIP_Y + length) / 2), (outer_hem, length), 8)[1:]
    right += [(max(inner_hem, 0.05), length + 0.01)]
    right += _bezier(
        (max(inner_hem, 0.05), length + 0.01), (0.06, CROTCH_Y + 0.25), (0.015, CROTCH_Y + 0.02), 8
    )[1:]
    right += [crotch]
    outline = right[1:-1] + _mirror(right[1:-1])
    outline = [p for i, p in enumerate(outline) if i == 0 or p != outline[i - 1]]
    outline.insert(len(outline) // 2, crotch)
    seams = [[(-0.53, WAISTBAND), (0.53, WAISTBAND)], [(0.0, WAISTBAND), (0.0, CROTCH_Y - 0.02)]]
    stitches = [
        [(0.0, WAISTBAND + 0.01), (0.0, CROTCH_Y - 0.03)],
        _bezier((0.08, WAISTBAND + 0.01), (0.1, 0.28), (0.0, 0.3), 8),
    ]
    for sign in (-1, 1):  # front pockets
        stitches.append(_bezier((sign * 0.26, WAISTBAND), (sign * 0.3, 0.2), (sign * 0.5, 0.22), 8))
        leg_mid = sign * (outer_hem + max(inner_hem, 0.05)) / 2
        stitches.append(
            [
                (sign * (outer_hem - 0.02), length - 0.04),
                (sign * (max(inner_hem, 0.05) + 0.02), length - 0.03),
            ]
        )
        if key != "shorts" and spec.garment_type != "jeans" and not _is_denim(spec):
            seams.append([(sign * 0.3, HIP_Y), (leg_mid, length)])  # crease
        stitches.append([(sign * (hip - 0.03), HIP_Y), (sign * (outer_hem - 0.03), length - 0.05)])  # outseam
    folds = [[(s * 0.2, CROTCH_Y + 0.05), (s * 0.35, CROTCH_Y + 0.2)] for s in (-1, 1)]
    folds += [[(s * 0.3, length * 0.6), (s * 0.45, length * 0.65)] for s in (-1, 1)]
    return _shape("trousers", [outline], seams, stitches, folds)


# ---------------------------------------------------------------------------
# Fabric and shading.
# ---------------------------------------------------------------------------


def _fabric(
    spec: GarmentSpec,
    template: str,
    size: tuple[int, int],
    scale: float,
    base: np.ndarray,
    second: np.ndarray,
    rng: np.random.Generator,
    shape: dict,
    to_px,
) -> np.ndarray:
    """Fabric colour ``(H, W, 3)`` float in [0, 255] over the whole canvas (masked later)."""
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((height, width, 3), np.float32)
    out[:] = base
    pattern = spec.pattern
    if _is_denim(spec):
        pattern = "denim"
    unit = scale  # px per garment unit
    if pattern == "stripes":
        period = 0.14 * unit
        band = np.mod(yy, period) < period * 0.45
        out[band] = second
    elif pattern == "checks":
        period = 0.2 * unit
        h_band = (np.mod(yy, period) < period * 0.5).astype(np.float32)
        v_band = (np.mod(xx, period) < period * 0.5).astype(np.float32)
        mix = 0.5 * (h_band + v_band)  # 0, 0.5, 1: gingham's three tones
        out = base * (1 - mix[..., None]) + second * mix[..., None]
        thin = (np.mod(yy + period * 0.75, period) < max(1.0, 0.01 * unit)) | (
            np.mod(xx + period * 0.75, period) < max(1.0, 0.01 * unit)
        )
        out[thin] = out[thin] * 0.75
    elif pattern == "dots":
        period = 0.16 * unit
        row = np.floor(yy / period)
        x_shift = np.where(np.mod(row, 2) == 0, 0.0, period / 2)
        dx = np.mod(xx + x_shift, period) - period / 2
        dy = np.mod(yy, period) - period / 2
        dots = np.hypot(dx, dy) < 0.28 * period
        out[dots] = second
    elif pattern == "denim":
        twill = 0.5 + 0.5 * np.sin((xx + yy) * (2 * np.pi / max(2.5, 0.012 * unit)))
        fibres = rng.normal(0, 1, (height, width)).astype(np.float32)
        fibres = cv2.GaussianBlur(fibres, (0, 0), sigmaX=max(0.6, 0.004 * unit), sigmaY=0.3)
        light = np.clip(0.5 * twill + 0.35 * fibres, 0, 1)[..., None]
        out = base * (0.82 + 0.12 * twill[..., None]) + (np.array([235.0, 238, 242]) - base) * 0.22 * light
        fade = _soft_blobs(size, rng, unit, count=4)  # worn, lighter areas on the thighs/front
        out = out + (np.array([230.0, 235, 240]) - out) * 0.18 * fade[..., None]
    elif pattern == "floral":
        out = _floral(out, base, second, rng, unit)
    elif pattern == "print":
        out = _graphic(out, base, second, shape, to_px, unit, template)
    return np.clip(out, 0, 255)


TOPSTITCH_RGB = (206, 150, 72)  # the golden thread of jeans


def _topstitch(fabric: np.ndarray, lines: list[list[Point]], scale: float, to_px) -> None:
    """Dashed golden topstitching along seams and pockets (denim), drawn in place on ``fabric``."""
    height, width = fabric.shape[:2]
    thread = np.zeros((height, width), np.float32)
    for line in lines:
        cv2.polylines(thread, [to_px(line)], False, 1.0, max(1, int(0.008 * scale)), cv2.LINE_AA, shift=3)
    period = max(5, int(0.03 * scale))
    dash = np.mod(np.arange(width)[None, :] + np.arange(height)[:, None], period) < period * 0.6
    weight = (thread * dash)[..., None] * 0.85
    fabric *= 1 - weight
    fabric += weight * np.array(TOPSTITCH_RGB, np.float32)


def _soft_blobs(size: tuple[int, int], rng: np.random.Generator, unit: float, count: int) -> np.ndarray:
    height, width = size
    blobs = np.zeros(size, np.float32)
    for _ in range(count):
        centre = (int(rng.uniform(0.3, 0.7) * width), int(rng.uniform(0.25, 0.75) * height))
        axes = (int(0.12 * unit), int(0.3 * unit))
        cv2.ellipse(blobs, centre, axes, 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(blobs, (0, 0), 0.12 * unit)


def _floral(
    out: np.ndarray, base: np.ndarray, second: np.ndarray, rng: np.random.Generator, unit: float
) -> np.ndarray:
    """Scattered five-petal flowers with leaves on the base colour."""
    height, width = out.shape[:2]
    img = out.copy()
    light = float(rgb_to_lab(base.astype(np.float32))[0]) > LIGHT_BASE_L
    palette = [
        second,
        np.array([236.0, 96, 120]) if not light else np.array([200.0, 40, 70]),
        np.array([250.0, 200, 70]),
        np.array([250.0, 250, 246]) if not light else np.array([120.0, 60, 150]),
    ]
    leaf = np.array([70.0, 130, 70])
    step = 0.3 * unit
    for gy in np.arange(-step / 2, height + step, step):
        for gx in np.arange(-step / 2, width + step, step):
            cx = int(gx + rng.uniform(-0.35, 0.35) * step)
            cy = int(gy + rng.uniform(-0.35, 0.35) * step)
            r = rng.uniform(0.05, 0.075) * unit
            colour = palette[int(rng.integers(len(palette)))]
            turn = rng.uniform(0, 2 * np.pi)
            for k in range(2):  # two leaves
                a = turn + np.pi * k + 0.6
                lx, ly = int(cx + 1.6 * r * np.cos(a)), int(cy + 1.6 * r * np.sin(a))
                cv2.ellipse(
                    img,
                    (lx, ly),
                    (max(2, int(0.9 * r)), max(1, int(0.4 * r))),
                    math.degrees(a),
                    0,
                    360,
                    leaf.tolist(),
                    -1,
                    cv2.LINE_AA,
                )
            for k in range(5):
                a = turn + 2 * np.pi * k / 5
                px, py = int(cx + 0.75 * r * np.cos(a)), int(cy + 0.75 * r * np.sin(a))
                cv2.circle(img, (px, py), max(2, int(0.55 * r)), colour.tolist(), -1, cv2.LINE_AA)
            cv2.circle(img, (cx, cy), max(1, int(0.3 * r)), [240.0, 200, 60], -1, cv2.LINE_AA)
    return img


def _graphic(
    out: np.ndarray, base: np.ndarray, second: np.ndarray, shape: dict, to_px, unit: float, template: str
) -> np.ndarray:
    """A chest graphic (tops, dresses) or a repeating geometric print (bottoms)."""
    img = out.copy()
    colour = second.tolist()
    accent = (
        [236.0, 96, 60] if float(rgb_to_lab(base.astype(np.float32))[0]) > LIGHT_BASE_L else [250.0, 200, 70]
    )
    if shape["kind"] in ("top", "dress"):
        cx, cy, r = shape["chest"]
        ((px, py),) = to_px([(cx, cy)]) / 8
        radius = int(r * unit)
        cv2.circle(img, (int(px), int(py)), radius, colour, max(2, radius // 8), cv2.LINE_AA)
        star = [
            (
                px + radius * 0.7 * math.cos(math.pi / 2 + 4 * math.pi * k / 5),
                py - radius * 0.7 * math.sin(math.pi / 2 + 4 * math.pi * k / 5),
            )
            for k in range(5)
        ]
        cv2.fillPoly(img, [np.round(np.array(star) * 8).astype(np.int32)], accent, cv2.LINE_AA, shift=3)
        font_scale = radius / 38.0
        text = "TRYON"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, font_scale, max(1, int(font_scale * 2)))
        cv2.putText(
            img,
            text,
            (int(px - tw / 2), int(py + radius + 1.6 * th)),
            cv2.FONT_HERSHEY_DUPLEX,
            font_scale,
            colour,
            max(1, int(font_scale * 2)),
            cv2.LINE_AA,
        )
        return img
    height, width = out.shape[:2]
    step = max(8, int(0.22 * unit))
    for y in range(0, height + step, step):
        for x in range((y // step % 2) * step // 2, width + step, step):
            tri = np.array(
                [(x, y - step * 0.3), (x + step * 0.3, y + step * 0.25), (x - step * 0.3, y + step * 0.25)]
            )
            cv2.fillPoly(img, [np.round(tri * 8).astype(np.int32)], colour, cv2.LINE_AA, shift=3)
    return img


def _pleat_shade(
    pleats: tuple[int, float, float, float, float], size: tuple[int, int], scale: float, offset: np.ndarray
) -> np.ndarray:
    """Multiplicative shading ``(H, W)`` float of knife pleats: each pleat is lit on one side and falls
    into shadow at its fold, the folds fanning out from the waistband to the hem."""
    count, top_half, hem_half, y0, y1 = pleats
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    gx, gy = (xx - offset[0]) / scale, (yy - offset[1]) / scale  # garment units
    t = np.clip((gy - y0) / max(y1 - y0, 1e-6), 0, 1)
    half = top_half + (hem_half - top_half) * t  # the skirt's half width at this height
    phase = np.mod((gx / half + 1) * count / 2, 1.0)  # 0 -> 1 across each pleat
    shade = 1 - PLEAT_DARKEN * phase**2
    return np.where(gy >= y0, shade, 1.0).astype(np.float32)


def _shading(alpha: np.ndarray, scale: float, shape: dict, to_px, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative shading ``(H, W)`` float: grain, weave, darker edges, folds, seams, stitches."""
    height, width = alpha.shape
    shade = np.ones((height, width), np.float32)
    # Darker towards the outline: the fabric curves away from the light at the edges.
    inside = (alpha > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    edge = np.clip(dist / max(1.0, EDGE_WIDTH_UNITS * scale), 0, 1)
    shade *= 1 - EDGE_DARKEN * (1 - edge) ** 2
    # Soft folds.
    folds = np.zeros_like(shade)
    for line in shape["folds"]:
        cv2.polylines(folds, [to_px(line)], False, 1.0, max(2, int(0.03 * scale)), cv2.LINE_AA, shift=3)
    folds = cv2.GaussianBlur(folds, (0, 0), max(1.0, 0.04 * scale))
    shade *= 1 - FOLD_DARKEN * folds / max(float(folds.max()), 1e-6)
    # Seams (a thin dark line) and stitches (a dashed line).
    lines = np.zeros_like(shade)
    for line in shape["seams"]:
        cv2.polylines(
            lines, [to_px(line)], False, SEAM_DARKEN, max(1, int(0.006 * scale)), cv2.LINE_AA, shift=3
        )
    stitch = np.zeros_like(shade)
    for line in shape["stitches"]:
        cv2.polylines(
            stitch, [to_px(line)], False, STITCH_DARKEN, max(1, int(0.005 * scale)), cv2.LINE_AA, shift=3
        )
    dash = np.mod(np.arange(width)[None, :] + np.arange(height)[:, None], max(4, int(0.02 * scale))) < max(
        2, int(0.012 * scale)
    )
    shade *= 1 - lines - stitch * dash
    # Fabric grain and weave (what the detail metric and a shopper's eye pick up).
    grain = rng.normal(0, GRAIN_SIGMA, (height, width)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.7)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    weave = THREAD_AMPLITUDE * np.sin(xx * 2.1) * np.sin(yy * 2.1)
    shade *= 1 + grain + weave
    return shade

"""Colour and cut advice from a person photo: a suggestion, labelled as such, never a verdict.

Input: the person photo (RGB uint8 ``(H, W, 3)``) and its :class:`tryon.stages.body.BodyAnalysis`
(public fields only: ``skin_lab_mean``, ``landmarks``, ``visibility``, ``regions``, ``face_box``).
Output: :class:`Advice`: colours that suit and colours to keep away from the face, with the reason
in words (:class:`ColourAdvice`), cuts and lengths that flatter (:class:`Proportions`), and
:func:`rank_by_colour` orders catalog items by the suited colours.

Colour (seasonal colour analysis, Jackson 1980, *Color Me Beautiful*): the skin's CIELAB colour
gives its depth (the individual typology angle ITA° = atan((L* - 50) / b*), classes of Chardon et
al. 1991 and Del Bino & Bernerd 2013) and its undertone (the hue angle h_ab = atan2(b*, a*): more
yellow is warm, more red is cool; skin hue angles mostly lie between about 45° and 65°, Xiao et al.
2017). Warm + light is "spring" (clear warm colours), cool + light "summer" (soft cool colours),
warm + deep "autumn" (earthy colours), cool + deep or a strong skin/hair contrast "winter" (clear,
icy and high-contrast colours). Hair-to-skin lightness contrast moves a neutral undertone.

The skin colour is the median over the body stage's skin pixels (robust to the shadows, stubble and
highlights that pull a mean), or ``skin_lab_mean`` when few skin pixels show.

Cut (figure-balance practice; shape types after the Female Figure Identification Technique, Simmons,
Istook & Devarajan 2004, here from silhouette widths instead of circumferences): shoulders clearly
broader than hips ("inverted triangle"), hips broader ("triangle") or balanced; and the torso-to-leg
length ratio (shoulder-hip over hip-ankle landmarks) against a typical one. Anthropometric tables
give 0.59 for the joint heights (shoulder 0.818, hip 0.530, ankle 0.039 of stature; Drillis &
Contini 1966, tabulated in Winter, *Biomechanics and Motor Control of Human Movement*), but
MediaPipe's landmarks sit elsewhere: on the 11 full-body photos of the evaluation set (fashion
models) they give a median of 0.68, and the shoulder/hip silhouette ratio a median of 1.22 (arms
hang beside the shoulders) over 31 photos, quartiles 1.15 and 1.36. The thresholds below are
relative to those medians.

Lighting and white balance shift a photo's skin colour: the advice says what it measured.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .landmarks import (
    LEFT_ANKLE,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_SHOULDER,
    RIGHT_ANKLE,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_SHOULDER,
)
from .text import COLOUR_RGB, delta_e, lab8_to_cielab, lab_to_rgb, nearest_colour_name, rgb_to_lab

SUGGESTION = "A suggestion from the colours and proportions measured in this photo, not a rule"
# Skin depth by ITA° (degrees): lower bound of each class, lightest first.
ITA_CLASSES = ((55.0, "very light"), (41.0, "light"), (28.0, "intermediate"), (10.0, "tan"),
               (-30.0, "brown"), (-math.inf, "dark"))
DEEP_ITA = 28.0  # "tan" and darker read as deep colouring
# Undertone by skin hue angle h_ab (degrees).
COOL_HUE_MAX = 50.0
WARM_HUE_MIN = 60.0
# Skin-to-hair lightness contrast (ΔL*, CIELAB units).
HIGH_CONTRAST = 45.0
LOW_CONTRAST = 20.0
HAIR_MIN_PIXELS = 150
SKIN_MIN_PIXELS = 200  # fewer skin pixels: use the body stage's skin_lab_mean instead of their median
LIGHTING_NOTE = ("Colours are measured in this photo's light: a dim or backlit photo reads darker and a "
                 "coloured light shifts the undertone, so a daylight photo facing the light reads truest.")
# Palettes (names in tryon/stages/text/data/colours.toml) per season, and what to keep away from the face.
SEASONS: dict[str, dict[str, Any]] = {
    "spring": {
        "suits": ("coral", "peach", "salmon", "apricot", "yellow", "camel", "ivory", "turquoise", "lime", "sky blue"),
        "avoid": ("black", "charcoal", "burgundy", "plum"),
        "why": "clear warm colours keep it fresh; black and dark cool shades overpower it",
    },
    "summer": {
        "suits": (
            "lavender", "light blue", "rose", "light pink", "sage", "light grey", "navy", "plum", "mint", "lilac",
        ),
        "avoid": ("orange", "mustard", "rust", "black"),
        "why": "soft cool colours harmonise with it; strong warm oranges and black are harsh on it",
    },
    "autumn": {
        "suits": ("rust", "olive", "mustard", "camel", "brown", "khaki", "teal", "forest green", "coral", "cream"),
        "avoid": ("hot pink", "light grey", "lavender", "white"),
        "why": "earthy, muted warm colours echo it; icy pastels and bright pink wash it out",
    },
    "winter": {
        "suits": ("black", "white", "navy", "royal blue", "emerald", "red", "magenta", "charcoal", "cobalt", "purple"),
        "avoid": ("beige", "camel", "mustard", "peach"),
        "why": "clear, saturated and high-contrast colours match its depth or contrast; muted warm beiges look drab",
    },
}
# Ranking catalog items: a garment colour within MATCH ΔE (CIEDE2000) of a suited colour is a full
# match, beyond MISS none; an avoided colour subtracts AVOID_PENALTY of its share.
MATCH_DELTA_E = 10.0
MISS_DELTA_E = 30.0
AVOID_PENALTY = 0.7
# Proportions.
TYPICAL_SHOULDER_HIP = 1.22  # silhouette shoulder / hip breadth, median over the eval photos
BROAD_SHOULDERS = 1.36  # above this (the eval photos' upper quartile): shoulders read broader
BROAD_HIPS = 1.1  # below this (about 10% under the median): hips read broader
TYPICAL_TORSO_LEG = 0.68  # shoulder-hip over hip-ankle landmark length, median over the eval photos
LONG_LEGS = 0.62  # torso/leg below this (10% under typical): long legs for the torso
SHORT_LEGS = 0.75  # ... above this (10% over): short legs for the torso
SHOULDER_ROW = 0.15  # shoulder breadth is measured this far (x shoulder joint span) below the joints
HIP_BAND = (0.0, 0.35)  # hip breadth: the widest row this far below the hip joints (x joint span)
BODY_PARTS_AT_HIPS = ("torso", "thigh_left", "thigh_right")


@dataclasses.dataclass(frozen=True)
class SkinTone:
    """A skin colour and how colour analysis reads it.

    Attributes:
        lab: float32 ``(3,)`` CIELAB (L* 0-100, a*, b*; D65).
        ita: individual typology angle, degrees.
        hue: hue angle h_ab, degrees.
        depth: ITA class: "very light", "light", "intermediate", "tan", "brown" or "dark".
        undertone: "warm", "cool" or "neutral".
    """

    lab: np.ndarray
    ita: float
    hue: float
    depth: str
    undertone: str


@dataclasses.dataclass(frozen=True)
class ColourAdvice:
    """Colours that suit a colouring.

    Attributes:
        skin: the measured :class:`SkinTone`.
        hair_lab: float32 ``(3,)`` CIELAB of the hair, or None when no hair was seen.
        contrast: |L*skin - L*hair| in CIELAB units, or None.
        season: "spring", "summer", "autumn" or "winter".
        suits: ``((name, (r, g, b)), ...)`` colours to wear near the face.
        avoid: colours to keep away from the face.
        reason: the measurements and the reasoning, in words.
    """

    skin: SkinTone
    hair_lab: np.ndarray | None
    contrast: float | None
    season: str
    suits: tuple[tuple[str, tuple[int, int, int]], ...]
    avoid: tuple[tuple[str, tuple[int, int, int]], ...]
    reason: str


@dataclasses.dataclass(frozen=True)
class Proportions:
    """What the body's proportions suggest.

    Attributes:
        shoulder_hip: silhouette shoulder breadth / hip breadth, or None when not measurable.
        torso_leg: shoulder-to-hip / hip-to-ankle length, or None when the legs are not in the photo.
        shape: "inverted triangle", "triangle", "balanced" or None.
        legs: "long", "balanced", "short" or None.
        tips: sentences: cuts and lengths that flatter, each with its reason.
    """

    shoulder_hip: float | None
    torso_leg: float | None
    shape: str | None
    legs: str | None
    tips: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """A catalog garment ranked by the advice: ``score`` in [0, 1] and the ``reason`` in words."""

    item: Any
    score: float
    reason: str


@dataclasses.dataclass(frozen=True)
class Advice:
    """Colour and cut advice for one photo; ``label`` says it is a suggestion.

    Attributes:
        colours: the :class:`ColourAdvice`.
        proportions: the :class:`Proportions`.
        suggestions: catalog garments in the suited colours, best first (filled by the pipeline).
        label: "A suggestion ...": show it with the advice.
    """

    colours: ColourAdvice
    proportions: Proportions
    suggestions: tuple[Suggestion, ...] = ()
    label: str = SUGGESTION


# ---------------------------------------------------------------------------
# Colour.
# ---------------------------------------------------------------------------


def skin_tone(lab: np.ndarray | Sequence[float]) -> SkinTone:
    """Read a CIELAB skin colour ``(3,)``: ITA depth class and undertone."""
    lab = np.asarray(lab, np.float32).reshape(3)
    lightness, a, b = (float(v) for v in lab)
    ita = math.degrees(math.atan2(lightness - 50.0, b)) if b > 0 else math.copysign(90.0, lightness - 50.0)
    hue = math.degrees(math.atan2(b, a)) % 360.0
    depth = next(name for bound, name in ITA_CLASSES if ita > bound)
    undertone = "cool" if hue < COOL_HUE_MAX else ("warm" if hue > WARM_HUE_MIN else "neutral")
    return SkinTone(lab=lab, ita=ita, hue=hue, depth=depth, undertone=undertone)


def season_of(skin: SkinTone, contrast: float | None) -> str:
    """The seasonal colouring (see the module docstring)."""
    deep = skin.ita <= DEEP_ITA
    strong = contrast is not None and contrast >= HIGH_CONTRAST
    soft = contrast is not None and contrast < LOW_CONTRAST
    undertone = skin.undertone
    if undertone == "neutral":
        undertone = "cool" if strong else ("warm" if soft or deep else "cool")
    if undertone == "warm":
        return "autumn" if deep else "spring"
    return "winter" if deep or strong else "summer"


def colour_advice(skin: SkinTone, hair_lab: np.ndarray | None = None) -> ColourAdvice:
    """Colours that suit a skin tone (and hair colour when known), with the reason in words."""
    contrast = None if hair_lab is None else abs(float(skin.lab[0]) - float(np.asarray(hair_lab)[0]))
    season = season_of(skin, contrast)
    palette = SEASONS[season]
    measured = (
        f"skin L* {skin.lab[0]:.0f}, a* {skin.lab[1]:.0f}, b* {skin.lab[2]:.0f} (CIELAB): "
        f"{skin.depth} (ITA {skin.ita:.0f}°), {skin.undertone} undertone (hue {skin.hue:.0f}°)"
    )
    if contrast is not None:
        level = "high" if contrast >= HIGH_CONTRAST else ("low" if contrast < LOW_CONTRAST else "medium")
        measured += f"; {level} contrast with the hair (ΔL* {contrast:.0f})"
    return ColourAdvice(
        skin=skin,
        hair_lab=None if hair_lab is None else np.asarray(hair_lab, np.float32),
        contrast=contrast,
        season=season,
        suits=tuple((n, COLOUR_RGB[n]) for n in palette["suits"]),
        avoid=tuple((n, COLOUR_RGB[n]) for n in palette["avoid"]),
        reason=f"Measured {measured}. Reads as {_a(season)} colouring: {palette['why']}. {LIGHTING_NOTE}",
    )


def measured_skin_lab(image: np.ndarray, body: Any) -> np.ndarray:
    """CIELAB ``(3,)`` of the person's skin: the median over ``body.regions["skin"]``, or the body
    stage's ``skin_lab_mean`` (OpenCV 8-bit Lab, converted) when fewer than SKIN_MIN_PIXELS show."""
    skin = body.regions["skin"]
    if skin.sum() < SKIN_MIN_PIXELS:
        return lab8_to_cielab(body.skin_lab_mean)
    return np.median(rgb_to_lab(image[skin].astype(np.float32)), axis=0).astype(np.float32)


def hair_colour(image: np.ndarray, body: Any) -> np.ndarray | None:
    """Median CIELAB ``(3,)`` of the head hair (face-and-hair pixels that are not skin, at or above
    the eyes, outside the face box's middle), or None when too little shows (short hair, a hat)."""
    regions = body.regions
    hair = regions["face_hair"] & ~regions["skin"]
    eye_y = float(max(body.landmarks[LEFT_EYE][1], body.landmarks[RIGHT_EYE][1]))
    hair[int(max(eye_y, 0)) + 1 :] = False
    if body.face_box is not None:
        x0, y0, x1, y1 = body.face_box
        inset = (x1 - x0) // 4
        hair[max(y0, 0) : max(y1, 0), max(x0 + inset, 0) : max(x1 - inset, 0)] = False  # brows and eyes
    if hair.sum() < HAIR_MIN_PIXELS:
        return None
    lab = rgb_to_lab(image[hair].astype(np.float32))
    return np.median(lab, axis=0).astype(np.float32)


def rank_by_colour(advice: ColourAdvice, palettes: Sequence[np.ndarray], shares: Sequence[np.ndarray]) -> list[
    tuple[int, float, str]
]:
    """Order garments by how much of them is in the suited colours.

    Args:
        advice: the :class:`ColourAdvice`.
        palettes: per garment, float32 ``(K, 3)`` CIELAB main colours.
        shares: per garment, ``(K,)`` share of the garment in each colour.

    Returns:
        ``[(garment index, score in [0, 1], reason), ...]``, best first.
    """
    suits = rgb_to_lab(np.array([rgb for _, rgb in advice.suits], np.float32))
    avoid = rgb_to_lab(np.array([rgb for _, rgb in advice.avoid], np.float32))
    out = []
    for index, (palette, share) in enumerate(zip(palettes, shares, strict=True)):
        share = np.asarray(share, np.float64) / max(float(np.sum(share)), 1e-6)
        d_suit = delta_e(palette[:, None, :], suits[None, :, :])
        d_avoid = delta_e(palette[:, None, :], avoid[None, :, :]).min(axis=1)
        closeness = np.clip((MISS_DELTA_E - d_suit) / (MISS_DELTA_E - MATCH_DELTA_E), 0, 1)
        good = closeness.max(axis=1)
        bad = d_avoid <= MATCH_DELTA_E
        score = float(np.clip((good * share).sum() - AVOID_PENALTY * (share * bad).sum(), 0.0, 1.0))
        out.append((index, score, _rank_reason(advice, palette[int(np.argmax(share))], d_suit[int(np.argmax(share))],
                                               bool(bad[int(np.argmax(share))]))))
    return sorted(out, key=lambda t: -t[1])


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _rank_reason(advice: ColourAdvice, main: np.ndarray, d_suit: np.ndarray, avoided: bool) -> str:
    """Why a garment (its main colour ``main``, CIELAB) ranks where it does."""
    own = nearest_colour_name(lab_to_rgb(main))
    nearest = advice.suits[int(np.argmin(d_suit))][0]
    season = _a(advice.season)
    if float(d_suit.min()) <= MATCH_DELTA_E:
        return f"its {own} suits {season} colouring" if own == nearest else (
            f"its {own} is close to {nearest}, which suits {season} colouring")
    if float(d_suit.min()) < MISS_DELTA_E:
        return f"its {own} is near {nearest}, which suits {season} colouring"
    if avoided:
        return f"its {own} is a colour to keep away from the face for {season} colouring"
    return f"its {own} is neither a suited nor an unsuited colour for {season} colouring"


# ---------------------------------------------------------------------------
# Proportions.
# ---------------------------------------------------------------------------


def body_proportions(body: Any) -> Proportions:
    """Shoulder/hip breadth and torso/leg length from the landmarks and the person's silhouette."""
    shoulder_hip = torso_leg = None
    if all(body.in_frame(i) for i in (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP)):
        shoulders, hips = _breadths(body)
        shoulder_hip = shoulders / hips if shoulders and hips else None
        if body.in_frame(LEFT_ANKLE) and body.in_frame(RIGHT_ANKLE):
            hip = _midpoint(body, LEFT_HIP, RIGHT_HIP)
            torso = float(np.linalg.norm(_midpoint(body, LEFT_SHOULDER, RIGHT_SHOULDER) - hip))
            legs = float(np.linalg.norm(hip - _midpoint(body, LEFT_ANKLE, RIGHT_ANKLE)))
            torso_leg = torso / legs if legs > 0 else None
    shape = None if shoulder_hip is None else (
        "inverted triangle" if shoulder_hip > BROAD_SHOULDERS else "triangle" if shoulder_hip < BROAD_HIPS
        else "balanced")
    legs = None if torso_leg is None else (
        "long" if torso_leg < LONG_LEGS else "short" if torso_leg > SHORT_LEGS else "balanced")
    return Proportions(shoulder_hip, torso_leg, shape, legs, _cut_tips(shoulder_hip, shape, torso_leg, legs))


def _breadths(body: Any) -> tuple[float | None, float | None]:
    """Silhouette breadth at the shoulders (arms included: the deltoids are the shoulder line) and
    the widest row of torso and thighs just below the hip joints (arms and hands left out)."""
    lm = body.landmarks
    span = float(np.linalg.norm(lm[LEFT_SHOULDER] - lm[RIGHT_SHOULDER]))
    row = round(float(lm[LEFT_SHOULDER][1] + lm[RIGHT_SHOULDER][1]) / 2 + SHOULDER_ROW * span)
    person = body.person_mask
    shoulders = _run_through(person, row, float(lm[LEFT_SHOULDER][0] + lm[RIGHT_SHOULDER][0]) / 2)
    hip_mask = np.logical_or.reduce([body.regions[p] for p in BODY_PARTS_AT_HIPS])
    hip_y = float(lm[LEFT_HIP][1] + lm[RIGHT_HIP][1]) / 2
    hip_span = float(np.linalg.norm(lm[LEFT_HIP] - lm[RIGHT_HIP]))
    centre = float(lm[LEFT_HIP][0] + lm[RIGHT_HIP][0]) / 2
    rows = range(int(hip_y + HIP_BAND[0] * hip_span), int(hip_y + HIP_BAND[1] * hip_span) + 1)
    hips = max((_run_through(hip_mask, y, centre) or 0.0 for y in rows), default=0.0)
    return shoulders, hips or None


def _run_through(mask: np.ndarray, y: int, x: float) -> float | None:
    """Width of the run of ``mask`` in row ``y`` that contains column ``x`` (None if outside)."""
    column = int(x)
    if not 0 <= y < mask.shape[0] or not 0 <= column < mask.shape[1] or not mask[y, column]:
        return None
    gaps = np.flatnonzero(~mask[y])
    left = int(gaps[gaps < column].max()) + 1 if (gaps < column).any() else 0
    right = int(gaps[gaps > column].min()) if (gaps > column).any() else mask.shape[1]
    return float(right - left)


def _midpoint(body: Any, a: int, b: int) -> np.ndarray:
    return (body.landmarks[a] + body.landmarks[b]) / 2


# Cut and length tips per shape and leg proportion ({ratio} is filled in).
SHAPE_TIPS = {
    "inverted triangle": "Shoulders read broader than hips (ratio {ratio}, typical {typical}): V-necks and open "
    "collars, plain shoulders, and volume or colour below the waist (A-line or flared skirts, straight or "
    "wide-leg trousers) balance them.",
    "triangle": "Hips read broader than shoulders (ratio {ratio}, typical {typical}): boat or wide necklines, "
    "structured shoulders and detail on top, with darker, plain A-line skirts or straight trousers, balance them.",
    "balanced": "Shoulders and hips are in balance (ratio {ratio}, typical {typical}): a defined waist (wrap, "
    "belted or fitted cuts) keeps the balance; most cuts work.",
}
LEG_TIPS = {
    "long": "Legs are long for the torso (torso/leg {ratio}, typical {typical}): longer tops, mid-rise trousers "
    "and any skirt length work; very high waists shorten the torso.",
    "short": "The torso is long for the legs (torso/leg {ratio}, typical {typical}): high-rise trousers, tucked "
    "or cropped tops and skirts ending at or above the knee lengthen the legs; long tunics shorten them.",
    "balanced": "Torso and legs are in typical proportion (torso/leg {ratio}, typical {typical}): any rise and "
    "length works.",
    None: "The legs are not fully in the photo: no length advice (a full-body photo gives one).",
}


def _cut_tips(shoulder_hip: float | None, shape: str | None, torso_leg: float | None, legs: str | None) -> tuple[
    str, ...
]:
    tips = []
    if shape is not None:
        tips.append(SHAPE_TIPS[shape].format(ratio=f"{shoulder_hip:.2f}", typical=TYPICAL_SHOULDER_HIP))
    tips.append(LEG_TIPS[legs].format(ratio=f"{torso_leg or 0:.2f}", typical=TYPICAL_TORSO_LEG))
    return tuple(tips)


# ---------------------------------------------------------------------------
# Both.
# ---------------------------------------------------------------------------


def advise(image: np.ndarray, body: Any) -> Advice:
    """Colour and cut advice for a person photo.

    Args:
        image: RGB uint8 ``(H, W, 3)``, the photo ``body`` was analysed on.
        body: its :class:`tryon.stages.body.BodyAnalysis` (skin region, or ``skin_lab_mean`` in OpenCV
            8-bit Lab, converted here to CIELAB; landmarks; face and hair regions).
    """
    skin = skin_tone(measured_skin_lab(image, body))
    return Advice(colours=colour_advice(skin, hair_colour(image, body)), proportions=body_proportions(body))


"""How well a rendered garment matches its description (shown under every text try-on)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .colour import colour_palette, delta_e, lab_to_rgb, nearest_colour_name, rgb_to_lab
from .spec import SLEEVES, GarmentSpec

CONSISTENCY_MIN_PIXELS = 200
COLOUR_GOOD_DELTA_E = 10.0  # CIEDE2000 below which the colour fully matches (lighting shifts it a bit)
COLOUR_BAD_DELTA_E = 40.0  # ... and above which it does not match at all
CONSISTENCY_WEIGHTS = {"colour": 0.5, "category": 0.3, "sleeve": 0.2}
CONSISTENCY_SAMPLE = 20000  # pixels sampled for the main colours
CONSISTENCY_PALETTE_SHARE = 0.15  # a main colour of the rendered garment covers at least this share
MATCHES_SCORE = 0.75  # verdicts: "Matches" at or above this score...
PARTLY_SCORE = 0.4  # ... "Partly matches" at or above this, "Does not match" below
HALF_MATCH = 0.5  # a colour score from here on "reads as" the described colour; a sleeve one step off


def consistency(
    spec: GarmentSpec, result_rgb: np.ndarray, garment_mask: np.ndarray, garment_info: Any
) -> dict[str, Any]:
    """How well a rendered garment matches its description.

    Args:
        spec: the parsed description.
        result_rgb: RGB uint8 ``(H, W, 3)``, the try-on result.
        garment_mask: bool ``(H, W)``, pixels of the new garment in ``result_rgb``.
        garment_info: the :class:`tryon.stages.garment.GarmentAnalysis` that was rendered.

    Returns:
        ``score`` (float in [0, 1], weighted over what could be checked), ``summary`` (one
        sentence), ``colour_delta_e`` (CIEDE2000 from the described colour to the nearest
        of the garment's main colours, the largest such distance over several described colours;
        or None), ``observed_colour`` (name, sRGB) or None, ``category_match`` / ``sleeve_match``
        (bool or None when not checkable), ``checked`` (names of the checks made).
    """
    parts: dict[str, float] = {}
    notes: list[str] = []
    out: dict[str, Any] = {"colour_delta_e": None, "observed_colour": None, "category_match": None,
                           "sleeve_match": None}
    mask = np.asarray(garment_mask, bool)
    if spec.colours and mask.sum() >= CONSISTENCY_MIN_PIXELS:
        _check_colour(spec, result_rgb[mask], parts, notes, out)
    elif spec.colours:
        notes.append("too little garment visible to check the colour")
    category = getattr(garment_info, "category", None)
    if spec.category is not None and category is not None:
        out["category_match"] = spec.category == category
        parts["category"] = float(out["category_match"])
        notes.append(f"{category} garment" + ("" if out["category_match"] else f", described as {spec.category}"))
    sleeve = getattr(garment_info, "sleeve", None)
    if spec.sleeve is not None and sleeve is not None and category in ("upper", "dress"):
        _check_sleeve(spec.sleeve, sleeve, parts, notes, out)
    if parts:
        total = sum(CONSISTENCY_WEIGHTS[k] for k in parts)
        score = sum(CONSISTENCY_WEIGHTS[k] * v for k, v in parts.items()) / total
        out["summary"] = f"{_verdict(score)}: " + "; ".join(notes) + "."
    else:
        score = 1.0
        out["summary"] = "Nothing in the description could be checked against the result."
    out["score"] = round(float(score), 3)
    out["checked"] = list(parts)
    return out


def _verdict(score: float) -> str:
    if score >= MATCHES_SCORE:
        return "Matches the description"
    return "Partly matches the description" if score >= PARTLY_SCORE else "Does not match the description"


def _check_colour(
    spec: GarmentSpec, pixels: np.ndarray, parts: dict[str, float], notes: list[str], out: dict[str, Any]
) -> None:
    """Each described colour must be one of the garment's main colours: the white of red gingham,
    or of a striped top recoloured to burgundy, is no mismatch."""
    if len(pixels) > CONSISTENCY_SAMPLE:
        pixels = pixels[np.linspace(0, len(pixels) - 1, CONSISTENCY_SAMPLE).astype(int)]
    palette = colour_palette(rgb_to_lab(pixels.astype(np.float32)), min_share=CONSISTENCY_PALETTE_SHARE)
    palette = palette[:1] + [(c, share) for c, share in palette[1:] if share >= CONSISTENCY_PALETTE_SHARE]
    observed_lab = np.array([c for c, _ in palette], np.float32)
    targets = rgb_to_lab(np.array([rgb for _, rgb in spec.colours], np.float32))
    distances = delta_e(targets[:, None, :], observed_lab[None, :, :])  # (described, observed)
    nearest = distances.argmin(axis=1)
    worst = int(np.argmax(distances.min(axis=1)))  # the described colour found worst
    de = float(distances[worst, nearest[worst]])
    observed_rgb = tuple(int(v) for v in lab_to_rgb(observed_lab[nearest[worst]]))
    out["colour_delta_e"] = round(de, 1)
    out["observed_colour"] = (nearest_colour_name(observed_rgb), observed_rgb)
    parts["colour"] = float(np.clip((COLOUR_BAD_DELTA_E - de) / (COLOUR_BAD_DELTA_E - COLOUR_GOOD_DELTA_E), 0, 1))
    wanted = spec.colours[worst][0]
    if parts["colour"] >= HALF_MATCH:
        notes.append(f"colour reads as {wanted} (ΔE {de:.0f})")
    else:
        notes.append(f"colour looks {out['observed_colour'][0]}, asked for {wanted} (ΔE {de:.0f})")


def _check_sleeve(wanted: str, seen: str, parts: dict[str, float], notes: list[str], out: dict[str, Any]) -> None:
    out["sleeve_match"] = wanted == seen
    close = wanted in SLEEVES and seen in SLEEVES and abs(SLEEVES.index(wanted) - SLEEVES.index(seen)) == 1
    parts["sleeve"] = 1.0 if out["sleeve_match"] else (HALF_MATCH if close else 0.0)
    described = "" if out["sleeve_match"] else f", described as {wanted.replace('_', ' ')}"
    notes.append(f"{seen.replace('_', ' ')} sleeves{described}")

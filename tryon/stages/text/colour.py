"""Colour maths: sRGB <-> CIELAB, CIEDE2000, colour names, modifiers and a garment's main colours.

CIELAB here is D65 CIE 1976 L*a*b* with L* in [0, 100] and a*, b* in about [-128, 127] (OpenCV's
float conversion of sRGB in [0, 1]). OpenCV's 8-bit Lab (L scaled to 0-255, a and b offset by
128) is a different encoding: convert it with :func:`lab8_to_cielab`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import cv2
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.cluster.vq import kmeans2

from .lexicon import colour_rgb

# Colour modifiers ("light blue" when not itself a name): lightness and chroma changes in CIELAB.
LIGHTER_L_FRACTION = 0.45  # L moves this fraction of the way to 100
LIGHTER_CHROMA = 0.6
DARKER_L_FACTOR = 0.6
DARKER_CHROMA = 0.85
BRIGHTER_CHROMA = 1.3
# Main colours: k-means (scipy.cluster.vq.kmeans2, k-means++ seeding, fixed seed) over at most
# PALETTE_SAMPLE evenly spaced pixels, then clusters whose centres lie within twice the requested
# separation of each other (complete linkage) are one colour: a shaded fabric is one colour, its
# folds and highlights are not colours of their own.
PALETTE_CLUSTERS = 8
PALETTE_SAMPLE = 20000
PALETTE_SEED = 0
# OpenCV 8-bit Lab: L8 = L* * 255 / 100, a8 = a* + 128, b8 = b* + 128.
LAB8_L_SCALE = 255.0 / 100.0
LAB8_AB_OFFSET = 128.0


def rgb_to_lab(rgb: np.ndarray | Iterable[float]) -> np.ndarray:
    """sRGB uint8-valued ``(..., 3)`` -> CIELAB float32 ``(..., 3)`` (L in [0, 100])."""
    arr = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / 255.0
    lab = cv2.cvtColor(arr, cv2.COLOR_RGB2LAB)
    return lab.reshape((*np.shape(rgb)[:-1], 3)) if np.ndim(rgb) > 1 else lab.reshape(3)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB float ``(..., 3)`` -> sRGB uint8 ``(..., 3)`` (out-of-gamut values clipped)."""
    arr = np.asarray(lab, dtype=np.float32)
    rgb = cv2.cvtColor(arr.reshape(-1, 1, 3), cv2.COLOR_LAB2RGB).reshape(arr.shape)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def lab8_to_cielab(lab8: np.ndarray | Iterable[float]) -> np.ndarray:
    """OpenCV 8-bit Lab ``(..., 3)`` (as ``cv2.COLOR_RGB2LAB`` gives for uint8 images) -> CIELAB
    float32 ``(..., 3)``: L* in [0, 100], a* and b* in CIELAB units."""
    arr = np.asarray(lab8, dtype=np.float32)
    out = arr.copy()
    out[..., 0] = arr[..., 0] / LAB8_L_SCALE
    out[..., 1:] = arr[..., 1:] - LAB8_AB_OFFSET
    return out


def delta_e(lab1: np.ndarray, lab2: np.ndarray, kl: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference between CIELAB arrays (broadcasting); ``kl`` > 1 weighs lightness less."""
    from skimage.color import deltaE_ciede2000

    a, b = np.broadcast_arrays(np.asarray(lab1, np.float64), np.asarray(lab2, np.float64))
    return np.asarray(deltaE_ciede2000(a, b, kL=kl))


@functools.cache
def _named_labs() -> tuple[list[str], np.ndarray]:
    names = list(colour_rgb())
    return names, rgb_to_lab(np.array([colour_rgb()[n] for n in names], np.float32))


def nearest_colour_name(rgb: Iterable[int]) -> str:
    """The canonical colour name closest (CIEDE2000) to an sRGB triple."""
    names, labs = _named_labs()
    lab = rgb_to_lab(np.asarray(list(rgb), np.float32))
    return names[int(np.argmin(delta_e(labs, lab[None, :])))]


def modify_colour(rgb: tuple[int, int, int], kind: str) -> tuple[int, int, int]:
    """``"lighter"``, ``"darker"`` or ``"brighter"`` variant of an sRGB colour, computed in CIELAB."""
    lightness, a, b = (float(v) for v in rgb_to_lab(np.asarray(rgb, np.float32)))
    if kind == "lighter":
        lightness = lightness + (100 - lightness) * LIGHTER_L_FRACTION
        a, b = a * LIGHTER_CHROMA, b * LIGHTER_CHROMA
    elif kind == "darker":
        lightness, a, b = lightness * DARKER_L_FACTOR, a * DARKER_CHROMA, b * DARKER_CHROMA
    elif kind == "brighter":
        a, b = a * BRIGHTER_CHROMA, b * BRIGHTER_CHROMA
    out = lab_to_rgb(np.array([lightness, a, b], np.float32))
    return int(out[0]), int(out[1]), int(out[2])


def hex_code(rgb: tuple[int, int, int]) -> str:
    """``"#rrggbb"`` of an sRGB triple."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def colour_palette(
    lab: np.ndarray, size: int = 3, separation: float = 12.0, min_share: float = 0.08
) -> list[tuple[np.ndarray, float]]:
    """Main colours of a set of CIELAB pixels ``(N, 3)``, most common first.

    k-means clusters (see :data:`PALETTE_CLUSTERS`) are merged into colours whose clusters all lie
    within ``2 * separation`` (CIELAB distance) of each other; a colour is the pixel-weighted mean
    of its clusters' centres. Deterministic (fixed seed, evenly spaced sample).

    Returns:
        ``[(lab float32 (3,), share), ...]``: at most ``size`` colours, ``share`` being the
        fraction of the pixels in that colour's clusters. A next colour is added while at least
        ``min_share`` of the pixels are not yet explained by the earlier ones. Empty for no pixels.
    """
    pixels = np.asarray(lab, np.float32).reshape(-1, 3)
    if not len(pixels):
        return []
    centres, counts = _clusters(pixels)
    groups = (
        fcluster(linkage(centres, "complete"), t=2.0 * separation, criterion="distance")
        if len(centres) > 1
        else np.ones(1, np.int32)
    )
    palette = []
    for group in np.unique(groups):
        members = groups == group
        weight = counts[members]
        colour = (centres[members] * weight[:, None]).sum(axis=0) / weight.sum()
        palette.append((colour.astype(np.float32), float(weight.sum() / counts.sum())))
    palette.sort(key=lambda entry: -entry[1])
    kept, explained = palette[:1], palette[0][1]
    for entry in palette[1:size]:
        if 1.0 - explained < min_share:
            break
        kept.append(entry)
        explained += entry[1]
    return kept


def _clusters(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k-means centres ``(k, 3)`` float64 and pixel counts ``(k,)`` of CIELAB pixels (no empty clusters)."""
    if len(pixels) > PALETTE_SAMPLE:
        pixels = pixels[np.linspace(0, len(pixels) - 1, PALETTE_SAMPLE).astype(np.int64)]
    pixels = pixels.astype(np.float64)
    distinct, counts = np.unique(pixels, axis=0, return_counts=True)
    if len(distinct) <= PALETTE_CLUSTERS:  # a few flat colours are their own clusters
        return distinct, counts.astype(np.float64)
    centres, labels = kmeans2(pixels, PALETTE_CLUSTERS, minit="++", seed=np.random.default_rng(PALETTE_SEED))
    counts = np.bincount(labels, minlength=len(centres)).astype(np.float64)
    return centres[counts > 0], counts[counts > 0]


def dominant_lab(lab: np.ndarray) -> np.ndarray:
    """The most common colour of a set of CIELAB pixels ``(N, 3)`` -> float32 ``(3,)``
    (the first colour of :func:`colour_palette`)."""
    return colour_palette(lab, size=1)[0][0]

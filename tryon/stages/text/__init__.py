"""Garment descriptions in English and Chinese: parse, recolour, check the result.

Input: free text such as ``"a red long-sleeve shirt"``, ``"一件蓝色的牛仔裤"``,
``"make it navy, short sleeves"`` or ``"黑白条纹 crop top"``.
Output: a :class:`GarmentSpec` (category, garment type, colours as sRGB, sleeve, length, pattern,
neckline, fit, material), which :mod:`tryon.stages.synth` draws, :func:`apply_edits` applies to
a garment photo and :mod:`tryon.stages.check` checks against the rendered result.

Modules: :mod:`.parser` (reading a description), :mod:`.lexicon` (the word tables in ``data/*.toml``,
editable without touching Python), :mod:`.encoder` (multilingual-e5-small for words outside the
tables), :mod:`.colour` (CIELAB maths, colour names, main colours), :mod:`.recolour` and :mod:`.edit`
(recolouring and sleeve edits of a garment photo).
"""

from .colour import (
    colour_palette,
    delta_e,
    dominant_lab,
    hex_code,
    lab8_to_cielab,
    lab_to_rgb,
    modify_colour,
    nearest_colour_name,
    rgb_to_lab,
)
from .edit import EditResult, apply_edits, cut_sleeves, edit_garment
from .encoder import embed_queries, encode, prototype_bank, unplaced_words, warm_up
from .lexicon import colour_rgb, garment_types, normalise
from .parser import MAX_DESCRIPTION_CHARS, parse
from .recolour import fabric_colours, recolor, recolour_base
from .spec import ATTRIBUTES, CATEGORIES, SLEEVES, GarmentSpec, describe

COLOUR_RGB = colour_rgb()
GARMENT_TYPES = garment_types()

__all__ = [
    "ATTRIBUTES",
    "CATEGORIES",
    "COLOUR_RGB",
    "GARMENT_TYPES",
    "MAX_DESCRIPTION_CHARS",
    "SLEEVES",
    "EditResult",
    "GarmentSpec",
    "apply_edits",
    "colour_palette",
    "cut_sleeves",
    "delta_e",
    "describe",
    "dominant_lab",
    "edit_garment",
    "embed_queries",
    "encode",
    "fabric_colours",
    "hex_code",
    "lab8_to_cielab",
    "lab_to_rgb",
    "modify_colour",
    "nearest_colour_name",
    "normalise",
    "parse",
    "prototype_bank",
    "recolor",
    "recolour_base",
    "rgb_to_lab",
    "unplaced_words",
    "warm_up",
]

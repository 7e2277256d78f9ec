"""Catalog search: find garment photos by a description, in English or Chinese.

Input: folders of garment photos, each optionally with a ``catalog.csv`` sidecar
(columns ``file,caption,category``; photos it does not list are captioned from their
file name's words).
Output: :class:`CatalogIndex`, built once; ``index.search("striped long sleeve")`` or
``index.search("黑色连衣裙")`` returns ``[(CatalogItem, score), ...]``, best first.

Each item is described three ways, and a query is compared with all three:

* meaning: the caption's multilingual-e5 passage vector against the query's vector (a
  Chinese query meets English captions in the same space; see :mod:`tryon.stages.text`);
* attributes: the caption parsed by :func:`tryon.stages.text.parse` (category, garment type,
  sleeve, pattern, length, neckline, material) against the query's parsed attributes;
* colour: the photo's main colours (CIELAB, measured on the garment, not the white
  background) and the caption's colours, against the query's colours (CIEDE2000).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import TryOnError
from . import text

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
SIDECAR = "catalog.csv"
# Photos are measured at this long side (colour needs no detail; keeps the build fast).
MEASURE_SIDE = 192
BACKGROUND_DIFF = 24  # max abs RGB difference from the border colour that still counts as background
PALETTE_SIZE = 3  # colours kept per photo
PALETTE_MIN_SHARE = 0.08  # a palette colour covers at least this share of the garment
PALETTE_SEPARATION = 12.0  # CIELAB distance between kept palette colours

# Score = weighted mean of the components the query can be compared on.
WEIGHTS = {"meaning": 0.35, "attributes": 0.3, "colour": 0.35}
MEANING_FLOOR = 0.72  # e5 cosine similarity that maps to 0 (unrelated short texts sit around 0.75)
MEANING_CEIL = 0.92  # ... and to 1
COLOUR_MATCH_DELTA_E = 8.0  # CIEDE2000 at or below which a colour fully matches
COLOUR_MISS_DELTA_E = 40.0  # ... and above which it does not match at all
# Garment words that name a whole category: they match every item of that category.
GENERIC_TYPES = {"dress": "dress", "top": "upper"}
# Search compares colours by hue and chroma more than lightness ("purple" finds lilac before black).
SEARCH_LIGHTNESS_WEIGHT = 2.0  # CIEDE2000 kL
ATTRIBUTES = ("category", "garment_type", "sleeve", "pattern", "length", "neckline", "material")
# Each attribute's share of the attribute component (the garment itself matters most).
ATTRIBUTE_WEIGHTS = {
    "category": 1.0,
    "garment_type": 1.0,
    "sleeve": 0.8,
    "pattern": 0.8,
    "length": 0.5,
    "neckline": 0.4,
    "material": 0.4,
}


@dataclasses.dataclass(frozen=True, eq=False)
class CatalogItem:
    """One garment photo in the catalog.

    Attributes:
        path: the photo file.
        caption: its description (sidecar caption or words of the file name).
        category: "upper", "lower", "dress" (sidecar, else parsed from the caption) or None.
        spec: the caption parsed by :func:`tryon.stages.text.parse`.
        palette: ``(K, 3)`` float32 CIELAB main colours of the garment in the photo, most common first.
    """

    path: Path
    caption: str
    category: str | None
    spec: text.GarmentSpec
    palette: np.ndarray

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The photo's main garment colour, sRGB."""
        r, g, b = (int(v) for v in text.lab_to_rgb(self.palette[0]))
        return r, g, b


class CatalogIndex:
    """Garment photos searchable by description; build once, search many times."""

    def __init__(self, items: list[CatalogItem], vectors: np.ndarray) -> None:
        """Use :meth:`build` or :func:`build_catalog_index`.

        ``vectors``: ``(N, D)`` float32 caption vectors, L2-normalised, one per item.
        """
        if len(items) != len(vectors):
            raise ValueError("one caption vector per item")
        self.items = items
        self.vectors = vectors

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def build(cls, entries: Iterable[tuple[Path, str, str | None]]) -> CatalogIndex:
        """Index ``(path, caption, category or None)`` entries: parse, embed and measure each.

        Photos that cannot be read are skipped.
        """
        from .intake import load_image

        items: list[CatalogItem] = []
        for path, caption, category in entries:
            try:
                image = load_image(path, what="catalog photo", max_side=MEASURE_SIDE, min_side=8)
            except TryOnError:
                continue
            caption = caption.strip() or caption_from_filename(path)
            try:
                spec = text.parse(caption)
            except TryOnError:
                spec = text.GarmentSpec(text=caption)
            items.append(
                CatalogItem(
                    path=Path(path),
                    caption=caption,
                    category=category or spec.category,
                    spec=spec,
                    palette=garment_palette(image),
                )
            )
        vectors = _passage_vectors([item.caption for item in items])
        return cls(items, vectors)

    def search(self, query: str, k: int = 8) -> list[tuple[CatalogItem, float]]:
        """The ``k`` items that best match ``query`` (English, Chinese or both), best first.

        Returns:
            ``[(item, score), ...]`` with scores in [0, 1]; all items (score 0) when the
            query is blank, nothing when the index is empty.
        """
        if not self.items:
            return []
        if not query or not query.strip():
            return [(item, 0.0) for item in self.items[:k]]
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self.items[i], float(scores[i])) for i in order]

    def scores(self, query: str) -> np.ndarray:
        """Score in [0, 1] of every item for ``query``, ``(N,)`` float64."""
        spec = text.parse(query)
        query_vector = text.embed_queries([query.strip()[: text.MAX_DESCRIPTION_CHARS]])[0]
        meaning = np.clip(
            (self.vectors @ query_vector - MEANING_FLOOR) / (MEANING_CEIL - MEANING_FLOOR), 0, 1
        )
        parts = {"meaning": meaning.astype(np.float64)}
        attributes = self._attribute_scores(spec)
        if attributes is not None:
            parts["attributes"] = attributes
        if spec.colours:
            parts["colour"] = self._colour_scores(spec)
        total = sum(WEIGHTS[name] for name in parts)
        return sum(WEIGHTS[name] * value for name, value in parts.items()) / total

    def _attribute_scores(self, spec: text.GarmentSpec) -> np.ndarray | None:
        wanted = {name: getattr(spec, name) for name in ATTRIBUTES if getattr(spec, name) is not None}
        wanted = {name: value for name, value in wanted.items() if name not in spec.implied}
        if not wanted:
            return None
        total = sum(ATTRIBUTE_WEIGHTS[name] for name in wanted)
        out = np.zeros(len(self.items))
        for i, item in enumerate(self.items):
            for name, value in wanted.items():
                have = item.category if name == "category" else getattr(item.spec, name)
                match = have == value
                if (
                    name == "garment_type"
                    and value in GENERIC_TYPES
                    and item.category == GENERIC_TYPES[value]
                ):
                    match = True  # "dress" asks for any dress, "top" for any top
                out[i] += ATTRIBUTE_WEIGHTS[name] * match
        return out / total

    def _colour_scores(self, spec: text.GarmentSpec) -> np.ndarray:
        wanted = text.rgb_to_lab(np.array([rgb for _, rgb in spec.colours], np.float32))
        out = np.zeros(len(self.items))
        for i, item in enumerate(self.items):
            candidates = item.palette
            if item.spec.colours:
                named = text.rgb_to_lab(np.array([rgb for _, rgb in item.spec.colours], np.float32))
                candidates = np.concatenate([named, candidates])
            # Each wanted colour is matched by the item's closest colour; a multi-colour query averages.
            distances = text.delta_e(
                wanted[:, None, :], candidates[None, :, :], kl=SEARCH_LIGHTNESS_WEIGHT
            ).min(axis=1)
            score = np.clip(
                (COLOUR_MISS_DELTA_E - distances) / (COLOUR_MISS_DELTA_E - COLOUR_MATCH_DELTA_E), 0, 1
            )
            out[i] = float(score.mean())
        return out


def _passage_vectors(captions: list[str]) -> np.ndarray:
    if not captions:
        return np.zeros((0, 384), np.float32)
    return text.encode(captions, passage=True)


def caption_from_filename(path: Path) -> str:
    """Words of a file name: ``red_long-sleeve_shirt_01.jpg`` -> "red long-sleeve shirt"."""
    words = re.split(r"[_\s.]+", Path(path).stem)
    return " ".join(w for w in words if w and not w.isdigit()).strip() or Path(path).stem


def garment_palette(image: np.ndarray) -> np.ndarray:
    """Main colours of the garment in a product photo, ``(K, 3)`` float32 CIELAB, most common first.

    The background is the colour of the image border; pixels close to it are ignored.

    Args:
        image: RGB uint8 ``(H, W, 3)``.
    """
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.int16)
    background = np.median(border, axis=0)
    garment = np.abs(image.astype(np.int16) - background).max(axis=2) > BACKGROUND_DIFF
    pixels = image[garment] if garment.sum() >= 50 else image.reshape(-1, 3)
    lab = text.rgb_to_lab(pixels.astype(np.float32))
    palette = text.colour_palette(lab, PALETTE_SIZE, PALETTE_SEPARATION, PALETTE_MIN_SHARE)
    return np.asarray([colour for colour, _ in palette], np.float32)


def read_folder(folder: Path) -> list[tuple[Path, str, str | None]]:
    """``(path, caption, category)`` for every photo in ``folder`` (sidecar captions first)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    captions: dict[str, tuple[str, str | None]] = {}
    sidecar = folder / SIDECAR
    if sidecar.is_file():
        with open(sidecar, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                name = (row.get("file") or "").strip()
                if name:
                    category = (row.get("category") or "").strip() or None
                    captions[name] = ((row.get("caption") or "").strip(), category)
    entries = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        caption, category = captions.get(path.name, ("", None))
        entries.append((path, caption or caption_from_filename(path), category))
    return entries


def build_catalog_index(folders: Iterable[Path]) -> CatalogIndex:
    """Index every garment photo in ``folders`` (missing folders are skipped, duplicates once)."""
    seen: set[Path] = set()
    entries = []
    for folder in folders:
        for entry in read_folder(Path(folder)):
            key = entry[0].resolve()
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    return CatalogIndex.build(entries)

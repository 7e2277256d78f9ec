"""The catalog index: garment photos searchable by description, or by another garment photo."""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ...errors import TryOnError
from .. import text
from . import features as feat
from .catalog import CatalogRecord

# Text score = weighted mean of the components the query can be compared on. "unread": words of
# the query that name something the parser does not know ("boots") must appear in the caption.
WEIGHTS = {"meaning": 0.35, "attributes": 0.3, "colour": 0.35, "unread": 0.35}
UNREAD_SPELLING = 0.85  # difflib ratio at which an unread word and a caption word are one word
STEM_ENDINGS = ("ing", "es", "ed", "s")  # stripped before comparing words (at least 3 letters kept)
MEANING_FLOOR = 0.72  # e5 cosine similarity that maps to 0 (unrelated short texts sit around 0.75)
MEANING_CEIL = 0.92  # ... and to 1
# Garment words that name a whole category: they match every item of that category, and an item
# captioned only with one may be any garment of it (half a match for "shirt").
GENERIC_TYPES = {"dress": "dress", "top": "upper"}
GENERIC_ITEM_MATCH = 0.5
# Search compares colours by hue and chroma more than lightness ("purple" finds lilac before black).
SEARCH_LIGHTNESS_WEIGHT = 2.0  # CIEDE2000 kL
ATTRIBUTES = ("category", "garment_type", "sleeve", "pattern", "length", "neckline", "material", "fit")
# Each attribute's share of the attribute component (the garment itself matters most).
ATTRIBUTE_WEIGHTS = {
    "category": 1.0,
    "garment_type": 1.0,
    "sleeve": 0.8,
    "pattern": 0.8,
    "length": 0.5,
    "neckline": 0.4,
    "material": 0.4,
    "fit": 0.5,
}
# Photo score = weighted mean of colour, pattern, shape and category (and the caption's
# attributes and meaning when the query photo is a catalog item with a caption).
PHOTO_WEIGHTS = {"colour": 0.35, "pattern": 0.2, "shape": 0.25, "category": 0.2, "caption": 0.2}
# "No close match": the best score below these. Calibrated on the stage's own calibration queries
# (calibration.csv: 35 descriptions, calibration_photos.csv: 24 photos; never the bench queries)
# over the shipped catalog by ``python -m tryon search-bench --calibrate``: 2 of 35 and 3 of 24
# calibration queries fall on the wrong side.
TEXT_MATCH_SCORE = 0.711
PHOTO_MATCH_SCORE = 0.787
CATEGORIES = ("upper", "lower", "dress")


@dataclasses.dataclass(frozen=True, eq=False)
class CatalogItem:
    """One garment photo in the catalog.

    Attributes:
        path: the photo file.
        caption: its description (sidecar caption or words of the file name).
        category: "upper", "lower", "dress" (sidecar, else parsed from the caption) or None.
        spec: the caption parsed by :func:`tryon.stages.text.parse`.
        looks: the photo's colours, pattern and shape (:class:`~.features.PhotoFeatures`).
        licence: the sidecar's licence id ("" when not stated).
        commercial: whether the photo may be used commercially.
    """

    path: Path
    caption: str
    category: str | None
    spec: text.GarmentSpec
    looks: feat.PhotoFeatures
    licence: str = ""
    commercial: bool = True

    @property
    def palette(self) -> np.ndarray:
        """``(K, 3)`` float32 CIELAB main colours of the garment in the photo, most common first."""
        return self.looks.palette

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The photo's main garment colour, sRGB."""
        r, g, b = (int(v) for v in text.lab_to_rgb(self.palette[0]))
        return r, g, b


@dataclasses.dataclass(frozen=True)
class SearchHit:
    """One result: the item and its score in [0, 1] (higher is closer)."""

    item: CatalogItem
    score: float


@dataclasses.dataclass(frozen=True)
class SearchResults:
    """The answer to one search.

    Attributes:
        hits: the best items first (at most the ``k`` asked for).
        close_match: False when even the best item scores below the calibrated threshold: the
            catalog holds nothing close to the query (the hits are then only the nearest items).
        message: a sentence for the shopper ("" when there are close matches).
    """

    hits: tuple[SearchHit, ...]
    close_match: bool
    message: str = ""


class CatalogIndex:
    """Garment photos searchable by description or by photo; build once, search many times."""

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
    def build(cls, entries: Iterable[CatalogRecord | tuple[Path, str, str | None]]) -> CatalogIndex:
        """Index catalog records (or ``(path, caption, category)``): parse, embed and measure each.

        Photos that cannot be read are skipped.
        """
        from ..intake import load_image

        items: list[CatalogItem] = []
        for entry in entries:
            record = entry if isinstance(entry, CatalogRecord) else CatalogRecord(*entry)
            try:
                image = load_image(record.path, what="catalog photo", max_side=feat.MEASURE_SIDE, min_side=8)
            except TryOnError:
                continue
            try:
                spec = text.parse(record.caption)
            except TryOnError:
                spec = text.GarmentSpec(text=record.caption)
            items.append(
                CatalogItem(
                    path=Path(record.path),
                    caption=record.caption,
                    category=record.category or spec.category,
                    spec=spec,
                    looks=feat.measure(image),
                    licence=record.licence,
                    commercial=record.commercial,
                )
            )
        return cls(items, _passage_vectors([item.caption for item in items]))

    # --- by description ---------------------------------------------------------------------

    def search(self, query: str, k: int = 8, category: str | None = None) -> list[tuple[CatalogItem, float]]:
        """The ``k`` items that best match ``query`` (English, Chinese or both), best first.

        Returns:
            ``[(item, score), ...]`` with scores in [0, 1]; the first ``k`` items (score 0) when
            the query is blank, nothing when the index is empty.
        """
        return [(hit.item, hit.score) for hit in self.query(query, k, category).hits]

    def query(self, query: str, k: int | None = 8, category: str | None = None) -> SearchResults:
        """Search by description, with a category filter and a "no close match" verdict.

        Args:
            query: words, English or Chinese.
            k: results wanted (None: every item of the category).
            category: None, or "upper", "lower" or "dress" to search that category only.
        """
        allowed = self._allowed(category)
        if not query or not query.strip():
            return SearchResults(tuple(SearchHit(self.items[i], 0.0) for i in np.flatnonzero(allowed)[:k]), True)
        scores = self.scores(query)
        results = self._ranked(scores, allowed, k, TEXT_MATCH_SCORE)
        if not results.close_match:
            shown = f"{category} garments" if category else "the catalog"
            return dataclasses.replace(results, message=f"No close match for '{query.strip()}' in {shown}; "
                                       "these are the nearest items.")
        return results

    def scores(self, query: str) -> np.ndarray:
        """Score in [0, 1] of every item for ``query``, ``(N,)`` float64."""
        spec = text.parse(query)
        parts = {"meaning": self._meaning_scores(query, spec)}
        attributes = self._attribute_scores(spec)
        if attributes is not None:
            parts["attributes"] = attributes
        if spec.colours:
            parts["colour"] = self._colour_scores(spec)
        unread = text.unplaced_words(list(spec.unplaced))
        if unread:
            parts["unread"] = self._unread_scores(unread)
        total = sum(WEIGHTS[name] for name in parts)
        return sum(WEIGHTS[name] * value for name, value in parts.items()) / total

    def _meaning_scores(self, query: str, spec: text.GarmentSpec) -> np.ndarray:
        """Caption meaning against the query's words and against the parsed attributes in English
        (:func:`tryon.stages.text.describe`), the closer of the two."""
        texts = [query.strip()[: text.MAX_DESCRIPTION_CHARS]]
        described = text.describe(spec)
        if described and described != texts[0].lower():
            texts.append(described)
        similarity = (self.vectors @ text.embed_queries(texts).T).max(axis=1)
        return np.clip((similarity - MEANING_FLOOR) / (MEANING_CEIL - MEANING_FLOOR), 0, 1).astype(np.float64)

    def _unread_scores(self, words: list[str]) -> np.ndarray:
        """Share of ``words`` found in each caption (same stem, or a near spelling)."""
        out = np.zeros(len(self.items))
        for i, item in enumerate(self.items):
            tokens = _words(item.caption)
            out[i] = np.mean([any(_same_word(word, token) for token in tokens) for word in words])
        return out

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
                match = float(have == value)
                if name == "garment_type" and item.category is not None:
                    if GENERIC_TYPES.get(value) == item.category:
                        match = 1.0  # "dress" asks for any dress, "top" for any top
                    elif GENERIC_TYPES.get(have) == item.category == text.GARMENT_TYPES[value]["category"]:
                        match = max(match, GENERIC_ITEM_MATCH)  # a "top" may be the shirt asked for
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
            distances = text.delta_e(wanted[:, None, :], candidates[None, :, :], kl=SEARCH_LIGHTNESS_WEIGHT).min(axis=1)
            score = np.clip(
                (feat.COLOUR_MISS_DELTA_E - distances) / (feat.COLOUR_MISS_DELTA_E - feat.COLOUR_MATCH_DELTA_E), 0, 1
            )
            out[i] = float(score.mean())
        return out

    # --- by photo ---------------------------------------------------------------------------

    def find_similar(
        self,
        image: np.ndarray,
        k: int | None = 8,
        category: str | None = None,
        *,
        mask: np.ndarray | None = None,
        garment_category: str | None = None,
        caption: str | None = None,
        exclude: Path | None = None,
    ) -> SearchResults:
        """Items that look like the garment in ``image``: colours, pattern, shape and category.

        Args:
            image: RGB uint8 ``(H, W, 3)``, a garment product photo.
            k: results wanted (None: all).
            category: None, or a category to search only.
            mask: bool ``(H, W)``, the garment in ``image`` (default: what differs from the border).
            garment_category: the garment's category when known (the garment stage's guess).
            caption: the photo's caption when it is a catalog item; its meaning and attributes count.
            exclude: a catalog photo to leave out (the query itself).
        """
        looks = feat.measure(image, mask)
        parts = {
            "colour": np.array([feat.colour_similarity(looks, item.looks) for item in self.items]),
            "pattern": np.array([feat.pattern_similarity(looks, item.looks) for item in self.items]),
            "shape": np.array([feat.shape_similarity(looks, item.looks) for item in self.items]),
        }
        # An unknown category (the garment stage could not tell) matches nothing.
        parts["category"] = np.array([float(item.category == garment_category) for item in self.items])
        if caption:
            parts["caption"] = self._caption_scores(caption)
        total = sum(PHOTO_WEIGHTS[name] for name in parts)
        scores = sum(PHOTO_WEIGHTS[name] * value for name, value in parts.items()) / total
        allowed = self._allowed(category)
        if exclude is not None:
            allowed &= np.array([item.path.resolve() != Path(exclude).resolve() for item in self.items], bool)
        results = self._ranked(np.asarray(scores, np.float64), allowed, k, PHOTO_MATCH_SCORE)
        if not results.close_match:
            return dataclasses.replace(results, message="No garment in the catalog looks close to this one; "
                                       "these are the nearest items.")
        return results

    def _caption_scores(self, caption: str) -> np.ndarray:
        spec = text.parse(caption)
        vector = _passage_vectors([caption])[0]
        meaning = np.clip((self.vectors @ vector - MEANING_FLOOR) / (MEANING_CEIL - MEANING_FLOOR), 0, 1)
        attributes = self._attribute_scores(spec)
        return meaning if attributes is None else (meaning + attributes) / 2

    # --- shared ---------------------------------------------------------------------------

    def _allowed(self, category: str | None) -> np.ndarray:
        if category is None:
            return np.ones(len(self.items), bool)
        if category not in CATEGORIES:
            raise TryOnError(f"Unknown category {category!r}: choose one of {', '.join(CATEGORIES)}.")
        return np.array([item.category == category for item in self.items], bool)

    def _ranked(self, scores: np.ndarray, allowed: np.ndarray, k: int | None, threshold: float) -> SearchResults:
        order = [i for i in np.argsort(-scores, kind="stable") if allowed[i]][:k]
        hits = tuple(SearchHit(self.items[i], float(scores[i])) for i in order)
        return SearchResults(hits, close_match=bool(hits) and hits[0].score >= threshold)


def calibrate_threshold(matching: list[float], not_matching: list[float]) -> float:
    """The "close match" score threshold that best separates calibration queries: the best scores of
    queries the catalog can answer (``matching``) from those of queries it cannot. Returns the middle
    of the gap between neighbouring scores that misclassifies the fewest queries (the widest such gap
    on a tie)."""
    scores = sorted({*matching, *not_matching})
    if not scores:
        raise ValueError("no calibration scores")
    cuts = [scores[0] - 1e-3] + [(a + b) / 2 for a, b in itertools.pairwise(scores)] + [scores[-1] + 1e-3]
    gaps = [0.0] + [b - a for a, b in itertools.pairwise(scores)] + [0.0]

    def errors(cut: float) -> int:
        return sum(s < cut for s in matching) + sum(s >= cut for s in not_matching)

    best = min(range(len(cuts)), key=lambda i: (errors(cuts[i]), -gaps[i]))
    return float(cuts[best])


def _words(caption: str) -> list[str]:
    return re.findall(r"[a-z]+|[\u3400-\u9fff]+", text.normalise(caption))


def _stem(word: str) -> str:
    for ending in STEM_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def _same_word(word: str, token: str) -> bool:
    """Whether a query word and a caption word are one word (stem, spelling; Chinese: contained)."""
    if not word.isascii():
        return word in token
    a, b = _stem(word), _stem(token)
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= UNREAD_SPELLING


def _passage_vectors(captions: list[str]) -> np.ndarray:
    if not captions:
        return np.zeros((0, 384), np.float32)
    return text.encode(captions, passage=True)


def garment_palette(image: np.ndarray) -> np.ndarray:
    """Main colours of the garment in a product photo, ``(K, 3)`` float32 CIELAB, most common first.

    Args:
        image: RGB uint8 ``(H, W, 3)``; the background is the colour of the image border.
    """
    return feat.measure(image).palette

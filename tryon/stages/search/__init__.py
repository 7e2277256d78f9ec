"""Catalog search: find garment photos by a description (English or Chinese) or by another photo.

Input: folders of garment photos, each optionally with a ``catalog.csv`` sidecar (columns
``file, caption, category`` and optionally ``source, licence, commercial``; photos it does not
list are captioned from their file name's words).
Output: :class:`CatalogIndex`, built once; ``index.query("striped long sleeve")``,
``index.query("黑色连衣裙", category="dress")`` or ``index.find_similar(photo)`` return
:class:`SearchResults`: hits best first and whether any of them is a close match.

A description is compared with each item three ways:

* meaning: the caption's multilingual-e5 passage vector against the query's vector (a Chinese
  query meets English captions in the same space; see :mod:`tryon.stages.text.encoder`);
* attributes: the caption parsed by :func:`tryon.stages.text.parse` (category, garment type,
  sleeve, pattern, length, neckline, material) against the query's parsed attributes;
* colour: the photo's main colours (CIELAB, measured on the garment, not the white background)
  and the caption's colours, against the query's colours (CIEDE2000).

A photo is compared by its colours, pattern (detail and direction), shape (silhouette) and
category, plus the caption's meaning and attributes when the photo is a catalog item.
"""

from collections.abc import Iterable
from pathlib import Path

from .catalog import (
    EXAMPLE_SETS,
    PEOPLE_SIDECAR,
    CatalogRecord,
    caption_from_filename,
    read_catalog,
    read_folder,
    read_records,
)
from .features import PhotoFeatures, measure
from .index import CatalogIndex, CatalogItem, SearchHit, SearchResults, calibrate_threshold, garment_palette


def build_catalog_index(folders: Iterable[Path], examples: str = "all") -> CatalogIndex:
    """Index every garment photo in ``folders`` (missing folders are skipped, duplicates once).

    Args:
        folders: catalog folders.
        examples: "all", or "commercial" to leave out photos marked ``commercial=no``.
    """
    return CatalogIndex.build(read_catalog(folders, examples))


__all__ = [
    "EXAMPLE_SETS",
    "PEOPLE_SIDECAR",
    "CatalogIndex",
    "CatalogItem",
    "CatalogRecord",
    "PhotoFeatures",
    "SearchHit",
    "SearchResults",
    "build_catalog_index",
    "calibrate_threshold",
    "caption_from_filename",
    "garment_palette",
    "measure",
    "read_catalog",
    "read_folder",
    "read_records",
]

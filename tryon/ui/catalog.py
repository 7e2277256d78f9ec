"""The shop window's actions: browse the catalog, search it, find similar garments, colour advice.

Everything comes from the pipeline's shop-window functions (:func:`tryon.pipeline.catalog_records`,
:func:`~tryon.pipeline.search_catalog`, :func:`~tryon.pipeline.find_similar`,
:func:`~tryon.pipeline.colour_advice`); this module only turns their answers into what the page
shows: a :class:`Shelf` (gallery entries and a one-line message) and the advice's HTML. No layout
and no gradio here (:mod:`tryon.ui.app` lays it out and wires it).

A garment photo picked from the catalog reaches the server as a copy in Gradio's upload cache, not
as the catalog file: :meth:`Catalog.catalog_path` recognises it by the sha256 of its bytes, so
"find similar" leaves the picked item itself out of its answer.
"""

from __future__ import annotations

import dataclasses
import html
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from .. import pipeline
from ..config import Settings
from ..errors import TryOnError
from .format import escape_markdown
from .results import file_key

# The category filter: (label, value); "all" lists every category.
CATEGORY_FILTERS = (("All", "all"), ("Tops", "upper"), ("Bottoms", "lower"), ("Dresses", "dress"))
SHELF_SIZE = 12  # search, similar and advice answers shown (the full catalog is listed when browsing)
ADVICE_SUGGESTIONS = 8
TOP_PICKS = 3  # suggestions whose reason the advice spells out
NO_PERSON = "Add a photo of yourself first (or click an example): the advice reads your colouring from it."
NO_GARMENT = "Pick a garment from the catalog or upload a garment photo first, then press Find similar."


@dataclasses.dataclass(frozen=True)
class Shelf:
    """What the catalog gallery shows.

    Attributes:
        entries: ``(photo path, caption)`` of the garments, in order.
        message: one line above the gallery (how many, best matches, or "no close match").
        close_match: False when the backend said nothing in the catalog is close.
    """

    entries: tuple[tuple[str, str], ...]
    message: str
    close_match: bool = True

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.entries]


def category_value(choice: str | None) -> str | None:
    """The pipeline's category for a filter choice: None for "all" (or nothing picked)."""
    return None if choice in (None, "", "all") else choice


class Catalog:
    """The catalog as the shop window shows it, for one server (thread-safe; records read once)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._records: list[Any] | None = None
        self._by_content: dict[str, Path] | None = None
        self._lock = threading.Lock()

    @property
    def records(self) -> list[Any]:
        """The catalog records the settings allow (:func:`tryon.pipeline.catalog_records`; no model)."""
        with self._lock:
            if self._records is None:
                self._records = list(pipeline.catalog_records(self.settings))
            return self._records

    def caption_of(self, path: str | None) -> str | None:
        """The catalog caption of a garment photo (a catalog file or a copy of one), else None."""
        found = self.catalog_path(path)
        return next((record.caption for record in self.records if record.path == found), None) if found else None

    def catalog_path(self, path: str | None) -> Path | None:
        """The catalog file whose bytes ``path`` holds (a picked item's upload copy), or None."""
        key = file_key(path)
        if key is None:
            return None
        with self._lock:
            if self._by_content is None:
                records = self._records or list(pipeline.catalog_records(self.settings))
                self._by_content = {file_key(record.path): record.path for record in records}
        return self._by_content.get(key)

    # ---- browsing and search

    def browse(self, query: str | None, choice: str | None) -> Shelf:
        """The shelf for a search box and category filter: the whole category when the box is blank
        (no model needed), else the best matches, or the nearest items with "no close match"."""
        category = category_value(choice)
        if not query or not query.strip():
            records = [r for r in self.records if category is None or r.category == category]
            entries = tuple((str(r.path), r.caption) for r in records)
            return Shelf(entries, f"{len(entries)} garments" + (f" ({_plural(choice)})" if category else ""))
        found = pipeline.search_catalog(query, category, k=SHELF_SIZE, settings=self.settings)
        entries = tuple((str(hit.item.path), hit.item.caption) for hit in found.hits)
        words = escape_markdown(query.strip())
        where = f" in {_plural(choice)}" if category else ""
        if not found.close_match:
            return Shelf(entries, f"**No close match** for '{words}'{where}: these are the nearest items.",
                         close_match=False)
        return Shelf(entries, f"Best matches for '{words}'{where}")

    def similar(self, garment: str | None, choice: str | None) -> Shelf:
        """Catalog garments that look like ``garment`` (an upload, or a picked item, left out itself).

        Raises:
            TryOnError: no garment photo, or it shows no garment (the message says what to do).
        """
        if not garment:
            raise TryOnError(NO_GARMENT)
        own = self.catalog_path(garment)
        found = pipeline.find_similar(str(own or garment), category_value(choice), k=SHELF_SIZE,
                                      settings=self.settings)
        entries = tuple((str(hit.item.path), hit.item.caption) for hit in found.hits)
        what = f"'{escape_markdown(self.caption_of(garment))}'" if own else "your garment photo"
        where = f" among {_plural(choice)}" if category_value(choice) else ""
        if not found.close_match:
            return Shelf(entries, f"**No close match**: nothing{where} looks much like {what}; these are the "
                         "nearest items.", close_match=False)
        return Shelf(entries, f"Looks like {what}{where}")

    def picked(self, path: str | None) -> str:
        """The line above the gallery once a garment is picked from it."""
        caption = next((record.caption for record in self.records if str(record.path) == path), None)
        return f"Picked '{escape_markdown(caption)}': press **Try on**." if caption else "Picked: press **Try on**."

    def licence_note(self) -> str:
        """Where the catalog photos come from, by licence, for the product manager."""
        counts = Counter((record.licence or "licence not stated", record.commercial) for record in self.records)
        parts = [f"{count} {licence}" + ("" if commercial else " (non-commercial)")
                 for (licence, commercial), count in sorted(counts.items(), key=lambda kv: -kv[1])]
        return "Catalog photos: " + ", ".join(parts) + "; see assets/ATTRIBUTION.md."

    # ---- colour advice

    def advice(self, person: str | None) -> tuple[str, Shelf]:
        """Colour and cut advice for a person photo: ``(HTML, catalog garments in the suited colours)``.

        Raises:
            TryOnError: no photo, or not a usable photo of one person.
        """
        if not person:
            raise TryOnError(NO_PERSON)
        advice = pipeline.colour_advice(person, k=ADVICE_SUGGESTIONS, settings=self.settings)
        entries = tuple((str(s.item.path), s.item.caption) for s in advice.suggestions)
        return advice_html(advice), Shelf(entries, "From the catalog, in your colours")


def _plural(choice: str | None) -> str:
    return next((label.lower() for label, value in CATEGORY_FILTERS if value == choice), str(choice))


def _swatches(colours: Any, css: str) -> str:
    chips = []
    for name, (r, g, b) in colours:
        swatch = f"<span class='swatch' style='background:rgb({r},{g},{b})'></span>"
        chips.append(f"<span class='{css}'>{swatch}{html.escape(name)}</span>")
    return "".join(chips)


def advice_html(advice: Any) -> str:
    """The advice (:class:`tryon.stages.advice.Advice`) as HTML: its label first (a suggestion, not a
    rule), the suited and avoided colours as swatches, the reason in words, the cut tips, then the best
    catalog picks with why (the gallery under it shows them all)."""
    colours, proportions = advice.colours, advice.proportions
    tips = "".join(f"<li>{html.escape(tip)}</li>" for tip in proportions.tips)
    picks = "".join(f"<li>{html.escape(s.item.caption)}: {html.escape(s.reason)}</li>"
                    for s in advice.suggestions[:TOP_PICKS])
    return (
        f"<div class='advice'><p class='advice-label'>{html.escape(advice.label)}.</p>"
        f"<p><b>Colours that suit you</b> ({html.escape(colours.season)} colouring)</p>"
        f"<div class='chips'>{_swatches(colours.suits, 'chip')}</div>"
        f"<p><b>Keep away from the face</b></p><div class='chips'>{_swatches(colours.avoid, 'chip unsure')}</div>"
        f"<p class='advice-reason'>{html.escape(colours.reason)}</p>"
        + (f"<p><b>Cut and length</b></p><ul>{tips}</ul>" if tips else "")
        + (f"<p><b>From the catalog, in your colours</b> (tap one below to try it)</p><ul>{picks}</ul>"
           if picks else "")
        + "</div>"
    )

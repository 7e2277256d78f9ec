"""The clickable examples: one per kind of try-on a product manager shows, each runs when clicked.

Every example uses photos that may be used commercially (the openvto full-body people, MIT; the
project's own garment photos, Apache-2.0), so they show whatever ``TRYON_EXAMPLES`` says; an
example whose photos the settings leave out (a custom catalog without them) is not offered.
Together they cover a top, trousers, a dress, a garment made from words alone (Chinese) and a
photo edited by words.

Why not Gradio's example cache (``cache_examples``): a cached answer has no result held on the
server behind it, so flagging it, correcting its edit area and the history strip would not work,
and one cached token would be shared by every visitor. Instead the examples' people and garments
are analysed at start-up (:func:`tryon.ui.shop.warm_up`), so a click costs only the render.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import pipeline
from ..config import Settings


@dataclasses.dataclass(frozen=True)
class Example:
    """One example: its label on the page and what it fills in.

    Attributes:
        label: what the button says (the kind of try-on and the garment).
        person: a file name in ``assets/people``.
        garment: a file name in ``assets/garments``, or None (the garment comes from the words).
        description: the words typed ("" for none).
        category: the category chosen.
    """

    label: str
    person: str
    garment: str | None
    description: str = ""
    category: str = "auto"


EXAMPLES = (
    Example("Dress: red sleeveless mini dress", "openvto_2_posture.jpg", "tryon_red_sleeveless_mini_dress.jpg"),
    Example("Trousers: grey joggers", "openvto_1_posture.jpg", "tryon_grey_joggers.jpg"),
    Example("Top: red sweater", "openvto_3_posture.jpg", "tryon_red_long_sleeve_sweater.jpg"),
    Example("From words: 一条黑色的半身裙", "openvto_2_posture.jpg", None, "一条黑色的半身裙"),
    Example("Photo + words: navy polo, 'make it red'", "openvto_1_posture.jpg",
            "tryon_navy_short_sleeve_polo_shirt.jpg", "make it red"),
)


def example_rows(settings: Settings) -> list[tuple[Example, list[Any]]]:
    """The examples the settings allow, each with its row for ``gr.Examples``:
    ``[person path, garment path or None, description, category]``."""
    people = {record.path.name: str(record.path) for record in pipeline.example_people(settings)}
    garments = {record.path.name: str(record.path) for record in pipeline.catalog_records(settings)
                if record.path.parent == pipeline.GARMENTS_DIR}
    rows = []
    for example in EXAMPLES:
        garment = garments.get(example.garment) if example.garment else None
        if example.person in people and (example.garment is None or garment is not None):
            rows.append((example, [people[example.person], garment, example.description, example.category]))
    return rows

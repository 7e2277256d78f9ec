"""What a description says about a garment: :class:`GarmentSpec`."""

from __future__ import annotations

import dataclasses

from .colour import hex_code

CATEGORIES = ("upper", "lower", "dress")
SLEEVES = ("none", "short", "three_quarter", "long")
ATTRIBUTES = ("category", "colour", "sleeve", "length", "pattern", "neckline", "fit", "material")


@dataclasses.dataclass(frozen=True)
class GarmentSpec:
    """What a description says about a garment.

    Attributes:
        text: the description as given (trimmed).
        category: "upper", "lower", "dress", or None when the text does not tell.
        garment_type: the garment word in English ("shirt", "jeans", "dress", ...) or None.
        colours: ``((name, (r, g, b)), ...)`` in order of mention; sRGB uint8 values.
            Several colours mean a multi-colour garment ("red and white stripes").
        sleeve: one of :data:`SLEEVES` or None.
        length: "cropped", "regular", "long" (tops), "mini", "midi", "maxi" (dresses, skirts) or None.
        pattern: "solid", "stripes", "checks", "dots", "floral", "denim", "print" or None.
        neckline, fit, material: a word each, or None when not said.
        colour_part: the garment part the colours apply to ("sleeves", "body"; "make the sleeves
            green", "袖子改成绿色"), or None for the whole garment.
        unplaced: leftover phrases that neither the lexicon nor the encoder placed ("winter boots");
            :func:`tryon.stages.text.encoder.unplaced_words` tells which of their words name something.
        implied: attributes filled from the garment type, not stated (a tee's short sleeves).
        encoded: attributes read by the text encoder or spelling correction rather than the lexicon.
        uncertain: attributes the text did not settle (unsaid core ones, or contradictory).
        messages: sentences for the user about what was ignored or could not be told.
    """

    text: str
    category: str | None = None
    garment_type: str | None = None
    colours: tuple[tuple[str, tuple[int, int, int]], ...] = ()
    sleeve: str | None = None
    length: str | None = None
    pattern: str | None = None
    neckline: str | None = None
    fit: str | None = None
    material: str | None = None
    # Left out of repr: the synthesizer seeds its fabric on repr(spec), and draws the whole garment.
    colour_part: str | None = dataclasses.field(default=None, repr=False)
    unplaced: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    implied: tuple[str, ...] = ()
    encoded: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()

    @property
    def rgb(self) -> tuple[int, int, int] | None:
        """The main colour (first named), sRGB, or None."""
        return self.colours[0][1] if self.colours else None

    @property
    def understood(self) -> bool:
        """True when the text set at least one attribute."""
        return any(
            getattr(self, name) is not None
            for name in (
                "category",
                "garment_type",
                "sleeve",
                "length",
                "pattern",
                "neckline",
                "fit",
                "material",
            )
        ) or bool(self.colours)

    def summary(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs for the UI's "understood as" chips.

        Implied values say so; core attributes that could not be told read "could not tell".
        """

        def shown(name: str, value: str) -> str:
            value = value.replace("_", " ")
            return f"{value} (implied)" if name in self.implied else value

        rows: list[tuple[str, str]] = []
        if self.garment_type:
            rows.append(("garment", self.garment_type))
        if self.category:
            rows.append(("category", self.category))
        elif "category" in self.uncertain:
            rows.append(("category", "could not tell"))
        if self.colours:
            rows.append(
                (
                    "colour",
                    " + ".join(n if n.startswith("#") else f"{n} {hex_code(rgb)}" for n, rgb in self.colours),
                )
            )
        elif "colour" in self.uncertain:
            rows.append(("colour", "could not tell"))
        for name, label in (
            ("sleeve", "sleeves"),
            ("length", "length"),
            ("pattern", "pattern"),
            ("neckline", "neckline"),
            ("fit", "fit"),
            ("material", "material"),
        ):
            value = getattr(self, name)
            if value is not None:
                rows.append((label, shown(name, value)))
            elif name in self.uncertain:
                rows.append((label, "could not tell"))
        return rows


# Words :meth:`GarmentSpec.describe` uses for attribute values.
_PATTERN_WORDS = {"stripes": "striped", "checks": "checked", "dots": "polka dot", "solid": "plain"}
_SLEEVE_WORDS = {"none": "sleeveless", "short": "short-sleeve", "three_quarter": "three-quarter-sleeve",
                 "long": "long-sleeve"}
_CATEGORY_WORDS = {"upper": "top", "lower": "trousers", "dress": "dress"}


def describe(spec: GarmentSpec) -> str:
    """The spec's stated attributes as a short English caption ("navy striped long-sleeve shirt"),
    "" when it states none. Catalog search compares it with captions too: a Chinese query then
    also meets English captions in English."""
    stated = {name: getattr(spec, name) for name in ("pattern", "material", "sleeve", "length")}
    stated = {name: value for name, value in stated.items() if value is not None and name not in spec.implied}
    words = [" and ".join(name for name, _ in spec.colours)] if spec.colours else []
    if "pattern" in stated:
        words.append(_PATTERN_WORDS.get(stated["pattern"], stated["pattern"]))
    if "material" in stated and stated["material"] != stated.get("pattern"):
        words.append(stated["material"])
    if "length" in stated:
        words.append(stated["length"])
    if "sleeve" in stated:
        words.append(_SLEEVE_WORDS[stated["sleeve"]])
    if spec.garment_type or spec.category:
        words.append(spec.garment_type or _CATEGORY_WORDS[spec.category])  # type: ignore[index]
    return " ".join(words).replace("_", " ")

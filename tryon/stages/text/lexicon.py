"""The word tables (``data/*.toml``, package data) and the compiled lexicon over them.

The tables can be edited without touching Python: ``colours.toml`` (colour names, their sRGB and
words), ``garments.toml`` (garment types, their category, what they imply, their words),
``attributes.toml`` (sleeve, length, pattern, neckline, fit, material and garment-part words,
negation cues), ``stopwords.toml`` (words that carry no attribute) and ``prototypes.toml``
(phrases that anchor the text encoder). They are read once per process.

Terms are lower case. English terms match on word boundaries with an optional plural/participle
ending and with or without their spaces ("turtle neck" = "turtleneck"); Chinese terms and emoji
match anywhere. The longest term wins where terms overlap.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
import unicodedata
from importlib import resources
from typing import Any

DATA_PACKAGE = __package__ + ".data" if __package__ else "tryon.stages.text.data"
# Attribute tables in attributes.toml (the other tables there are cues).
ATTRIBUTE_TABLES = ("sleeve", "length", "pattern", "neckline", "fit", "material", "part")
_ASCII_WORD_END = re.compile(r"[a-z]$")

Attrs = tuple[tuple[str, str], ...]  # (attribute, value) pairs; attribute also "neg", "modifier", "lenword"


@functools.cache
def table(name: str) -> dict[str, Any]:
    """The parsed TOML file ``data/<name>.toml``."""
    with resources.files(DATA_PACKAGE).joinpath(f"{name}.toml").open("rb") as fh:
        return tomllib.load(fh)


@functools.cache
def colour_rgb() -> dict[str, tuple[int, int, int]]:
    """Canonical colour name -> sRGB (a typical dyed-fabric shade of that name)."""
    return {name: tuple(entry["rgb"]) for name, entry in table("colours")["colours"].items()}  # type: ignore[misc]


@functools.cache
def garment_types() -> dict[str, dict[str, str]]:
    """Garment type -> ``{"category": ..., attribute: implied value, ...}``."""
    return {
        name: {"category": entry["category"], **entry.get("implies", {})}
        for name, entry in table("garments")["garments"].items()
    }


@functools.cache
def stopwords() -> tuple[frozenset[str], tuple[str, ...]]:
    """English stop words (a set) and Chinese stop words (multi-character ones first)."""
    words = table("stopwords")
    return frozenset(words["english"]), tuple(words["chinese"])


@functools.cache
def prototype_phrases() -> tuple[tuple[str, tuple[str, str]], ...]:
    """``(phrase, (attribute, value))`` for every encoder prototype; attribute "filler" carries none."""
    return tuple(
        (phrase, (entry["attribute"], entry["value"]))
        for entry in table("prototypes")["prototypes"]
        for phrase in entry["phrases"]
    )


def normalise(text: str) -> str:
    """Lower-case, NFKC (full-width to ASCII), one space between words, hyphens as spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\ufe0f", "").replace("\u200d", "")
    text = re.sub(r"3\s*/\s*4", " three quarter ", text)
    text = re.sub(r"[-_/]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _entries() -> list[tuple[str, str, str]]:
    """``(term, attribute, value)`` for every word in the tables, in table order."""
    colours, garments, attributes = table("colours"), table("garments"), table("attributes")
    out = [(t, "colour", name) for name, entry in colours["colours"].items() for t in entry["terms"]]
    out += [(t, "modifier", kind) for kind, terms in colours["modifiers"].items() for t in terms]
    out += [(t, "garment", name) for name, entry in garments["garments"].items() for t in entry["terms"]]
    out += [(word, a, v) for word, attrs in garments["word_attributes"].items() for a, v in attrs.items()]
    for attribute in ATTRIBUTE_TABLES:
        out += [(t, attribute, v) for v, terms in attributes.get(attribute, {}).items() for t in terms]
    out += [(t, "lenword", v) for v, terms in attributes["length_words"].items() for t in terms]
    out += [(t, "neg", "") for t in attributes["cues"]["negations"]]
    out += [(t, "filler", "") for t in attributes["cues"]["not_negations"]]
    return out


def _term_pattern(term: str) -> str:
    escaped = re.escape(term).replace(r"\ ", r"\s?")
    if not term.isascii():
        return escaped
    suffix = "(?:s|es|d|ed)?" if _ASCII_WORD_END.search(term) else ""
    start = r"(?<![a-z0-9])" if term[0].isalnum() else ""
    end = r"(?![a-z0-9])" if term[-1].isalnum() else ""
    return f"{start}{escaped}{suffix}{end}"


@dataclasses.dataclass(frozen=True)
class Lexicon:
    """One regex over every term (longest first) and what each match means.

    Attributes:
        regex: named groups ``t0``, ``t1``, ...; ``groups[name]`` gives the attributes of a match.
        groups: group name -> attributes.
        terms: term as spelled (with its spaces) -> attributes.
    """

    regex: re.Pattern[str]
    groups: dict[str, Attrs]
    terms: dict[str, Attrs]


@functools.cache
def lexicon() -> Lexicon:
    """The compiled lexicon (once per process)."""
    # Keyed without spaces: "turtle neck" and "turtleneck" are one term (the pattern allows both).
    found: dict[str, list[tuple[str, str]]] = {}
    spelled: dict[str, str] = {}
    for raw, attribute, value in _entries():
        term = normalise(raw)
        key = term.replace(" ", "")
        if " " in term or key not in spelled:
            spelled[key] = term
        attrs = found.setdefault(key, [])
        if (attribute, value) not in attrs:
            attrs.append((attribute, value))
    keys = sorted(found, key=lambda k: (-len(k), k))
    regex = re.compile("|".join(f"(?P<t{i}>{_term_pattern(spelled[k])})" for i, k in enumerate(keys)))
    return Lexicon(
        regex=regex,
        groups={f"t{i}": tuple(found[k]) for i, k in enumerate(keys)},
        terms={spelled[k]: tuple(attrs) for k, attrs in found.items()},
    )

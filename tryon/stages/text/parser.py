"""Read a garment description (English, Chinese or both) into a :class:`GarmentSpec`.

1. The lexicon (:mod:`.lexicon`, word tables in ``data/``) is matched longest-first over the
   normalised text, colour codes (``#rrggbb``, ``rgb(r, g, b)``) too. It reads what a sentence
   encoder cannot read reliably: Chinese words without spaces, colour values, negation ("not red",
   "不要条纹"), compounds whose head is the last noun ("dress shirt" is a shirt, "shirt dress" a dress).
2. Leftover English words close to a lexicon word are read as it ("shrit" -> shirt); the other
   leftover words are grouped into short phrases for the encoder (:mod:`.encoder`), which places
   words the lexicon has never seen ("kimono" -> dress). Lexicon hits win over these guesses.
3. Contradictions ("red and not red") leave that attribute unset, name it in ``uncertain`` and
   explain in ``messages``; the garment type fills in what it implies (a tee has short sleeves).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re

from ...errors import TryOnError
from .colour import hex_code, modify_colour
from .encoder import classify_phrases
from .lexicon import Attrs, colour_rgb, garment_types, lexicon, normalise, stopwords
from .spec import ATTRIBUTES, GarmentSpec

# Descriptions are read up to this many characters (a pasted product page is longer).
MAX_DESCRIPTION_CHARS = 2000
# At most this many unknown phrases go through the encoder per description (keeps parse fast).
MAX_ENCODER_PHRASES = 6
MAX_PHRASE_WORDS = 4
# A negation cue ("not", "不要") applies to an attribute this many characters after it.
NEGATION_REACH_CHARS = 12
# Spelling: a leftover English word this close (difflib ratio) to a one-word lexicon term, with
# the same first letter, is read as that term ("shrit" -> shirt, "trosers" -> trousers).
SPELLING_CUTOFF = 0.8
SPELLING_MIN_LENGTH = 4
SPELLING_ATTRIBUTES = ("garment", "colour", "pattern", "material", "fit", "sleeve", "neckline", "length")
SINGLE_VALUED = ("sleeve", "length", "pattern", "neckline", "fit", "material")
# Where several are stated, these attributes keep the first ("cotton and linen" -> cotton).
FIRST_WINS = ("material", "fit")
# Patterns that give way to a more specific one ("floral print", "striped jeans").
WEAK_PATTERNS = ("print", "denim")
MODIFIER_WORDS = {"lighter": "light", "darker": "dark", "brighter": "bright"}
HELP_EXAMPLE = "e.g. 'a red long-sleeve shirt' or '一件蓝色的牛仔裤'"

# "from red to navy", "从红色改成蓝色": the first colour is the one being replaced.
_FROM_TO = re.compile(
    r"(?:\bfrom\b|从)(?P<old>[^,;.，。]{1,24}?)(?:\bto\b|\binto\b|改成|换成|变成|改为|换为|到)"
)
_CHAIN = re.compile(r"\s*(?:or|nor|and|、|/|或|和|或者)?\s*")
_PUNCTUATION_SPLIT = re.compile(r"[,;.!?:()\[\]{}\"'、，。！？；：…\n\t]+")
_HEX = re.compile(r"#(?P<hex>[0-9a-f]{6}|[0-9a-f]{3})(?![0-9a-z])")
_RGB = re.compile(r"rgb\s*\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)")
_CJK = re.compile(r"[\u3400-\u9fff]")
_TOKEN = re.compile(r"[a-z][a-z']*|[\u3400-\u9fff]+|[^\sa-z0-9\u3400-\u9fff]")


@dataclasses.dataclass(frozen=True)
class _Hit:
    """One lexicon match in the normalised text."""

    start: int
    end: int
    term: str
    attrs: Attrs
    negated: bool = False


@dataclasses.dataclass
class _Reading:
    """What the hits and encoder guesses say, before contradictions and implications are resolved."""

    values: dict[str, list[str]] = dataclasses.field(
        default_factory=lambda: {a: [] for a in ("garment", "part", *ATTRIBUTES[2:])}
    )
    negated: dict[str, set[str]] = dataclasses.field(
        default_factory=lambda: {a: set() for a in ("garment", "part", *ATTRIBUTES[2:])}
    )
    colours: list[tuple[str, tuple[int, int, int]]] = dataclasses.field(default_factory=list)
    neg_colours: set[str] = dataclasses.field(default_factory=set)
    length_words: list[str] = dataclasses.field(default_factory=list)
    garment_runs: list[list[_Hit]] = dataclasses.field(default_factory=list)
    encoded: list[str] = dataclasses.field(default_factory=list)
    messages: list[str] = dataclasses.field(default_factory=list)
    uncertain: list[str] = dataclasses.field(default_factory=list)


def parse(description: str) -> GarmentSpec:
    """Read a garment description (English, Chinese or both) into a :class:`GarmentSpec`.

    Args:
        description: free text, e.g. "a red long-sleeve shirt", "一件蓝色的牛仔裤",
            "make it navy, short sleeves". Longer than :data:`MAX_DESCRIPTION_CHARS`
            is read up to that length (with a message).

    Returns:
        The spec; attributes the text does not settle are None and listed in ``uncertain``
        with an explanation in ``messages`` (contradictions, unreadable input).

    Raises:
        TryOnError: the description is empty or not text.
    """
    if not isinstance(description, str) or not description.strip():
        raise TryOnError(f"Describe the garment in words, {HELP_EXAMPLE}.")
    raw = description.strip()
    reading = _Reading()
    if len(raw) > MAX_DESCRIPTION_CHARS:
        reading.messages.append(
            f"Read the first {MAX_DESCRIPTION_CHARS:,} characters of a {len(raw):,}-character description."
        )
        raw = raw[:MAX_DESCRIPTION_CHARS]
    text = normalise(raw)
    hits = _apply_negations(text, _scan(text))
    corrected, phrases = _correct_spelling(_leftover_phrases(text, hits))
    reading.messages += [f"Read '{word}' as '{term}'." for word, term, _ in corrected]
    guesses = [(word, attr, value) for word, _, attrs in corrected for attr, value in attrs]
    placed = classify_phrases(phrases)
    guesses += placed
    _collect_hits(text, hits, reading)
    _merge_guesses(guesses, reading)
    spec = _resolve(raw, reading)
    unplaced = tuple(p for p in phrases if p not in {phrase for phrase, _, _ in placed})
    if unplaced:
        spec = dataclasses.replace(spec, unplaced=unplaced)
    if not spec.understood and not hits and not guesses:
        message = f"Found no garment words in the description: name the garment and its colour, {HELP_EXAMPLE}."
        spec = dataclasses.replace(spec, messages=(*spec.messages, message))
    return spec


# ---------------------------------------------------------------------------
# 1. Lexicon matches and negation.
# ---------------------------------------------------------------------------


def _scan(text: str) -> list[_Hit]:
    """All lexicon matches, hex/rgb colour codes included, in text order."""
    lex = lexicon()
    hits = [_Hit(m.start(), m.end(), m.group(), lex.groups[m.lastgroup or ""]) for m in lex.regex.finditer(text)]
    for m in _HEX.finditer(text):
        code = m.group("hex")
        if len(code) == 3:
            code = "".join(c * 2 for c in code)
        rgb = (int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16))
        hits.append(_Hit(m.start(), m.end(), m.group(), (("colour", hex_code(rgb)),)))
    for m in _RGB.finditer(text):
        r, g, b = (min(int(v), 255) for v in m.groups())
        hits.append(_Hit(m.start(), m.end(), m.group(), (("colour", hex_code((r, g, b))),)))
    hits.sort(key=lambda h: (h.start, -h.end))
    kept: list[_Hit] = []
    for hit in hits:  # codes and lexicon terms may overlap ("#1e90ff" vs "ff"): keep the first/longest
        if kept and hit.start < kept[-1].end:
            continue
        kept.append(hit)
    return kept


def _gap_is_blank(text: str, start: int, end: int) -> bool:
    return not text[start:end].strip(" ")


def _apply_negations(text: str, hits: list[_Hit]) -> list[_Hit]:
    """Mark the attribute hits that a negation cue (or "from X to") rules out; drop the cues.

    A cue negates the next attribute within :data:`NEGATION_REACH_CHARS` in the same clause,
    and what is chained to it by "or"/"、"/"和" ("not red or blue", "不要红色和蓝色").
    """
    replaced: set[int] = set()
    for m in _FROM_TO.finditer(text):
        replaced.update(range(m.start("old"), m.end("old")))
    out: list[_Hit] = []
    cue_end: int | None = None
    for hit in hits:
        kinds = {a for a, _ in hit.attrs}
        if kinds == {"neg"}:
            cue_end = hit.end
            continue
        if kinds == {"filler"}:
            continue
        negated = hit.start in replaced
        if cue_end is not None and hit.start - cue_end <= NEGATION_REACH_CHARS:
            negated = negated or not _PUNCTUATION_SPLIT.search(text[cue_end : hit.start])
        if not negated and out and out[-1].negated and kinds & {a for a, _ in out[-1].attrs}:
            negated = bool(_CHAIN.fullmatch(text[out[-1].end : hit.start]))
        out.append(dataclasses.replace(hit, negated=negated))
        if kinds != {"modifier"}:
            cue_end = None
    return out


# ---------------------------------------------------------------------------
# 2. Words the lexicon did not cover: spelling, then the encoder.
# ---------------------------------------------------------------------------


def _leftover_phrases(text: str, hits: list[_Hit]) -> list[str]:
    """Words outside every lexicon hit, grouped into short phrases for the encoder."""
    english_stopwords, chinese_stopwords = stopwords()
    chars = list(text)
    for hit in hits:
        chars[hit.start : hit.end] = [","] * (hit.end - hit.start)
    phrases: list[str] = []
    for chunk in _PUNCTUATION_SPLIT.split("".join(chars)):
        for word in chinese_stopwords:  # multi-character stop words are listed first
            chunk = chunk.replace(word, " ")
        words: list[str] = []
        for token in _TOKEN.findall(chunk):
            single = len(token) == 1 and (token.isascii() or _CJK.match(token))
            if token in english_stopwords or single:
                phrases.append(" ".join(words))
                words = []
                continue
            words.append(token)
            if len(words) == MAX_PHRASE_WORDS:
                phrases.append(" ".join(words))
                words = []
        phrases.append(" ".join(words))
    return list(dict.fromkeys(p for p in phrases if p.strip()))[:MAX_ENCODER_PHRASES]


@functools.cache
def _spelling_vocabulary() -> dict[str, Attrs]:
    """One-word ASCII lexicon terms that spelling correction may map a leftover word to."""
    return {
        term: attrs
        for term, attrs in lexicon().terms.items()
        if term.isascii()
        and term.isalpha()
        and len(term) >= SPELLING_MIN_LENGTH
        and all(attr in SPELLING_ATTRIBUTES for attr, _ in attrs)
    }


def _correct_spelling(phrases: list[str]) -> tuple[list[tuple[str, str, Attrs]], list[str]]:
    """Split leftover phrases into misspelt lexicon words ``(word, term, attrs)`` and the rest."""
    vocabulary = _spelling_vocabulary()
    corrected = []
    rest = []
    for phrase in phrases:
        kept = []
        for word in phrase.split(" "):
            close = []
            if word.isascii() and word.isalpha() and len(word) >= SPELLING_MIN_LENGTH:
                candidates = [t for t in vocabulary if t[0] == word[0] and abs(len(t) - len(word)) <= 1]
                close = difflib.get_close_matches(word, candidates, n=1, cutoff=SPELLING_CUTOFF)
            if close:
                corrected.append((word, close[0], vocabulary[close[0]]))
            else:
                kept.append(word)
        if kept:
            rest.append(" ".join(kept))
    return corrected, rest


# ---------------------------------------------------------------------------
# 3. Collect the values per attribute.
# ---------------------------------------------------------------------------


def _collect_hits(text: str, hits: list[_Hit], reading: _Reading) -> None:
    """Sort the lexicon hits into ``reading``: colours (with their modifiers), garment-word runs,
    bare length words and attribute values, negated ones apart."""
    modifier: str | None = None
    previous_end = -1
    for hit in hits:
        attrs = dict(hit.attrs)
        if "modifier" in attrs:
            modifier, previous_end = attrs["modifier"], hit.end
            if len(attrs) == 1:
                continue
        for attr, value in hit.attrs:
            if attr in ("modifier", "neg", "filler"):
                continue
            if attr == "colour":
                applied = modifier if modifier and _gap_is_blank(text, previous_end, hit.start) else None
                _add_colour(value, applied, hit.negated, reading)
            elif attr == "lenword":
                if not hit.negated and len(hit.attrs) == 1:
                    reading.length_words.append(value)
            elif attr == "garment":
                _add_garment(text, hit, value, reading)
            elif hit.negated:
                reading.negated[attr].add(value)
            else:
                reading.values[attr].append(value)
        modifier = None
        previous_end = hit.end


def _add_colour(value: str, modifier: str | None, negated: bool, reading: _Reading) -> None:
    rgb = colour_rgb().get(value) or (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
    name = value
    if modifier:
        rgb = modify_colour(rgb, modifier)
        name = f"{MODIFIER_WORDS[modifier]} {value}"
    if negated:
        reading.neg_colours.add(name)
    elif name not in (n for n, _ in reading.colours):
        reading.colours.append((name, rgb))


def _add_garment(text: str, hit: _Hit, value: str, reading: _Reading) -> None:
    runs = reading.garment_runs
    if hit.negated:
        reading.negated["garment"].add(value)
    elif runs and runs[-1] and _gap_is_blank(text, runs[-1][-1].end, hit.start):
        runs[-1].append(hit)  # compound: the last noun is the head
    else:
        runs.append([hit])


def _merge_guesses(guesses: list[tuple[str, str, str]], reading: _Reading) -> None:
    """Add spelling and encoder guesses where the lexicon said nothing, then the garment heads."""
    values = reading.values
    for _phrase, attr, value in guesses:
        if attr == "garment" and not reading.garment_runs and not values["garment"]:
            values["garment"].append(value)
            reading.encoded.append("category")
        elif attr == "colour" and not reading.colours and value in colour_rgb():
            reading.colours.append((value, colour_rgb()[value]))
            reading.encoded.append("colour")
        elif attr in values and attr != "garment" and not values[attr]:
            values[attr].append(value)
            reading.encoded.append(attr)
    for run in reading.garment_runs:
        values["garment"].append(dict(run[-1].attrs)["garment"])


# ---------------------------------------------------------------------------
# 4. Resolve: garment, colours, single-valued attributes, implications.
# ---------------------------------------------------------------------------


def _resolve(raw: str, reading: _Reading) -> GarmentSpec:
    gtype = _choose_garment(reading)
    category = garment_types()[gtype]["category"] if gtype else None
    colours = _choose_colours(reading)
    chosen = {attr: _choose_single(attr, reading) for attr in SINGLE_VALUED}
    if chosen["length"] is None and "length" not in reading.uncertain and reading.length_words:
        chosen["length"] = _resolve_length_word(reading.length_words[0], category, gtype)
    implied = []
    for attr, value in (garment_types()[gtype].items() if gtype else ()):
        if attr != "category" and chosen.get(attr) is None and attr not in reading.uncertain:
            chosen[attr] = value
            implied.append(attr)
    if chosen["neckline"] == "strapless" and chosen["sleeve"] is None and "sleeve" not in reading.uncertain:
        chosen["sleeve"] = "none"  # no straps, no sleeves
        implied.append("sleeve")
    uncertain = reading.uncertain
    if category is None:
        uncertain.append("category")
    if not colours:
        uncertain.append("colour")
    if category in ("upper", "dress") and chosen["sleeve"] is None:
        uncertain.append("sleeve")
    parts = [p for p in dict.fromkeys(reading.values["part"]) if p not in reading.negated["part"]]
    return GarmentSpec(
        text=raw,
        category=category,
        garment_type=gtype,
        colours=tuple(colours),
        **chosen,
        colour_part=parts[0] if len(parts) == 1 and len(colours) == 1 else None,
        implied=tuple(implied),
        encoded=tuple(dict.fromkeys(reading.encoded)),
        uncertain=tuple(dict.fromkeys(uncertain)),
        messages=tuple(reading.messages),
    )


def _choose_garment(reading: _Reading) -> str | None:
    """The garment type; several garments of different categories: the first, with a message."""
    types = [t for t in dict.fromkeys(reading.values["garment"]) if t not in reading.negated["garment"]]
    gtype = types[0] if types else None
    if len({garment_types()[t]["category"] for t in types}) > 1:
        reading.messages.append(f"Mentions several garments ({', '.join(types)}); used the first, {gtype}.")
        reading.uncertain.append("category")
    return gtype


def _choose_colours(reading: _Reading) -> list[tuple[str, tuple[int, int, int]]]:
    """The colours asked for; a colour both asked for and ruled out is a contradiction."""
    colours, ruled_out = reading.colours, reading.neg_colours
    contradicted = [n for n, _ in colours if n in ruled_out]
    if contradicted:
        reading.messages.append(
            f"The description both asks for and rules out {', '.join(contradicted)}; could not tell the colour."
        )
        colours = [(n, c) for n, c in colours if n not in ruled_out]
        if not colours:
            reading.uncertain.append("colour")
    elif ruled_out and not colours:
        reading.messages.append(f"Says the colour is not {', '.join(sorted(ruled_out))} but not what it is.")
    return colours


def _choose_single(attr: str, reading: _Reading) -> str | None:
    """One value of a single-valued attribute; contradictions leave it unset (with a message)."""
    values, negated = reading.values[attr], reading.negated[attr]
    stated = [v for v in dict.fromkeys(values) if v not in negated]
    clash = set(values) & negated
    if attr == "pattern" and len(stated) > 1:
        stated = [v for v in stated if v not in WEAK_PATTERNS] or stated
    if attr in FIRST_WINS:
        stated = stated[:1]
    if clash or len(stated) > 1:
        shown = ", ".join(v.replace("_", " ") for v in sorted(clash or set(stated)))
        reading.messages.append(f"Could not tell the {attr}: the description says {shown} in contradictory ways.")
        reading.uncertain.append(attr)
        return None
    if not stated and attr == "pattern" and "print" in negated:
        return "solid"  # "no pattern", "无图案"
    return stated[0] if stated else None


def _resolve_length_word(word: str, category: str | None, gtype: str | None) -> str | None:
    """Meaning of a bare "long"/"short" given the garment ("long dress" = maxi)."""
    if category == "dress" or gtype == "skirt":
        return "maxi" if word == "long" else "mini"
    if category == "upper":
        return "long" if word == "long" else "cropped"
    return None

"""Text the UI shows: Markdown and HTML built from results, with user text always escaped.

Anything a user typed (a flag's note, a description, a name) reaches another person's screen
in the review tab; :func:`escape_markdown` makes it literal text there: no links, no images
(a remote image would tell its server who looked), no HTML, no formatting.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

UNSAID = "could not tell"
FROM_PHOTO = "from the photo"
# CommonMark lets a backslash escape any ASCII punctuation: escaping all of it leaves no link,
# image, HTML tag, entity, emphasis or autolink (an escaped ``http\://`` or ``www\.`` is not a link).
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def escape_markdown(text: Any) -> str:
    """``text`` as literal Markdown: every ASCII punctuation character backslash-escaped (so no
    formatting, link, autolink, image or HTML survives), line breaks kept as hard breaks."""
    lines = [_PUNCTUATION.sub(r"\\\1", line.strip()) for line in str(text).splitlines()]
    return "  \n".join(lines)


def timings_markdown(timings: Mapping[str, float], cached: bool) -> str:
    """A stage/time table, ``total`` in bold, and a note when the person analysis was cached."""
    rows = "\n".join(
        f"| {'**total**' if name == 'total' else name} | {seconds * 1000:.0f} ms |" for name, seconds in timings.items()
    )
    note = "Person analysis came from the cache (same photo as before)." if cached else ""
    return f"| stage | time |\n|---|--:|\n{rows}\n\n{note}"


def notes_markdown(notes: list[str] | tuple[str, ...], check: Any = None) -> str:
    """What the pipeline did (its edit notes: recoloured, sleeves from the words, jacket kept...) as a
    Markdown list, under a heading; the self-check's problems are left out (:func:`check_markdown`
    shows them)."""
    shown = [note for note in notes if check is None or note not in check.problems]
    if not shown:
        return ""
    return "**What we did**\n" + "\n".join(f"- {note}" for note in shown)


def check_markdown(check: Any) -> str:
    """The self-check (:class:`tryon.stages.check.ResultCheck`) in shopper words, or empty without one:
    a line when it passed, else what may be off, one item each."""
    if check is None:
        return ""
    if check.ok:
        return "✓ **Self-check passed**: the garment sits where it should on you."
    problems = "\n".join(f"- {problem}" for problem in check.problems)
    return f"**Self-check: something may be off**\n{problems}"


def chips_html(spec: Any | None, *, garment_photo: bool = False, message: str | None = None) -> str:
    """The "understood as" chips of a parsed description (:class:`tryon.stages.text.GarmentSpec`).

    With a garment photo, attributes the description leaves open come from the photo.
    ``message`` (e.g. why the text could not be read) is shown alone; neither: empty chips.
    """
    if message:
        return f"<div class='chips'><span class='chips-note'>{html.escape(message)}</span></div>"
    if spec is None:
        return "<div class='chips'></div>"
    chips = ["<span class='chips-title'>Understood as</span>"]
    for label, value in spec.summary():
        unsure = value == UNSAID
        if unsure and garment_photo:
            value = FROM_PHOTO
        swatch = ""
        if label == "colour" and spec.colours:
            r, g, b = (int(v) for v in spec.colours[0][1])
            swatch = f"<span class='swatch' style='background:rgb({r},{g},{b})'></span>"
        css = "chip unsure" if unsure else "chip"
        chips.append(f"<span class='{css}'>{swatch}{html.escape(label)}: {html.escape(str(value))}</span>")
    chips += [f"<span class='chips-note'>{html.escape(note)}</span>" for note in spec.messages]
    return "<div class='chips'>" + "".join(chips) + "</div>"

"""The Flag panel under a result: reasons, note, consent box, and what a flag stores.

A flag names its result by the result's token (which the try-on returned to this browser,
in the response body, never in a URL) and must come from the browser that made the result:
a copied Gradio session id carries neither. The record is built under the privacy rule of
:mod:`tryon.store.annotations` from the result held on the server (:mod:`tryon.ui.results`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from .. import pipeline
from ..config import Settings
from ..errors import TryOnError
from ..store.annotations import (
    REASONS,
    SYSTEM_FLAGGER,
    AnnotationStore,
    FlagRecord,
    idempotency_key,
    open_store,
    record_from_result,
)
from .errors import user_errors
from .guard import client_of
from .results import HeldResult, ResultCache, file_key

log = logging.getLogger(__name__)

CONSENT_LABEL = (
    "Keep my photo for quality review: my original photo is stored with this flag (and with results our "
    "self-check sends for review) and seen only by the team's reviewers. Without this, only the result "
    "is kept, with the face blurred."
)
ANONYMOUS_PREFIX = "anon-"
ANONYMOUS_ID_CHARS = 12


def flagger_id(request: gr.Request | None, profile: gr.OAuthProfile | None) -> str:
    """Who flags: the Hugging Face user name when signed in, else an anonymous id of the session.

    The anonymous id is a hash of Gradio's session hash, so the stored value cannot be
    used to join that session.
    """
    if profile is not None and getattr(profile, "username", None):
        return str(profile.username)
    username = getattr(request, "username", None)
    if username:
        return str(username)
    session = getattr(request, "session_hash", None) or "no-session"
    return ANONYMOUS_PREFIX + hashlib.sha256(session.encode()).hexdigest()[:ANONYMOUS_ID_CHARS]


def record_for(held: HeldResult, *, reasons: Sequence[str], note: str, consent: bool, flagged_by: str,
               settings: Settings, key: str | None = None) -> FlagRecord:
    """The flag record of a held result: photos read again from their uploads (the output is rebuilt
    on the person photo), privacy rule applied.

    Raises:
        TryOnError: no reason, a note or description too long, the person photo needed (consent)
            but gone from the server, or no face to blur (no consent).

    ``key``: the record's idempotency key (default: the result's token, one flag per result).
    """
    image = held.image
    person = None
    if consent or image is None:  # the photo is kept (consent), or the output is rebuilt on it
        if held.person_key is None or file_key(held.person_path) != held.person_key:
            raise TryOnError("Your photo is no longer on the server (uploads are kept for a while only): "
                             "press Try on again, then flag.")
        person = pipeline.load_photo(held.person_path, "person photo")
        image = held.output(person)
    garment, source = _garment_of(held)
    params = dict(held.params)
    if held.mask_used is not None:
        params["edit_mask"] = held.mask_used
    return record_from_result(
        dataclasses.replace(held, image=image, person=person if consent else None),
        reasons=reasons,
        note=note,
        consent=consent,
        flagged_by=flagged_by,
        description=held.description,
        params=params,
        garment=garment,
        garment_faces=held.garment_faces,
        garment_source=source,
        result_id=key or held.token,
        settings=settings,
    )


def _garment_of(held: HeldResult) -> tuple[np.ndarray | None, str | None]:
    """The garment photo as given (read again), and where it came from when that is not an upload."""
    if held.garment_path is None:
        return None, None
    if not Path(held.garment_path).is_file():
        return None, "upload expired (not kept)"
    try:
        return pipeline.load_photo(held.garment_path, "garment photo"), None
    except TryOnError:
        return None, "unreadable (not kept)"


class StoreFlaggingCallback(gr.FlaggingCallback):
    """Gradio's flagging interface, backed by the SQLite flag store instead of a CSV log.

    ``flag_data`` is ``[held result, reasons, note, consent]``; ``flag_option`` adds one reason
    code. :meth:`flag_held` is what the panel calls: it also says which record was written and
    whether it is new.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: AnnotationStore = open_store(settings.data_dir)

    def setup(self, components: Sequence[Any], flagging_dir: str | Path) -> None:
        """Open the store in ``flagging_dir`` (the data directory)."""
        self.store = open_store(flagging_dir)

    def flag(self, flag_data: list[Any], flag_option: str | None = None, username: str | None = None) -> int:
        """Store one flag; returns the number of flags stored."""
        held, reasons, note, consent = flag_data
        reasons = [*reasons, flag_option] if flag_option else list(reasons)
        self.flag_held(held, reasons, note, bool(consent), username or ANONYMOUS_PREFIX + "unknown")
        return self.store.count()

    def flag_held(self, held: HeldResult, reasons: Sequence[str], note: str, consent: bool,
                  flagged_by: str) -> tuple[int, bool]:
        """Store the flag of ``held``; returns ``(record id, created)``."""
        record = record_for(held, reasons=reasons, note=note, consent=consent, flagged_by=flagged_by,
                            settings=self.settings)
        return self.store.add(record)

    def flag_self_check(self, held: HeldResult, consent: bool) -> tuple[int, bool] | None:
        """Queue ``held`` for the annotators when its self-check found problems: a system flag with
        the problems as its note, the output's face blurred unless the shopper consented (the same
        privacy rule as a shopper's flag). One record per request (same photos, words, category,
        renderer and painted area), however often it is rendered again; None when the check passed.
        """
        check = held.check
        if check is None or check.ok:
            return None
        garment_key = file_key(held.garment_path) if held.garment_path else None
        key = idempotency_key("self-check", held.person_key, garment_key, held.description, held.category,
                              held.renderer, held.mask_used, consent)
        record = record_for(held, reasons=["self_check"], note=" ".join(check.problems), consent=consent,
                            flagged_by=SYSTEM_FLAGGER, settings=self.settings, key=key)
        return self.store.add(record)


@dataclasses.dataclass(frozen=True)
class FlagPanel:
    """The flag panel's inputs that belong to one result: clear them when a new result arrives."""

    reasons: gr.CheckboxGroup
    note: gr.Textbox
    message: gr.Markdown
    consent: gr.Checkbox
    callback: StoreFlaggingCallback

    @property
    def per_result(self) -> list[Any]:
        """Components to clear for a new result (outputs of :meth:`cleared`)."""
        return [self.reasons, self.note, self.message]

    @staticmethod
    def cleared() -> tuple[list[str], str, str]:
        """Values of :attr:`per_result` for a fresh result (the consent box keeps the shopper's choice)."""
        return [], "", ""


def build_flag_panel(result_token: gr.Textbox, settings: Settings, results: ResultCache) -> FlagPanel:
    """The Flag panel; call it inside the Blocks, under the result.

    Args:
        result_token: the (hidden) component holding the shown result's token.
        settings: app settings (``data_dir``).
        results: the server's held results.

    Endpoint: ``flag`` (result token, reasons, note, consent) -> message. One record per
    result: a double click or a retry returns the record already stored.

    Returns:
        the panel's per-result components (clear them when a new result is shown).
    """
    callback = StoreFlaggingCallback(settings)
    with gr.Accordion("Flag this result", open=False):
        reasons = gr.CheckboxGroup(choices=[(label, code) for code, label in REASONS.items()],
                                   label="What is wrong?")
        note = gr.Textbox(label="Note (optional)", placeholder="What should it look like?", lines=2)
        consent = gr.Checkbox(label=CONSENT_LABEL, value=False)
        flag_button = gr.Button("Flag", variant="secondary")
        message = gr.Markdown()

    @user_errors
    def flag(token: str, reason_codes: list[str], note_text: str, keep_photo: bool, request: gr.Request,
             profile: gr.OAuthProfile | None) -> str:
        if not token:
            raise TryOnError("Nothing to flag yet: run a try-on first, then flag its result.")
        held = results.get(token, client_of(request).binding)
        flag_id, created = callback.flag_held(held, reason_codes or [], note_text or "", bool(keep_photo),
                                              flagger_id(request, profile))
        if not created:
            return f"This result is already flagged (#{flag_id}). Thank you."
        kept = "your photo is kept for review" if keep_photo else "only the result is kept, face blurred"
        return f"Thank you: flagged as #{flag_id} ({kept})."

    flag_button.click(flag, inputs=[result_token, reasons, note, consent], outputs=message, api_name="flag",
                      trigger_mode="once")
    return FlagPanel(reasons=reasons, note=note, message=message, consent=consent, callback=callback)

"""Review of flags by annotators: who may review, and what the review tab does.

Access: an annotator either entered ``TRYON_REVIEW_TOKEN`` (once per browser
session; the UI keeps it in server-side session state) or is signed in with
Hugging Face (``hf_oauth: true`` on Spaces) as a member of ``TRYON_REVIEW_ORG``.
With neither setting, review is off. Every action of :class:`ReviewService`
authorizes its caller first, so the rule holds for API calls, not only in the UI.

No Gradio here: :mod:`tryon.ui.review_tab` wires these actions to the review tab
and turns :class:`tryon.errors.TryOnError` into ``gr.Error``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..errors import TryOnError
from .annotations import IMAGE_ROLES, REASONS, STATUSES, AnnotationStore, HistoryEntry, StoredRecord

log = logging.getLogger(__name__)

PAGE_SIZE = 20
TABLE_HEADERS = (
    "id", "flagged (UTC)", "status", "reasons", "renderer", "category", "note", "by", "photo kept",
)
NOTE_PREVIEW_CHARS = 60
DEFAULT_REVIEWER_NAME = "annotator"
REVIEWER_NAME_MAX_CHARS = 64


class ReviewAccessError(TryOnError):
    """The caller is not an annotator (no valid review token, not in the review organisation)."""


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What a caller presents.

    Attributes:
        token: the review token entered in this browser session, or None.
        name: the name the annotator gave with the token (recorded in the history).
        profile: the Hugging Face OAuth profile (OpenID userinfo) when signed in, or None.
        oauth_token: the OAuth access token when signed in, or None.
    """

    token: str | None = None
    name: str = ""
    profile: Mapping[str, Any] | None = None
    oauth_token: str | None = None


@dataclasses.dataclass(frozen=True)
class Reviewer:
    """An authorized annotator: ``name`` goes into the review history; ``via`` is "token" or "org"."""

    name: str
    via: str


def review_enabled(settings: Settings) -> bool:
    """True when some way to review is configured (a token or an organisation)."""
    return bool(settings.review_token or settings.review_org)


def authorize(settings: Settings, credentials: Credentials | None) -> Reviewer:
    """The annotator behind ``credentials``.

    Raises:
        ReviewAccessError: review is off, the token is wrong, or the signed-in user is
            not in the review organisation.
    """
    if not review_enabled(settings):
        raise ReviewAccessError(
            "Review is off on this server: set TRYON_REVIEW_TOKEN (or TRYON_REVIEW_ORG on Spaces) "
            "to enable it."
        )
    credentials = credentials or Credentials()
    if settings.review_token and credentials.token:
        if hmac.compare_digest(credentials.token.encode(), settings.review_token.encode()):
            name = (credentials.name or "").strip()[:REVIEWER_NAME_MAX_CHARS] or DEFAULT_REVIEWER_NAME
            return Reviewer(name=name, via="token")
        raise ReviewAccessError("Wrong review token: ask the maintainers for the current one.")
    if settings.review_org and credentials.profile is not None:
        user = str(credentials.profile.get("preferred_username") or "")
        if settings.review_org.lower() in org_names(credentials.profile, credentials.oauth_token):
            return Reviewer(name=user or DEFAULT_REVIEWER_NAME, via="org")
        raise ReviewAccessError(
            f"{user or 'This account'} is not a member of the {settings.review_org} organisation: "
            "ask its admins to add you, or enter the review token."
        )
    ways = []
    if settings.review_token:
        ways.append("enter the review token")
    if settings.review_org:
        ways.append(f"sign in with Hugging Face as a member of {settings.review_org}")
    raise ReviewAccessError(f"Only annotators can see flags: {' or '.join(ways)}.")


def org_names(profile: Mapping[str, Any], oauth_token: str | None = None) -> set[str]:
    """Lower-case names of the organisations of a signed-in user.

    Read from the OAuth profile's ``orgs`` claim; when the profile has none and a real
    access token is given, asked from the Hub (``whoami``). Failures mean "no organisations".
    """
    orgs = profile.get("orgs")
    if orgs is None and oauth_token and not oauth_token.startswith("mock-"):
        try:
            import huggingface_hub

            orgs = huggingface_hub.whoami(token=oauth_token).get("orgs")
        except Exception as exc:  # network, expired token: treat as not a member
            log.warning("could not read the Hugging Face organisations of the user: %s", exc)
            orgs = None
    names: set[str] = set()
    for org in orgs or ():
        if isinstance(org, Mapping):
            for key in ("preferred_username", "name"):
                if org.get(key):
                    names.add(str(org[key]).lower())
        elif isinstance(org, str):
            names.add(org.lower())
    return names


def parse_date(text: str | None, what: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` filter date, or None when empty.

    Raises:
        TryOnError: not a date.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise TryOnError(
            f"The {what} date {text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-03-01."
        ) from exc


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of the flag table (``page`` counts from 1)."""

    records: list[StoredRecord]
    page: int
    pages: int
    total: int


@dataclasses.dataclass(frozen=True)
class Detail:
    """A flag with its images (role -> RGB uint8 array, bool mask for edit_mask, or None) and history."""

    record: StoredRecord
    images: dict[str, np.ndarray | None]
    history: list[HistoryEntry]


@dataclasses.dataclass(frozen=True)
class Rerun:
    """A flagged case rendered again with the current code: ``old`` and ``new`` RGB uint8 outputs."""

    record: StoredRecord
    old: np.ndarray
    new: np.ndarray
    notes: tuple[str, ...]
    seconds: float


def table_rows(records: list[StoredRecord]) -> list[list[Any]]:
    """Rows for the flag table, columns as in :data:`TABLE_HEADERS`."""
    rows = []
    for record in records:
        note = record.note
        if len(note) > NOTE_PREVIEW_CHARS:
            note = note[: NOTE_PREVIEW_CHARS - 1] + "…"
        rows.append([
            record.id,
            record.created_at[:19].replace("T", " "),
            record.status,
            ", ".join(record.reasons),
            record.renderer,
            record.category,
            note,
            record.flagged_by,
            "yes" if record.consent else "no (face blurred)",
        ])
    return rows


class ReviewService:
    """The review tab's actions on one store. Each checks the caller's credentials first."""

    def __init__(
        self,
        store: AnnotationStore,
        settings: Settings,
        try_on: Callable[..., Any] | None = None,
    ) -> None:
        """``try_on`` renders re-runs (default: :func:`tryon.pipeline.try_on`)."""
        self.store = store
        self.settings = settings
        self._try_on = try_on

    def unlock(self, credentials: Credentials | None) -> Reviewer:
        """Check the credentials once (the UI then shows the review panel)."""
        return authorize(self.settings, credentials)

    def list(
        self,
        credentials: Credentials | None,
        *,
        reason: str | None = None,
        status: str | None = None,
        renderer: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        page: int = 1,
        page_size: int = PAGE_SIZE,
    ) -> Page:
        """Flags matching the filters, newest first; empty filters match everything.

        Raises:
            ReviewAccessError: not an annotator.
            TryOnError: an unknown reason or status, a malformed date.
        """
        authorize(self.settings, credentials)
        if reason and reason not in REASONS:
            raise TryOnError(f"Unknown reason {reason!r}: choose one of {', '.join(REASONS)}.")
        if status and status not in STATUSES:
            raise TryOnError(f"Unknown status {status!r}: choose one of {', '.join(STATUSES)}.")
        start, end = parse_date(date_from, "from"), parse_date(date_to, "to")
        page = max(1, int(page or 1))
        records, total = self.store.query(
            reason=reason or None,
            status=status or None,
            renderer=renderer or None,
            date_from=start,
            date_to=end,
            offset=(page - 1) * page_size,
            limit=page_size,
        )
        pages = max(1, math.ceil(total / page_size))
        if page > pages:  # past the end (e.g. after deletions): show the last page
            return self.list(credentials, reason=reason, status=status, renderer=renderer,
                             date_from=date_from, date_to=date_to, page=pages, page_size=page_size)
        return Page(records=records, page=page, pages=pages, total=total)

    def detail(self, credentials: Credentials | None, flag_id: int) -> Detail:
        """One flag with its images and review history.

        Raises:
            ReviewAccessError: not an annotator.
            TryOnError: no flag with this id.
        """
        authorize(self.settings, credentials)
        record = self._record(flag_id)
        images = {role: self.store.load_image(record, role) for role in IMAGE_ROLES}
        return Detail(record=record, images=images, history=self.store.history(record.id))

    def update(self, credentials: Credentials | None, flag_id: int, status: str, comment: str) -> Detail:
        """Set status and comment; the change is recorded with the annotator's name and the time."""
        reviewer = authorize(self.settings, credentials)
        self.store.set_status(int(flag_id), status, comment, reviewer.name)
        return self.detail(credentials, flag_id)

    def delete(self, credentials: Credentials | None, flag_id: int) -> bool:
        """Delete a flag and its images that no other flag uses."""
        reviewer = authorize(self.settings, credentials)
        deleted = self.store.delete(int(flag_id))
        if deleted:
            log.info("flag #%s deleted by %s", flag_id, reviewer.name)
        return deleted

    def rerun(self, credentials: Credentials | None, flag_id: int) -> Rerun:
        """Render a flagged case again with the current code, from its stored inputs and parameters.

        Raises:
            ReviewAccessError: not an annotator.
            TryOnError: no such flag; its person photo was not kept (no consent); the
                current code refuses the inputs.
        """
        import time

        authorize(self.settings, credentials)
        record = self._record(flag_id)
        person = self.store.load_image(record, "person")
        if person is None:
            raise TryOnError(
                f"Flag #{record.id} cannot be re-rendered: the shopper did not agree to keep their photo, "
                "so only the output (face blurred) was stored."
            )
        old = self.store.load_image(record, "output")
        request = dict(record.params.get("request") or {})
        garment = None
        if record.params.get("garment_source") != "synthesized":
            garment = self.store.load_image(record, "garment")
        try_on = self._try_on
        if try_on is None:
            from ..pipeline import try_on
        start = time.perf_counter()
        result = try_on(
            person,
            garment,
            record.description or None,
            category=request.get("category", "auto"),
            # What the shopper asked for (the UI also records the renderer that actually ran).
            renderer=request.get("requested_renderer") or request.get("renderer") or record.renderer,
            edit_mask=self.store.load_image(record, "edit_mask"),
            settings=self.settings,
        )
        seconds = time.perf_counter() - start
        assert old is not None
        return Rerun(record=record, old=old, new=result.image, notes=tuple(result.notes), seconds=seconds)

    def export(
        self,
        credentials: Credentials | None,
        out_dir: str | Path,
        *,
        status: str | None = None,
        fmt: str = "jsonl",
    ) -> Any:
        """Export flags to ``out_dir`` (see :func:`tryon.store.export.export_dataset`)."""
        from .export import export_dataset

        authorize(self.settings, credentials)
        return export_dataset(self.store, out_dir, status=status or None, fmt=fmt)

    def _record(self, flag_id: Any) -> StoredRecord:
        try:
            number = int(flag_id)
        except (TypeError, ValueError) as exc:
            raise TryOnError(f"{flag_id!r} is not a flag id: pick a row in the table.") from exc
        record = self.store.get(number)
        if record is None:
            raise TryOnError(f"There is no flag #{number}: refresh the list and pick another.")
        return record

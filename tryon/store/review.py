"""Review of flags by annotators: who may review, and what the review tab does.

Access has two steps, both server-side:

1. **Unlock** (:meth:`ReviewAccess.unlock`): an annotator enters ``TRYON_REVIEW_TOKEN``
   or is signed in with Hugging Face (``hf_oauth: true`` on Spaces) as a member of
   ``TRYON_REVIEW_ORG``. Wrong tokens are counted per client address: after
   ``review_max_failures`` within ``review_lockout_s`` the address is locked out for
   ``review_lockout_s`` (every refusal and lockout is logged), and the whole server stops
   checking tokens for a minute when more than :data:`GLOBAL_FAILURES_PER_MINUTE` wrong
   tokens arrive from anywhere.
2. **Every request** presents the *ticket* the unlock returned: an HMAC-signed, expiring
   (``review_session_s``) pass bound to the browser's cookie (:class:`Client`). It travels
   in the request body, never in a URL, and a copied Gradio session id carries neither the
   ticket nor the cookie. The signing key is random per process: a restart locks everyone.

With neither a token nor an organisation configured, review is off. No Gradio here:
:mod:`tryon.ui.review_tab` wires these actions to the review tab and turns
:class:`tryon.errors.TryOnError` into ``gr.Error``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cachetools
import numpy as np

from ..config import Settings
from ..errors import TryOnError
from .annotations import ALL_REASONS, IMAGE_ROLES, STATUSES, AnnotationStore, HistoryEntry, StoredRecord

log = logging.getLogger(__name__)

PAGE_SIZE = 20
TABLE_HEADERS = (
    "id", "flagged (UTC)", "status", "reasons", "renderer", "category", "note", "by", "photo kept",
)
NOTE_PREVIEW_CHARS = 60
DEFAULT_REVIEWER_NAME = "annotator"
REVIEWER_NAME_MAX_CHARS = 64
# Wrong tokens from all clients together, per minute, beyond which no token is checked
# for a minute (bounds guessing from many addresses; logged).
GLOBAL_FAILURES_PER_MINUTE = 30
GLOBAL_WINDOW_S = 60.0
# Clients whose failures are remembered at once (oldest forgotten first).
THROTTLE_CLIENTS = 10_000
TICKET_KEY_BYTES = 32
TICKET_NONCE_BYTES = 9


class ReviewAccessError(TryOnError):
    """The caller is not an annotator (no valid ticket or token, not in the review organisation)."""


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What a caller presents to unlock the review.

    Attributes:
        token: the review token typed in, or None.
        name: the name the annotator gave with the token (recorded in the history).
        profile: the Hugging Face OAuth profile (OpenID userinfo) when signed in, or None.
        oauth_token: the OAuth access token when signed in, or None.
    """

    token: str | None = None
    name: str = ""
    profile: Mapping[str, Any] | None = None
    oauth_token: str | None = None


@dataclasses.dataclass(frozen=True)
class Client:
    """Who sends a request, as the server sees it.

    Attributes:
        address: the client's network address (what unlock attempts are counted by).
        binding: a digest of the browser's private cookie, or None when it sent none. A
            ticket is bound to it, so a ticket copied to another browser is refused.
    """

    address: str = "unknown"
    binding: str | None = None


@dataclasses.dataclass(frozen=True)
class Caller:
    """A review request: the ticket from :meth:`ReviewAccess.unlock` and the client sending it."""

    ticket: str | None
    client: Client


@dataclasses.dataclass(frozen=True)
class Reviewer:
    """An authorized annotator: ``name`` goes into the review history; ``via`` is "token" or "org"."""

    name: str
    via: str


def review_enabled(settings: Settings) -> bool:
    """True when some way to review is configured (a token or an organisation)."""
    return bool(settings.review_token or settings.review_org)


def authorize(settings: Settings, credentials: Credentials | None) -> Reviewer:
    """The annotator behind ``credentials`` (a token or an organisation membership).

    Raises:
        ReviewAccessError: review is off, the token is wrong, or the signed-in user is
            not in the review organisation.
    """
    if not review_enabled(settings):
        raise _refusal(settings)
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
    raise _refusal(settings)


def _refusal(settings: Settings) -> ReviewAccessError:
    """The error for a caller who presented nothing: it says how annotators get in."""
    if not review_enabled(settings):
        return ReviewAccessError(
            "Review is off on this server: set TRYON_REVIEW_TOKEN (or TRYON_REVIEW_ORG on Spaces) "
            "to enable it."
        )
    ways = []
    if settings.review_token:
        ways.append("enter the review token")
    if settings.review_org:
        ways.append(f"sign in with Hugging Face as a member of {settings.review_org}")
    return ReviewAccessError(f"Only annotators can see flags: {' or '.join(ways)}.")


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


class UnlockThrottle:
    """Counts wrong review tokens per client address and locks an address out after too many.

    Thread-safe. ``clock`` returns seconds (monotonic by default).
    """

    def __init__(
        self,
        max_failures: int,
        lockout_s: float,
        *,
        global_per_minute: int = GLOBAL_FAILURES_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max(1, max_failures)
        self.lockout_s = lockout_s
        self.global_per_minute = global_per_minute
        self._clock = clock
        # address -> times of recent failures; forgotten lockout_s after the last one.
        self._failures: cachetools.TTLCache[str, list[float]] = cachetools.TTLCache(
            THROTTLE_CLIENTS, ttl=max(lockout_s, 1.0), timer=clock
        )
        self._locked_until: cachetools.TTLCache[str, float] = cachetools.TTLCache(
            THROTTLE_CLIENTS, ttl=max(lockout_s, 1.0), timer=clock
        )
        self._recent: list[float] = []  # failures from anyone in the last GLOBAL_WINDOW_S
        self._global_until = 0.0
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """Raise ReviewAccessError while ``address`` (or the whole server) is locked out."""
        now = self._clock()
        with self._lock:
            until = self._locked_until.get(address, 0.0)
            global_until = self._global_until
        if until > now:
            log.warning("review unlock refused: %s is locked out for %.0f s more", address, until - now)
            raise ReviewAccessError(
                f"Too many wrong review tokens from your address: try again in {_minutes(until - now)}."
            )
        if global_until > now:
            log.warning("review unlock refused for %s: token checks paused for %.0f s", address, global_until - now)
            raise ReviewAccessError(
                f"Too many wrong review tokens on this server: try again in {_minutes(global_until - now)}."
            )

    def failed(self, address: str) -> None:
        """Count a wrong token from ``address``; lock it out (or pause every check) when over the limits."""
        now = self._clock()
        with self._lock:
            window = [t for t in self._failures.get(address, []) if now - t < self.lockout_s] + [now]
            self._failures[address] = window
            self._recent = [t for t in self._recent if now - t < GLOBAL_WINDOW_S] + [now]
            locked = len(window) >= self.max_failures
            if locked:
                self._locked_until[address] = now + self.lockout_s
                self._failures.pop(address, None)
            paused = len(self._recent) > self.global_per_minute and self._global_until <= now
            if paused:
                self._global_until = now + GLOBAL_WINDOW_S
        log.warning("wrong review token from %s (%d of %d)", address, len(window), self.max_failures)
        if locked:
            log.warning("review unlock locked for %s for %.0f s after %d wrong tokens",
                        address, self.lockout_s, len(window))
        if paused:
            log.warning("review token checks paused for %.0f s: %d wrong tokens in the last minute",
                        GLOBAL_WINDOW_S, len(self._recent))

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address`` (a right token)."""
        with self._lock:
            self._failures.pop(address, None)


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes > 1 else ''}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ReviewAccess:
    """Unlocks the review (token or organisation, throttled) and checks the tickets it issues.

    A ticket is ``<payload>.<signature>``: the payload (reviewer name, how they unlocked,
    expiry, the cookie binding, a nonce) signed with HMAC-SHA256 under a key that is random
    per process unless ``key`` is given.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        key: bytes | None = None,
        clock: Callable[[], float] = time.time,
        throttle: UnlockThrottle | None = None,
    ) -> None:
        self.settings = settings
        self._key = key or secrets.token_bytes(TICKET_KEY_BYTES)
        self._clock = clock
        self.throttle = throttle or UnlockThrottle(settings.review_max_failures, settings.review_lockout_s)

    def unlock(self, credentials: Credentials | None, client: Client) -> tuple[Reviewer, str]:
        """Check ``credentials`` and issue a ticket bound to ``client``.

        Returns:
            ``(reviewer, ticket)``.

        Raises:
            ReviewAccessError: review off, no cookie, locked out, wrong token, not a member.
        """
        credentials = credentials or Credentials()
        if not review_enabled(self.settings):
            raise _refusal(self.settings)
        if client.binding is None:
            raise ReviewAccessError(
                "The review needs cookies: allow cookies for this site (or open the app in its own "
                "tab instead of embedded in another page), then reload."
            )
        uses_token = bool(self.settings.review_token and credentials.token)
        if uses_token:
            self.throttle.check(client.address)
        try:
            reviewer = authorize(self.settings, credentials)
        except ReviewAccessError:
            if uses_token:
                self.throttle.failed(client.address)
            raise
        if uses_token:
            self.throttle.succeeded(client.address)
        log.info("review unlocked by %s (via %s) from %s", reviewer.name, reviewer.via, client.address)
        return reviewer, self._issue(reviewer, client.binding)

    def check(self, caller: Caller | None) -> Reviewer:
        """The annotator whose valid, unexpired ticket, bound to this client, ``caller`` presents.

        Raises:
            ReviewAccessError: no ticket, a forged or expired one, or one issued to another browser.
        """
        if caller is None or not caller.ticket or not review_enabled(self.settings):
            raise _refusal(self.settings)
        payload = self._verify(caller.ticket)
        if payload is None:
            raise ReviewAccessError("This review session is not valid: open the review again.")
        if payload["e"] <= self._clock():
            raise ReviewAccessError("Your review session has expired: open the review again.")
        if caller.client.binding is None or not hmac.compare_digest(payload["b"], caller.client.binding):
            log.warning("review ticket of %s presented by another client from %s", payload["n"], caller.client.address)
            raise ReviewAccessError("This review session belongs to another browser: open the review here.")
        return Reviewer(name=payload["n"], via=payload["v"])

    def _issue(self, reviewer: Reviewer, binding: str) -> str:
        payload = {
            "n": reviewer.name,
            "v": reviewer.via,
            "e": int(self._clock() + self.settings.review_session_s),
            "b": binding,
            "r": _b64(secrets.token_bytes(TICKET_NONCE_BYTES)),
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def _verify(self, ticket: str) -> dict[str, Any] | None:
        body, _, signature = ticket.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        ok = isinstance(payload, dict) and {"n", "v", "e", "b"} <= payload.keys()
        return payload if ok else None


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
    """A flag, where its images are stored (role -> PNG path; None when not kept) and its history."""

    record: StoredRecord
    image_files: dict[str, Path | None]
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
    """The review tab's actions on one store. Each checks the caller's ticket first.

    Args:
        store: the flag store.
        settings: app settings.
        rerun: renders a re-run, called like :func:`tryon.pipeline.try_on` (person, garment,
            description, category=, renderer=, edit_mask=, settings=); the face that builds
            the service passes it in (the store never imports the pipeline).
        access: unlocks and checks tickets (default: a new :class:`ReviewAccess`).
    """

    def __init__(
        self,
        store: AnnotationStore,
        settings: Settings,
        rerun: Callable[..., Any],
        access: ReviewAccess | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._rerun = rerun
        self.access = access or ReviewAccess(settings)

    def unlock(self, credentials: Credentials | None, client: Client) -> tuple[Reviewer, str]:
        """Unlock the review for ``client``: ``(reviewer, ticket)`` (see :meth:`ReviewAccess.unlock`)."""
        return self.access.unlock(credentials, client)

    def check(self, caller: Caller | None) -> Reviewer:
        """The annotator presenting ``caller``'s ticket (see :meth:`ReviewAccess.check`)."""
        return self.access.check(caller)

    def list(
        self,
        caller: Caller | None,
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
        self.check(caller)
        if reason and reason not in ALL_REASONS:
            raise TryOnError(f"Unknown reason {reason!r}: choose one of {', '.join(ALL_REASONS)}.")
        if status and status not in STATUSES:
            raise TryOnError(f"Unknown status {status!r}: choose one of {', '.join(STATUSES)}.")
        filters = {
            "reason": reason or None,
            "status": status or None,
            "renderer": renderer or None,
            "date_from": parse_date(date_from, "from"),
            "date_to": parse_date(date_to, "to"),
        }
        page = max(1, int(page or 1))
        records, total = self.store.query(**filters, offset=(page - 1) * page_size, limit=page_size)
        pages = max(1, math.ceil(total / page_size))
        if page > pages:  # past the end (e.g. after deletions): show the last page
            page = pages
            records, total = self.store.query(**filters, offset=(page - 1) * page_size, limit=page_size)
        return Page(records=records, page=page, pages=pages, total=total)

    def detail(self, caller: Caller | None, flag_id: Any) -> Detail:
        """One flag with its stored image files and review history.

        Raises:
            ReviewAccessError: not an annotator.
            TryOnError: no flag with this id.
        """
        self.check(caller)
        record = self._record(flag_id)
        files = {
            role: self.store.image_path(record.images[role]) if role in record.images else None
            for role in IMAGE_ROLES
        }
        return Detail(record=record, image_files=files, history=self.store.history(record.id))

    def update(self, caller: Caller | None, flag_id: Any, status: str, comment: str) -> Detail:
        """Set status and comment; the change is recorded with the annotator's name and the time."""
        reviewer = self.check(caller)
        self.store.set_status(self._record(flag_id).id, status, comment, reviewer.name)
        return self.detail(caller, flag_id)

    def delete(self, caller: Caller | None, flag_id: Any) -> bool:
        """Delete a flag and its images that no other flag uses; False when there was none."""
        reviewer = self.check(caller)
        number = _flag_number(flag_id)
        deleted = self.store.delete(number)
        if deleted:
            log.info("flag #%s deleted by %s", number, reviewer.name)
        return deleted

    def rerun(self, caller: Caller | None, flag_id: Any) -> Rerun:
        """Render a flagged case again with the current code, from its stored inputs and parameters.

        Raises:
            ReviewAccessError: not an annotator.
            TryOnError: no such flag; its person photo was not kept (no consent); the
                current code refuses the inputs.
        """
        self.check(caller)
        record = self._record(flag_id)
        person = self.store.load_image(record, "person")
        if person is None:
            raise TryOnError(
                f"Flag #{record.id} cannot be re-rendered: the shopper did not agree to keep their photo, "
                "so only the output (face blurred) was stored."
            )
        old = self.store.load_image(record, "output")
        if old is None:
            raise TryOnError(f"Flag #{record.id} has no stored output to compare with: it cannot be re-rendered.")
        request = dict(record.params.get("request") or {})
        garment = None
        if record.params.get("garment_source") != "synthesized":
            garment = self.store.load_image(record, "garment")
        start = time.perf_counter()
        result = self._rerun(
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
        return Rerun(record=record, old=old, new=result.image, notes=tuple(result.notes), seconds=seconds)

    def export(
        self,
        caller: Caller | None,
        out_dir: str | Path,
        *,
        status: str | None = None,
        fmt: str = "jsonl",
    ) -> Any:
        """Export flags to ``out_dir`` (see :func:`tryon.store.export.export_dataset`)."""
        from .export import export_dataset

        reviewer = self.check(caller)
        result = export_dataset(self.store, out_dir, status=status or None, fmt=fmt)
        log.info("%d flags exported (%s, status %s) by %s", result.rows, fmt, status or "any", reviewer.name)
        return result

    def _record(self, flag_id: Any) -> StoredRecord:
        number = _flag_number(flag_id)
        record = self.store.get(number)
        if record is None:
            raise TryOnError(f"There is no flag #{number}: refresh the list and pick another.")
        return record


def _flag_number(flag_id: Any) -> int:
    try:
        return int(flag_id)
    except (TypeError, ValueError) as exc:
        raise TryOnError(f"{flag_id!r} is not a flag id: pick a row in the table.") from exc

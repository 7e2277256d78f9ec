"""The annotators' Review tab: unlock, flag table with filters and paging, detail view, export.

Every review endpoint checks, server-side, the *ticket* the unlock returned (a signed,
expiring pass bound to the browser's private cookie, :mod:`tryon.store.review`): the ticket
travels in the request body (a hidden field in the browser, a parameter through the API),
never in a URL, so a copied Gradio session id opens nothing. Reviewer images, re-runs and
export archives are private files (:mod:`tryon.ui.guard`): served only to the reviewer's
browser and deleted after their first download. User text is escaped before it is shown.

Layout: one function per panel (:func:`_unlock_row`, :func:`_flag_list`, :func:`_detail_view`,
:func:`_export_row`); the actions are the methods of :class:`ReviewHandlers`; the ``_wire_*``
functions connect the two.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import io
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from ..config import Settings
from ..errors import TryOnError
from ..store.annotations import ALL_REASONS, STATUSES, gradio_cache_dir, open_store
from ..store.review import (
    PAGE_SIZE,
    TABLE_HEADERS,
    Caller,
    Credentials,
    Detail,
    ReviewAccessError,
    ReviewService,
    review_enabled,
    table_rows,
)
from .format import escape_markdown
from .guard import PrivateFiles, client_of, guarded, process_guard

log = logging.getLogger(__name__)

HISTORY_HEADERS = ("when (UTC)", "who", "status", "comment")
IMAGE_HEIGHT = 420  # px, the detail view's images side by side
PARAMETERS_HEIGHT = 320  # px, the stored-parameters JSON scrolls beyond this
ANY = "(any)"
# Every event that renders a try-on shares this queue slot, so TRYON_CONCURRENCY bounds them together.
RENDER_CONCURRENCY_ID = "render"
UNGUARDED = ("This server was started without tryon's guard, so the review stays closed: start it with "
             "`python app.py` (tryon.ui.launch).")


@contextlib.contextmanager
def _as_gradio_errors() -> Iterator[None]:
    """Show a user-caused error (TryOnError) in the UI as a gr.Error with its message.

    Not a server fault: no traceback in the server log (a refused review request is logged on one line).
    """
    try:
        yield
    except TryOnError as exc:
        log.info("review refused: %s", exc)
        raise gr.Error(str(exc), print_exception=False) from exc


def _refusals(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a review handler with TryOnError shown as its message (signature kept for Gradio)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _as_gradio_errors():
            return fn(*args, **kwargs)

    return wrapper


def _when(timestamp: str) -> str:
    """``2026-03-01T12:34:56.789Z`` -> ``2026-03-01 12:34:56`` (UTC)."""
    return timestamp[:19].replace("T", " ")


def _filter(value: str | None) -> str | None:
    return None if value in (None, "", ANY) else value


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


class ReviewHandlers:
    """The review tab's actions. Each reads the caller's ticket and browser, then asks the service."""

    def __init__(self, service: ReviewService, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.guard = process_guard()
        self.cache_dir = gradio_cache_dir(settings)

    def caller(self, ticket: str | None, request: gr.Request) -> Caller:
        """Who asks: their ticket and browser. Refused when the guard did not see the request."""
        if not guarded(request):
            raise ReviewAccessError(UNGUARDED)
        return Caller(ticket=ticket or None, client=client_of(request))

    def unlock(self, token: str, name: str, request: gr.Request, profile: gr.OAuthProfile | None,
               oauth_token: gr.OAuthToken | None) -> tuple[Any, ...]:
        """Check the token (or organisation) and open the review: a new ticket and the first page."""
        if not guarded(request):
            raise ReviewAccessError(UNGUARDED)
        credentials = Credentials(
            token=(token or "").strip() or None,
            name=(name or "").strip(),
            profile=dict(profile) if profile is not None else None,
            oauth_token=oauth_token.token if oauth_token is not None else None,
        )
        client = client_of(request)
        reviewer, ticket = self.service.unlock(credentials, client)
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.settings.review_session_s)
        rows, page, info = self.list_flags(None, None, None, "", "", 1, ticket, request)
        return (
            ticket,
            "",  # the token box: the ticket replaces the token in this page
            f"Review open for **{escape_markdown(reviewer.name)}** until {until:%H:%M} UTC.",
            gr.Column(visible=True),
            gr.Dropdown(choices=[ANY, *self.service.store.renderers()], value=ANY),
            rows,
            page,
            info,
        )

    def list_flags(self, reason: str | None, status: str | None, renderer: str | None, start: str, end: str,
                   page: float | None, ticket: str, request: gr.Request) -> tuple[list[list[Any]], int, str]:
        """One page of the flag table."""
        result = self.service.list(self.caller(ticket, request), reason=_filter(reason), status=_filter(status),
                                   renderer=_filter(renderer), date_from=start, date_to=end, page=int(page or 1))
        info = f"{result.total} flags; page {result.page} of {result.pages} ({PAGE_SIZE} per page)."
        return table_rows(result.records), result.page, info

    def pager(self, step: int | None) -> Callable[..., Any]:
        """A list handler for the page buttons (step -1/+1) and filter changes (None: page 1)."""

        @_refusals
        def handler(reason: str | None, status: str | None, renderer: str | None, start: str, end: str,
                    page: float | None, ticket: str, request: gr.Request) -> tuple[list[list[Any]], int, str]:
            target = 1 if step is None else max(1, int(page or 1) + step)
            return self.list_flags(reason, status, renderer, start, end, target, ticket, request)

        return handler

    def open_flag(self, number: float | None, ticket: str, request: gr.Request) -> tuple[Any, ...]:
        """The detail view of flag ``number``."""
        caller = self.caller(ticket, request)
        return self._detail_outputs(self.service.detail(caller, number), caller)

    def select_row(self, rows: Any, ticket: str, event: gr.SelectData, request: gr.Request) -> tuple[Any, ...]:
        """Open the flag of the clicked table row."""
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        values = rows.values.tolist() if hasattr(rows, "values") else rows
        return self.open_flag(values[row][0], ticket, request)

    def update(self, number: float | None, status: str | None, comment: str, ticket: str,
               request: gr.Request) -> tuple[Any, ...]:
        """Save a status and comment (recorded in the history)."""
        if not status:
            raise TryOnError("Pick a status (new, confirmed, rejected or fixed) before saving.")
        caller = self.caller(ticket, request)
        detail = self.service.update(caller, number, status, comment or "")
        gr.Info(f"Flag #{detail.record.id} is now {detail.record.status}.")
        return self._detail_outputs(detail, caller)

    def rerun(self, number: float | None, ticket: str, request: gr.Request) -> tuple[Any, str]:
        """Render the flagged case again with the current code: old and new side by side."""
        caller = self.caller(ticket, request)
        rerun = self.service.rerun(caller, number)
        old, new = (self._private(caller, name, data=_png(image))
                    for name, image in (("as-flagged.png", rerun.old), ("re-run.png", rerun.new)))
        notes = "".join(f"\n- {escape_markdown(note)}" for note in rerun.notes)
        message = f"Re-rendered flag #{rerun.record.id} in {rerun.seconds:.1f} s (left: as flagged)." + notes
        return gr.ImageSlider(value=(old, new), visible=True), message

    def delete(self, number: float | None, ticket: str, request: gr.Request) -> tuple[str, Any]:
        """Delete a flag and its images that no other flag uses."""
        deleted = self.service.delete(self.caller(ticket, request), number)
        message = f"Deleted flag #{int(number)}." if deleted else f"There is no flag #{number}."
        return message, gr.Column(visible=False)

    def export(self, status: str | None, fmt: str, ticket: str, request: gr.Request) -> str:
        """A zip of the flags with ``status``, served once to this browser, then deleted."""
        caller = self.caller(ticket, request)
        self.service.check(caller)  # before touching the disk
        work = PrivateFiles.private_dir(self.cache_dir)
        try:
            result = self.service.export(caller, work / "dataset", status=_filter(status), fmt=fmt)
            base = work / f"tryon-flags-{_filter(status) or 'all'}-{fmt}"
            archive = Path(shutil.make_archive(str(base), "zip", root_dir=result.out_dir))
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        shutil.rmtree(result.out_dir, ignore_errors=True)
        gr.Info(f"Exported {result.rows} flags.")
        return str(self.guard.private.adopt(archive, caller.client.binding or ""))

    def _private(self, caller: Caller, name: str, *, data: bytes | None = None, source: Path | None = None) -> str:
        """A file only this reviewer's browser may download, once."""
        return str(self.guard.private.publish(self.cache_dir, name, caller.client.binding or "", data=data,
                                              source=source))

    def _detail_outputs(self, detail: Detail, caller: Caller) -> tuple[Any, ...]:
        record = detail.record
        files = {role: None if path is None else self._private(caller, f"{role}.png", source=path)
                 for role, path in detail.image_files.items()}
        history = [[_when(h.changed_at), h.changed_by, h.status, h.comment] for h in detail.history]
        person_kept = files["person"] is not None
        return (
            record.id,
            files["person"],
            files["garment"],
            files["output"],
            _summary_markdown(record),
            {"params": record.params, "timings": record.timings, "scores": record.scores},
            record.status,
            record.comment,
            history,
            gr.Column(visible=True),
            # A re-run needs the shopper's photo, which is kept with consent only.
            gr.Button(interactive=person_kept,
                      value="Re-run with current code" if person_kept else "Re-run (photo not kept)"),
        )


def _summary_markdown(record: Any) -> str:
    """The detail view's summary; everything a user typed is escaped."""
    reasons = ", ".join(ALL_REASONS.get(code, code) for code in record.reasons)
    lines = [
        f"**Flag #{record.id}** — {_when(record.created_at)} UTC by {escape_markdown(record.flagged_by)}",
        f"**Reasons:** {escape_markdown(reasons)}",
        f"**Note:** {escape_markdown(record.note) if record.note else '—'}",
        f"**Description:** {escape_markdown(record.description) if record.description else '—'}",
        f"**Renderer:** {escape_markdown(record.renderer)} · **category:** {escape_markdown(record.category)}"
        f" · **tryon** {escape_markdown(record.version)}",
        "**Photo kept:** " + ("yes (consent)" if record.consent else "no — output face blurred"),
    ]
    if record.updated_by:
        lines.append(f"**Last review:** {record.status} by {escape_markdown(record.updated_by)}, "
                     f"{_when(record.updated_at)}")
    return "\n\n".join(lines)


# --------------------------------------------------------------------------- layout: one function per panel


@dataclasses.dataclass(frozen=True)
class UnlockRow:
    token: gr.Textbox
    name: gr.Textbox
    button: gr.Button
    message: gr.Markdown
    ticket: gr.Textbox  # hidden: the pass every review request presents


@dataclasses.dataclass(frozen=True)
class FlagList:
    filters: list[Any]  # reason, status, renderer, from, to
    previous: gr.Button
    page: gr.Number
    next: gr.Button
    refresh: gr.Button
    info: gr.Markdown
    table: gr.Dataframe
    flag_id: gr.Number
    open: gr.Button

    @property
    def outputs(self) -> list[Any]:
        return [self.table, self.page, self.info]


@dataclasses.dataclass(frozen=True)
class DetailView:
    panel: gr.Column
    person: gr.Image
    garment: gr.Image
    output: gr.Image
    summary: gr.Markdown
    parameters: gr.JSON
    status: gr.Radio
    comment: gr.Textbox
    save: gr.Button
    rerun: gr.Button
    delete: gr.Button
    history: gr.Dataframe
    rerun_slider: gr.ImageSlider
    message: gr.Markdown


@dataclasses.dataclass(frozen=True)
class ExportRow:
    status: gr.Dropdown
    format: gr.Radio
    button: gr.Button
    file: gr.File


def _unlock_row(settings: Settings) -> UnlockRow:
    gr.Markdown("Flagged results are for annotators only. Open the review with your token"
                + (f" or sign in as a member of **{settings.review_org}**." if settings.review_org else "."))
    with gr.Row():
        if settings.review_org and _on_spaces():
            # Locally Gradio mocks the login and needs a Hub token; the review token works everywhere.
            gr.LoginButton()
        token = gr.Textbox(label="Review token", type="password", visible=bool(settings.review_token))
        name = gr.Textbox(label="Your name (kept in the review history)", max_length=64)
        button = gr.Button("Open review", variant="primary")
    message = gr.Markdown()
    ticket = gr.Textbox(visible=False, elem_id="review-ticket")
    return UnlockRow(token=token, name=name, button=button, message=message, ticket=ticket)


def _flag_list() -> FlagList:
    with gr.Row():
        filters = [
            gr.Dropdown([ANY, *ALL_REASONS], value=ANY, label="Reason"),
            gr.Dropdown([ANY, *STATUSES], value=ANY, label="Status"),
            gr.Dropdown([ANY], value=ANY, label="Renderer", allow_custom_value=True),
            gr.Textbox(label="From (YYYY-MM-DD, UTC)", max_length=10),
            gr.Textbox(label="To (YYYY-MM-DD, UTC)", max_length=10),
        ]
    with gr.Row():
        previous = gr.Button("◀ Previous", size="sm")
        page = gr.Number(value=1, precision=0, minimum=1, label="Page")
        next_page = gr.Button("Next ▶", size="sm")
        refresh = gr.Button("Refresh", size="sm")
    info = gr.Markdown()
    table = gr.Dataframe(headers=list(TABLE_HEADERS), interactive=False, wrap=True, label="Flags")
    with gr.Row():
        flag_id = gr.Number(label="Flag id (or click a row)", value=None, precision=0, minimum=1,
                            placeholder="e.g. 12")
        open_button = gr.Button("Open")
    return FlagList(filters=filters, previous=previous, page=page, next=next_page, refresh=refresh, info=info,
                    table=table, flag_id=flag_id, open=open_button)


def _detail_view() -> DetailView:
    # Hidden until a flag is opened: empty image boxes and a blank form say nothing.
    with gr.Column(visible=False) as panel:
        with gr.Row():
            shown = {"type": "filepath", "interactive": False, "height": IMAGE_HEIGHT}
            person = gr.Image(label="Person (kept with consent only)", **shown)
            garment = gr.Image(label="Garment", **shown)
            output = gr.Image(label="Output as flagged", **shown)
        summary = gr.Markdown(latex_delimiters=[], elem_id="review-summary")  # user text: no LaTeX either
        parameters = gr.JSON(label="Stored parameters, timings and scores", max_height=PARAMETERS_HEIGHT)
        with gr.Row():
            status = gr.Radio(list(STATUSES), label="Status")
            comment = gr.Textbox(label="Annotator comment", lines=2)
        with gr.Row():
            save = gr.Button("Save status and comment", variant="primary")
            rerun = gr.Button("Re-run with current code")
            delete = gr.Button("Delete flag", variant="stop")
        history = gr.Dataframe(headers=list(HISTORY_HEADERS), interactive=False, label="History")
        rerun_slider = gr.ImageSlider(label="Old output ◀ ▶ re-run", visible=False, type="filepath",
                                      height=IMAGE_HEIGHT)
    message = gr.Markdown()
    return DetailView(panel=panel, person=person, garment=garment, output=output, summary=summary,
                      parameters=parameters, status=status, comment=comment, save=save, rerun=rerun,
                      delete=delete, history=history, rerun_slider=rerun_slider, message=message)


def _export_row() -> ExportRow:
    with gr.Accordion("Export a dataset", open=False), gr.Row():
        status = gr.Dropdown([ANY, *STATUSES], value="confirmed", label="Flags with status")
        fmt = gr.Radio(["jsonl", "parquet"], value="jsonl", label="Format")
        button = gr.Button("Export")
        file = gr.File(label="Dataset (zip, downloads once)", interactive=False)
    return ExportRow(status=status, format=fmt, button=button, file=file)


def _on_spaces() -> bool:
    from gradio.utils import get_space

    return get_space() is not None


# --------------------------------------------------------------------------- wiring


def _wire_unlock(handlers: ReviewHandlers, unlock: UnlockRow, panel: gr.Column, flags: FlagList) -> None:
    unlock.button.click(
        _refusals(handlers.unlock),
        inputs=[unlock.token, unlock.name],
        outputs=[unlock.ticket, unlock.token, unlock.message, panel, flags.filters[2], *flags.outputs],
        api_name="review_unlock",
    )


def _wire_list(handlers: ReviewHandlers, ticket: gr.Textbox, flags: FlagList) -> None:
    inputs = [*flags.filters, flags.page, ticket]
    flags.refresh.click(_refusals(handlers.list_flags), inputs, flags.outputs, api_name="review_list")
    # User edits only (``.input``, not ``.change``): unlocking sets the renderer choices without a second
    # listing, and the dates are read once typed (Enter or leaving the box), not at every keystroke.
    reason, status, renderer, start, end = flags.filters
    triggers = [reason.input, status.input, renderer.input, start.submit, start.blur, end.submit, end.blur]
    gr.on(triggers, handlers.pager(None), inputs, flags.outputs, api_visibility="private",
          trigger_mode="always_last")
    flags.previous.click(handlers.pager(-1), inputs, flags.outputs, api_visibility="private")
    flags.next.click(handlers.pager(+1), inputs, flags.outputs, api_visibility="private")


def _wire_detail(handlers: ReviewHandlers, ticket: gr.Textbox, flags: FlagList, detail: DetailView) -> None:
    # The API sees the first nine (values); the panel and button updates come last.
    outputs = [flags.flag_id, detail.person, detail.garment, detail.output, detail.summary, detail.parameters,
               detail.status, detail.comment, detail.history, detail.panel, detail.rerun]
    list_inputs = [*flags.filters, flags.page, ticket]
    flags.open.click(_refusals(handlers.open_flag), [flags.flag_id, ticket], outputs, api_name="review_detail")
    flags.table.select(_refusals(handlers.select_row), [flags.table, ticket], outputs, api_visibility="private")
    # Opening another flag hides the previous flag's re-run.
    hide_rerun = {"fn": lambda: (gr.ImageSlider(value=None, visible=False), ""), "inputs": None,
                  "outputs": [detail.rerun_slider, detail.message], "api_visibility": "private", "queue": False}
    flags.open.click(**hide_rerun)
    flags.table.select(**hide_rerun)
    detail.save.click(
        _refusals(handlers.update), [flags.flag_id, detail.status, detail.comment, ticket], outputs,
        api_name="review_update",
    ).success(_refusals(handlers.list_flags), list_inputs, flags.outputs, api_visibility="private")
    detail.rerun.click(_refusals(handlers.rerun), [flags.flag_id, ticket], [detail.rerun_slider, detail.message],
                       api_name="review_rerun", concurrency_id=RENDER_CONCURRENCY_ID)
    detail.delete.click(
        _refusals(handlers.delete), [flags.flag_id, ticket], [detail.message, detail.panel], api_name="review_delete"
    ).then(_refusals(handlers.list_flags), list_inputs, flags.outputs, api_visibility="private")


def _wire_export(handlers: ReviewHandlers, ticket: gr.Textbox, export: ExportRow) -> None:
    export.button.click(_refusals(handlers.export), [export.status, export.format, ticket], export.file,
                        api_name="review_export")


def build_review_tab(settings: Settings, *, try_on: Callable[..., Any] | None = None) -> None:
    """The annotators' review tab; call it inside ``gr.Tab("Review")``.

    Endpoints (all refuse callers without a valid ticket from ``review_unlock``):
    ``review_unlock`` (token, name) -> (ticket, ...), ``review_list``, ``review_detail``,
    ``review_update``, ``review_rerun``, ``review_delete``, ``review_export``; each takes the
    ticket as its last parameter.

    Args:
        settings: app settings (``review_*``, ``data_dir``).
        try_on: renderer for re-runs (default :func:`tryon.pipeline.try_on`).
    """
    if not review_enabled(settings):
        gr.Markdown(
            "Review is off on this server. Set `TRYON_REVIEW_TOKEN` (or `TRYON_REVIEW_ORG` with "
            "`hf_oauth: true` on Spaces) to let annotators see and review flags."
        )
        return
    if try_on is None:
        from ..pipeline import try_on
    handlers = ReviewHandlers(ReviewService(open_store(settings.data_dir), settings, rerun=try_on), settings)
    unlock = _unlock_row(settings)
    with gr.Column(visible=False) as panel:
        flags = _flag_list()
        detail = _detail_view()
        export = _export_row()
    _wire_unlock(handlers, unlock, panel, flags)
    _wire_list(handlers, unlock.ticket, flags)
    _wire_detail(handlers, unlock.ticket, flags, detail)
    _wire_export(handlers, unlock.ticket, export)

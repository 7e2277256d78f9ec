"""The Gradio pieces of flagging and review.

- :func:`build_flag_panel`: the Flag button, reasons, note and consent box, placed under a result.
- :func:`build_review_tab`: the annotators' tab (call it inside ``gr.Tab``): flag table with
  filters and paging, detail view, status and comment, re-run, delete, export.

Both use the store of ``settings.data_dir`` (:func:`tryon.store.annotations.open_store`). Every
review endpoint authorizes its caller server-side (:mod:`tryon.store.review`), so the API refuses
what the hidden UI would: the token lives in server-side session state (``gr.State``), which
an API caller cannot set except through ``review_unlock`` with the right token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..config import Settings
from ..errors import TryOnError
from ..store.annotations import (
    REASONS,
    STATUSES,
    AnnotationStore,
    open_store,
    record_from_state,
)
from ..store.review import (
    PAGE_SIZE,
    TABLE_HEADERS,
    Credentials,
    Detail,
    ReviewService,
    review_enabled,
    table_rows,
)

log = logging.getLogger(__name__)

CONSENT_LABEL = (
    "Keep my photo for quality review: my original photo is stored with this flag and seen only "
    "by the team's reviewers. Without this, only the result is kept, with the face blurred."
)
ANONYMOUS_PREFIX = "anon-"
ANONYMOUS_ID_CHARS = 12
HISTORY_HEADERS = ("when (UTC)", "who", "status", "comment")
EXPORT_DIRNAME = "tryon-exports"
IMAGE_HEIGHT = 420  # px, the detail view's images side by side
PARAMETERS_HEIGHT = 320  # px, the stored-parameters JSON scrolls beyond this
ANY = "(any)"
# Every event that renders a try-on shares this queue slot, so TRYON_CONCURRENCY bounds them together.
RENDER_CONCURRENCY_ID = "render"


@contextlib.contextmanager
def _as_gradio_errors() -> Iterator[None]:
    """Show a user-caused error (TryOnError) in the UI as a gr.Error with its message.

    Not a server fault: no traceback in the server log (a refused review request is logged on one line).
    """
    try:
        yield
    except TryOnError as exc:
        log.info("refused: %s", exc)
        raise gr.Error(str(exc), print_exception=False) from exc


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


class StoreFlaggingCallback(gr.FlaggingCallback):
    """Gradio's flagging interface, backed by the SQLite flag store instead of a CSV log.

    ``flag_data`` is ``[result_state, reasons, note, consent]`` (the flag panel's inputs);
    ``flag_option`` adds one reason code. :meth:`flag_state` is what the panel calls:
    it also says which record was written and whether it is new.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: AnnotationStore | None = None

    def setup(self, components: Sequence[Any], flagging_dir: str | Path) -> None:
        """Open the store in ``flagging_dir`` (the data directory)."""
        self.store = open_store(flagging_dir)

    def flag(self, flag_data: list[Any], flag_option: str | None = None, username: str | None = None) -> int:
        """Store one flag; returns the number of flags stored."""
        state, reasons, note, consent = flag_data
        reasons = [*reasons, flag_option] if flag_option else list(reasons)
        self.flag_state(state, reasons, note, bool(consent), username or ANONYMOUS_PREFIX + "unknown")
        assert self.store is not None
        return self.store.count()

    def flag_state(
        self, state: dict[str, Any], reasons: Sequence[str], note: str, consent: bool, flagged_by: str
    ) -> tuple[int, bool]:
        """Store the flag of the result in ``state``; returns ``(record id, created)``."""
        if self.store is None:
            self.setup([], self.settings.data_dir)
        assert self.store is not None
        record = record_from_state(
            state, reasons=reasons, note=note, consent=consent, flagged_by=flagged_by, settings=self.settings
        )
        return self.store.add(record)


@dataclasses.dataclass(frozen=True)
class FlagPanel:
    """The flag panel's inputs that belong to one result: clear them when a new result arrives."""

    reasons: gr.CheckboxGroup
    note: gr.Textbox
    message: gr.Markdown

    @property
    def per_result(self) -> list[Any]:
        """Components to clear for a new result (outputs of :meth:`cleared`)."""
        return [self.reasons, self.note, self.message]

    @staticmethod
    def cleared() -> tuple[list[str], str, str]:
        """Values of :attr:`per_result` for a fresh result (the consent box keeps the shopper's choice)."""
        return [], "", ""


def build_flag_panel(result_state: gr.State, settings: Settings) -> FlagPanel:
    """The Flag panel; call it inside the Blocks, under the result.

    Args:
        result_state: holds the UI's result dict (``{"result": TryOnResult, "result_id",
            "params", "person_path", "garment_path", "description"}``), or None before any result.
        settings: app settings (``data_dir``).

    Endpoint: ``flag`` (reasons, note, consent) -> message. One record per result: a
    double click or a retry returns the record already stored.

    Returns:
        the panel's per-result components (clear them when a new result is shown).
    """
    callback = StoreFlaggingCallback(settings)
    callback.setup([], settings.data_dir)

    with gr.Accordion("Flag this result", open=False):
        reasons = gr.CheckboxGroup(
            choices=[(label, code) for code, label in REASONS.items()],
            label="What is wrong?",
        )
        note = gr.Textbox(label="Note (optional)", placeholder="What should it look like?", lines=2)
        consent = gr.Checkbox(label=CONSENT_LABEL, value=False)
        flag_button = gr.Button("Flag", variant="secondary")
        message = gr.Markdown()

    def flag(
        reason_codes: list[str],
        note_text: str,
        keep_photo: bool,
        state: dict[str, Any] | None,
        request: gr.Request,
        profile: gr.OAuthProfile | None,
    ) -> str:
        if not state or state.get("result") is None:
            raise gr.Error("Nothing to flag yet: run a try-on first, then flag its result.", print_exception=False)
        with _as_gradio_errors():
            flag_id, created = callback.flag_state(
                state, reason_codes or [], note_text or "", bool(keep_photo), flagger_id(request, profile)
            )
        if not created:
            return f"This result is already flagged (#{flag_id}). Thank you."
        kept = "your photo is kept for review" if keep_photo else "only the result is kept, face blurred"
        return f"Thank you: flagged as #{flag_id} ({kept})."

    flag_button.click(
        flag,
        inputs=[reasons, note, consent, result_state],
        outputs=message,
        api_name="flag",
        trigger_mode="once",
    )
    return FlagPanel(reasons=reasons, note=note, message=message)


def _credentials(
    session: dict[str, Any] | None, profile: gr.OAuthProfile | None, oauth_token: gr.OAuthToken | None
) -> Credentials:
    session = session or {}
    return Credentials(
        token=session.get("token"),
        name=session.get("name", ""),
        profile=dict(profile) if profile is not None else None,
        oauth_token=oauth_token.token if oauth_token is not None else None,
    )


def _on_spaces() -> bool:
    from gradio.utils import get_space

    return get_space() is not None


def _export_root(settings: Settings) -> Path:
    """Where export zips wait to be served; inside Gradio's cache, which the server may serve."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()) / EXPORT_DIRNAME


def _prune_exports(root: Path, max_age_s: float) -> None:
    """Delete export folders older than ``max_age_s`` (Gradio has served or dropped them by then)."""
    if not root.is_dir():
        return
    now = time.time()
    for path in root.iterdir():
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > max_age_s:
                shutil.rmtree(path, ignore_errors=True)


def _when(timestamp: str) -> str:
    """``2026-03-01T12:34:56.789Z`` -> ``2026-03-01 12:34:56`` (UTC)."""
    return timestamp[:19].replace("T", " ")


def _display(image: np.ndarray | None) -> np.ndarray | None:
    if image is None:
        return None
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    return image


def build_review_tab(settings: Settings, *, try_on: Any = None) -> None:
    """The annotators' review tab; call it inside ``gr.Tab("Review")``.

    Endpoints (all refuse callers without the review token or organisation membership):
    ``review_unlock``, ``review_list``, ``review_detail``, ``review_update``, ``review_rerun``,
    ``review_delete``, ``review_export``.

    Args:
        settings: app settings (``review_token``, ``review_org``, ``data_dir``, ``cache_ttl_s``).
        try_on: renderer for re-runs (default :func:`tryon.pipeline.try_on`).
    """
    if not review_enabled(settings):
        gr.Markdown(
            "Review is off on this server. Set `TRYON_REVIEW_TOKEN` (or `TRYON_REVIEW_ORG` with "
            "`hf_oauth: true` on Spaces) to let annotators see and review flags."
        )
        return
    service = ReviewService(open_store(settings.data_dir), settings, try_on=try_on)

    session = gr.State(None)  # {"token", "name"}: server-side, one per browser session
    gr.Markdown("Flagged results are for annotators only. Open the review with your token"
                + (f" or sign in as a member of **{settings.review_org}**." if settings.review_org else "."))
    with gr.Row():
        if settings.review_org and _on_spaces():
            # Locally Gradio mocks the login and needs a Hub token; the review token works everywhere.
            gr.LoginButton()
        token_box = gr.Textbox(label="Review token", type="password", visible=bool(settings.review_token))
        name_box = gr.Textbox(label="Your name (kept in the review history)", max_length=64)
        unlock_button = gr.Button("Open review", variant="primary")
    unlock_message = gr.Markdown()

    with gr.Column(visible=False) as panel:
        with gr.Row():
            reason_filter = gr.Dropdown([ANY, *REASONS], value=ANY, label="Reason")
            status_filter = gr.Dropdown([ANY, *STATUSES], value=ANY, label="Status")
            renderer_filter = gr.Dropdown([ANY], value=ANY, label="Renderer", allow_custom_value=True)
            date_from = gr.Textbox(label="From (YYYY-MM-DD, UTC)", max_length=10)
            date_to = gr.Textbox(label="To (YYYY-MM-DD, UTC)", max_length=10)
        with gr.Row():
            previous_button = gr.Button("◀ Previous", size="sm")
            page_number = gr.Number(value=1, precision=0, minimum=1, label="Page")
            next_button = gr.Button("Next ▶", size="sm")
            refresh_button = gr.Button("Refresh", size="sm")
        page_info = gr.Markdown()
        table = gr.Dataframe(headers=list(TABLE_HEADERS), interactive=False, wrap=True, label="Flags")

        with gr.Row():
            flag_id = gr.Number(label="Flag id (or click a row)", value=None, precision=0, minimum=1,
                                placeholder="e.g. 12")
            open_button = gr.Button("Open")
        # Hidden until a flag is opened: empty image boxes and a blank form say nothing.
        with gr.Column(visible=False) as detail_panel:
            with gr.Row():
                # PNG: reviewers judge seams and artifacts, which lossy WebP (Gradio's default) would blur.
                shown = {"type": "numpy", "interactive": False, "format": "png", "height": IMAGE_HEIGHT}
                person_image = gr.Image(label="Person (kept with consent only)", **shown)
                garment_image = gr.Image(label="Garment", **shown)
                output_image = gr.Image(label="Output as flagged", **shown)
            summary = gr.Markdown()
            parameters = gr.JSON(label="Stored parameters, timings and scores", max_height=PARAMETERS_HEIGHT)
            with gr.Row():
                status_radio = gr.Radio(list(STATUSES), label="Status")
                comment_box = gr.Textbox(label="Annotator comment", lines=2)
            with gr.Row():
                save_button = gr.Button("Save status and comment", variant="primary")
                rerun_button = gr.Button("Re-run with current code")
                delete_button = gr.Button("Delete flag", variant="stop")
            history_table = gr.Dataframe(headers=list(HISTORY_HEADERS), interactive=False, label="History")
            rerun_slider = gr.ImageSlider(label="Old output ◀ ▶ re-run", visible=False, **shown)
        rerun_message = gr.Markdown()

        with gr.Accordion("Export a dataset", open=False), gr.Row():
            export_status = gr.Dropdown([ANY, *STATUSES], value="confirmed", label="Flags with status")
            export_format = gr.Radio(["jsonl", "parquet"], value="jsonl", label="Format")
            export_button = gr.Button("Export")
            export_file = gr.File(label="Dataset (zip)", interactive=False)

    def _filter(value: str | None) -> str | None:
        return None if value in (None, "", ANY) else value

    def list_flags(
        reason: str | None,
        status: str | None,
        renderer: str | None,
        start: str,
        end: str,
        page: float | None,
        state: dict[str, Any] | None,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
    ) -> tuple[list[list[Any]], int, str]:
        with _as_gradio_errors():
            result = service.list(
                _credentials(state, profile, oauth_token),
                reason=_filter(reason),
                status=_filter(status),
                renderer=_filter(renderer),
                date_from=start,
                date_to=end,
                page=int(page or 1),
            )
        info = f"{result.total} flags; page {result.page} of {result.pages} ({PAGE_SIZE} per page)."
        return table_rows(result.records), result.page, info

    def detail_outputs(detail: Detail) -> tuple[Any, ...]:
        record = detail.record
        lines = [
            f"**Flag #{record.id}** — {_when(record.created_at)} UTC by `{record.flagged_by}`",
            f"**Reasons:** {', '.join(REASONS.get(code, code) for code in record.reasons)}",
            f"**Note:** {record.note or '—'}",
            f"**Description:** {record.description or '—'}",
            f"**Renderer:** {record.renderer} · **category:** {record.category} · **tryon** {record.version}",
            "**Photo kept:** " + ("yes (consent)" if record.consent else "no — output face blurred"),
        ]
        if record.updated_by:
            when = _when(record.updated_at)
            lines.append(f"**Last review:** {record.status} by {record.updated_by}, {when}")
        history = [[_when(h.changed_at), h.changed_by, h.status, h.comment] for h in detail.history]
        person = _display(detail.images.get("person"))
        return (
            record.id,
            person,
            _display(detail.images.get("garment")),
            _display(detail.images.get("output")),
            "\n\n".join(lines),
            {"params": record.params, "timings": record.timings, "scores": record.scores},
            record.status,
            record.comment,
            history,
            gr.Column(visible=True),
            # A re-run needs the shopper's photo, which is kept with consent only.
            gr.Button(interactive=person is not None,
                      value="Re-run with current code" if person is not None else "Re-run (photo not kept)"),
        )

    # The API sees the first nine (values); the panel and button updates come last.
    detail_components = [
        flag_id, person_image, garment_image, output_image, summary, parameters, status_radio, comment_box,
        history_table, detail_panel, rerun_button,
    ]

    def open_flag(
        number: float | None,
        state: dict[str, Any] | None,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
    ) -> tuple[Any, ...]:
        with _as_gradio_errors():
            return detail_outputs(service.detail(_credentials(state, profile, oauth_token), number))

    def select_row(
        rows: Any,
        state: dict[str, Any] | None,
        event: gr.SelectData,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
    ) -> tuple[Any, ...]:
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        values = rows.values.tolist() if hasattr(rows, "values") else rows
        return open_flag(values[row][0], state, profile, oauth_token)

    def update_flag(
        number: float | None,
        status: str | None,
        comment: str,
        state: dict[str, Any] | None,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
    ) -> tuple[Any, ...]:
        if not status:
            raise gr.Error("Pick a status (new, confirmed, rejected or fixed) before saving.", print_exception=False)
        with _as_gradio_errors():
            detail = service.update(_credentials(state, profile, oauth_token), number, status, comment or "")
        gr.Info(f"Flag #{detail.record.id} is now {detail.record.status}.")
        return detail_outputs(detail)

    def rerun_flag(
        number: float | None,
        state: dict[str, Any] | None,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
    ) -> tuple[Any, str]:
        with _as_gradio_errors():
            rerun = service.rerun(_credentials(state, profile, oauth_token), number)
        notes = "".join(f"\n- {note}" for note in rerun.notes)
        message = f"Re-rendered flag #{rerun.record.id} in {rerun.seconds:.1f} s (left: as flagged)." + notes
        return gr.ImageSlider(value=(rerun.old, rerun.new), visible=True), message

    def delete_flag(
        number: float | None,
        state: dict[str, Any] | None,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
    ) -> tuple[str, Any]:
        with _as_gradio_errors():
            deleted = service.delete(_credentials(state, profile, oauth_token), number)
        message = f"Deleted flag #{int(number)}." if deleted else f"There is no flag #{number}."
        return message, gr.Column(visible=False)

    def export_flags(
        status: str | None,
        fmt: str,
        state: dict[str, Any] | None,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
    ) -> str:
        credentials = _credentials(state, profile, oauth_token)
        with _as_gradio_errors():
            service.unlock(credentials)  # before touching the disk
        root = _export_root(settings)
        _prune_exports(root, settings.cache_ttl_s)
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="export-", dir=root))
        try:
            with _as_gradio_errors():
                result = service.export(credentials, work / "dataset", status=_filter(status), fmt=fmt)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        label = _filter(status) or "all"
        base = work / f"tryon-flags-{label}-{fmt}"
        archive = shutil.make_archive(str(base), "zip", root_dir=result.out_dir)
        shutil.rmtree(result.out_dir, ignore_errors=True)
        gr.Info(f"Exported {result.rows} flags.")
        return archive

    def unlock(
        token: str,
        name: str,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
    ) -> tuple[Any, ...]:
        new_state = {"token": (token or "").strip() or None, "name": (name or "").strip()}
        with _as_gradio_errors():
            reviewer = service.unlock(_credentials(new_state, profile, oauth_token))
        renderers = [ANY, *service.store.renderers()]
        rows, page, info = list_flags(None, None, None, "", "", 1, new_state, profile, oauth_token)
        return (
            new_state,
            f"Review open for **{reviewer.name}**.",
            gr.Column(visible=True),
            gr.Dropdown(choices=renderers, value=ANY),
            rows,
            page,
            info,
        )

    filters = [reason_filter, status_filter, renderer_filter, date_from, date_to]
    auth = [session]
    list_outputs = [table, page_number, page_info]

    unlock_button.click(
        unlock,
        inputs=[token_box, name_box],
        outputs=[session, unlock_message, panel, renderer_filter, *list_outputs],
        api_name="review_unlock",
    )
    refresh_button.click(list_flags, [*filters, page_number, *auth], list_outputs, api_name="review_list")

    def pager(step: int | None) -> Any:
        """A list handler for the page buttons (step -1/+1) and filter changes (None: page 1)."""

        # ``wraps`` gives the handler list_flags' signature, which Gradio reads to pass the OAuth profile
        # and token in the last two places.
        @functools.wraps(list_flags)
        def handler(*args: Any) -> tuple[list[list[Any]], int, str]:
            *filter_values, page, state, profile, oauth_token = args
            target = 1 if step is None else max(1, int(page or 1) + step)
            return list_flags(*filter_values, target, state, profile, oauth_token)

        return handler

    list_inputs = [*filters, page_number, *auth]
    # User edits only (``.input``, not ``.change``): unlocking sets the renderer choices without a second
    # listing, and the dates are read once typed (Enter or leaving the box), not at every keystroke.
    triggers = [reason_filter.input, status_filter.input, renderer_filter.input, date_from.submit,
                date_from.blur, date_to.submit, date_to.blur]
    gr.on(triggers, pager(None), list_inputs, list_outputs, api_visibility="private", trigger_mode="always_last")
    previous_button.click(pager(-1), list_inputs, list_outputs, api_visibility="private")
    next_button.click(pager(+1), list_inputs, list_outputs, api_visibility="private")
    open_button.click(open_flag, [flag_id, *auth], detail_components, api_name="review_detail")
    table.select(select_row, [table, *auth], detail_components, api_visibility="private")
    # Opening another flag hides the previous flag's re-run.
    hide_rerun = {"fn": lambda: (gr.ImageSlider(value=None, visible=False), ""), "inputs": None,
                  "outputs": [rerun_slider, rerun_message], "api_visibility": "private", "queue": False}
    open_button.click(**hide_rerun)
    table.select(**hide_rerun)
    save_button.click(
        update_flag, [flag_id, status_radio, comment_box, *auth], detail_components, api_name="review_update"
    ).success(list_flags, list_inputs, list_outputs, api_visibility="private")  # the table shows the new status
    rerun_button.click(rerun_flag, [flag_id, *auth], [rerun_slider, rerun_message], api_name="review_rerun",
                       concurrency_id=RENDER_CONCURRENCY_ID)
    delete_button.click(
        delete_flag, [flag_id, *auth], [rerun_message, detail_panel], api_name="review_delete"
    ).then(list_flags, list_inputs, list_outputs, api_visibility="private")
    export_button.click(
        export_flags, [export_status, export_format, *auth], export_file, api_name="review_export"
    )

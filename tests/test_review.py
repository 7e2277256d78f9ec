"""Review: access control (handlers and the live API), filters, paging, status history, re-run."""

from __future__ import annotations

import datetime as dt
import types
from pathlib import Path

import numpy as np
import pytest
from test_annotations import flag, garment_file, make_result

from tryon.config import Settings
from tryon.errors import TryOnError
from tryon.store.annotations import AnnotationStore
from tryon.store.review import Credentials, ReviewAccessError, ReviewService, authorize, table_rows

TOKEN = "s3cret-review-token"


def settings_for(tmp_path: Path, **overrides) -> Settings:
    return Settings(data_dir=tmp_path / "data", review_token=TOKEN, **overrides)


class FakeTryOn:
    """Stands in for tryon.pipeline.try_on: records what it was asked, returns a shifted image."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, person, garment=None, description=None, **kwargs):
        self.calls.append({"person": person, "garment": garment, "description": description, **kwargs})
        return types.SimpleNamespace(image=np.roll(person, 5, axis=1), notes=("re-rendered",))


@pytest.fixture
def service(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    return ReviewService(store, settings_for(tmp_path), try_on=FakeTryOn())


ANNOTATOR = Credentials(token=TOKEN, name="carol")


# --------------------------------------------------------------------------- access, handler level


@pytest.mark.parametrize("credentials", [
    None,
    Credentials(),
    Credentials(token="wrong"),
    Credentials(token=TOKEN[:-1]),
    Credentials(profile={"preferred_username": "mallory", "orgs": [{"preferred_username": "tryon-team"}]}),
])
def test_every_review_action_refuses_callers_without_the_token(service, tmp_path, credentials):
    flag_id, _ = flag(service.store, make_result(seed=1))
    actions = [
        lambda: service.unlock(credentials),
        lambda: service.list(credentials),
        lambda: service.detail(credentials, flag_id),
        lambda: service.update(credentials, flag_id, "confirmed", "x"),
        lambda: service.rerun(credentials, flag_id),
        lambda: service.delete(credentials, flag_id),
        lambda: service.export(credentials, tmp_path / "export"),
    ]
    for action in actions:
        with pytest.raises(ReviewAccessError):
            action()
    record = service.store.get(flag_id)
    assert record is not None and record.status == "new"  # nothing changed
    assert not (tmp_path / "export").exists()
    assert service._try_on.calls == []


def test_review_is_off_without_a_token_or_organisation(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(ReviewAccessError, match="Review is off"):
        authorize(settings, Credentials(token=""))
    with pytest.raises(ReviewAccessError, match="Review is off"):
        authorize(settings, Credentials(token="anything"))


def test_members_of_the_review_organisation_are_annotators(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", review_org="Tryon-Team")
    orgs = [{"preferred_username": "tryon-team", "name": "Tryon Team"}]
    member = {"preferred_username": "dana", "orgs": orgs}
    reviewer = authorize(settings, Credentials(profile=member))
    assert (reviewer.name, reviewer.via) == ("dana", "org")
    outsider = {"preferred_username": "eve", "orgs": [{"preferred_username": "other-org"}]}
    with pytest.raises(ReviewAccessError, match="not a member of the Tryon-Team"):
        authorize(settings, Credentials(profile=outsider))
    # Gradio's local mock login has no orgs and a placeholder token: not a member, no Hub call.
    mocked = {"preferred_username": "dev"}
    with pytest.raises(ReviewAccessError):
        authorize(settings, Credentials(profile=mocked, oauth_token="mock-oauth-token-for-local-dev"))
    with pytest.raises(ReviewAccessError, match="sign in with Hugging Face"):
        authorize(settings, Credentials())
    # A token is not accepted when only the organisation is configured.
    with pytest.raises(ReviewAccessError):
        authorize(settings, Credentials(token="anything"))


# --------------------------------------------------------------------------- review actions


def test_list_filters_by_reason_status_renderer_and_date_and_pages(service):
    store = service.store
    ids = {}
    for n in range(25):
        reasons = ["garment", "artifacts"] if n % 3 == 0 else ["body"]
        renderer = "diffusion" if n % 5 == 0 else "warp"
        ids[n], _ = flag(store, make_result(seed=n, renderer=renderer), reasons=reasons)
    for n in range(0, 25, 4):
        store.set_status(ids[n], "confirmed", "", "carol")

    page = service.list(ANNOTATOR, page_size=10)
    assert (page.total, page.pages, page.page) == (25, 3, 1)
    assert [r.id for r in page.records] == sorted(ids.values(), reverse=True)[:10]  # newest first
    last = service.list(ANNOTATOR, page=3, page_size=10)
    assert len(last.records) == 5
    assert service.list(ANNOTATOR, page=99, page_size=10).page == 3  # past the end: the last page

    by_reason = service.list(ANNOTATOR, reason="garment", page_size=100)
    assert {r.id for r in by_reason.records} == {ids[n] for n in range(25) if n % 3 == 0}
    by_status = service.list(ANNOTATOR, status="confirmed", page_size=100)
    assert {r.id for r in by_status.records} == {ids[n] for n in range(0, 25, 4)}
    by_renderer = service.list(ANNOTATOR, renderer="diffusion", status="confirmed", page_size=100)
    assert {r.id for r in by_renderer.records} == {ids[n] for n in (0, 20)}
    today = dt.datetime.now(dt.UTC).date()
    assert service.list(ANNOTATOR, date_from=today.isoformat(), date_to=today.isoformat()).total == 25
    assert service.list(ANNOTATOR, date_to=(today - dt.timedelta(days=1)).isoformat()).total == 0
    with pytest.raises(TryOnError, match="YYYY-MM-DD"):
        service.list(ANNOTATOR, date_from="yesterday")
    with pytest.raises(TryOnError, match="Unknown status"):
        service.list(ANNOTATOR, status="done")

    rows = table_rows(page.records)
    assert rows[0][0] == page.records[0].id and len(rows[0]) == 9


def test_status_changes_keep_who_and_when_in_the_history(service):
    flag_id, _ = flag(service.store, make_result(seed=2))
    service.update(ANNOTATOR, flag_id, "confirmed", "collar is doubled")
    detail = service.update(Credentials(token=TOKEN, name="dave"), flag_id, "fixed", "fixed in 0.2")
    assert detail.record.status == "fixed" and detail.record.comment == "fixed in 0.2"
    assert detail.record.updated_by == "dave"
    assert [(h.changed_by, h.status, h.comment) for h in detail.history] == [
        ("carol", "confirmed", "collar is doubled"),
        ("dave", "fixed", "fixed in 0.2"),
    ]
    assert detail.history[0].changed_at <= detail.history[1].changed_at
    with pytest.raises(TryOnError, match="Unknown status"):
        service.update(ANNOTATOR, flag_id, "done", "")
    with pytest.raises(TryOnError, match="no flag #999"):
        service.update(ANNOTATOR, 999, "confirmed", "")


def test_detail_shows_inputs_and_output_side_by_side(service, tmp_path):
    result = make_result(seed=3)
    flag_id, _ = flag(service.store, result, garment=garment_file(tmp_path), description="a blue top")
    detail = service.detail(ANNOTATOR, flag_id)
    np.testing.assert_array_equal(detail.images["person"], result.person)
    np.testing.assert_array_equal(detail.images["output"], result.image)
    assert detail.images["garment"] is not None and detail.images["edit_mask"] is None
    assert detail.record.description == "a blue top"


def test_rerun_replays_the_stored_inputs_and_parameters(service, tmp_path):
    result = make_result(seed=4)
    mask = np.zeros(result.person.shape[:2], bool)
    mask[10:40, 5:30] = True
    flag_id, _ = flag(
        service.store, result, garment=garment_file(tmp_path), description="make it navy",
        params={"category": "upper", "renderer": "warp", "requested_renderer": "diffusion",
                "edit_mask": mask},
    )
    rerun = service.rerun(ANNOTATOR, flag_id)
    call = service._try_on.calls[-1]
    np.testing.assert_array_equal(call["person"], result.person)
    assert call["garment"].shape == (160, 128, 3)
    assert call["description"] == "make it navy"
    assert (call["category"], call["renderer"]) == ("upper", "diffusion")
    np.testing.assert_array_equal(call["edit_mask"], mask)
    assert call["settings"] is service.settings
    np.testing.assert_array_equal(rerun.old, result.image)
    np.testing.assert_array_equal(rerun.new, np.roll(result.person, 5, axis=1))
    assert rerun.notes == ("re-rendered",)


def test_rerun_needs_the_person_photo_kept_with_consent(service):
    flag_id, _ = flag(service.store, make_result(seed=5), consent=False)
    with pytest.raises(TryOnError, match="did not agree to keep their photo"):
        service.rerun(ANNOTATOR, flag_id)
    assert service._try_on.calls == []


def test_delete_through_review(service):
    flag_id, _ = flag(service.store, make_result(seed=6))
    assert service.delete(ANNOTATOR, flag_id)
    assert not service.delete(ANNOTATOR, flag_id)
    with pytest.raises(TryOnError, match="no flag"):
        service.detail(ANNOTATOR, flag_id)


# --------------------------------------------------------------------------- the live API


@pytest.fixture
def live_app(tmp_path, monkeypatch):
    """A launched Blocks with the flag panel and the review tab, as tryon.ui.app places them."""
    import gradio as gr

    from tryon.store.annotations import prepare_data_dir
    from tryon.ui.review_tab import build_flag_panel, build_review_tab

    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    settings = settings_for(tmp_path)
    prepare_data_dir(settings)
    result = make_result(seed=7)
    fake = FakeTryOn()
    with gr.Blocks(delete_cache=(60, 60)) as demo:
        result_state = gr.State()
        show = gr.Button("show")
        shown = {"result": result, "result_id": "live-1", "params": {"category": "auto", "renderer": "warp"},
                 "person_path": None, "garment_path": None, "description": "a blue shirt"}
        show.click(lambda: shown, None, result_state, api_name="show")
        build_flag_panel(result_state, settings)
        with gr.Tab("Review"):
            build_review_tab(settings, try_on=fake)
    demo.queue()
    demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        yield types.SimpleNamespace(demo=demo, settings=settings, result=result, try_on=fake)
    finally:
        demo.close()


LIST_ARGS = ("(any)", "(any)", "(any)", "", "", 1)


def test_review_endpoints_refuse_api_callers_without_the_token(live_app):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    shopper = Client(live_app.demo.local_url, verbose=False)
    # A shopper flags their own result: twice, one record.
    shopper.predict(api_name="/show")
    first = shopper.predict(["artifacts", "garment"], "seams on the sleeve", True, api_name="/flag")
    assert "flagged as #1" in first
    assert "already flagged (#1)" in shopper.predict(["artifacts"], "", True, api_name="/flag")
    store = AnnotationStore(live_app.settings.data_dir)
    assert store.count() == 1 and store.get(1).flagged_by.startswith("anon-")

    refused = [
        ("/review_list", LIST_ARGS),
        ("/review_detail", (1,)),
        ("/review_update", (1, "rejected", "not a bug")),
        ("/review_rerun", (1,)),
        ("/review_delete", (1,)),
        ("/review_export", ("(any)", "jsonl")),
    ]
    for api_name, args in refused:
        with pytest.raises(AppError, match="Only annotators"):
            shopper.predict(*args, api_name=api_name)
    with pytest.raises(AppError, match="Wrong review token"):
        shopper.predict("guess", "eve", api_name="/review_unlock")
    for api_name, args in refused:  # a failed unlock leaves the session locked
        with pytest.raises(AppError):
            shopper.predict(*args, api_name=api_name)
    assert store.get(1).status == "new" and store.history(1) == []
    assert live_app.try_on.calls == []
    assert not list(Path(live_app.settings.data_dir).rglob("records.*"))  # nothing was exported

    # The stored photos are not served by Gradio's file route either (while its own cache is).
    import httpx

    file_route = f"{live_app.demo.local_url}gradio_api/file="
    with open(store.image_path(store.get(1).images["output"]), "rb") as fh:
        uploaded = httpx.post(shopper.upload_url, files=[("files", ("x.png", fh))]).json()[0]
    assert httpx.get(file_route + uploaded).status_code == 200
    for sha in store.get(1).images.values():
        assert httpx.get(f"{file_route}{store.image_path(sha)}").status_code == 403


def test_annotator_reviews_through_the_api_after_unlocking(live_app, tmp_path):
    import zipfile

    from gradio_client import Client
    from gradio_client.exceptions import AppError

    shopper = Client(live_app.demo.local_url, verbose=False)
    shopper.predict(api_name="/show")
    shopper.predict(["face"], "", True, api_name="/flag")

    annotator = Client(live_app.demo.local_url, verbose=False)
    unlocked = annotator.predict(TOKEN, "carol", api_name="/review_unlock")
    assert "carol" in unlocked[0]
    table, _, info = annotator.predict(*LIST_ARGS, api_name="/review_list")
    assert [row[0] for row in table["data"]] == [1] and "1 flags" in info

    detail = annotator.predict(1, api_name="/review_detail")
    person_file, output_file = detail[1], detail[3]
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(person_file).convert("RGB")), live_app.result.person)
    np.testing.assert_array_equal(np.asarray(Image.open(output_file).convert("RGB")), live_app.result.image)

    updated = annotator.predict(1, "confirmed", "face changed", api_name="/review_update")
    assert updated[6] == "confirmed"
    assert [row[1:] for row in updated[8]["data"]] == [["carol", "confirmed", "face changed"]]

    _, message = annotator.predict(1, api_name="/review_rerun")
    assert "Re-rendered flag #1" in message and len(live_app.try_on.calls) == 1

    archive = annotator.predict("confirmed", "jsonl", api_name="/review_export")
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert "records.jsonl" in names and any(n.startswith("images/") for n in names)
        assert zf.read("records.jsonl").decode().count("\n") == 1

    # Another browser session (the shopper) is still locked out.
    with pytest.raises(AppError):
        shopper.predict(*LIST_ARGS, api_name="/review_list")

    assert "Deleted flag #1" in annotator.predict(1, api_name="/review_delete")
    assert AnnotationStore(live_app.settings.data_dir).count() == 0


def test_rerun_with_the_real_pipeline_reproduces_an_unchanged_case(tmp_path, eval_dir):
    from tryon.pipeline import try_on
    from tryon.store.annotations import record_from_state

    person, garment = eval_dir / "person/vitonhd_00034_00.jpg", eval_dir / "garment/vitonhd_09176_00.jpg"
    result = try_on(person, garment, category="upper", renderer="warp")
    state = {"result": result, "result_id": "real-1", "params": {"category": "upper", "renderer": "warp"},
             "person_path": str(person), "garment_path": str(garment), "description": ""}
    store = AnnotationStore(tmp_path / "data")
    consented = record_from_state(state, reasons=["garment"], note="", consent=True, flagged_by="a")
    flag_id, _ = store.add(consented)
    # Without consent the real face box hides the real face.
    unconsented = record_from_state({**state, "result_id": "real-2"}, reasons=["garment"], note="",
                                    consent=False, flagged_by="a")
    blurred_id, _ = store.add(unconsented)
    x0, y0, x1, y1 = result.body.face_box
    hidden = store.load_image(store.get(blurred_id), "output")
    assert np.abs(hidden[y0:y1, x0:x1].astype(int) - result.image[y0:y1, x0:x1]).mean() > 5

    service = ReviewService(store, settings_for(tmp_path))  # the default renderer: tryon.pipeline.try_on
    rerun = service.rerun(ANNOTATOR, flag_id)
    assert rerun.new.shape == rerun.old.shape == result.image.shape
    # Same code, same stored inputs and parameters: the same picture.
    np.testing.assert_array_equal(rerun.new, rerun.old)

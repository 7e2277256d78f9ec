"""Review: tickets and the unlock throttle (handlers), filters, paging, status history, re-run."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import types
from pathlib import Path

import numpy as np
import pytest
from test_annotations import flag, garment_file, make_result

from tryon.config import Settings
from tryon.errors import TryOnError
from tryon.store.annotations import AnnotationStore
from tryon.store.review import (
    GLOBAL_FAILURES_PER_MINUTE,
    Caller,
    Client,
    Credentials,
    ReviewAccess,
    ReviewAccessError,
    ReviewService,
    UnlockThrottle,
    authorize,
    table_rows,
)

TOKEN = "s3cret-review-token"
BROWSER = Client(address="10.0.0.5", binding="b" * 32)
OTHER_BROWSER = Client(address="10.0.0.5", binding="c" * 32)


def settings_for(tmp_path: Path, **overrides) -> Settings:
    return Settings(data_dir=tmp_path / "data", review_token=TOKEN, **overrides)


class FakeTryOn:
    """Stands in for tryon.pipeline.try_on: records what it was asked, returns a shifted image."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, person, garment=None, description=None, **kwargs):
        self.calls.append({"person": person, "garment": garment, "description": description, **kwargs})
        return types.SimpleNamespace(image=np.roll(person, 5, axis=1), notes=("re-rendered",))


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    return ReviewService(store, settings_for(tmp_path), rerun=FakeTryOn())


def unlocked(service: ReviewService, name: str = "carol", client: Client = BROWSER) -> Caller:
    _, ticket = service.unlock(Credentials(token=TOKEN, name=name), client)
    return Caller(ticket=ticket, client=client)


# --------------------------------------------------------------------------- access, handler level


def _tampered(ticket: str) -> str:
    body, _, signature = ticket.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["n"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


def test_every_review_action_refuses_callers_without_a_valid_ticket(service, tmp_path):
    flag_id, _ = flag(service.store, make_result(seed=1))
    good = unlocked(service)
    other_server = ReviewService(service.store, service.settings, rerun=FakeTryOn())  # another signing key
    callers = [
        None,
        Caller(ticket=None, client=BROWSER),
        Caller(ticket="not-a-ticket", client=BROWSER),
        Caller(ticket=_tampered(good.ticket), client=BROWSER),
        Caller(ticket=unlocked(other_server).ticket, client=BROWSER),
        Caller(ticket=good.ticket, client=OTHER_BROWSER),  # copied to another browser
        Caller(ticket=good.ticket, client=Client(address="10.0.0.5", binding=None)),
    ]
    for caller in callers:
        actions = [
            lambda c=caller: service.list(c),
            lambda c=caller: service.detail(c, flag_id),
            lambda c=caller: service.update(c, flag_id, "confirmed", "x"),
            lambda c=caller: service.rerun(c, flag_id),
            lambda c=caller: service.delete(c, flag_id),
            lambda c=caller: service.export(c, tmp_path / "export"),
        ]
        for action in actions:
            with pytest.raises(ReviewAccessError):
                action()
    record = service.store.get(flag_id)
    assert record is not None and record.status == "new"  # nothing changed
    assert not (tmp_path / "export").exists()
    assert service._rerun.calls == []
    assert service.list(good).total == 1  # the real ticket works


@pytest.mark.parametrize("credentials", [
    None,
    Credentials(),
    Credentials(token="wrong"),
    Credentials(token=TOKEN[:-1]),
    Credentials(profile={"preferred_username": "mallory", "orgs": [{"preferred_username": "tryon-team"}]}),
])
def test_unlock_refuses_anything_but_the_token(service, credentials):
    with pytest.raises(ReviewAccessError):
        service.unlock(credentials, BROWSER)


def test_an_unlocked_review_expires(tmp_path):
    clock = Clock()
    settings = settings_for(tmp_path, review_session_s=600)
    access = ReviewAccess(settings, clock=clock)
    _, ticket = access.unlock(Credentials(token=TOKEN, name="carol"), BROWSER)
    assert access.check(Caller(ticket, BROWSER)).name == "carol"
    clock.now += 599
    assert access.check(Caller(ticket, BROWSER)).name == "carol"
    clock.now += 2
    with pytest.raises(ReviewAccessError, match="expired"):
        access.check(Caller(ticket, BROWSER))


def test_the_review_needs_the_browsers_cookie(service):
    with pytest.raises(ReviewAccessError, match="needs cookies"):
        service.unlock(Credentials(token=TOKEN), Client(address="10.0.0.5", binding=None))


def test_unlock_attempts_are_throttled_per_address_with_a_lockout_and_logged(tmp_path, caplog):
    clock = Clock()
    settings = settings_for(tmp_path, review_max_failures=5, review_lockout_s=900)
    access = ReviewAccess(settings, throttle=UnlockThrottle(5, 900, clock=clock))
    attacker = Client(address="203.0.113.9", binding="a" * 32)
    caplog.set_level(logging.INFO, logger="tryon.store.review")
    for _ in range(5):
        with pytest.raises(ReviewAccessError, match="Wrong review token"):
            access.unlock(Credentials(token="guess"), attacker)
    # Locked out: even the right token is not checked now.
    with pytest.raises(ReviewAccessError, match="Too many wrong review tokens from your address"):
        access.unlock(Credentials(token=TOKEN), attacker)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("wrong review token from 203.0.113.9" in m for m in messages) == 5
    assert any("locked for 203.0.113.9" in m for m in messages)
    assert any("203.0.113.9 is locked out" in m for m in messages)
    # Another address is not affected; after the lockout the address may try again.
    assert access.unlock(Credentials(token=TOKEN, name="dana"), BROWSER)[0].name == "dana"
    clock.now += 901
    assert access.unlock(Credentials(token=TOKEN, name="eve"), attacker)[0].name == "eve"


def test_a_right_token_clears_the_failures_of_its_address(tmp_path):
    clock = Clock()
    access = ReviewAccess(settings_for(tmp_path), throttle=UnlockThrottle(3, 900, clock=clock))
    for _ in range(2):
        with pytest.raises(ReviewAccessError):
            access.unlock(Credentials(token="typo"), BROWSER)
    access.unlock(Credentials(token=TOKEN), BROWSER)
    for _ in range(2):
        with pytest.raises(ReviewAccessError, match="Wrong review token"):
            access.unlock(Credentials(token="typo"), BROWSER)


def test_guessing_from_many_addresses_pauses_every_token_check(tmp_path, caplog):
    clock = Clock()
    access = ReviewAccess(settings_for(tmp_path), throttle=UnlockThrottle(5, 900, clock=clock))
    caplog.set_level(logging.WARNING, logger="tryon.store.review")
    for n in range(GLOBAL_FAILURES_PER_MINUTE + 1):
        with pytest.raises(ReviewAccessError, match="Wrong review token"):
            access.unlock(Credentials(token="guess"), Client(address=f"198.51.100.{n}", binding="d" * 32))
    with pytest.raises(ReviewAccessError, match="on this server"):
        access.unlock(Credentials(token=TOKEN), BROWSER)
    assert any("token checks paused" in record.getMessage() for record in caplog.records)
    clock.now += 61
    assert access.unlock(Credentials(token=TOKEN), BROWSER)[0].via == "token"


def test_review_is_off_without_a_token_or_organisation(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(ReviewAccessError, match="Review is off"):
        authorize(settings, Credentials(token=""))
    with pytest.raises(ReviewAccessError, match="Review is off"):
        ReviewAccess(settings).unlock(Credentials(token="anything"), BROWSER)


def test_members_of_the_review_organisation_are_annotators(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", review_org="Tryon-Team")
    orgs = [{"preferred_username": "tryon-team", "name": "Tryon Team"}]
    member = {"preferred_username": "dana", "orgs": orgs}
    reviewer, ticket = ReviewAccess(settings).unlock(Credentials(profile=member), BROWSER)
    assert (reviewer.name, reviewer.via) == ("dana", "org") and ticket
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
    annotator = unlocked(service)
    store = service.store
    ids = {}
    for n in range(25):
        reasons = ["garment", "artifacts"] if n % 3 == 0 else ["body"]
        renderer = "diffusion" if n % 5 == 0 else "warp"
        ids[n], _ = flag(store, make_result(seed=n, renderer=renderer), reasons=reasons)
    for n in range(0, 25, 4):
        store.set_status(ids[n], "confirmed", "", "carol")

    page = service.list(annotator, page_size=10)
    assert (page.total, page.pages, page.page) == (25, 3, 1)
    assert [r.id for r in page.records] == sorted(ids.values(), reverse=True)[:10]  # newest first
    last = service.list(annotator, page=3, page_size=10)
    assert len(last.records) == 5
    assert service.list(annotator, page=99, page_size=10).page == 3  # past the end: the last page

    by_reason = service.list(annotator, reason="garment", page_size=100)
    assert {r.id for r in by_reason.records} == {ids[n] for n in range(25) if n % 3 == 0}
    by_status = service.list(annotator, status="confirmed", page_size=100)
    assert {r.id for r in by_status.records} == {ids[n] for n in range(0, 25, 4)}
    by_renderer = service.list(annotator, renderer="diffusion", status="confirmed", page_size=100)
    assert {r.id for r in by_renderer.records} == {ids[n] for n in (0, 20)}
    today = dt.datetime.now(dt.UTC).date()
    assert service.list(annotator, date_from=today.isoformat(), date_to=today.isoformat()).total == 25
    assert service.list(annotator, date_to=(today - dt.timedelta(days=1)).isoformat()).total == 0
    with pytest.raises(TryOnError, match="YYYY-MM-DD"):
        service.list(annotator, date_from="yesterday")
    with pytest.raises(TryOnError, match="Unknown status"):
        service.list(annotator, status="done")

    rows = table_rows(page.records)
    assert rows[0][0] == page.records[0].id and len(rows[0]) == 9


def test_status_changes_keep_who_and_when_in_the_history(service):
    flag_id, _ = flag(service.store, make_result(seed=2))
    service.update(unlocked(service), flag_id, "confirmed", "collar is doubled")
    detail = service.update(unlocked(service, "dave"), flag_id, "fixed", "fixed in 0.2")
    assert detail.record.status == "fixed" and detail.record.comment == "fixed in 0.2"
    assert detail.record.updated_by == "dave"
    assert [(h.changed_by, h.status, h.comment) for h in detail.history] == [
        ("carol", "confirmed", "collar is doubled"),
        ("dave", "fixed", "fixed in 0.2"),
    ]
    assert detail.history[0].changed_at <= detail.history[1].changed_at
    with pytest.raises(TryOnError, match="Unknown status"):
        service.update(unlocked(service), flag_id, "done", "")
    with pytest.raises(TryOnError, match="no flag #999"):
        service.update(unlocked(service), 999, "confirmed", "")


def test_detail_points_at_the_stored_inputs_and_output(service, tmp_path):
    from tryon.store.annotations import decode_png

    result = make_result(seed=3)
    flag_id, _ = flag(service.store, result, garment=garment_file(tmp_path), description="a blue top")
    detail = service.detail(unlocked(service), flag_id)
    np.testing.assert_array_equal(decode_png(detail.image_files["person"], "person"), result.person)
    np.testing.assert_array_equal(decode_png(detail.image_files["output"], "output"), result.image)
    assert detail.image_files["garment"].is_file() and detail.image_files["edit_mask"] is None
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
    rerun = service.rerun(unlocked(service), flag_id)
    call = service._rerun.calls[-1]
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
        service.rerun(unlocked(service), flag_id)
    assert service._rerun.calls == []


def test_delete_through_review(service):
    annotator = unlocked(service)
    flag_id, _ = flag(service.store, make_result(seed=6))
    assert service.delete(annotator, flag_id)
    assert not service.delete(annotator, flag_id)
    with pytest.raises(TryOnError, match="no flag"):
        service.detail(annotator, flag_id)


@pytest.mark.eval
@pytest.mark.slow
def test_rerun_with_the_real_pipeline_reproduces_an_unchanged_case(tmp_path, eval_dir):
    from tryon.pipeline import try_on

    person, garment = eval_dir / "person/vitonhd_00034_00.jpg", eval_dir / "garment/vitonhd_09176_00.jpg"
    result = try_on(person, garment, category="upper", renderer="warp")
    store = AnnotationStore(tmp_path / "data")
    params = {"category": "upper", "renderer": "warp"}
    flag_id, _ = flag(store, result, key="real-1", reasons=["garment"], params=params, garment=garment)
    # Without consent the real face box hides the real face.
    blurred_id, _ = flag(store, result, key="real-2", consent=False, reasons=["garment"], params=params)
    x0, y0, x1, y1 = result.body.face_box
    hidden = store.load_image(store.get(blurred_id), "output")
    assert np.abs(hidden[y0:y1, x0:x1].astype(int) - result.image[y0:y1, x0:x1]).mean() > 5

    service = ReviewService(store, settings_for(tmp_path), rerun=try_on)
    rerun = service.rerun(unlocked(service), flag_id)
    assert rerun.new.shape == rerun.old.shape == result.image.shape
    # Same code, same stored inputs and parameters: the same picture.
    np.testing.assert_array_equal(rerun.new, rerun.old)

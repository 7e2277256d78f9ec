"""Flag store: round trip, idempotency, migrations, concurrency, crash safety, privacy, Gradio cache."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tryon import __version__
from tryon.config import Settings
from tryon.errors import TryOnError
from tryon.pipeline import TryOnResult
from tryon.stages.body import BodyAnalysis
from tryon.stages.check import ResultCheck
from tryon.store.annotations import (
    DB_FILENAME,
    DESCRIPTION_MAX_CHARS,
    GRADIO_TMP_DIRNAME,
    IMAGES_DIRNAME,
    NOTE_MAX_CHARS,
    SCHEMA_VERSION,
    TRASH_PREFIX,
    AnnotationStore,
    blur_face,
    migrate,
    prepare_data_dir,
    record_from_result,
)

REPO = Path(__file__).resolve().parents[1]
EVAL_PERSON = "person/vitonhd_00034_00.jpg"


# --------------------------------------------------------------------------- helpers shared with
# test_review.py and test_export.py (they import these).


def make_body(size: tuple[int, int], face_box: tuple[int, int, int, int] | None) -> BodyAnalysis:
    """A BodyAnalysis with a given face box; landmarks not visible (so no landmark fallback)."""
    height, width = size
    empty = np.zeros((height, width), bool)
    return BodyAnalysis(
        size=size,
        landmarks=np.zeros((33, 2), np.float32),
        visibility=np.zeros(33, np.float32),
        person_prob=np.zeros((height, width), np.float32),
        person_mask=empty,
        face_box=face_box,
        regions={},
        skin_lab_mean=np.zeros(3, np.float32),
        skin_lab_cov=np.eye(3, dtype=np.float32),
        skin_rgb=np.array([200, 160, 140], np.uint8),
    )


def make_result(
    person: np.ndarray | None = None,
    *,
    seed: int = 0,
    face_box: tuple[int, int, int, int] | None = (20, 8, 44, 32),
    renderer: str = "warp",
    check: ResultCheck | None = None,
) -> TryOnResult:
    """A TryOnResult whose output is the person with a recoloured torso (a stand-in rendering)."""
    rng = np.random.default_rng(seed)
    if person is None:
        person = rng.integers(0, 256, (96, 64, 3), dtype=np.uint8)
    height, width = person.shape[:2]
    edit = np.zeros((height, width), bool)
    edit[height // 3 : 2 * height // 3, width // 4 : 3 * width // 4] = True
    image = person.copy()
    image[edit] = (np.array([30, 60, 200]) + rng.integers(0, 20, 3)).astype(np.uint8)
    garment = np.full((80, 60, 3), 240, np.uint8)
    garment[10:70, 10:50] = (30, 60, 200)
    return TryOnResult(
        image=image,
        person=person,
        edit_mask=edit,
        garment_mask=edit,
        garment_image=garment,
        category="upper",
        renderer=renderer,
        body=make_body((height, width), face_box),
        garment=None,
        spec=None,
        check=check if check is not None else ResultCheck(
            ok=False, problems=("The old sleeves may still show on the arms.",),
            measures={"arm_skin_share": np.float32(0.4), "coverage": 0.97}),
        timings={"intake": 0.01, "body": 0.04, "warp": 0.2, "total": 0.25},
        notes=("Used the warp renderer: no GPU",),
    )


def garment_file(tmp_path: Path, name: str = "garment.png", colour: tuple[int, int, int] = (30, 60, 200),
                 ) -> Path:
    """A product-photo-like garment PNG on disk (as a Gradio upload would be)."""
    image = np.full((160, 128, 3), 245, np.uint8)
    image[20:140, 24:104] = colour
    path = tmp_path / name
    Image.fromarray(image).save(path)
    return path


def decoded(garment: Path | np.ndarray | None) -> np.ndarray | None:
    """A garment photo as the UI hands it to the store: decoded by intake (paths are read)."""
    from tryon.pipeline import load_photo

    if garment is None or isinstance(garment, np.ndarray):
        return garment
    return load_photo(garment, "garment photo")


def flag(store: AnnotationStore, result: TryOnResult, *, consent: bool = True, key: str | None = None,
         **kwargs) -> tuple[int, bool]:
    """Store a flag of ``result``; ``garment`` may be a path (decoded first), checked for faces
    unless ``garment_faces`` is given (a drawn garment shows none)."""
    garment = decoded(kwargs.pop("garment", None))
    kwargs.setdefault("garment_faces", None if garment is None else [])
    record = record_from_result(
        result,
        reasons=kwargs.pop("reasons", ["artifacts"]),
        flagged_by=kwargs.pop("flagged_by", "anon-test"),
        consent=consent,
        result_id=key or uuid.uuid4().hex,
        garment=garment,
        **kwargs,
    )
    return store.add(record)


def stored_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / IMAGES_DIRNAME).iterdir())


# --------------------------------------------------------------------------- round trip


def test_record_round_trip_keeps_inputs_output_parameters_and_scores(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    result = make_result(seed=1)
    garment = garment_file(tmp_path)
    mask = np.zeros(result.person.shape[:2], bool)
    mask[30:60, 10:50] = True
    flag_id, created = flag(
        store,
        result,
        key="result-1",
        reasons=["garment", "attributes"],
        note="  sleeves missing  ",
        description="a blue shirt",
        params={"category": "auto", "renderer": "warp", "edit_mask": mask},
        garment=garment,
        scores={"quality": {"sharpness": 0.5}},
        settings=Settings(max_side=512, diffusion_steps=7),
    )
    assert created
    record = store.get(flag_id)
    assert record is not None
    assert record.idempotency_key == "result-1"
    assert record.reasons == ("garment", "attributes")
    assert record.note == "sleeves missing"
    assert record.description == "a blue shirt"
    assert record.renderer == "warp" and record.category == "upper"
    assert record.version == __version__
    assert record.consent and record.status == "new" and record.comment == ""
    assert record.params["request"] == {"category": "auto", "renderer": "warp"}
    assert record.params["settings"]["max_side"] == 512
    assert record.params["settings"]["diffusion_steps"] == 7
    assert record.params["result"]["notes"] == ["Used the warp renderer: no GPU"]
    assert record.timings == pytest.approx(result.timings)
    assert record.scores["check"]["ok"] is False
    assert record.scores["check"]["problems"] == ["The old sleeves may still show on the arms."]
    assert record.scores["check"]["arm_skin_share"] == pytest.approx(0.4)
    assert record.scores["quality"] == {"sharpness": 0.5}
    assert record.created_at.endswith("Z")
    # Images come back pixel for pixel.
    np.testing.assert_array_equal(store.load_image(record, "person"), result.person)
    np.testing.assert_array_equal(store.load_image(record, "output"), result.image)
    garment_rgb = np.asarray(Image.open(garment).convert("RGB"))
    np.testing.assert_array_equal(store.load_image(record, "garment"), garment_rgb)
    np.testing.assert_array_equal(store.load_image(record, "edit_mask"), mask)
    # Files are named by the sha256 of their bytes.
    for sha in record.images.values():
        assert hashlib.sha256(store.image_path(sha).read_bytes()).hexdigest() == sha


def test_the_person_photo_is_read_only_with_consent(tmp_path):
    import dataclasses

    store = AnnotationStore(tmp_path / "data")
    result = dataclasses.replace(make_result(seed=2), person=None)  # what the UI holds: no person photo
    record = record_from_result(result, reasons=["other"], note="x", consent=False, flagged_by="alice",
                                description="a red dress", result_id="abc123")
    flag_id, _ = store.add(record)
    stored = store.get(flag_id)
    assert stored.idempotency_key == "abc123" and stored.flagged_by == "alice"
    assert stored.description == "a red dress"
    assert set(stored.images) == {"output"}  # no garment photo was given, no person without consent
    assert stored.params["garment_source"] == "none"


def test_a_garment_photo_no_longer_available_is_recorded_as_not_kept(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    flag_id, _ = flag(store, make_result(seed=3), garment=None, garment_source="upload expired (not kept)")
    record = store.get(flag_id)
    assert record.params["garment_source"] == "upload expired (not kept)"
    assert "garment" not in record.images


def test_descriptions_and_notes_are_capped_where_flags_are_stored(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    huge = "a red shirt " * (5 * 2**20 // 12)  # ~5 MB, as an attacker sent through the API
    with pytest.raises(TryOnError, match=f"description is longer than {DESCRIPTION_MAX_CHARS}"):
        flag(store, make_result(seed=30), description=huge)
    with pytest.raises(TryOnError, match=f"note is longer than {NOTE_MAX_CHARS}"):
        flag(store, make_result(seed=31), note="x" * (NOTE_MAX_CHARS + 1))
    assert store.count() == 0 and stored_files(tmp_path / "data") == []
    assert flag(store, make_result(seed=32), description="d" * DESCRIPTION_MAX_CHARS)[1]


def test_flag_needs_a_known_reason(tmp_path):
    with pytest.raises(TryOnError, match="at least one reason"):
        record_from_result(make_result(), reasons=[], flagged_by="a", consent=True)
    with pytest.raises(TryOnError, match="Unknown flag reason"):
        record_from_result(make_result(), reasons=["ugly"], flagged_by="a", consent=True)


# --------------------------------------------------------------------------- idempotency


def test_flagging_the_same_result_twice_stores_one_record(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    result = make_result(seed=4)
    first = flag(store, result, key="same-result")
    second = flag(store, result, key="same-result", reasons=["other"], note="clicked again")
    assert first == (first[0], True)
    assert second == (first[0], False)
    assert store.count() == 1
    assert store.get(first[0]).reasons == ("artifacts",)


def test_without_a_result_id_the_key_is_the_content(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    result = make_result(seed=5)

    def add(flagged_by: str) -> tuple[int, bool]:
        return store.add(record_from_result(result, reasons=["body"], flagged_by=flagged_by, consent=True,
                                            params={"category": "auto"}))

    first = add("anon-1")
    assert add("anon-1") == (first[0], False)  # a retry of the same request
    assert add("anon-2")[1]  # another shopper flagging the same output is another opinion
    assert store.count() == 2


# --------------------------------------------------------------------------- schema


def test_new_store_creates_current_schema_in_wal_mode(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    assert store.migrated_from == 0
    conn = sqlite3.connect(tmp_path / "data" / DB_FILENAME)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"flags", "images", "review_history"} <= tables
    finally:
        conn.close()
    assert AnnotationStore(tmp_path / "data").migrated_from == SCHEMA_VERSION  # reopening migrates nothing


def test_version_1_database_migrates_with_its_records_and_images(tmp_path):
    data = tmp_path / "data"
    (data / IMAGES_DIRNAME).mkdir(parents=True)
    conn = sqlite3.connect(data / DB_FILENAME, isolation_level=None)
    assert migrate(conn, target=1) == 0
    person = np.random.default_rng(6).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    output = person[::-1].copy()
    shas = {}
    for role, image in (("person", person), ("output", output)):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        shas[role] = hashlib.sha256(buffer.getvalue()).hexdigest()
        (data / IMAGES_DIRNAME / f"{shas[role]}.png").write_bytes(buffer.getvalue())
    conn.execute(
        "INSERT INTO flags (idempotency_key, created_at, flagged_by, reasons, note, description, renderer, "
        "params, version, timings, scores, consent, person_sha, garment_sha, output_sha) "
        "VALUES ('old-1', '2025-12-01T10:00:00.000000Z', 'bob', '[\"face\"]', 'old note', '', 'warp', "
        "'{\"result\": {\"category\": \"dress\"}}', '0.0.9', '{}', '{}', 1, ?, NULL, ?)",
        (shas["person"], shas["output"]),
    )
    conn.close()

    store = AnnotationStore(data)
    assert store.migrated_from == 1
    assert store.last_sweep.orphans == 0  # the v1 images are referenced after the migration
    record = store.get_by_key("old-1")
    assert record.flagged_by == "bob" and record.reasons == ("face",) and record.version == "0.0.9"
    assert record.status == "new" and record.category == "dress"
    assert record.images == shas
    np.testing.assert_array_equal(store.load_image(record, "person"), person)
    columns = {row[1] for row in sqlite3.connect(data / DB_FILENAME).execute("PRAGMA table_info(flags)")}
    assert "person_sha" not in columns and "status" in columns
    # The migrated store takes new flags and review changes.
    store.set_status(record.id, "confirmed", "face drifted", "carol")
    assert store.history(record.id)[0].changed_by == "carol"
    assert flag(store, make_result(seed=7))[1]


def test_database_from_a_newer_version_is_refused(tmp_path):
    data = tmp_path / "data"
    AnnotationStore(data)
    conn = sqlite3.connect(data / DB_FILENAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(TryOnError, match="newer than this tryon"):
        AnnotationStore(data)


# --------------------------------------------------------------------------- concurrency and crashes


@pytest.mark.slow
def test_8_threads_flagging_50_results_each_lose_and_duplicate_nothing(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    shared_garment = garment_file(tmp_path)
    threads, per_thread = 8, 50
    outcomes: dict[str, list[tuple[int, bool]]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                key = f"t{index}-r{i}"
                result = make_result(seed=index * 1000 + i)
                # Every flag is sent twice (a double click), the second from another thread's view.
                first = flag(store, result, key=key, garment=shared_garment)
                again = flag(store, result, key=key, garment=shared_garment)
                outcomes[key] = [first, again]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors, errors[0]
    assert len(outcomes) == threads * per_thread
    assert all(first[1] and not again[1] and first[0] == again[0] for first, again in outcomes.values())
    assert store.count() == threads * per_thread
    ids = {first[0] for first, _ in outcomes.values()}
    assert len(ids) == threads * per_thread
    records, total = store.query()
    assert total == threads * per_thread
    assert {r.idempotency_key for r in records} == set(outcomes)
    # One garment file for all 400 flags; every referenced file exists; nothing else is there.
    garment_shas = {r.images["garment"] for r in records}
    assert len(garment_shas) == 1
    referenced = {sha for r in records for sha in r.images.values()}
    assert {p.stem for p in stored_files(tmp_path / "data")} == referenced


KILLED_WRITER = """
import time
from pathlib import Path
from test_annotations import decoded, make_result, garment_file
from tryon.store.annotations import AnnotationStore, record_from_result

class PausingStore(AnnotationStore):
    def _before_commit(self, conn):
        Path({marker!r}).write_text("in transaction")
        time.sleep(60)

store = PausingStore({data!r})
garment = decoded(garment_file(Path({tmp!r}), "killed.png", (200, 10, 10)))
record = record_from_result(make_result(seed=99), reasons=["artifacts"], flagged_by="anon-k", consent=True,
                            result_id="killed", garment=garment)
store.add(record)
"""


def test_writer_killed_inside_its_transaction_leaves_a_consistent_store(tmp_path):
    data = tmp_path / "data"
    store = AnnotationStore(data)
    kept_id, _ = flag(store, make_result(seed=98), key="before-the-crash")
    files_before = stored_files(data)
    marker = tmp_path / "marker"
    script = KILLED_WRITER.format(marker=str(marker), data=str(data), tmp=str(tmp_path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    writer = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert writer.poll() is None, "the writer exited before reaching its transaction"
            assert time.monotonic() < deadline, "the writer never reached its transaction"
            time.sleep(0.05)
        # Its image files are on disk, its rows are written but not committed.
        assert len(stored_files(data)) > len(files_before)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    assert writer.returncode == -signal.SIGKILL

    reopened = AnnotationStore(data)
    assert reopened.last_sweep.orphans >= 1  # the killed writer's files
    assert stored_files(data) == files_before
    assert reopened.count() == 1
    assert reopened.get_by_key("killed") is None
    assert reopened.get(kept_id).idempotency_key == "before-the-crash"
    conn = sqlite3.connect(data / DB_FILENAME)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    dangling = "SELECT COUNT(*) FROM images WHERE flag_id NOT IN (SELECT id FROM flags)"
    assert conn.execute(dangling).fetchone()[0] == 0
    conn.close()
    # The store still works, and the same result can now be flagged.
    assert flag(reopened, make_result(seed=99), key="killed")[1]


def test_delete_removes_the_record_and_only_images_no_other_record_uses(tmp_path):
    data = tmp_path / "data"
    store = AnnotationStore(data)
    garment = garment_file(tmp_path)
    first, _ = flag(store, make_result(seed=10), garment=garment)
    second, _ = flag(store, make_result(seed=11), garment=garment)
    store.set_status(first, "confirmed", "bad seam", "carol")
    shared = store.get(first).images["garment"]
    own = store.get(first).images["output"]

    assert store.delete(first)
    assert store.get(first) is None and store.history(first) == []
    assert not store.image_path(own).exists()
    assert store.image_path(shared).exists()  # still used by the second flag
    assert store.delete(second)
    assert stored_files(data) == []
    assert not store.delete(second)


def test_interrupted_delete_is_undone_when_its_record_survived(tmp_path):
    data = tmp_path / "data"
    store = AnnotationStore(data)
    flag_id, _ = flag(store, make_result(seed=12))
    sha = store.get(flag_id).images["output"]
    path = store.image_path(sha)
    # A delete that renamed the file to the trash and died before its commit.
    path.rename(path.with_name(TRASH_PREFIX + path.name))
    assert AnnotationStore(data).last_sweep.trash_restored == 1
    assert path.exists()


# --------------------------------------------------------------------------- privacy


def _gps_jpeg(path: Path, image: np.ndarray) -> Path:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)  # latitude
    gps[3], gps[4] = "E", (13.0, 24.0, 36.0)  # longitude
    Image.fromarray(image).save(path, format="JPEG", exif=exif, quality=95)
    return path


def test_stored_images_carry_no_exif_or_gps(tmp_path):
    from tryon.stages.intake import load_image

    rng = np.random.default_rng(13)
    person_jpeg = _gps_jpeg(tmp_path / "person.jpg", rng.integers(0, 256, (200, 150, 3), dtype=np.uint8))
    garment_jpeg = _gps_jpeg(tmp_path / "garment.jpg", np.full((200, 150, 3), 90, np.uint8))
    assert Image.open(person_jpeg).getexif().get_ifd(0x8825)  # the uploads do carry GPS
    person = load_image(person_jpeg, min_side=16)
    store = AnnotationStore(tmp_path / "data")
    flag_id, _ = flag(store, make_result(person), garment=garment_jpeg)
    record = store.get(flag_id)
    assert set(record.images) == {"person", "garment", "output"}
    for sha in record.images.values():
        path = store.image_path(sha)
        raw = path.read_bytes()
        assert raw.startswith(b"\x89PNG")
        assert b"Exif" not in raw and b"PhoneMaker" not in raw and b"eXIf" not in raw
        with Image.open(path) as stored:
            assert not stored.getexif()
            assert not {"exif", "gps"} & set(stored.info)


@pytest.fixture(scope="module")
def real_face(eval_dir):
    """An eval person photo and its face box from MediaPipe's face detector."""
    from tryon.models import load_model
    from tryon.stages.intake import load_image

    person = load_image(eval_dir / EVAL_PERSON)
    height, width = person.shape[:2]
    detections = load_model("faces").process(person).detections
    assert detections, "the eval photo should show a face"
    box = detections[0].location_data.relative_bounding_box
    face_box = (int(box.xmin * width), int(box.ymin * height),
                int((box.xmin + box.width) * width), int((box.ymin + box.height) * height))
    return person, face_box


def _faces_found(image: np.ndarray) -> int:
    from tryon.models import load_model

    return len(load_model("faces").process(image).detections or [])


@pytest.mark.eval
def test_without_consent_only_the_output_is_kept_with_its_face_hidden(tmp_path, real_face):
    person, face_box = real_face
    result = make_result(person, face_box=face_box)
    store = AnnotationStore(tmp_path / "data")
    flag_id, _ = flag(store, result, consent=False, garment=garment_file(tmp_path),
                      params={"edit_mask": result.edit_mask})
    record = store.get(flag_id)
    assert not record.consent and record.params["face_blurred"]
    assert set(record.images) == {"output", "garment"}  # no person photo, no edit mask
    stored = store.load_image(record, "output")
    Image.fromarray(np.concatenate([result.image, stored], axis=1)).save(tmp_path / "blurred.png")
    # The face is gone for a face detector, and its detail is gone.
    assert _faces_found(result.image) >= 1
    assert _faces_found(stored) == 0
    x0, y0, x1, y1 = face_box
    original_face, hidden_face = result.image[y0:y1, x0:x1].astype(float), stored[y0:y1, x0:x1].astype(float)
    detail = np.abs(np.diff(original_face, axis=1)).mean()
    assert np.abs(np.diff(hidden_face, axis=1)).mean() < 0.25 * detail
    # Below the shoulders the output is untouched (the garment is what reviewers judge).
    np.testing.assert_array_equal(stored[y1 * 2 :], result.image[y1 * 2 :])
    # No stored file holds the person photo.
    person_sha = hashlib.sha256(Image.fromarray(person).tobytes()).hexdigest()
    for path in stored_files(tmp_path / "data"):
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        assert pixels.shape != person.shape or hashlib.sha256(pixels.tobytes()).hexdigest() != person_sha


@pytest.mark.eval
def test_without_consent_faces_in_the_garment_photo_are_blurred_and_unchecked_photos_not_kept(tmp_path, real_face):
    from tryon.pipeline import inspect_garment_photo

    person, face_box = real_face  # someone's photo in the garment slot
    faces = inspect_garment_photo(person).faces
    assert faces, "the detector should find the face"
    store = AnnotationStore(tmp_path / "data")
    result = make_result(seed=40)
    blurred_id, _ = flag(store, result, consent=False, garment=person, garment_faces=faces)
    unchecked_id, _ = flag(store, result, consent=False, garment=person, garment_faces=None)
    consented_id, _ = flag(store, result, consent=True, garment=person, garment_faces=faces)

    blurred = store.get(blurred_id)
    kept = store.load_image(blurred, "garment")
    assert kept.shape == person.shape and _faces_found(kept) == 0
    assert blurred.params["garment_faces_blurred"] == len(faces)
    x0, y0, x1, y1 = face_box
    assert np.abs(kept[y0:y1, x0:x1].astype(int) - person[y0:y1, x0:x1]).mean() > 5
    unchecked = store.get(unchecked_id)
    assert "garment" not in unchecked.images
    assert "not checked for faces" in unchecked.params["garment_source"]
    # With consent the photos are kept as given (the shopper agreed to keep them for review).
    np.testing.assert_array_equal(store.load_image(store.get(consented_id), "garment"), person)
    # No stored file holds the face unblurred without consent.
    for record in (blurred, unchecked):
        for role, sha in record.images.items():
            with Image.open(store.image_path(sha)) as image:
                assert _faces_found(np.asarray(image.convert("RGB"))) == 0, role


def test_without_consent_a_result_whose_face_cannot_be_found_is_refused(tmp_path):
    store = AnnotationStore(tmp_path / "data")
    result = make_result(face_box=None)
    with pytest.raises(TryOnError, match="face could not be located"):
        flag(store, result, consent=False)
    assert store.count() == 0 and stored_files(tmp_path / "data") == []
    assert flag(store, result, consent=True)[1]  # with consent it can be kept


@pytest.mark.eval
def test_face_falls_back_to_pose_landmarks_when_no_face_box(real_face):
    person, face_box = real_face
    body = make_body(person.shape[:2], None)
    x0, y0, x1, y1 = face_box
    landmarks = body.landmarks.copy()
    visibility = body.visibility.copy()
    # Nose, eyes, ears and mouth where the face is.
    where = [(0.5, 0.55), (0.35, 0.4), (0.65, 0.4), (0.4, 0.4), (0.6, 0.4), (0.3, 0.4), (0.7, 0.4),
             (0.15, 0.5), (0.85, 0.5), (0.4, 0.75), (0.6, 0.75)]
    for index, (fx, fy) in enumerate(where):
        landmarks[index] = (x0 + fx * (x1 - x0), y0 + fy * (y1 - y0))
        visibility[index] = 0.99
    body = BodyAnalysis(**{**body.__dict__, "landmarks": landmarks, "visibility": visibility})
    assert _faces_found(blur_face(person, body)) == 0


# --------------------------------------------------------------------------- Gradio's cache


def test_prepare_data_dir_creates_the_folders_and_leaves_the_environment_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "untouched")
    data = prepare_data_dir(Settings(data_dir=tmp_path / "data"))
    assert data == (tmp_path / "data").resolve()
    assert os.environ["GRADIO_TEMP_DIR"] == "untouched"  # the UI's start-up points Gradio there
    assert (data / GRADIO_TMP_DIRNAME).is_dir() and (data / IMAGES_DIRNAME).is_dir()


def test_the_ui_start_up_puts_gradios_cache_inside_the_data_dir(tmp_path, monkeypatch):
    from tryon.ui.sessions import use_data_dir

    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    data = use_data_dir(Settings(data_dir=tmp_path / "data"))
    assert os.environ["GRADIO_TEMP_DIR"] == str(data / GRADIO_TMP_DIRNAME)


def test_uploads_left_by_a_crashed_server_are_deleted_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    cache = tmp_path / "data" / GRADIO_TMP_DIRNAME / "f3a9c1"
    cache.mkdir(parents=True)
    stale, fresh = cache / "shopper.jpg", tmp_path / "data" / GRADIO_TMP_DIRNAME / "fresh.png"
    stale.write_bytes(b"old upload")
    fresh.write_bytes(b"new upload")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    prepare_data_dir(Settings(data_dir=tmp_path / "data", cache_ttl_s=600))
    assert not stale.exists() and not cache.exists()
    assert fresh.exists()  # younger than the cache interval: may belong to a running server


@pytest.mark.slow
def test_uploaded_photo_is_deleted_from_the_data_dir_after_the_cache_interval(tmp_path, monkeypatch):
    import httpx
    from gradio_client import Client

    from tryon.ui.app import build_demo

    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    settings = Settings(data_dir=tmp_path / "data", cache_ttl_s=1)
    demo = build_demo(settings)  # points Gradio's cache at the data dir and sets delete_cache from cache_ttl_s
    demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        upload = tmp_path / "shopper.png"
        Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(upload)
        client = Client(demo.local_url, verbose=False)
        with open(upload, "rb") as fh:  # the route gradio_client uploads every file through
            files = [("files", (upload.name, fh))]
            response = httpx.post(client.upload_url, files=files, headers=client.headers)
        response.raise_for_status()
        cached = Path(response.json()[0])
        assert cached.is_file()
        assert cached.is_relative_to((tmp_path / "data" / GRADIO_TMP_DIRNAME).resolve())
        deadline = time.monotonic() + 20
        while cached.exists():
            assert time.monotonic() < deadline, f"the upload is still cached: {cached}"
            time.sleep(0.25)
    finally:
        demo.close()

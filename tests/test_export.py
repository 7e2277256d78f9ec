"""Export: JSONL + images and Parquet load back with `datasets`, offline, with the expected rows."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from PIL import Image
from test_annotations import flag, garment_file, make_result

from tryon.errors import TryOnError
from tryon.store.annotations import AnnotationStore
from tryon.store.export import (
    CARD_NAME,
    IMAGES_DIRNAME,
    JSONL_NAME,
    PARQUET_NAME,
    add_arguments,
    export_dataset,
    run,
)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "hf-cache"


@pytest.fixture
def store_with_flags(tmp_path):
    """Four flags: two confirmed (one without consent), one rejected, one new."""
    store = AnnotationStore(tmp_path / "data")
    garment = garment_file(tmp_path)
    results = {n: make_result(seed=n) for n in range(4)}
    ids = {}
    for n, result in results.items():
        ids[n], _ = flag(store, result, consent=n != 1, garment=garment, description=f"case {n}",
                         reasons=["garment", "other"] if n == 0 else ["body"],
                         scores={"quality": {"n": n}})
    store.set_status(ids[0], "confirmed", "bad collar", "carol")
    store.set_status(ids[1], "confirmed", "", "carol")
    store.set_status(ids[2], "rejected", "looks fine", "dave")
    return store, ids, results


def test_jsonl_export_loads_with_datasets_and_points_at_its_images(tmp_path, offline, store_with_flags):
    import datasets

    store, ids, results = store_with_flags
    out = tmp_path / "export"
    summary = export_dataset(store, out, status="confirmed")
    assert summary.rows == 2 and summary.fmt == "jsonl"
    assert {JSONL_NAME, CARD_NAME} <= set(summary.files)

    dataset = datasets.load_dataset("json", data_files=str(out / JSONL_NAME), split="train",
                                    cache_dir=str(offline))
    assert dataset.num_rows == 2
    rows = {row["id"]: row for row in dataset}
    assert set(rows) == {ids[0], ids[1]}
    first = rows[ids[0]]
    assert first["status"] == "confirmed" and first["comment"] == "bad collar"
    assert first["reasons"] == ["garment", "other"] and first["description"] == "case 0"
    assert first["consent"] is True and first["renderer"] == "warp"
    assert json.loads(first["scores"])["quality"] == {"n": 0}
    assert json.loads(first["history"])[0]["changed_by"] == "carol"
    assert json.loads(first["params"])["request"] == {}
    for column, expected in (("person_image", results[0].person), ("output_image", results[0].image)):
        assert not first[column].startswith("/")  # relative to the export folder
        np.testing.assert_array_equal(np.asarray(Image.open(out / first[column]).convert("RGB")), expected)
    # Without consent: no person photo in the export.
    assert rows[ids[1]]["person_image"] is None and rows[ids[1]]["output_image"]
    # The shared garment is one file; every referenced file exists; nothing else was copied.
    referenced = {row[c] for row in rows.values() for c in ("person_image", "garment_image", "output_image")
                  if row[c]}
    assert {f"{IMAGES_DIRNAME}/{p.name}" for p in (out / IMAGES_DIRNAME).iterdir()} == referenced
    assert len({row["garment_image"] for row in rows.values()}) == 1


def test_parquet_export_embeds_the_images(tmp_path, offline, store_with_flags):
    import datasets

    store, ids, results = store_with_flags
    summary = export_dataset(store, tmp_path / "export", fmt="parquet")
    assert summary.rows == 4 and PARQUET_NAME in summary.files
    dataset = datasets.Dataset.from_parquet(str(tmp_path / "export" / PARQUET_NAME), cache_dir=str(offline))
    assert dataset.num_rows == 4
    assert isinstance(dataset.features["output_image"], datasets.Image)
    rows = {row["id"]: row for row in dataset}
    assert [rows[ids[n]]["status"] for n in range(4)] == ["confirmed", "confirmed", "rejected", "new"]
    np.testing.assert_array_equal(np.asarray(rows[ids[2]]["person_image"].convert("RGB")), results[2].person)
    np.testing.assert_array_equal(np.asarray(rows[ids[3]]["output_image"].convert("RGB")), results[3].image)
    assert rows[ids[1]]["person_image"] is None
    assert rows[ids[0]]["edit_mask_image"] is None


def test_exporting_an_empty_selection_is_refused(tmp_path, store_with_flags):
    store, _, _ = store_with_flags
    with pytest.raises(TryOnError, match="no flags with status 'fixed'"):
        export_dataset(store, tmp_path / "export", status="fixed", fmt="parquet")
    assert not (tmp_path / "export").exists()


def test_export_refuses_a_folder_with_files_and_unknown_options(tmp_path, store_with_flags):
    store, _, _ = store_with_flags
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(TryOnError, match="not empty"):
        export_dataset(store, tmp_path / "busy")
    with pytest.raises(TryOnError, match="Unknown export format"):
        export_dataset(store, tmp_path / "a", fmt="csv")
    with pytest.raises(TryOnError, match="Unknown status"):
        export_dataset(store, tmp_path / "b", status="done")


def test_cli_exports_and_reports_user_errors(tmp_path, store_with_flags, capsys):
    store, _, _ = store_with_flags
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "cli"), "--status", "rejected",
                              "--data-dir", str(store.data_dir)])
    assert run(args) == 0
    assert "Exported 1 flags" in capsys.readouterr().out
    lines = (tmp_path / "cli" / JSONL_NAME).read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["rejected"]
    card = (tmp_path / "cli" / CARD_NAME).read_text()
    assert f"data_files: {JSONL_NAME}" in card and "private" in card

    again = parser.parse_args(["--out", str(tmp_path / "cli"), "--data-dir", str(store.data_dir)])
    assert run(again) == 2
    assert "not empty" in capsys.readouterr().err
    missing = parser.parse_args(["--out", str(tmp_path / "x"), "--data-dir", str(tmp_path / "nowhere")])
    assert run(missing) == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "x", "--format", "csv"])


def test_python_m_tryon_export_dispatches_here(tmp_path, store_with_flags, capsys):
    from tryon.cli import main

    store, _, _ = store_with_flags
    argv = ["export", "--out", str(tmp_path / "m"), "--format", "parquet", "--data-dir", str(store.data_dir)]
    assert main(argv) == 0
    assert (tmp_path / "m" / PARQUET_NAME).is_file()
    assert "Exported 4 flags" in capsys.readouterr().out

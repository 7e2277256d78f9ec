"""Export flags as a dataset: JSONL plus image files, or one Parquet file with the images inside.

    python -m tryon export --out DIR [--status confirmed] [--format jsonl|parquet] [--push-to REPO]

Both load with the ``datasets`` library::

    datasets.load_dataset("json", data_files="DIR/records.jsonl")   # image columns: paths relative to DIR
    datasets.Dataset.from_parquet("DIR/records.parquet")           # image columns: decoded PIL images

One row per flag. ``params``, ``timings``, ``scores`` and ``history`` are JSON
strings (their keys vary between renderers and versions, which a columnar schema
cannot hold). Person photos appear only where the shopper consented; otherwise
the output's face is blurred (see :mod:`tryon.store.annotations`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import get_settings
from ..errors import TryOnError
from .annotations import DB_FILENAME, IMAGE_ROLES, STATUSES, AnnotationStore, StoredRecord

FORMATS = ("jsonl", "parquet")
JSONL_NAME = "records.jsonl"
PARQUET_NAME = "records.parquet"
IMAGES_DIRNAME = "images"
CARD_NAME = "README.md"
# Image role -> column name in the exported dataset.
IMAGE_COLUMNS = {role: f"{role}_image" for role in IMAGE_ROLES}
# Rows per Parquet row group: bounds memory (each row holds up to four PNGs).
PARQUET_BATCH_ROWS = 64

# Column -> ``datasets`` feature, written into the Parquet schema so that
# ``Dataset.from_parquet`` decodes the image columns as images.
_TEXT_COLUMNS = (
    "created_at", "status", "comment", "updated_by", "updated_at", "flagged_by", "note", "description",
    "renderer", "category", "version", "params", "timings", "scores", "history",
)


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the folder, its files (relative to it), rows and distinct images."""

    out_dir: Path
    files: tuple[str, ...]
    rows: int
    images: int
    fmt: str


def record_row(record: StoredRecord, history: list[Any]) -> dict[str, Any]:
    """The non-image columns of one exported row."""
    return {
        "id": record.id,
        "created_at": record.created_at,
        "status": record.status,
        "comment": record.comment,
        "updated_by": record.updated_by,
        "updated_at": record.updated_at,
        "flagged_by": record.flagged_by,
        "reasons": list(record.reasons),
        "note": record.note,
        "description": record.description,
        "renderer": record.renderer,
        "category": record.category,
        "version": record.version,
        "consent": record.consent,
        "params": json.dumps(record.params, ensure_ascii=False, sort_keys=True),
        "timings": json.dumps(record.timings, sort_keys=True),
        "scores": json.dumps(record.scores, ensure_ascii=False, sort_keys=True),
        "history": json.dumps([dataclasses.asdict(entry) for entry in history], ensure_ascii=False),
    }


def export_dataset(
    store: AnnotationStore, out_dir: str | os.PathLike, *, status: str | None = None, fmt: str = "jsonl"
) -> ExportResult:
    """Write every flag (or those with ``status``) to ``out_dir`` as a dataset.

    Args:
        store: the flag store.
        out_dir: a folder that does not exist yet or is empty.
        status: keep only flags with this review status (None: all).
        fmt: "jsonl" (``records.jsonl`` + ``images/<sha256>.png``) or "parquet"
            (``records.parquet``, images embedded).

    Raises:
        TryOnError: unknown format or status; no flag matches; ``out_dir`` is a file or not empty.
    """
    if fmt not in FORMATS:
        raise TryOnError(f"Unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    if status is not None and status not in STATUSES:
        raise TryOnError(f"Unknown status {status!r}: choose one of {', '.join(STATUSES)}.")
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TryOnError(f"The export folder {str(out)!r} is not empty: choose a new or empty folder.")
    if store.query(status=status, limit=0)[1] == 0:
        # An empty dataset has no split `datasets` can load: say so instead of writing one.
        which = f"with status {status!r}" if status else "at all"
        raise TryOnError(f"There are no flags {which}: nothing to export; pick another status.")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        rows, images, files = _export_jsonl(store, out, status)
    else:
        rows, images, files = _export_parquet(store, out, status)
    (out / CARD_NAME).write_text(_dataset_card(fmt, rows, status), encoding="utf-8")
    return ExportResult(out_dir=out, files=(*files, CARD_NAME), rows=rows, images=images, fmt=fmt)


def _rows(store: AnnotationStore, status: str | None, image_cell: Callable[[str], Any]) -> Iterator[dict[str, Any]]:
    """Exported rows of the flags with ``status`` (None: all), oldest first; an image column holds
    ``image_cell(sha256)`` of the stored image, or None where the flag has no image of that role."""
    for record in store.iter_all(status=status):
        row = record_row(record, store.history(record.id))
        for role, column in IMAGE_COLUMNS.items():
            sha = record.images.get(role)
            row[column] = None if sha is None else image_cell(sha)
        yield row


def _export_jsonl(store: AnnotationStore, out: Path, status: str | None) -> tuple[int, int, list[str]]:
    images_dir = out / IMAGES_DIRNAME
    images_dir.mkdir()
    copied: set[str] = set()

    def copy_once(sha: str) -> str:
        source = store.image_path(sha)
        relative = f"{IMAGES_DIRNAME}/{source.name}"
        if sha not in copied:
            shutil.copyfile(source, out / relative)
            copied.add(sha)
        return relative

    rows = 0
    with open(out / JSONL_NAME, "w", encoding="utf-8") as fh:
        for row in _rows(store, status, copy_once):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            rows += 1
    files = [JSONL_NAME, *(f"{IMAGES_DIRNAME}/{sha}.png" for sha in sorted(copied))]
    return rows, len(copied), files


def parquet_schema() -> Any:
    """The Arrow schema of ``records.parquet``, with ``datasets`` features in its metadata."""
    import pyarrow as pa

    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    fields = [("id", pa.int64()), *((name, pa.string()) for name in _TEXT_COLUMNS)]
    fields += [("reasons", pa.list_(pa.string())), ("consent", pa.bool_())]
    fields += [(column, image_type) for column in IMAGE_COLUMNS.values()]
    features: dict[str, Any] = {"id": {"dtype": "int64", "_type": "Value"}}
    features.update({name: {"dtype": "string", "_type": "Value"} for name in _TEXT_COLUMNS})
    features["reasons"] = {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"}
    features["consent"] = {"dtype": "bool", "_type": "Value"}
    features.update({column: {"_type": "Image"} for column in IMAGE_COLUMNS.values()})
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    return pa.schema(fields, metadata=metadata)


def _export_parquet(store: AnnotationStore, out: Path, status: str | None) -> tuple[int, int, list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    seen: set[str] = set()

    def embed(sha: str) -> dict[str, Any]:
        path = store.image_path(sha)
        cell = {"bytes": path.read_bytes(), "path": path.name}
        seen.add(sha)
        return cell

    rows = 0
    batch: list[dict[str, Any]] = []
    with pq.ParquetWriter(out / PARQUET_NAME, schema) as writer:
        for row in _rows(store, status, embed):
            batch.append(row)
            rows += 1
            if len(batch) == PARQUET_BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return rows, len(seen), [PARQUET_NAME]


def _dataset_card(fmt: str, rows: int, status: str | None) -> str:
    data_file = JSONL_NAME if fmt == "jsonl" else PARQUET_NAME
    which = f"with status '{status}'" if status else "of every status"
    return (
        "---\n"
        "configs:\n"
        "- config_name: default\n"
        f"  data_files: {data_file}\n"
        "---\n\n"
        "# tryon flagged results\n\n"
        f"{rows} try-on results that users flagged as bad, {which}, exported by tryon {__version__}.\n\n"
        "Each row holds the reasons and note of the flag, the renderer and its parameters, timings,\n"
        "the scores shown to the user, and the review status, comment and history. `person_image` and\n"
        "`edit_mask_image` are present only where the shopper consented to keep their photo for\n"
        "quality review; without consent `output_image` has the face blurred.\n\n"
        "Keep this dataset private: it contains photos of people.\n"
    )


def push_to_hub(out_dir: str | os.PathLike, repo_id: str, token: str | None = None) -> str:
    """Upload an export folder to a *private* Hugging Face dataset repo; returns the commit URL.

    Raises:
        TryOnError: no token (set ``HF_TOKEN`` or run ``hf auth login``).
    """
    import huggingface_hub

    token = token or os.environ.get("HF_TOKEN") or huggingface_hub.get_token()
    if not token:
        raise TryOnError("Pushing needs a Hugging Face token: set HF_TOKEN or run `hf auth login`.")
    api = huggingface_hub.HfApi(token=token)
    # Private: the export can contain photos of shoppers who consented to review, not to publication.
    api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(out_dir),
        commit_message=f"Export of flagged try-on results (tryon {__version__})",
    )
    return str(getattr(commit, "commit_url", commit))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m tryon export``."""
    parser.add_argument("--out", required=True, type=Path, help="new or empty folder to write the dataset to")
    parser.add_argument("--status", choices=STATUSES, default=None, help="export only flags with this status")
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default="jsonl",
                        help="jsonl: records.jsonl + images/; parquet: one file with the images inside")
    parser.add_argument("--push-to", default=None, metavar="REPO",
                        help="also upload to this private Hugging Face dataset repo (needs HF_TOKEN)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder of the flag store (default: TRYON_DATA_DIR or ./data)")


def run(args: argparse.Namespace) -> int:
    """Run the export; returns the exit status (0 done, 2 a user error, printed on stderr)."""
    data_dir = args.data_dir or get_settings().data_dir
    try:
        if not (Path(data_dir) / DB_FILENAME).is_file():
            raise TryOnError(f"No flag store in {str(data_dir)!r}: pass --data-dir or set TRYON_DATA_DIR.")
        store = AnnotationStore(data_dir)
        result = export_dataset(store, args.out, status=args.status, fmt=args.fmt)
        print(f"Exported {result.rows} flags and {result.images} images to {result.out_dir} ({result.fmt}).")
        if args.push_to:
            url = push_to_hub(result.out_dir, args.push_to)
            print(f"Pushed to {url}")
    except TryOnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

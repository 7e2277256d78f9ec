"""The lookbook's plan: which person × garment pairs to render, where each result goes, what is already done.

    folders / a catalog CSV / a pairs CSV ─► Photo, Pair ─► Plan (person-major order)
    journal.jsonl (append-only, one line per finished pair or analysed photo) ─► what is done and valid
    Plan + journal ─► the table (lookbook.csv, lookbook.parquet)

The output folder (every path in the table is relative to it, so the folder can be zipped or moved)::

    results/<person>/<garment>.png    each result at processing size (RGB)
    thumbs/{people,garments}/<id>.jpg, thumbs/results/<person>/<garment>.jpg
    grids/<person>.jpg                one grid image per person
    index.html                        the contact sheet
    lookbook.csv, lookbook.parquet    one row per pair: status, message, verdict, timings
    journal.jsonl                     every finished pair (the rerun reads it)
    run.json                          the last run's options and figures

A pair's identity (:attr:`Pair.key`) is a hash of the photos' bytes and what is asked of them, so a rerun
skips exactly the pairs whose inputs did not change and whose files are still intact.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import TryOnError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
CATEGORIES = ("upper", "lower", "dress")
RENDERERS = ("warp", "diffusion")
RESULT_FORMATS = ("png", "jpg")
# A folder of garment photos may carry captions and categories beside it (as the app's gallery does).
SIDECAR = "catalog.csv"

RESULTS_DIR = "results"
THUMBS_DIR = "thumbs"
GRIDS_DIR = "grids"
JOURNAL = "journal.jsonl"
TABLE_CSV = "lookbook.csv"
TABLE_PARQUET = "lookbook.parquet"
INDEX = "index.html"
RUN_INFO = "run.json"

# Pair outcomes. "pending" is a pair not rendered yet (an interrupted run); a rerun renders it.
OK, REFUSED, FAILED, PENDING = "ok", "refused", "failed", "pending"
STATUSES = (OK, REFUSED, FAILED, PENDING)
# Pipeline stages in the order try_on runs them: the table's timing columns follow it.
STAGE_ORDER = ("intake", "body", "text", "synthesize", "garment", "recolor", "warp", "composite", "diffusion",
               "check", "total")
KEY_CHARS = 20  # hex digits of a pair key (80 bits)
READ_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Photo:
    """One person photo or one garment (a photo and/or words) of the lookbook.

    Attributes:
        id: unique among photos of its role; names the output files (letters, digits, ``._-``).
        role: "person" or "garment".
        path: the photo file, or None for a garment made from ``description`` alone.
        sha256: of the file's bytes ("missing:<path>" when unreadable: the pipeline reports it).
        label: what the contact sheet calls it (catalog caption or file name).
        category: garments: "auto" or the catalog's category, passed to try_on.
        description: garments: words passed to try_on with the photo (a recolour, or the whole garment).
    """

    id: str
    role: str
    path: Path | None
    sha256: str
    label: str
    category: str = "auto"
    description: str = ""

    @property
    def key(self) -> str:
        """Identity of the analysis: the same bytes asked the same thing are analysed once."""
        return _digest(self.role, self.sha256, self.category, self.description)


@dataclasses.dataclass(frozen=True)
class Pair:
    """One person wearing one garment, rendered with ``renderer`` and written as ``fmt``."""

    person: Photo
    garment: Photo
    renderer: str = "warp"
    fmt: str = "png"

    @property
    def key(self) -> str:
        return _digest(self.person.key, self.garment.key, self.renderer, self.fmt)

    @property
    def output(self) -> str:
        """The result's path relative to the output folder."""
        return f"{RESULTS_DIR}/{self.person.id}/{self.garment.id}.{self.fmt}"

    @property
    def thumb(self) -> str:
        return f"{THUMBS_DIR}/results/{self.person.id}/{self.garment.id}.jpg"

    @property
    def name(self) -> str:
        return f"{self.person.id} × {self.garment.id}"


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every pair of a lookbook in display order (person-major), and what they share.

    ``grid`` is True for every person × every garment, False for a list of pairs (a pairs CSV).
    ``categories`` keeps only garments of these categories (empty: all); a garment whose category is
    "auto" is kept or dropped once its analysis has guessed the category.
    """

    people: tuple[Photo, ...]
    garments: tuple[Photo, ...]
    pairs: tuple[Pair, ...]
    renderer: str = "warp"
    fmt: str = "png"
    categories: tuple[str, ...] = ()
    grid: bool = True

    def without_garments(self, garment_ids: Iterable[str]) -> Plan:
        """The plan without the garments ``garment_ids`` (excluded by the category filter)."""
        drop = set(garment_ids)
        return dataclasses.replace(
            self,
            garments=tuple(g for g in self.garments if g.id not in drop),
            pairs=tuple(p for p in self.pairs if p.garment.id not in drop),
        )

    def photos(self) -> list[Photo]:
        """Every photo to analyse, each identity once: people first, then garments."""
        seen: dict[str, Photo] = {}
        for pair in self.pairs:
            seen.setdefault(pair.person.key, pair.person)
        for pair in self.pairs:
            seen.setdefault(pair.garment.key, pair.garment)
        return list(seen.values())


# ---------------------------------------------------------------------------------------------------
# Reading the inputs
# ---------------------------------------------------------------------------------------------------


def _digest(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:KEY_CHARS]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, or ``missing:<path>`` when it cannot be read (the pipeline then says why)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(READ_CHUNK):
                digest.update(chunk)
    except OSError:
        return f"missing:{path}"
    return digest.hexdigest()


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return slug or fallback


class _Ids:
    """Unique, readable ids: the file stem, then ``-2``, ``-3``... for a different photo with the same stem."""

    def __init__(self, fallback: str) -> None:
        self.fallback = fallback
        self._by_identity: dict[Any, str] = {}
        self._taken: set[str] = set()

    def get(self, identity: Any, name: str) -> str:
        if identity in self._by_identity:
            return self._by_identity[identity]
        base = _slug(name, self.fallback)
        candidate, number = base, 1
        while candidate.lower() in self._taken:
            number += 1
            candidate = f"{base}-{number}"
        self._taken.add(candidate.lower())
        self._by_identity[identity] = candidate
        return candidate


def _check_category(value: str, where: str) -> str:
    value = (value or "").strip().lower() or "auto"
    if value != "auto" and value not in CATEGORIES:
        raise TryOnError(f"{where}: unknown category {value!r}: use {', '.join(CATEGORIES)} or leave it empty.")
    return value


def _image_files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise TryOnError(f"The {what} folder {str(folder)!r} does not exist: check the path.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise TryOnError(f"The {what} folder {str(folder)!r} holds no photos ({', '.join(IMAGE_SUFFIXES)}).")
    return files


def read_people(folder: Path) -> list[Photo]:
    """One Photo per image file in ``folder``, sorted by file name."""
    ids = _Ids("person")
    return [
        Photo(ids.get(path, path.stem), "person", path, file_sha256(path), path.stem)
        for path in _image_files(Path(folder), "people")
    ]


def photos_from_files(paths: Sequence[Path | str], role: str, labels: Sequence[str] | None = None) -> list[Photo]:
    """One Photo per file, in the given order (the app's picks and uploads); ``labels`` default to file names.
    The same file given twice is one photo."""
    ids = _Ids(role)
    photos: dict[str, Photo] = {}
    for n, path in enumerate(map(Path, paths)):
        sha = file_sha256(path)
        label = labels[n] if labels and labels[n] else path.stem
        photos.setdefault(sha, Photo(ids.get(sha, path.stem), role, path, sha, label))
    return list(photos.values())


def _csv_rows(path: Path, what: str) -> list[dict[str, str]]:
    if not path.is_file():
        raise TryOnError(f"The {what} {str(path)!r} does not exist: check the path.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                    for row in csv.DictReader(fh)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TryOnError(f"The {what} {str(path)!r} is not a UTF-8 CSV file ({exc}): save it as CSV (UTF-8).") from exc
    if not rows:
        raise TryOnError(f"The {what} {str(path)!r} has no rows: add one line per garment under a header line.")
    return rows


def _garment(ids: _Ids, folder: Path, row: dict[str, str], where: str, id_column: str = "id") -> Photo:
    """A garment from a catalog row: ``file`` (relative to ``folder``), ``caption``, ``category``,
    ``description`` and the garment's ``id_column`` (all optional but one of file and description)."""
    name = row.get("file") or row.get("garment") or row.get("path") or ""
    description = row.get("description", "")
    if not name and not description:
        raise TryOnError(f"{where}: give a garment photo in the 'file' column or words in 'description'.")
    path = (folder / name) if name else None
    category = _check_category(row.get("category", ""), where)
    sha = file_sha256(path) if path is not None else _digest("text", description)
    stem = row.get(id_column) or (Path(name).stem if name else description[:40])
    identity = (row.get(id_column) or (str(path) if path else ""), sha, category, description)
    label = row.get("caption") or (Path(name).stem if name else description)
    return Photo(ids.get(identity, stem), "garment", path, sha, label, category, description)


def read_garments(folder: Path) -> list[Photo]:
    """One Photo per image file in ``folder``; captions and categories from its ``catalog.csv`` if any."""
    folder = Path(folder)
    files = _image_files(folder, "garments")
    extra: dict[str, dict[str, str]] = {}
    if (folder / SIDECAR).is_file():
        extra = {row.get("file", ""): row for row in _csv_rows(folder / SIDECAR, "catalog")}
    ids = _Ids("garment")
    return [
        _garment(ids, folder, {**extra.get(path.name, {}), "file": path.name}, f"{folder / SIDECAR}: {path.name}")
        for path in files
    ]


def read_catalog(csv_path: Path) -> list[Photo]:
    """Garments listed in a catalog CSV, in its order (columns as the app's ``catalog.csv``: ``file``,
    ``caption``, ``category``; plus optional ``description`` and ``id``). Paths are relative to the CSV."""
    csv_path = Path(csv_path)
    ids = _Ids("garment")
    return [_garment(ids, csv_path.parent, row, f"{csv_path} row {n}") for n, row in enumerate(_csv_rows(csv_path,
                                                                                                        "catalog"), 2)]


def read_pairs(csv_path: Path) -> list[tuple[Photo, Photo]]:
    """Listed pairs: a CSV with ``person`` and ``garment`` paths (relative to it) and optional ``category``
    and ``description`` per row, such as the evaluation set's ``cases.csv``."""
    csv_path = Path(csv_path)
    people, garments = _Ids("person"), _Ids("garment")
    hashes: dict[Path, str] = {}
    out = []
    for number, row in enumerate(_csv_rows(csv_path, "pairs file"), 2):
        where = f"{csv_path} row {number}"
        if not row.get("person"):
            raise TryOnError(f"{where}: the 'person' column is empty: give a person photo path.")
        path = csv_path.parent / row["person"]
        sha = hashes.setdefault(path, file_sha256(path))
        person = Photo(people.get(path, path.stem), "person", path, sha, path.stem)
        # A pairs file's "id" names the pair (the eval's case id); the same garment in two rows is one garment.
        out.append((person, _garment(garments, csv_path.parent, row, where, id_column="garment_id")))
    return out


def make_plan(
    people: Sequence[Photo] = (),
    garments: Sequence[Photo] = (),
    pairs: Sequence[tuple[Photo, Photo]] | None = None,
    *,
    renderer: str = "warp",
    fmt: str = "png",
    categories: Sequence[str] = (),
) -> Plan:
    """Every person × every garment (or the listed ``pairs``), person-major.

    Raises:
        TryOnError: an unknown renderer, format or category; nothing to render.
    """
    if renderer not in RENDERERS:
        raise TryOnError(f"Unknown renderer {renderer!r}: choose one of {', '.join(RENDERERS)}.")
    if fmt not in RESULT_FORMATS:
        raise TryOnError(f"Unknown result format {fmt!r}: choose one of {', '.join(RESULT_FORMATS)}.")
    for category in categories:
        _check_category(category, "--categories")
    if pairs is None:
        listed = [(person, garment) for person in people for garment in garments]
        grid = True
    else:
        listed, grid = list(pairs), False
        people = list({p.id: p for p, _ in listed}.values())
        garments = list({g.id: g for _, g in listed}.values())
    if not listed:
        raise TryOnError("Nothing to render: give at least one person photo and one garment.")
    rank = {person.id: n for n, person in enumerate(people)}
    ordered = sorted(listed, key=lambda pair: rank[pair[0].id])  # stable: garment order kept per person
    return Plan(
        people=tuple(people),
        garments=tuple(garments),
        pairs=tuple(Pair(person, garment, renderer, fmt) for person, garment in ordered),
        renderer=renderer,
        fmt=fmt,
        categories=tuple(c.lower() for c in categories),
        grid=grid,
    )


# ---------------------------------------------------------------------------------------------------
# The journal: what is done
# ---------------------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Journal:
    """``journal.jsonl`` in the output folder: one JSON object per line, appended and flushed to disk.

    Records have ``kind`` "pair" (keyed by the pair key) or "photo" (keyed by the photo key); the last
    record of a key wins. A line cut short by a killed process is dropped (and cut off the file) on load.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / JOURNAL
        self.pairs: dict[str, dict[str, Any]] = {}
        self.photos: dict[str, dict[str, Any]] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):  # a torn last line: cut it so the next append starts a fresh line
            with open(self.path, "r+b") as fh:
                fh.truncate(len(complete))
        for line in complete.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                self._index(record)

    def _index(self, record: dict[str, Any]) -> None:
        if record.get("kind") == "pair" and record.get("key"):
            self.pairs[record["key"]] = record
        elif record.get("kind") == "photo" and record.get("key"):
            self.photos[record["key"]] = record

    def append(self, record: dict[str, Any]) -> None:
        """Add ``record`` durably (flushed and fsynced before this returns)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False, default=_json_default) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self._index(json.loads(line))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in the journal")


def is_done(record: dict[str, Any] | None, pair: Pair, out_dir: Path, retry_refused: bool = False) -> bool:
    """Whether ``record`` finishes ``pair``: a result whose file is intact, or a refusal (unless retried).

    Failures (a crash, a bug) are never done: a rerun tries them again.
    """
    if record is None:
        return False
    status = record.get("status")
    if status == REFUSED:
        return not retry_refused
    if status != OK or record.get("result") != pair.output:
        return False
    path = Path(out_dir) / pair.output
    try:
        if path.stat().st_size != record.get("result_bytes"):
            return False
    except OSError:
        return False
    return file_sha256(path) == record.get("result_sha256")


def pending_pairs(plan: Plan, journal: Journal, out_dir: Path, *, retry_refused: bool = False,
                  force: bool = False) -> list[Pair]:
    """The pairs of ``plan`` that still need rendering, in plan order."""
    if force:
        return list(plan.pairs)
    return [p for p in plan.pairs if not is_done(journal.pairs.get(p.key), p, out_dir, retry_refused)]


# ---------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------

BASE_COLUMNS = (
    "person", "garment", "person_label", "garment_label", "description", "category_requested", "status",
    "message", "verdict", "verdict_reasons", "category", "renderer", "result", "thumbnail", "pair_seconds",
)
TAIL_COLUMNS = ("cached_body", "notes", "worker", "finished_at", "person_sha256", "garment_sha256",
                "pair_key")


def table_rows(plan: Plan, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per pair of ``plan``, in plan order; pairs without a record are "pending".

    Timings become ``time_<stage>_ms`` columns (stages in pipeline order).
    """
    stages = [s for s in STAGE_ORDER if any(s in (records.get(p.key) or {}).get("timings", {}) for p in plan.pairs)]
    rows = []
    for pair in plan.pairs:
        record = records.get(pair.key) or {}
        status = record.get("status", PENDING)
        row: dict[str, Any] = {
            "person": pair.person.id,
            "garment": pair.garment.id,
            "person_label": pair.person.label,
            "garment_label": pair.garment.label,
            "description": pair.garment.description,
            "category_requested": pair.garment.category,
            "status": status,
            "message": record.get("message", "" if status != PENDING else "not rendered yet: run the command again"),
            "verdict": record.get("verdict", ""),
            "verdict_reasons": record.get("verdict_reasons", ""),
            "category": record.get("category", ""),
            "renderer": record.get("renderer", ""),
            "result": pair.output if status == OK else "",
            "thumbnail": pair.thumb if status == OK else "",
            "pair_seconds": _round(record.get("seconds")),
        }
        timings = record.get("timings", {})
        row.update({f"time_{s}_ms": _round(timings[s] * 1000 if s in timings else None, 1) for s in stages})
        row.update({
            "cached_body": record.get("cached_body"),
            "notes": " | ".join(record.get("notes", [])),
            "worker": record.get("worker", ""),
            "batch": record.get("batch"),  # pairs of this person the worker rendered in a row, this one among them
            "finished_at": record.get("finished_at", ""),
            "person_sha256": pair.person.sha256,
            "garment_sha256": pair.garment.sha256,
            "pair_key": pair.key,
        })
        rows.append(row)
    return rows


def _round(value: Any, digits: int = 3) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def write_tables(out_dir: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    """``lookbook.csv`` and ``lookbook.parquet`` (same columns), each replaced atomically."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    columns = list(rows[0]) if rows else list(BASE_COLUMNS + TAIL_COLUMNS)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path, parquet_path = out_dir / TABLE_CSV, out_dir / TABLE_PARQUET
    write_atomic(csv_path, text.getvalue().encode("utf-8"))
    table = pa.Table.from_pylist(rows) if rows else pa.table({c: pa.array([], pa.string()) for c in columns})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_atomic(parquet_path, sink.getvalue().to_pybytes())
    return csv_path, parquet_path

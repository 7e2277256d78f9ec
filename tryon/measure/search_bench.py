"""``python -m tryon search-bench``: catalog search quality (printed, never asserted by tests).

Reads a query file (default ``assets/search_bench/queries.csv``; columns ``id, kind, query,
category, expected, notes``): ``kind`` is ``text`` (a description, English or Chinese, with an
optional category filter) or ``photo`` (a garment photo path relative to the repository, or
``eval:RELPATH`` inside the evaluation folder, skipped when it is missing); ``expected`` lists the
catalog files that answer the query (``|``-separated), empty when the catalog holds no close
match. It runs every query through :func:`tryon.pipeline.search_catalog` or
:func:`tryon.pipeline.find_similar` and prints:

* recall@k (share of a query's expected items among the first ``k`` results, averaged) and MRR
  (mean reciprocal rank of the first expected item), for text (all / English / Chinese) and photos;
* how often the search says "no close match" where the catalog has none, and wrongly where it has one.

``--calibrate`` instead scores the calibration queries shipped with the search stage
(``tryon/stages/search/calibration*.csv``, not the bench queries) and prints the "close match"
thresholds that separate them best (:func:`tryon.stages.search.calibrate_threshold`); they are
the stage's ``TEXT_MATCH_SCORE`` and ``PHOTO_MATCH_SCORE``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..config import get_settings
from ..errors import TryOnError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_QUERIES = REPO / "assets" / "search_bench" / "queries.csv"
EVAL_PREFIX = "eval:"
RECALL_K = 3


@dataclasses.dataclass(frozen=True)
class Query:
    """One row of the query file; ``expected`` holds catalog file names (empty: no close match)."""

    id: str
    kind: str
    query: str
    category: str | None
    expected: tuple[str, ...]

    @property
    def language(self) -> str:
        """"zh" when the query holds Chinese characters, else "en"."""
        return "zh" if any("\u3400" <= ch <= "\u9fff" for ch in self.query) else "en"


@dataclasses.dataclass(frozen=True)
class Answer:
    """What the search returned for one query: catalog file names best first, and its verdict."""

    ranked: tuple[str, ...]
    close_match: bool


def read_queries(path: Path) -> list[Query]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [
            Query(
                id=row["id"],
                kind=row["kind"].strip(),
                query=row["query"],
                category=(row.get("category") or "").strip() or None,
                expected=tuple(name for name in (row.get("expected") or "").split("|") if name),
            )
            for row in csv.DictReader(fh)
        ]


def recall_at_k(ranked: Sequence[str], relevant: Sequence[str], k: int = RECALL_K) -> float:
    """Share of ``relevant`` among the first ``k`` of ``ranked`` (0 when nothing is relevant)."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(set(relevant))


def reciprocal_rank(ranked: Sequence[str], relevant: Sequence[str]) -> float:
    """1 / (1-based rank of the first relevant item in ``ranked``), 0 when none is there."""
    for rank, name in enumerate(ranked, start=1):
        if name in relevant:
            return 1.0 / rank
    return 0.0


@dataclasses.dataclass
class Scores:
    """Figures over a group of queries with expected items."""

    recall: list[float] = dataclasses.field(default_factory=list)
    rr: list[float] = dataclasses.field(default_factory=list)
    false_no_match: int = 0

    def add(self, answer: Answer, expected: Sequence[str], k: int) -> None:
        self.recall.append(recall_at_k(answer.ranked, expected, k))
        self.rr.append(reciprocal_rank(answer.ranked, expected))
        self.false_no_match += not answer.close_match

    def line(self, name: str, k: int) -> str:
        n = len(self.recall)
        if not n:
            return f"  {name:14s} no queries"
        return (
            f"  {name:14s} n={n:3d}  recall@{k} {sum(self.recall) / n:.3f}  MRR {sum(self.rr) / n:.3f}  "
            f"wrongly 'no close match' {self.false_no_match}/{n}"
        )


def evaluate(
    queries: Sequence[Query], answer: Callable[[Query], Answer | None], k: int = RECALL_K, verbose: bool = False
) -> dict[str, Scores | tuple[int, int]]:
    """Score ``answer`` (None: the query was skipped) over ``queries``.

    Returns:
        group name ("text", "text en", "text zh", "photo") -> :class:`Scores`, and
        "no match" -> ``(queries correctly answered 'no close match', queries without a match)``.
    """
    groups: dict[str, Scores] = {name: Scores() for name in ("text", "text en", "text zh", "photo")}
    negatives = [0, 0]
    for query in queries:
        got = answer(query)
        if got is None:
            continue
        if verbose:
            print(_query_line(query, got, k))
        if not query.expected:
            negatives[0] += not got.close_match
            negatives[1] += 1
            continue
        names = [query.kind] + ([f"text {query.language}"] if query.kind == "text" else [])
        for name in names:
            groups[name].add(got, query.expected, k)
    return {**groups, "no match": (negatives[0], negatives[1])}


def _query_line(query: Query, got: Answer, k: int) -> str:
    if query.expected:
        verdict = "hit " if set(got.ranked[:k]) & set(query.expected) else "MISS"
        verdict += "" if got.close_match else " (said no close match)"
    else:
        verdict = "no match: said so" if not got.close_match else "no match: MISSED"
    shown = ", ".join(name.rsplit(".", 1)[0] for name in got.ranked[:k])
    return f"  {query.id} {verdict:28s} {query.query[:40]!r} [{query.category or ''}] -> {shown}"


def pipeline_answer(examples: str, eval_dir: Path) -> Callable[[Query], Answer | None]:
    """Answers from :func:`tryon.pipeline.search_catalog` / :func:`tryon.pipeline.find_similar`."""
    from ..pipeline import find_similar, search_catalog

    settings = dataclasses.replace(get_settings(), examples=examples)

    def answer(query: Query) -> Answer | None:
        if query.kind == "text":
            results = search_catalog(query.query, query.category, k=None, settings=settings)
        else:
            path = eval_dir / query.query[len(EVAL_PREFIX):] if query.query.startswith(EVAL_PREFIX) else (
                REPO / query.query)
            if not path.is_file():
                return None
            try:
                results = find_similar(path, query.category, k=None, settings=settings)
            except TryOnError:  # refused: counts as a miss that said "no close match"
                return Answer((), False)
        return Answer(tuple(hit.item.path.name for hit in results.hits), results.close_match)

    return answer


def calibrate(examples: str) -> None:
    """Print the best score of every calibration query and the thresholds that separate them."""
    from importlib import resources

    from PIL import Image

    from ..pipeline import find_similar, search_catalog
    from ..stages import search, synth, text

    settings = dataclasses.replace(get_settings(), examples=examples)
    data = resources.files(search.__name__)
    for kind, name in (("text", "calibration.csv"), ("photo", "calibration_photos.csv")):
        scored: dict[bool, list[float]] = {True: [], False: []}
        with data.joinpath(name).open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if kind == "text":
                    label, results = row["query"], search_catalog(row["query"], k=1, settings=settings)
                else:
                    label, source = row["source"], row["source"].split(":", 1)
                    image = (synth.synthesize_garment(text.parse(source[1])) if source[0] == "draw"
                             else np.asarray(Image.open(REPO / "assets" / source[1]).convert("RGB")))
                    try:
                        results = find_similar(image, k=1, settings=settings)
                    except TryOnError:  # refused: not a garment photo, scores nothing
                        results = search.SearchResults((), close_match=False)
                best = results.hits[0].score if results.hits else 0.0
                scored[row["has_match"] == "yes"].append(best)
                print(f"  {kind} {row['has_match']:3s} {best:.3f} {label}")
        threshold = search.calibrate_threshold(scored[True], scored[False])
        wrong = sum(s < threshold for s in scored[True]) + sum(s >= threshold for s in scored[False])
        print(f"{kind} close-match threshold: {threshold:.3f} ({wrong} of {len(scored[True]) + len(scored[False])} "
              "calibration queries on the wrong side)")


def _answerable(queries: list[Query], examples: str) -> list[Query]:
    """The queries, keeping only expected items in the searched catalog; a query whose expected items
    are all left out (non-commercial photos under ``--examples commercial``) is skipped."""
    from ..pipeline import catalog_records

    shown = {r.path.name for r in catalog_records(dataclasses.replace(get_settings(), examples=examples))}
    kept = []
    for query in queries:
        expected = tuple(name for name in query.expected if name in shown)
        if query.expected and not expected:
            continue
        kept.append(dataclasses.replace(query, expected=expected))
    if len(kept) < len(queries):
        print(f"  {len(queries) - len(kept)} queries skipped: their expected items are not in this catalog")
    return kept


def print_report(figures: dict[str, Scores | tuple[int, int]], k: int) -> None:
    for name in ("text", "text en", "text zh", "photo"):
        print(figures[name].line(name, k))  # type: ignore[union-attr]
    correct, total = figures["no match"]  # type: ignore[misc]
    print(f"  {'no match':14s} said 'no close match' for {correct}/{total} queries the catalog cannot answer")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES, help="query file (CSV)")
    parser.add_argument("--examples", default="all", choices=("all", "commercial"),
                        help="catalog to search: every shipped item (default) or the commercial-safe ones")
    parser.add_argument("--k", type=int, default=RECALL_K, help=f"recall cut-off (default {RECALL_K})")
    parser.add_argument("--verbose", action="store_true", help="print every query's first k results")
    parser.add_argument("--calibrate", action="store_true",
                        help="print the 'close match' thresholds from the stage's calibration queries instead")


def run(args: argparse.Namespace) -> int:
    if args.calibrate:
        calibrate(args.examples)
        return 0
    queries = read_queries(args.queries)
    settings = get_settings()
    print(f"tryon search-bench: {len(queries)} queries from {args.queries}, catalog={args.examples}")
    queries = _answerable(queries, args.examples)
    answer = pipeline_answer(args.examples, settings.eval_dir)
    start = time.perf_counter()
    answer(Query("warm-up", "text", "shirt", None, ()))
    print(f"  index build + first query: {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    figures = evaluate(queries, answer, args.k, args.verbose)
    print(f"  {len(queries)} queries in {time.perf_counter() - start:.2f} s")
    print_report(figures, args.k)
    return 0

"""The one place the lookbook reads the pipeline's verdict on a result (its "self-check").

The pipeline's honest self-check (issue 10) will hang on :class:`tryon.pipeline.TryOnResult` as
``result.check`` with a ``verdict`` and ``reasons``; :func:`self_check` reads it there. Until then the only
check the pipeline makes is the description check (``result.consistency``), so a result made from a photo
alone is "unchecked": the lookbook never marks a result trusted that nothing checked.
"""

from __future__ import annotations

from typing import Any

PASS, WARN, FAIL, UNCHECKED = "pass", "warn", "fail", "unchecked"
# The description check's own bands (tryon.stages.text.consistency: "Matches" >= 0.75, "Partly" >= 0.4).
CONSISTENT_SCORE = 0.75
PARTLY_CONSISTENT_SCORE = 0.4
# Verdicts a shop may publish without looking (the contact sheet marks them).
TRUSTED_VERDICTS = frozenset({PASS, "ok", "trusted", "good"})


def self_check(result: Any) -> tuple[str, str]:
    """``(verdict, reasons)`` of the pipeline's check of ``result`` (a TryOnResult).

    ``verdict`` is "pass", "warn", "fail" or "unchecked" (or the self-check's own word, lower-cased);
    ``reasons`` one line, "; "-separated.
    """
    check = getattr(result, "check", None)
    if check is not None:
        verdict = getattr(check, "verdict", check)
        reasons = getattr(check, "reasons", ())
        reasons = reasons if isinstance(reasons, str) else "; ".join(str(r) for r in reasons)
        return str(verdict).strip().lower() or UNCHECKED, reasons
    consistency = getattr(result, "consistency", None) or {}
    if not consistency.get("checked"):
        return UNCHECKED, ""
    score = float(consistency.get("score", 0.0))
    verdict = PASS if score >= CONSISTENT_SCORE else WARN if score >= PARTLY_CONSISTENT_SCORE else FAIL
    return verdict, str(consistency.get("summary", ""))


def is_trusted(verdict: str | None) -> bool:
    return (verdict or "").lower() in TRUSTED_VERDICTS

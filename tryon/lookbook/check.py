"""The one place the lookbook reads the pipeline's verdict on a result (its self-check).

:func:`tryon.pipeline.try_on` measures every result (``result.check``, a
:class:`tryon.stages.check.ResultCheck`): "pass" when it found no problem, "fail" with its reasons
otherwise. A result with no check (none is made) is "unchecked": the lookbook never marks trusted a
result that nothing checked.
"""

from __future__ import annotations

from typing import Any

PASS, FAIL, UNCHECKED = "pass", "fail", "unchecked"
# Verdicts a shop may publish without looking (the contact sheet marks them).
TRUSTED_VERDICTS = frozenset({PASS})


def self_check(result: Any) -> tuple[str, str]:
    """``(verdict, reasons)`` of the pipeline's check of ``result`` (a TryOnResult): verdict "pass",
    "fail" or "unchecked"; reasons one line, "; "-separated (empty on a pass)."""
    check = getattr(result, "check", None)
    if check is None:
        return UNCHECKED, ""
    return (PASS, "") if check.ok else (FAIL, "; ".join(check.problems))


def is_trusted(verdict: str | None) -> bool:
    return (verdict or "").lower() in TRUSTED_VERDICTS

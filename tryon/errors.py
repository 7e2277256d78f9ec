"""The one exception type a user can cause.

Every message says what went wrong *and what to do about it*; the UI shows it
as ``gr.Error``, the CLI prints it on one line and exits with status 2.
"""

from __future__ import annotations


class TryOnError(ValueError):
    """Bad input or an unsupported request, with a message that says the fix."""

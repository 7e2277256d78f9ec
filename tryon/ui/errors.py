"""How the UI reports errors: a user's mistake as its message, anything else as a short apology."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from ..errors import TryOnError

log = logging.getLogger(__name__)

INTERNAL_ERROR = (
    "Something went wrong on our side while rendering (the error was logged). "
    "Try again, or try another photo."
)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn TryOnError into gr.Error with its message; anything else into a short apology.

    A TryOnError is the user's to fix, not a server fault: it is logged on one line, without
    Gradio's traceback. Generator handlers (instant preview, then refine) stay generators. The
    wrapper keeps ``fn``'s signature, which Gradio reads to pass ``gr.Request`` and the OAuth profile.
    """

    @contextlib.contextmanager
    def converted() -> Iterator[None]:
        try:
            yield
        except gr.Error:
            raise
        except TryOnError as exc:
            log.info("%s refused: %s", fn.__name__, exc)
            raise gr.Error(str(exc), print_exception=False) from exc
        except Exception as exc:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(INTERNAL_ERROR) from exc

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with converted():
                yield from fn(*args, **kwargs)

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with converted():
            return fn(*args, **kwargs)

    return wrapper

"""The Gradio face of tryon: the only package that imports gradio.

``build_demo()`` builds the Blocks app (:mod:`tryon.ui.app`); ``launch(demo)`` serves it.
"""

from .app import build_demo, launch

__all__ = ["build_demo", "launch"]

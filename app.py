"""tryon's Gradio app: `python app.py` (or `make run`) serves it on 127.0.0.1:7860.

UI and wiring live in tryon/ui.py; inference in the tryon package. Models warm up in a
background thread once the server starts, never at import.
"""

from tryon.ui import build_demo, launch

demo = build_demo()

if __name__ == "__main__":
    launch(demo)

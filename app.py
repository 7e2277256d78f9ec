"""tryon's Gradio app: `python app.py` (or `make run`) serves it on 127.0.0.1:7860; a Hugging Face Space
imports it and serves ``demo``.

UI and wiring live in tryon/ui/; inference in the tryon package. At import, on the main thread and before
Gradio is imported, :func:`tryon.hosting.start_up` checks and prepares the data directory (a Space's storage
bucket), registers the one ``@spaces.GPU`` function, and loads the diffusion pipeline where the renderer or
ZeroGPU asks for it. The other models warm up in a background thread once the server starts.
"""

import sys

from tryon.hosting import StartupError, start_up

try:
    STARTUP = start_up()
except StartupError as exc:
    sys.exit(f"tryon cannot start: {exc}")

from tryon.ui import build_demo, launch  # after start_up: Gradio reads its cache folder at import

demo = build_demo()

if __name__ == "__main__":
    launch(demo)

"""The page's own look and behaviour: the header, CSS and the small scripts events run in the browser.

Layout sizes that must fit a laptop screen (1280x800) live in :mod:`tryon.ui.app`; what only a
phone needs (a Try on button that stays on screen, a narrower history strip) is here, behind a
media query. The scripts reach into Gradio's rendered DOM only where Gradio offers no setting:
the image editor's brush colour (its palette is hidden behind an icon; the page shows the two
brushes as a plain choice instead) and scrolling to what just changed.
"""

from __future__ import annotations

PHONE_MAX_WIDTH = 640  # px: below this the page is a phone's single column
# The history strip keeps its columns however many results it holds (Gradio would stretch one to the
# full width): four side by side on a laptop, two on a phone.
HISTORY_COLUMNS = 4
HISTORY_COLUMNS_PHONE = 2

HEADER = (
    "<div class='hero'><h1>tryon</h1><span>See yourself in it: add your photo, pick or describe a garment, "
    "press <b>Try on</b>. English or 中文.</span></div>"
)
ADVICE_EMPTY = (
    "<p class='advice-label'>Add a photo of yourself (or click an example) to see which colours suit you, with "
    "the reason, and garments from the catalog in them. A suggestion, not a rule.</p>"
)

CSS = f"""
.chips {{display:flex; flex-wrap:wrap; align-items:center; gap:6px; min-height:28px}}
.chips-title {{font-size:13px; opacity:.7; margin-right:2px}}
.chip {{border:1px solid #d4d4d8; border-radius:999px; padding:2px 10px; font-size:13px}}
.chip.unsure {{border-style:dashed; opacity:.75}}
.chips-note {{flex-basis:100%; font-size:12px; opacity:.75}}
.swatch {{display:inline-block; width:12px; height:12px; border-radius:3px; margin-right:4px;
         vertical-align:-1px; border:1px solid #0003}}
#header {{align-items:center; gap:8px}}
.hero {{display:flex; flex-wrap:wrap; align-items:baseline; gap:4px 12px}}
.hero h1 {{font-size:24px; margin:0}}
.hero span {{font-size:14px; opacity:.8}}
.advice p {{margin:4px 0}}
.advice ul {{margin:4px 0 0 18px; font-size:13px}}
.advice-label {{font-style:italic; opacity:.8; font-size:13px}}
.advice-reason {{font-size:12px; opacity:.75}}
.licence-note, .hint {{font-size:12px; opacity:.7}}
#edit-area button[aria-label="Color"] {{display:none !important}}
#category label, #catalog-filter label, #brush label {{padding:5px 9px !important}}
#category .wrap, #catalog-filter .wrap {{gap:6px !important}}
#shelf-message p {{margin:0}}
#history .grid-container {{grid-template-columns:repeat({HISTORY_COLUMNS}, minmax(0, 1fr)) !important}}
#refine-progress:not(:has(progress)), #chips:not(:has(.chip, .chips-note)), #review-note:not(:has(p)) {{display:none}}
@media (max-width: {PHONE_MAX_WIDTH}px) {{
  #person-input {{height:360px !important}}
  #try-on {{position:fixed; left:12px; right:12px; bottom:12px; width:auto !important; z-index:100;
           box-shadow:0 4px 16px #0004}}
  #category label, #catalog-filter label, #brush label {{padding:5px 9px !important}}
#category .wrap, #catalog-filter .wrap {{gap:6px !important}}
#shelf-message p {{margin:0}}
#history .grid-container {{grid-template-columns:repeat({HISTORY_COLUMNS_PHONE}, minmax(0, 1fr)) !important}}
}}
"""

# Gradio scopes the CSS above to its container; the page's own side margins are outside it.
HEAD = (f"<style>@media (max-width: {PHONE_MAX_WIDTH}px) {{ .gradio-container .app "
        "{ padding-left: 10px !important; padding-right: 10px !important; padding-bottom: 84px !important; } }"
        "</style>")

# Bring an element into view when it is not (the result after a try-on on a phone, the catalog after
# "find similar" on a laptop); nothing moves when it is already on screen.
_SHOW = """() => {{
  const el = document.querySelector('{selector}');
  if (!el) return;
  const box = el.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) el.scrollIntoView({{behavior: 'smooth', block: 'start'}});
}}"""
SHOW_RESULT_JS = _SHOW.format(selector="#result-slider")
SHOW_CATALOG_JS = _SHOW.format(selector="#shelf-message")

# Select the editor's brush tool in the colour of the brush radio ("add": the first swatch, green;
# "remove": the second, red): open the hidden palette, click the swatch, close the palette.
PICK_BRUSH_JS = """(brush) => {
  const editor = document.querySelector('#edit-area');
  if (!editor) return;
  const palette = () => editor.querySelector('button[aria-label="Color"]');
  const pick = () => {
    const swatches = editor.querySelectorAll('menu.swatch button.color');
    if (!swatches.length) return false;
    swatches[brush === 'remove' ? 1 : 0].click();
    palette()?.click();
    return true;
  };
  const tool = editor.querySelector('button[aria-label="Brush"]');
  if (tool && !tool.classList.contains('highlight')) tool.click();
  setTimeout(() => { if (!pick()) { palette()?.click(); setTimeout(pick, 60); } }, 60);
}"""


def on_spaces() -> bool:
    """Whether the app runs on Hugging Face Spaces (where the sign-in button works)."""
    from gradio.utils import get_space

    return get_space() is not None

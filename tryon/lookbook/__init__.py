"""Lookbooks: every garment on every person, as a folder a shop or a product manager can use.

A face of the app, like the CLI and the UI: it calls :func:`tryon.pipeline.try_on` for each pair.

- :mod:`~tryon.lookbook.plan`: inputs, pairs, the journal that makes a rerun resume, the table.
- :mod:`~tryon.lookbook.work`: what a worker does (analyse a photo once; render a pair).
- :mod:`~tryon.lookbook.runner`: one run: resume, schedule, stream results to the folder, report.
- :mod:`~tryon.lookbook.ray_runner`: the Ray executor (CPU tasks for warp, GPU actors for diffusion).
- :mod:`~tryon.lookbook.report`: thumbnails, grid images, ``index.html``, the zip.
- :mod:`~tryon.lookbook.check`: the one function that reads the pipeline's self-check verdict.
- :mod:`~tryon.lookbook.command`: ``python -m tryon lookbook``.

Ray is imported only by :mod:`~tryon.lookbook.ray_runner`, so the app's Lookbook tab (which runs in the
server process) works where Ray is not installed.
"""

"""What the app keeps: flagged results (SQLite + images), their review, and dataset export.

The store never imports the pipeline's stages: callers hand it decoded images and a re-run
function.
"""

"""Measurement tools beside the pipeline: quality metrics, the evaluation harness, benchmarks.

Nothing in the pipeline or its stages imports these; they call the pipeline like any face does.
"""

"""Showing results: one table model rendered to rich, HTML and Markdown; charts; exports.

Reads records only (``harness.records``, ``harness.gate`` verdicts); never imports the worker
or a framework.
"""

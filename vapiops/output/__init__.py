"""Renderers: plans and environment diffs as text, markdown and JSON."""

"""UI-free view models for the workbench pages.

Profile -> map points and tables, traces -> step cards, summary versions -> diffs, selections ->
curation edits. Pages call these; tests reach them directly.
"""

"""Inflow's product code: UI-free, typed, importable."""

from core import ast_guard

# Before any of core's threads start: on Python < 3.13 concurrent ast.parse calls can fail (see ast_guard).
ast_guard.install()

"""Command modules for python -m core."""

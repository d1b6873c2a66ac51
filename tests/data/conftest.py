"""Fixtures for the loader tests: write small files into a temp folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write text (UTF-8) or bytes to tmp_path/name and return the path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def write_json(write: Callable[[str, str | bytes], Path]) -> Callable[[str, Any], Path]:
    """Write a JSON value to tmp_path/name and return the path."""

    def _write_json(name: str, data: Any) -> Path:
        return write(name, json.dumps(data, indent=1))

    return _write_json

"""Preparation steps (synthesis, dataset conversion) run once: a marker file records
the settings they ran with, and a later run with the same settings skips the work."""

import json
from pathlib import Path
from typing import Any


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder that does not have the layout its preparer expects."""


def _normalised(settings: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(settings))  # tuples -> lists, so saved and fresh compare equal


def is_prepared(marker: Path, settings: dict[str, Any]) -> bool:
    """Whether ``marker`` records exactly these settings."""
    return marker.is_file() and json.loads(marker.read_text()) == _normalised(settings)


def mark_prepared(marker: Path, settings: dict[str, Any]) -> None:
    """Record the settings once the step has finished."""
    marker.write_text(json.dumps(_normalised(settings), indent=2))

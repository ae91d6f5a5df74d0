"""The detection settings that ``seqrec-eval-stream`` chooses for a model and writes
in a JSON sidecar beside it (``best.ckpt`` -> ``best.detect.json``), and how a detector
picks its settings: those given, else the sidecar's, else the defaults. Torch-free.

    {"threshold": 0.963, "hop_seconds": 0.1, "window_seconds": 1.0, "smooth_windows": 3,
     "refractory_seconds": 1.0, "decision_seconds": 0.0, ...}

A sidecar is read as data: JSON numbers, each checked, never code.
"""

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".detect.json"  # beside the model: the threshold seqrec-eval-stream chose
DEFAULT_THRESHOLD = 0.5  # when neither the caller nor a sidecar gives one
# the other settings when neither the caller nor a sidecar gives them (window: the clip's)
DEFAULT_SETTINGS = {
    "hop_seconds": 0.1,
    "window_seconds": None,
    "smooth_windows": 3,
    "refractory_seconds": 1.0,
    "decision_seconds": 0.0,
}
_told_no_sidecar: set[str] = set()  # models whose missing sidecar was logged already

Thresholds = float | Mapping[str, float]


def sidecar_path(model_source: str | Path) -> Path | None:
    """Where the detection settings of the model file ``model_source`` live: its path
    with the suffix replaced by ``.detect.json``; None for a model without a file name.

    >>> str(sidecar_path("runs/kws/best.ckpt")), str(sidecar_path("kws.int8.onnx"))
    ('runs/kws/best.detect.json', 'kws.int8.detect.json')
    """
    path = Path(str(model_source))
    if not str(model_source) or not path.name:
        return None
    return path.with_suffix(SIDECAR_SUFFIX)


def finite_number(value: Any) -> bool:
    """Whether ``value`` (read from JSON) is a finite int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# the sidecar's settings, and what each must be
SIDECAR_CHECKS = {
    "hop_seconds": ("a positive number", lambda v: finite_number(v) and v > 0),
    "window_seconds": (
        "a positive number or null",
        lambda v: v is None or (finite_number(v) and v > 0),
    ),
    "smooth_windows": ("a positive integer", lambda v: finite_number(v) and v >= 1 and v == int(v)),
    "refractory_seconds": ("a number >= 0", lambda v: finite_number(v) and v >= 0),
    "decision_seconds": ("a number >= 0", lambda v: finite_number(v) and v >= 0),
}


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The detection settings in the JSON sidecar ``path``: ``threshold`` (a number >= 0,
    or an object word -> number), and those of ``hop_seconds``, ``window_seconds``,
    ``smooth_windows``, ``refractory_seconds`` and ``decision_seconds`` that it gives.
    A clear error naming the file when it is not valid."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable JSON detection sidecar ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if "threshold" not in data:
        raise ValueError(f"{path}: no 'threshold' (a number, or an object word -> number)")
    threshold = data["threshold"]
    scores = threshold.values() if isinstance(threshold, dict) else [threshold]
    if not all(finite_number(t) and t >= 0 for t in scores):
        raise ValueError(
            f"{path}: 'threshold' must be a number >= 0 or an object word -> number >= 0, "
            f"got {threshold!r}"
        )
    settings = {"threshold": threshold}
    for key, (wants, valid) in SIDECAR_CHECKS.items():
        if key in data:
            if not valid(data[key]):
                raise ValueError(f"{path}: {key!r} must be {wants}, got {data[key]!r}")
            settings[key] = int(data[key]) if key == "smooth_windows" else data[key]
    return settings


def detector_settings(
    model: Any,
    threshold: Thresholds | None = None,
    hop_seconds: float | None = None,
    window_seconds: float | None = None,
    smooth_windows: int | None = None,
    refractory_seconds: float | None = None,
    decision_seconds: float | None = None,
) -> dict[str, Any]:
    """The detector's settings: those given; for the others (None), those of the
    model's sidecar (:func:`sidecar_path` of ``model.source``) when it has one, else
    the defaults (threshold 0.5, said once in the log); ``"sidecar"``: the file the
    threshold came from, or ""."""
    given = {
        "threshold": threshold,
        "hop_seconds": hop_seconds,
        "window_seconds": window_seconds,
        "smooth_windows": smooth_windows,
        "refractory_seconds": refractory_seconds,
        "decision_seconds": decision_seconds,
    }
    source = str(getattr(model, "source", ""))
    sidecar = sidecar_path(source)
    found = {}
    if None in given.values() and sidecar is not None and sidecar.is_file():
        found = read_sidecar(sidecar)
    defaults = {"threshold": DEFAULT_THRESHOLD, **DEFAULT_SETTINGS, **found}
    settings = {key: defaults[key] if value is None else value for key, value in given.items()}
    settings["sidecar"] = str(sidecar) if found and threshold is None else ""
    if threshold is None and not found and source not in _told_no_sidecar:
        _told_no_sidecar.add(source)
        log.warning(
            "%s: no detection sidecar %s (seqrec-eval-stream writes it); threshold %s",
            source,
            sidecar,
            DEFAULT_THRESHOLD,
        )
    return settings

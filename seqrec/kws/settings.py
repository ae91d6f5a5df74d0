"""The detection settings that ``seqrec-eval-stream`` chooses for a model and writes
in a JSON sidecar beside it (``best.ckpt`` -> ``best.detect.json``), and how a detector
picks its settings: those given, else the sidecar's, else the defaults. Torch-free.

    {"threshold": 0.963, "hop_seconds": 0.1, "window_seconds": 1.0, "smooth_windows": 3,
     "refractory_seconds": 1.0, "decision_seconds": 0.0, ...}

A sidecar is read as data, never code, and checked against its schema
(:data:`SIDECAR_CHECKS`, :data:`SIDECAR_RECORDS`): every key known, every value of
its type and range.
"""

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".detect.json"  # beside the model: the threshold seqrec-eval-stream chose
DEFAULT_THRESHOLD = 0.5  # when neither the caller nor a sidecar gives one
_told_no_sidecar: set[str] = set()  # models whose missing sidecar was logged already

Thresholds = float | Mapping[str, float]


@dataclass(frozen=True)
class DetectorSettings:
    """A detector's settings, declared once: their names, their defaults (used when
    neither the caller nor a sidecar gives one) and, in :data:`SIDECAR_CHECKS`, what a
    sidecar may hold for each.

    Args:
        threshold: the smoothed score that triggers an event: one for every keyword, or
            a mapping word -> threshold.
        hop_seconds: the step between windows.
        window_seconds: the window length; None: the model reader's ``clip_seconds``.
        smooth_windows: posteriors are averaged over this many windows.
        refractory_seconds: after an event, no event for this long.
        decision_seconds: after a crossing, wait this long and name the best keyword
            above its threshold in that span (0: at once).
        sidecar: the file the threshold came from, or "".
    """

    threshold: Thresholds = DEFAULT_THRESHOLD
    hop_seconds: float = 0.1
    window_seconds: float | None = None
    smooth_windows: int = 3
    refractory_seconds: float = 1.0
    decision_seconds: float = 0.0
    sidecar: str = ""

    @classmethod
    def for_model(cls, model: Any, **given: Any) -> "DetectorSettings":
        """The settings ``given`` (None: not given); for the others, those of the
        model's sidecar (:func:`sidecar_path` of ``model.source``) when it has one,
        else the defaults (threshold 0.5, said once in the log). ``sidecar`` names the
        file the threshold came from."""
        unknown = sorted(set(given) - set(SETTINGS))
        if unknown:
            raise TypeError(f"unknown detector settings {unknown}; they are {list(SETTINGS)}")
        given = {name: given.get(name) for name in SETTINGS}
        source = str(getattr(model, "source", ""))
        sidecar = sidecar_path(source)
        found = {}
        if None in given.values() and sidecar is not None and sidecar.is_file():
            found = read_sidecar(sidecar)
        chosen = {**found, **{name: value for name, value in given.items() if value is not None}}
        threshold_from = str(sidecar) if found and given["threshold"] is None else ""
        if given["threshold"] is None and not found and source not in _told_no_sidecar:
            _told_no_sidecar.add(source)
            log.warning(
                "%s: no detection sidecar %s (seqrec-eval-stream writes it); threshold %s",
                source,
                sidecar,
                DEFAULT_THRESHOLD,
            )
        return cls(**chosen, sidecar=threshold_from)

    def windowing(self) -> dict[str, Any]:
        """Every setting but the threshold (and where it came from): what a sidecar
        and ``stream_metrics.json`` record beside the threshold."""
        return {k: v for k, v in asdict(self).items() if k not in ("threshold", "sidecar")}


# the settings' names, in order; the defaults of all but the threshold
SETTINGS = tuple(f.name for f in fields(DetectorSettings) if f.name != "sidecar")
DEFAULT_SETTINGS = DetectorSettings().windowing()


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


MAX_SECONDS = 60.0  # a sidecar's hop, window, refractory or decision span: keyword scale


def _seconds(low_open: bool) -> Any:
    """A check of a span in seconds: in (0, MAX_SECONDS], or [0, ...] unless ``low_open``."""
    return lambda v: finite_number(v) and (v > 0 if low_open else v >= 0) and v <= MAX_SECONDS


def _score(value: Any) -> bool:
    """Whether ``value`` is a posterior-scale threshold: a finite number in [0, 1]."""
    return finite_number(value) and 0 <= value <= 1


def _threshold(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value) and all(isinstance(w, str) and _score(t) for w, t in value.items())
    return _score(value)


def _recall(value: Any) -> bool:
    return value is None or _score(value)


def _calibration(value: Any) -> bool:
    """``null``, or what :meth:`seqrec.kws.calibration.Calibration.as_dict` writes."""
    if value is None:
        return True
    checks = {
        "streams": lambda v: isinstance(v, str),
        "rank": lambda v: finite_number(v) and v == int(v) and v >= 0,
        "impostor_windows": lambda v: finite_number(v) and v == int(v) and v >= 0,
        "offsets": lambda v: isinstance(v, dict) and all(
            isinstance(w, str) and finite_number(b) for w, b in v.items()
        ),
    }  # fmt: skip
    return (
        isinstance(value, dict)
        and set(value) <= set(checks)
        and all(check(value[key]) for key, check in checks.items() if key in value)
    )


# the schema of a sidecar: every key it may hold, and what its value must be. First
# the detector's settings, which detector_settings() uses
SIDECAR_CHECKS = {
    "threshold": (
        "a number in [0, 1], or a non-empty object word -> number in [0, 1] (no score "
        "reaches a higher one, and an empty object names no word: the detector would "
        "never fire)",
        _threshold,
    ),
    "hop_seconds": (f"a number in (0, {MAX_SECONDS:g}]", _seconds(low_open=True)),
    "window_seconds": (
        f"a number in (0, {MAX_SECONDS:g}], or null",
        lambda v: v is None or _seconds(low_open=True)(v),
    ),
    "smooth_windows": (
        "a positive integer",
        lambda v: finite_number(v) and v >= 1 and v == int(v),
    ),
    "refractory_seconds": (f"a number in [0, {MAX_SECONDS:g}]", _seconds(low_open=False)),
    "decision_seconds": (f"a number in [0, {MAX_SECONDS:g}]", _seconds(low_open=False)),
}
# then what seqrec-eval-stream records beside them, for the reader: checked, not used
SIDECAR_RECORDS = {
    "fa_per_hour_target": ("a positive number", lambda v: finite_number(v) and v > 0),
    "fa_per_hour": ("a number >= 0", lambda v: finite_number(v) and v >= 0),
    "recall": ("a number in [0, 1], or null", _recall),
    "recall_at_fa_per_hour": (
        "an object FA/h -> recall (a number in [0, 1], or null)",
        lambda v: isinstance(v, dict) and all(_recall(r) for r in v.values()),
    ),
    "tolerance_seconds": ("a number >= 0", lambda v: finite_number(v) and v >= 0),
    "streams": ("a string (the streams manifest)", lambda v: isinstance(v, str)),
    "hours": ("a number >= 0", lambda v: finite_number(v) and v >= 0),
    "model": ("a string (the model file)", lambda v: isinstance(v, str)),
    "calibration": (
        "null, or an object of streams, rank, impostor_windows and offsets (word -> number)",
        _calibration,
    ),
}


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The detection settings in the JSON sidecar ``path``: ``threshold`` (a number in
    [0, 1], or a non-empty object word -> number in [0, 1]), and those of
    ``hop_seconds``, ``window_seconds``, ``smooth_windows``, ``refractory_seconds`` and
    ``decision_seconds`` that it gives. The whole file is checked against the schema
    (:data:`SIDECAR_CHECKS`, :data:`SIDECAR_RECORDS`): an unknown key, or a value of the
    wrong type or range, is an error naming the file and the key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable JSON detection sidecar ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if "threshold" not in data:
        raise ValueError(f"{path}: no 'threshold' (a number, or an object word -> number)")
    schema = {**SIDECAR_CHECKS, **SIDECAR_RECORDS}
    for key, value in data.items():
        if key not in schema:
            raise ValueError(
                f"{path}: unknown key {key!r}; a detection sidecar holds only {sorted(schema)}"
            )
        wants, valid = schema[key]
        if not valid(value):
            raise ValueError(f"{path}: {key!r} must be {wants}, got {value!r}")
    settings = {key: data[key] for key in SIDECAR_CHECKS if key in data}
    if "smooth_windows" in settings:
        settings["smooth_windows"] = int(settings["smooth_windows"])
    return settings

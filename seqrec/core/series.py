"""Time series as seqrec reads them, torch-free: one ``.npy`` file per series, a
(T, C) float array with time first (``NaN`` where a value is missing), checked before
it is read and filled where values are missing. Shared by the PyTorch reader
(:class:`seqrec.data.time_series.SeriesReader`) and the ONNX runtime."""

from pathlib import Path

import numpy as np

# Bounds on what one series may make seqrec allocate (a manifest or a reader config
# comes from a file): 1e6 steps and 1024 channels, and at most 1e8 values.
MAX_SERIES_LENGTH = 1_000_000
MAX_CHANNELS = 1024
MAX_SERIES_VALUES = 100_000_000


class SeriesError(ValueError):
    """A series that cannot be read or does not fit the model; ``reason`` is the skip
    code a manifest reader counts it under."""

    def __init__(self, message: str, reason: str = "unreadable") -> None:
        super().__init__(message)
        self.reason = reason


def fill_missing(values: np.ndarray) -> np.ndarray:
    """``values`` (T, C) with every NaN replaced by linear interpolation in time
    between its channel's nearest known values (the nearest one at either end); a
    channel with no known value becomes zeros. A copy only where something is missing.

    >>> fill_missing(np.array([[np.nan], [1.0], [np.nan], [3.0], [np.nan]])).ravel().tolist()
    [1.0, 1.0, 2.0, 3.0, 3.0]
    """
    missing = np.isnan(values)
    if not missing.any():
        return values
    filled = values.copy()
    steps = np.arange(values.shape[0])
    for c in range(values.shape[1]):
        gaps = missing[:, c]
        if gaps.all():
            filled[:, c] = 0.0
        elif gaps.any():
            known = ~gaps
            filled[gaps, c] = np.interp(steps[gaps], steps[known], values[known, c])
    return filled


def check_series(
    values: np.ndarray, channels: int, name: str, max_length: int = MAX_SERIES_LENGTH
) -> np.ndarray:
    """``values`` as a (T, C) float32 array with its missing values filled
    (:func:`fill_missing`), after checking it: 1-D (one channel) or 2-D with time
    first, ``channels`` channels, 1 to ``max_length`` steps, and no infinite value.
    A :class:`SeriesError` names ``name`` and the problem.

    >>> check_series(np.zeros((3, 2)), 1, "s.npy")
    Traceback (most recent call last):
    ...
    seqrec.core.series.SeriesError: s.npy: a series for this model has 1 channel(s) (time first, (T, 1)), got shape (3, 2)
    """
    array = np.asarray(values)
    if array.ndim == 1 and channels == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != channels:
        raise SeriesError(
            f"{name}: a series for this model has {channels} channel(s) (time first, "
            f"(T, {channels})), got shape {tuple(array.shape)}",
            "bad_shape",
        )
    if not 1 <= array.shape[0] <= max_length:
        raise SeriesError(
            f"{name}: a series must have 1 to {max_length} steps, got {array.shape[0]}",
            "bad_shape",
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise SeriesError(f"{name}: a series holds real numbers, not {array.dtype}", "bad_dtype")
    array = array.astype(np.float32, copy=False)
    if np.isinf(array).any():
        t, c = np.argwhere(np.isinf(array))[0]
        raise SeriesError(
            f"{name}: the series holds an infinite value (the first at step {t}, channel {c})",
            "nonfinite",
        )
    return fill_missing(array)


def read_series(path: str | Path, channels: int, max_length: int = MAX_SERIES_LENGTH) -> np.ndarray:
    """The series in an ``.npy`` file, checked as :func:`check_series` checks an array.
    Its header is read first: a file whose shape or type does not fit is refused
    before its data is read, and nothing in it is unpickled."""
    path = Path(path)
    if not path.is_file():
        raise SeriesError(f"{path}: file not found", "missing_file")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise SeriesError(f"{path}: not a readable .npy array ({e})") from None
    if array.size > MAX_SERIES_VALUES:
        raise SeriesError(
            f"{path}: {array.size} values is more than the {MAX_SERIES_VALUES} allowed", "bad_shape"
        )
    return check_series(np.array(array), channels, str(path), max_length)

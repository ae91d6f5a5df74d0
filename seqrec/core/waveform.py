"""Waveforms in numpy, torch-free: reading audio files with soundfile, and cutting long
recordings at quiet points. The one home of both for :mod:`seqrec.data.audio` and
:mod:`seqrec.inference` (which turn the arrays into tensors) and for
:mod:`seqrec.runtime` (which runs without torch)."""

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import soundfile as sf

# Why an audio file was rejected: the reason keys of seqrec.data's skip counts and
# reports (seqrec.data.manifest holds the keys of manifest lines).
MISSING_FILE = "missing_file"
UNREADABLE_AUDIO = "unreadable_audio"
EMPTY_AUDIO = "empty_audio"
DURATION_MISMATCH = "duration_mismatch"
DURATION_TOLERANCE = 0.05  # seconds a requested segment may run past the end of its file

Wave = TypeVar("Wave")  # a 1-D numpy array or torch tensor


class AudioError(RuntimeError):
    """An audio file that cannot be used; the message names the file and the problem."""

    def __init__(self, message: str, reason: str = UNREADABLE_AUDIO) -> None:
        super().__init__(message)
        self.reason = reason


def check_finite(
    samples: np.ndarray, name: str, first: int = 0, sample_bytes: int | None = None
) -> np.ndarray:
    """``samples`` ((S,), or (S, channels)) as they are when every one is a finite
    number; else an :class:`AudioError` naming ``name`` (a file, ``waveform 3``,
    ``stdin``) and the first NaN or infinite sample: its index counted from ``first``
    and, for raw PCM of ``sample_bytes`` per sample, its byte offset. The one check of
    every entry point, PyTorch and ONNX alike: one NaN would spread through every score
    it touches, and a classifier would answer its first label at score nan.

    >>> check_finite(np.zeros(3, np.float32), "waveform 0").shape
    (3,)
    >>> check_finite(np.array([0.0, 0.1, np.nan]), "stdin", first=100, sample_bytes=4)
    Traceback (most recent call last):
    ...
    seqrec.core.waveform.AudioError: stdin: audio contains NaN or infinite samples (the first, nan, at sample 102, byte 408)
    """
    finite = np.isfinite(samples)
    if finite.all():
        return samples
    rows = finite.reshape(finite.shape[0], -1)  # (S, channels)
    row = int(np.flatnonzero(~rows.all(axis=1))[0])
    value = float(samples.reshape(rows.shape)[row][~rows[row]][0])
    index = first + row
    where = f"sample {index}" + (f", byte {index * sample_bytes}" if sample_bytes else "")
    raise AudioError(
        f"{name}: audio contains NaN or infinite samples (the first, {value}, at {where})"
    )


def read_soundfile(
    path: str | Path, offset: float = 0.0, duration: float | None = None
) -> tuple[np.ndarray, int]:
    """``path`` as a mono float32 waveform (S,) at the file's own sample rate, and that
    rate. Channels are averaged; ``offset`` and ``duration`` (seconds) select a segment
    without reading the rest of the file."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found", MISSING_FILE)
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            if f.frames == 0:
                raise AudioError(f"{path}: no audio samples (empty file)", EMPTY_AUDIO)
            start = round(offset * rate)
            if start > f.frames:
                raise AudioError(
                    f"{path}: offset {offset:.3f}s is past the end ({f.frames / rate:.3f}s)",
                    EMPTY_AUDIO,
                )
            f.seek(start)
            frames = -1 if duration is None else round(duration * rate)
            if frames > 0 and start + frames > f.frames + DURATION_TOLERANCE * rate:
                raise AudioError(
                    f"{path}: offset + duration = {(start + frames) / rate:.3f}s runs past the "
                    f"end of the file ({f.frames / rate:.3f}s)",
                    DURATION_MISMATCH,
                )
            data = f.read(frames, dtype="float32", always_2d=True)  # (S, channels)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioError(f"{path}: cannot decode audio ({e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no audio samples (empty file or segment)", EMPTY_AUDIO)
    check_finite(data, str(path), first=start)
    # mono files need no averaging (and no copy)
    return (data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)), rate


def quiet_cuts(waveform: np.ndarray, max_samples: int, sample_rate: int) -> list[int]:
    """Where :func:`split_at_quiet_points` cuts ``waveform``: the first sample of every
    piece after the first.

    >>> wave = np.ones(100_000, dtype=np.float32)
    >>> wave[30_000:30_400] = 0  # a pause
    >>> quiet_cuts(wave, 32_000, 16_000)
    [30120, 54320, 78520]
    """
    if max_samples <= 0:
        raise ValueError(f"max_samples must be positive, got {max_samples}")
    frame, hop = round(0.025 * sample_rate), round(0.010 * sample_rate)
    cuts, start, total = [], 0, waveform.shape[0]
    while total - start > max_samples:
        lo, hi = start + (3 * max_samples) // 4, start + max_samples
        window = waveform[lo:hi]
        if window.size >= frame:
            frames = np.lib.stride_tricks.sliding_window_view(window, frame)[::hop]
            energy = np.square(frames).mean(axis=1)
            cut = lo + int(energy.argmin()) * hop + frame // 2  # the quietest frame's centre
        else:
            cut = hi
        start = max(cut, start + 1)
        cuts.append(start)
    return cuts


def cut_at(waveform: Wave, cuts: Sequence[int]) -> list[Wave]:
    """The pieces of ``waveform`` (an array or a tensor) between ``cuts``, as views."""
    bounds = [0, *cuts, None]
    return [waveform[a:b] for a, b in itertools.pairwise(bounds)]


def split_at_quiet_points(
    waveform: np.ndarray, max_samples: int, sample_rate: int
) -> list[np.ndarray]:
    """Cut a waveform into pieces of at most ``max_samples``, each cut at the centre of
    the frame of lowest energy (25 ms frames, 10 ms hop) in the last quarter of its
    piece. The pieces put back together are the whole waveform.

    >>> wave = np.ones(100_000, dtype=np.float32)
    >>> wave[30_000:30_400] = 0  # a pause
    >>> pieces = split_at_quiet_points(wave, 32_000, 16_000)
    >>> pieces[0].size, sum(p.size for p in pieces), max(p.size for p in pieces)
    (30120, 100000, 30120)
    """
    return cut_at(waveform, quiet_cuts(waveform, max_samples, sample_rate))


def chunks_of(
    waveforms: Sequence[Wave], split: Callable[[Wave], list[Wave]], sample_rate: int
) -> tuple[list[Wave], list[int], list[float]]:
    """Every waveform cut by ``split``, all pieces in order, with the index of the
    waveform each came from and the second where it starts in that waveform."""
    chunks, owners, offsets = [], [], []
    for i, waveform in enumerate(waveforms):
        offset = 0
        for chunk in split(waveform):
            chunks.append(chunk)
            owners.append(i)
            offsets.append(offset / sample_rate)
            offset += chunk.shape[0]
    return chunks, owners, offsets


PLACEMENTS = ("start", "centre", "random")


def fit_clip(
    waveform: np.ndarray,
    sample_rate: int,
    clip_seconds: float | None = None,
    trim_db: float | None = None,
    level_db: float | None = None,
    placement: str = "start",
    rng: Any = None,
) -> np.ndarray:
    """A waveform brought to the format a model was trained on, in three optional steps:

    - ``trim_db``: the quiet ends cut off: everything before the first and after the
      last sample within ``trim_db`` dB of the peak (digital silence and padding go,
      whatever their length; the threshold follows the level);
    - ``level_db``: scaled to that RMS level in dB of full scale;
    - ``clip_seconds``: brought to that length, the waveform placed at the ``start``
      (zeros after it, or its end cut), in the ``centre``, or (``random``, for
      training; ``rng`` a :class:`random.Random`) anywhere in the window.

    With trimming, levelling and centring, the same word with any padding, leading or
    trailing silence, or level gives the same samples.

    >>> wave = np.r_[np.zeros(300), 0.1 * np.ones(200), np.zeros(100)].astype(np.float32)
    >>> clip = fit_clip(wave, 1000, clip_seconds=0.4, trim_db=40, level_db=-20, placement="centre")
    >>> clip.shape, int(np.flatnonzero(clip)[0]), round(float(clip.max()), 3)
    ((400,), 100, 0.1)
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    peak = float(np.abs(waveform).max()) if waveform.size else 0.0
    if trim_db is not None and peak > 0:
        loud = np.flatnonzero(np.abs(waveform) >= peak * 10 ** (-trim_db / 20))
        waveform = waveform[loud[0] : loud[-1] + 1]
    if level_db is not None and peak > 0:
        rms = float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64))))
        waveform = (waveform * (10 ** (level_db / 20) / rms)).astype(np.float32)
    if clip_seconds is None:
        return waveform
    samples = round(clip_seconds * sample_rate)
    spare = samples - waveform.shape[0]
    if placement == "start":
        offset = 0
    elif placement == "centre":
        offset = spare // 2
    else:
        offset = rng.randint(min(spare, 0), max(spare, 0))
    if spare < 0:  # too long: the window's share of it
        return waveform[-offset : -offset + samples]
    return np.pad(waveform, (offset, spare - offset))

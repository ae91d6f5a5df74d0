"""Waveforms in numpy, torch-free: reading audio files with soundfile, and cutting long
recordings at quiet points. The one home of both for :mod:`seqrec.data.audio` and
:mod:`seqrec.inference` (which turn the arrays into tensors) and for
:mod:`seqrec.runtime` (which runs without torch)."""

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

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
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
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

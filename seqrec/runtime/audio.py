"""Audio for the ONNX runtime, in numpy: files read (and long recordings cut at quiet
points) by :mod:`seqrec.waveform`, as the PyTorch side does, and resampled as
torchaudio does."""

import math
from pathlib import Path

import numpy as np

from seqrec.waveform import read_soundfile


def read_audio(
    path: str | Path, sample_rate: int, offset: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """``path`` as a mono float32 waveform (S,) at ``sample_rate``, as
    :func:`seqrec.data.audio.load_audio` reads it (:func:`seqrec.waveform.read_soundfile`),
    other rates resampled by :func:`resample`; ``offset`` and ``duration`` in seconds."""
    waveform, rate = read_soundfile(path, offset, duration)
    return resample(waveform, rate, sample_rate) if rate != sample_rate else waveform


def resample(
    waveform: np.ndarray, orig_freq: int, new_freq: int, lowpass_filter_width: int = 6
) -> np.ndarray:
    """Band-limited (windowed sinc, Hann) resampling of a 1-D waveform: the method and
    defaults of ``torchaudio.functional.resample``, whose kernel it computes the same
    way (rolloff 0.99).

    >>> resample(np.ones(8000, dtype=np.float32), 8000, 16000).shape
    (16000,)
    """
    if orig_freq == new_freq:
        return waveform
    gcd = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // gcd, int(new_freq) // gcd
    kernel, width = _sinc_kernel(orig, new, lowpass_filter_width)  # (new, K)
    length = waveform.shape[0]
    padded = np.pad(waveform.astype(np.float32), (width, width + orig))
    blocks = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[1])[::orig]
    resampled = (blocks @ kernel.T).reshape(-1)  # (blocks * new,)
    return resampled[: math.ceil(new * length / orig)].astype(np.float32)


def _sinc_kernel(orig: int, new: int, lowpass_filter_width: int) -> tuple[np.ndarray, int]:
    base = min(orig, new) * 0.99
    width = math.ceil(lowpass_filter_width * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    # torchaudio takes these output times in float32
    t = (np.arange(0, -new, -1, dtype=np.float32) / np.float32(new))[:, None] + idx
    t = np.clip(t * base, -lowpass_filter_width, lowpass_filter_width)
    window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernels = np.where(t == 0, 1.0, np.sin(t) / t)
    return (kernels * window * (base / orig)).astype(np.float32), width

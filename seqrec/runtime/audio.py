"""Audio for the ONNX runtime, in numpy: files read (and long recordings cut at quiet
points) by :mod:`seqrec.core.waveform`, as the PyTorch side does, and resampled as
torchaudio does (:mod:`seqrec.core.resampling`)."""

from pathlib import Path

import numpy as np

from seqrec.core.resampling import check_sample_rate, resample
from seqrec.core.waveform import AudioError, read_soundfile

__all__ = ["read_audio", "resample"]


def read_audio(
    path: str | Path, sample_rate: int, offset: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """``path`` as a mono float32 waveform (S,) at ``sample_rate``, as
    :func:`seqrec.data.audio.load_audio` reads it (:func:`seqrec.core.waveform.read_soundfile`),
    other rates resampled by :func:`seqrec.core.resampling.resample`; ``offset`` and
    ``duration`` in seconds. A rate outside what seqrec resamples is an
    :class:`~seqrec.core.waveform.AudioError`."""
    waveform, rate = read_soundfile(path, offset, duration)
    if rate == sample_rate:
        return waveform
    try:
        check_sample_rate(rate, path)
    except ValueError as e:
        raise AudioError(str(e)) from None
    return resample(waveform, rate, sample_rate)

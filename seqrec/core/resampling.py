"""Band-limited resampling in numpy at bounded cost for any pair of rates, torch-free:
shared by :mod:`seqrec.data.audio` (PyTorch) and :mod:`seqrec.runtime` (ONNX).

The method is ``torchaudio.functional.resample``'s: a Hann-windowed sinc (rolloff 0.99,
6 zero crossings). torchaudio builds a dense kernel of ``new x (orig + 2 width)``
taps for the rates reduced by their gcd, which is small for the usual rates (44.1 kHz
to 16 kHz: 160 x 475) but not for a rate such as 44,101 Hz (16,000 x 44,135 taps, 2.8
GB). Only about ``2 width + 1`` taps of each row are non-zero, so for such rates
:func:`resample` computes those taps per output sample instead, a block of outputs at a
time: the same filter, at a cost that grows with the audio's length, not with the
rates' gcd.

>>> resample(np.ones(8000, dtype=np.float32), 8000, 16000).shape
(16000,)
>>> resample(np.ones(44101, dtype=np.float32), 44101, 16000).shape
(16000,)
>>> check_sample_rate(100, "a.wav")
Traceback (most recent call last):
...
ValueError: a.wav: sample rate 100 Hz is outside the 1000-384000 Hz that seqrec resamples
"""

import math
from pathlib import Path

import numpy as np

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
LOWPASS_FILTER_WIDTH = 6  # torchaudio's default: zero crossings on each side
ROLLOFF = 0.99
# Dense kernels up to this many taps are built whole (torchaudio's way); larger ones
# (rates whose gcd is small) are computed per output sample.
DENSE_KERNEL_TAPS = 1 << 22
_BLOCK_TAPS = 1 << 22  # taps computed at once on the per-sample path (32 MB of float64)


def check_sample_rate(rate: int, source: str | Path) -> None:
    """Refuse a sample rate outside ``MIN_SAMPLE_RATE``-``MAX_SAMPLE_RATE`` Hz, or one
    that is not a whole number, naming ``source``."""
    if not isinstance(rate, int | np.integer) or isinstance(rate, bool):
        raise ValueError(f"{source}: sample rate {rate!r} is not a whole number of Hz")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"{source}: sample rate {rate} Hz is outside the {MIN_SAMPLE_RATE}-"
            f"{MAX_SAMPLE_RATE} Hz that seqrec resamples"
        )


def reduced_rates(orig_freq: int, new_freq: int) -> tuple[int, int]:
    """Both rates divided by their gcd."""
    gcd = math.gcd(int(orig_freq), int(new_freq))
    return int(orig_freq) // gcd, int(new_freq) // gcd


def dense_kernel_taps(orig_freq: int, new_freq: int) -> int:
    """Taps of torchaudio's dense kernel for these rates."""
    orig, new = reduced_rates(orig_freq, new_freq)
    return new * (orig + 2 * _width(orig, new))


def _width(orig: int, new: int) -> int:
    return math.ceil(LOWPASS_FILTER_WIDTH * orig / (min(orig, new) * ROLLOFF))


def resample(waveform: np.ndarray, orig_freq: int, new_freq: int) -> np.ndarray:
    """A 1-D float32 waveform at ``orig_freq`` resampled to ``new_freq`` Hz, as
    ``torchaudio.functional.resample`` does (its defaults), with
    ``ceil(new * length / orig)`` samples."""
    if orig_freq == new_freq:
        return waveform
    orig, new = reduced_rates(orig_freq, new_freq)
    waveform = np.asarray(waveform, dtype=np.float32)
    if dense_kernel_taps(orig_freq, new_freq) <= DENSE_KERNEL_TAPS:
        return _resample_dense(waveform, orig, new)
    return _resample_sparse(waveform, orig, new)


def _resample_dense(waveform: np.ndarray, orig: int, new: int) -> np.ndarray:
    kernel, width = _sinc_kernel(orig, new)  # (new, orig + 2 width)
    length = waveform.shape[0]
    padded = np.pad(waveform, (width, width + orig))
    blocks = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[1])[::orig]
    resampled = (blocks @ kernel.T).reshape(-1)  # (blocks * new,)
    return resampled[: math.ceil(new * length / orig)].astype(np.float32)


def _sinc_kernel(orig: int, new: int) -> tuple[np.ndarray, int]:
    width = _width(orig, new)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    # torchaudio takes these output times in float32
    t = (np.arange(0, -new, -1, dtype=np.float32) / np.float32(new))[:, None] + idx
    return _windowed_sinc(t, orig, new), width


def _windowed_sinc(t: np.ndarray, orig: int, new: int) -> np.ndarray:
    """Kernel values at times ``t`` (input time minus output time, in units of the
    reduced rates' periods), as float32."""
    base = min(orig, new) * ROLLOFF
    lpw = LOWPASS_FILTER_WIDTH
    t = np.clip(t * base, -lpw, lpw)
    window = np.cos(t * math.pi / lpw / 2) ** 2
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernels = np.where(t == 0, 1.0, np.sin(t) / t)
    return (kernels * window * (base / orig)).astype(np.float32)


def _resample_sparse(waveform: np.ndarray, orig: int, new: int) -> np.ndarray:
    """The dense kernel's non-zero taps only: output ``m = b new + j`` reads the
    ``2 width + 1`` inputs of block ``b`` from column ``floor(j orig / new)`` on."""
    width = _width(orig, new)
    taps = 2 * width + 1
    length = waveform.shape[0]
    out_length = math.ceil(new * length / orig)
    padded = np.pad(waveform, (width, width + orig + taps))
    out = np.empty(out_length, dtype=np.float32)
    offsets = np.arange(taps, dtype=np.int64)
    step = max(1, _BLOCK_TAPS // taps)
    for start in range(0, out_length, step):
        m = np.arange(start, min(start + step, out_length), dtype=np.int64)
        block, phase = np.divmod(m, new)
        first = (phase * orig) // new  # (n,) first non-zero column of the row
        columns = first[:, None] + offsets[None, :]  # (n, taps)
        t = (-(phase.astype(np.float32) / np.float32(new)))[:, None] + (columns - width) / orig
        weights = _windowed_sinc(t, orig, new)
        samples = padded[block[:, None] * orig + columns]  # (n, taps)
        out[m] = np.einsum("nt,nt->n", samples, weights)
    return out

"""Voice and channel effects for :class:`~seqrec.data.augment.WaveformAugment`, to train
on one synthesizer and generalise to others (room effects: :mod:`seqrec.data.room`).

Each effect is a small object with a ``prob`` (WaveformAugment applies it with that
probability) that maps a float32 waveform (S,) to a float32 waveform of the same length:
the sampler batched on the length. All randomness comes from the ``random.Random``
handed in, so a fixed seed gives the same output bit for bit. Effects that change the
level bring the output back to the input's RMS, with the peak capped at
:data:`PEAK_BOUND` times the input's peak; the others keep the peak.

Filters work on the spectrum with zero phase, so nothing moves in time.

>>> import random
>>> wave = torch.sin(torch.arange(16000) * 0.1)
>>> [tuple(e(wave, 16000, random.Random(0)).shape) for e in (PitchShift(), RandomEQ(), MuLaw())]
[(16000,), (16000,), (16000,)]
"""

import math
import random
from collections.abc import Callable, Sequence
from functools import cache, lru_cache

import torch
import torchaudio

PEAK_BOUND = 2.0  # output peak at most this times the input's peak
_N_FFT = 512  # 32 ms at 16 kHz: STFT size of the pitch and formant effects
_HOP = _N_FFT // 4


def value_range(name: str, values: Sequence[float], low: float = -math.inf) -> tuple[float, float]:
    """``values`` as a checked ``(a, b)`` range with ``low <= a <= b``.

    >>> value_range("semitones", [-3, 3])
    (-3.0, 3.0)
    """
    if len(values) != 2 or not low <= values[0] <= values[1]:
        raise ValueError(f"{name} must be two numbers {low} <= a <= b, got {list(values)}")
    return float(values[0]), float(values[1])


def keep_level(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``out`` scaled to ``ref``'s RMS, then down if its peak exceeds ``PEAK_BOUND`` times
    ``ref``'s, as float32."""
    out = out * (ref.pow(2).mean() / out.pow(2).mean().clamp(min=1e-20)).sqrt()
    bound = PEAK_BOUND * ref.abs().max()
    peak = out.abs().max()
    if peak > bound:
        out = out * (bound / peak)
    return out.to(torch.float32)


def zero_phase_filter(
    waveform: torch.Tensor, sample_rate: int, gain: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``waveform`` filtered by the magnitude response ``gain(frequencies_hz)``, zero phase.

    The padding keeps the filter's ringing from wrapping round onto the other end.
    """
    size = fft_size(waveform.numel() + sample_rate // 8)
    spectrum = torch.fft.rfft(waveform, size)
    freqs = torch.fft.rfftfreq(size, 1 / sample_rate)
    return torch.fft.irfft(spectrum * gain(freqs), size)[: waveform.numel()]


@lru_cache(maxsize=4096)
def fft_size(n: int) -> int:
    """The smallest size >= ``n`` with no prime factor above 5, which FFTs handle fast.

    >>> fft_size(16000 + 2000), fft_size(7)
    (18000, 8)
    """
    size = n
    while True:
        rest = size
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return size
        size += 1


@cache
def _window(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft)


def _stft(waveform: torch.Tensor) -> torch.Tensor:
    return torch.stft(waveform, _N_FFT, _HOP, window=_window(_N_FFT), return_complex=True)


def _istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    return torch.istft(spec, _N_FFT, _HOP, window=_window(_N_FFT), length=length)


class Effect:
    """An effect that :class:`~seqrec.data.augment.WaveformAugment` applies with
    probability ``prob``: ``effect(waveform (S,), sample_rate, rng) -> (S,)``."""

    def __init__(self, prob: float) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f"{type(self).__name__}: prob must be in [0, 1], got {prob}")
        self.prob = prob

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class PitchShift(Effect):
    """Move pitch and formants together by ``semitones`` (drawn uniformly), keeping the
    length: resample by the factor, then stretch back (:func:`time_stretch`). This is
    also the waveform-level vocal tract length perturbation; to move formants alone
    see :class:`FormantShift`.

    The factor is rounded so that the resampling rate is a multiple of
    ``sample_rate / 160`` (about 0.1 semitone), which keeps the resampling kernels
    small and cached.
    """

    def __init__(self, prob: float = 0.5, semitones: Sequence[float] = (-3.0, 3.0)) -> None:
        super().__init__(prob)
        self.semitones = value_range("PitchShift.semitones", semitones)
        self._resamplers: dict[tuple[int, int], torchaudio.transforms.Resample] = {}

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        factor = 2 ** (rng.uniform(*self.semitones) / 12)
        step = max(sample_rate // 160, 1)
        rate = max(round(sample_rate / factor / step) * step, step)
        if rate == sample_rate or waveform.numel() <= _N_FFT:
            return waveform
        key = (sample_rate, rate)
        if key not in self._resamplers:
            self._resamplers[key] = torchaudio.transforms.Resample(sample_rate, rate)
        shifted = self._resamplers[key](waveform)  # frequencies x factor, length / factor
        return keep_level(time_stretch(shifted, waveform.numel()), waveform)


def time_stretch(waveform: torch.Tensor, length: int) -> torch.Tensor:
    """``waveform`` stretched to ``length`` samples, pitch kept: a phase vocoder with
    identity phase locking (Laroche and Dolson), as a plain one smears the phase
    across the bins of each partial and loses level when stretching."""
    spec = _stft(waveform).T  # (T, F)
    frames, bins = spec.shape
    steps = torch.arange(0, frames, waveform.numel() / length, dtype=torch.float64)
    first = steps.long()
    frac = (steps - first).float()[:, None]
    magnitude = torch.nn.functional.pad(spec.abs(), [0, 0, 0, 2])
    angle = torch.nn.functional.pad(spec.angle(), [0, 0, 0, 2])
    magnitude = magnitude[first] * (1 - frac) + magnitude[first + 1] * frac  # (T', F)
    before = angle[first]
    expected = _expected_advance(bins)
    advance = angle[first + 1] - before - expected
    advance = advance - 2 * math.pi * torch.round(advance / (2 * math.pi)) + expected
    phase = torch.cat([angle[:1], advance[:-1]]).cumsum(0)
    # each bin keeps its analysis phase offset from the loudest bin within the window's
    # main lobe (+-2 bins): the partial it belongs to
    _, peak = torch.nn.functional.max_pool1d(magnitude[:, None], 5, 1, 2, return_indices=True)
    peak = peak[:, 0]
    locked = phase.gather(1, peak) + before - before.gather(1, peak)
    return _istft(torch.polar(magnitude, locked).T, length)


@cache
def _expected_advance(bins: int) -> torch.Tensor:
    """Phase a bin-centred partial advances in one hop, per bin (F,)."""
    return torch.arange(bins) * (2 * math.pi * _HOP / _N_FFT)


class FormantShift(Effect):
    """Move the formants by a ``factor`` drawn uniformly, keeping the pitch and the
    length: each STFT frame is multiplied by the ratio of its all-pole (LPC) envelope,
    warped along frequency, to the envelope itself. Factors above 1 sound like a
    shorter vocal tract. The gain is kept within ``max_gain_db`` either way.
    """

    def __init__(
        self, prob: float = 0.5, factor: Sequence[float] = (0.85, 1.15), max_gain_db: float = 24.0
    ) -> None:
        super().__init__(prob)
        self.factor = value_range("FormantShift.factor", factor, low=0.5)
        self.max_gain_db = max_gain_db

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        factor = rng.uniform(*self.factor)
        if factor == 1.0 or waveform.numel() <= _N_FFT:
            return waveform
        spec = _stft(waveform)  # (F, T)
        envelope = lpc_log_envelope(spec, sample_rate // 1000 + 4)  # the usual order for speech
        bins = spec.shape[0]
        source = (torch.arange(bins) / factor).clamp(max=bins - 1)
        low = source.floor().long()
        high = (low + 1).clamp(max=bins - 1)
        frac = (source - low)[:, None]
        warped = envelope[low] * (1 - frac) + envelope[high] * frac  # envelope(f / factor)
        limit = self.max_gain_db / 20 * math.log(10)
        gain = (warped - envelope).clamp(-limit, limit).exp()
        return keep_level(_istft(spec * gain, waveform.numel()), waveform)


def lpc_log_envelope(spec: torch.Tensor, order: int) -> torch.Tensor:
    """Natural-log magnitude of the all-pole (LPC) envelope of each STFT frame (F, T),
    solving the normal equations of the frame's autocorrelation."""
    power = spec.real.pow(2) + spec.imag.pow(2)
    autocorr = torch.fft.irfft(power, _N_FFT, dim=0)[: order + 1].T.double()  # (T, P + 1)
    autocorr[:, 0] = autocorr[:, 0] * (1 + 1e-5) + 1e-12  # white-noise correction: silence
    lags = (torch.arange(order)[:, None] - torch.arange(order)).abs()
    coeffs = torch.linalg.solve(autocorr[:, lags], -autocorr[:, 1:])  # (T, P)
    coeffs = torch.nn.functional.pad(coeffs, [1, 0], value=1.0)  # A(z) = 1 + a1 z^-1 + ...
    response = torch.fft.rfft(coeffs.float(), _N_FFT, dim=1)  # (T, F)
    return -0.5 * (response.real.pow(2) + response.imag.pow(2)).clamp(min=1e-24).log().T


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def peaking_gain(
    freqs: torch.Tensor, sample_rate: int, centre: float, gain_db: float, q: float
) -> torch.Tensor:
    """Magnitude response at ``freqs`` (Hz) of the peaking biquad of the Audio EQ Cookbook,
    the filter of ``torchaudio.functional.equalizer_biquad``.

    >>> gain = peaking_gain(torch.tensor([0.0, 1000.0]), 16000, 1000.0, 6.0, 1.0)
    >>> [round(g, 3) for g in gain.tolist()]  # 0 dB at DC, +6 dB at the centre
    [1.0, 1.995]
    """
    amp = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * centre / sample_rate
    alpha = math.sin(w0) / (2 * q)
    b = (1 + alpha * amp, -2 * math.cos(w0), 1 - alpha * amp)
    a = (1 + alpha / amp, -2 * math.cos(w0), 1 - alpha / amp)
    w = 2 * math.pi * freqs / sample_rate
    cos1, cos2 = torch.cos(w), torch.cos(2 * w)

    def power(c: tuple[float, float, float]) -> torch.Tensor:  # |c0 + c1 z^-1 + c2 z^-2|^2
        return (
            c[0] ** 2
            + c[1] ** 2
            + c[2] ** 2
            + 2 * (c[0] + c[2]) * c[1] * cos1
            + 2 * c[0] * c[2] * cos2
        )

    return (power(b) / power(a)).sqrt()


class RandomEQ(Effect):
    """A random equaliser: ``bands`` (an int range) peaking filters, each with a centre
    drawn log-uniformly from ``centre_hz``, a gain from ``gain_db`` and a Q from ``q``,
    plus a spectral tilt of ``tilt_db_per_octave`` around 1 kHz (flat below 100 Hz).
    Zero phase; the output keeps the input's RMS.
    """

    def __init__(
        self,
        prob: float = 0.5,
        bands: Sequence[int] = (1, 3),
        centre_hz: Sequence[float] = (150.0, 6000.0),
        gain_db: Sequence[float] = (-8.0, 8.0),
        q: Sequence[float] = (0.7, 2.0),
        tilt_db_per_octave: Sequence[float] = (-3.0, 3.0),
    ) -> None:
        super().__init__(prob)
        low, high = value_range("RandomEQ.bands", bands, low=0)
        self.bands = (int(low), int(high))
        self.centre_hz = value_range("RandomEQ.centre_hz", centre_hz, low=1e-3)
        self.gain_db = value_range("RandomEQ.gain_db", gain_db)
        self.q = value_range("RandomEQ.q", q, low=1e-3)
        self.tilt_db_per_octave = value_range("RandomEQ.tilt_db_per_octave", tilt_db_per_octave)

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        nyquist = sample_rate / 2
        peaks = [
            (
                min(_log_uniform(rng, *self.centre_hz), 0.95 * nyquist),
                rng.uniform(*self.gain_db),
                _log_uniform(rng, *self.q),
            )
            for _ in range(rng.randint(*self.bands))
        ]
        tilt = rng.uniform(*self.tilt_db_per_octave)

        def gain(freqs: torch.Tensor) -> torch.Tensor:
            octaves = torch.log2(freqs.clamp(min=100.0) / 1000.0)
            response = 10 ** (tilt * octaves / 20)
            for centre, gain_db, q in peaks:
                response = response * peaking_gain(freqs, sample_rate, centre, gain_db, q)
            return response

        return keep_level(zero_phase_filter(waveform, sample_rate, gain), waveform)


class BandLimit(Effect):
    """Telephone-like band limiting: a low-pass with its cut-off drawn log-uniformly from
    ``lowpass_hz`` and a high-pass from ``highpass_hz`` (either None: not applied),
    Butterworth magnitude of ``order``, zero phase. Cut-offs at or above the Nyquist
    frequency leave the top alone. The output keeps the input's RMS.
    """

    def __init__(
        self,
        prob: float = 0.5,
        lowpass_hz: Sequence[float] | None = (3000.0, 8000.0),
        highpass_hz: Sequence[float] | None = (50.0, 400.0),
        order: int = 6,
    ) -> None:
        super().__init__(prob)
        self.lowpass_hz = (
            None if lowpass_hz is None else value_range("BandLimit.lowpass_hz", lowpass_hz, 1.0)
        )
        self.highpass_hz = (
            None if highpass_hz is None else value_range("BandLimit.highpass_hz", highpass_hz, 1.0)
        )
        if order < 1:
            raise ValueError(f"BandLimit.order must be at least 1, got {order}")
        self.order = order

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        low = _log_uniform(rng, *self.lowpass_hz) if self.lowpass_hz else math.inf
        high = _log_uniform(rng, *self.highpass_hz) if self.highpass_hz else 0.0
        if low >= sample_rate / 2:
            low = math.inf
            if high <= 0:
                return waveform

        def gain(freqs: torch.Tensor) -> torch.Tensor:
            power = 1 / (1 + (freqs / low) ** (2 * self.order))
            if high > 0:
                power = power / (1 + (high / freqs.clamp(min=1e-3)) ** (2 * self.order))
            return power.sqrt()

        return keep_level(zero_phase_filter(waveform, sample_rate, gain), waveform)


def _peak(waveform: torch.Tensor) -> torch.Tensor:
    return waveform.abs().max().clamp(min=1e-10)


class MuLaw(Effect):
    """mu-law companding (as in 8-bit telephony) at a number of ``levels`` drawn from an
    int range; the waveform is scaled to its peak first, so the output takes at
    most that many distinct values and keeps the peak."""

    def __init__(self, prob: float = 0.5, levels: Sequence[int] = (16, 256)) -> None:
        super().__init__(prob)
        low, high = value_range("MuLaw.levels", levels, low=2)
        self.levels = (int(low), int(high))

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        levels = rng.randint(*self.levels)
        peak = _peak(waveform)
        codes = torchaudio.functional.mu_law_encoding(waveform / peak, levels)
        return (torchaudio.functional.mu_law_decoding(codes, levels) * peak).to(torch.float32)


class SoftClip(Effect):
    """Saturation: ``tanh`` with a drive of ``drive_db`` (drawn uniformly) above the
    waveform's peak, scaled so that the peak is kept."""

    def __init__(self, prob: float = 0.5, drive_db: Sequence[float] = (0.0, 20.0)) -> None:
        super().__init__(prob)
        self.drive_db = value_range("SoftClip.drive_db", drive_db, low=0.0)

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        drive = 10 ** (rng.uniform(*self.drive_db) / 20)
        peak = _peak(waveform)
        return (torch.tanh(waveform / peak * drive) / math.tanh(drive) * peak).to(torch.float32)


class Quantise(Effect):
    """Coarse uniform quantisation to ``bits`` (drawn from an int range) over the
    waveform's peak: at most ``2**bits - 1`` distinct values, peak kept."""

    def __init__(self, prob: float = 0.5, bits: Sequence[int] = (4, 10)) -> None:
        super().__init__(prob)
        low, high = value_range("Quantise.bits", bits, low=2)
        self.bits = (int(low), int(high))

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        steps = 2 ** (rng.randint(*self.bits) - 1) - 1
        peak = _peak(waveform)
        return (torch.round(waveform / peak * steps) / steps * peak).to(torch.float32)

"""seqrec.data.channel: every effect keeps length, dtype and a bounded level, is reproducible
from its seed, and does what it says (pitch, formants, EQ, band limits, codec distortion)."""

import copy
import math
import random

import pytest
import torch
import torchaudio

from seqrec.data.channel import (
    PEAK_BOUND,
    BandLimit,
    FormantShift,
    MuLaw,
    PitchShift,
    Quantise,
    RandomEQ,
    SoftClip,
    value_range,
)

RATE = 16000
FORMANTS = ((700.0, 80.0), (1200.0, 100.0), (2500.0, 150.0))  # an /a/-like vowel


def vowel(f0: int = 125, seconds: float = 1.0) -> torch.Tensor:
    """A pulse train at ``f0`` through three resonators (:data:`FORMANTS`), peak 0.5."""
    wave = torch.zeros(round(seconds * RATE))
    wave[:: RATE // f0] = 1.0
    for centre, bandwidth in FORMANTS:
        radius = math.exp(-math.pi * bandwidth / RATE)
        angle = 2 * math.pi * centre / RATE
        a = torch.tensor([1.0, -2 * radius * math.cos(angle), radius**2])
        wave = torchaudio.functional.lfilter(wave, a, torch.tensor([1.0, 0.0, 0.0]), clamp=False)
    return 0.5 * wave / wave.abs().max()


def speech_like() -> torch.Tensor:
    """A vowel that fades in and out, with a little noise: a stand-in for a word."""
    envelope = torch.hann_window(RATE, periodic=False)
    return vowel() * envelope + 0.003 * torch.randn(
        RATE, generator=torch.Generator().manual_seed(0)
    )


def white(seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(round(seconds * RATE), generator=torch.Generator().manual_seed(seed))


def power_spectrum(wave: torch.Tensor) -> torch.Tensor:
    """Power per 1 Hz bin of a 1 s waveform."""
    return torch.fft.rfft(wave).abs().pow(2)


def band_db(ratio: torch.Tensor, lo: int, hi: int) -> float:
    return 10 * math.log10(ratio[lo:hi].mean().item())


def peak_hz(wave: torch.Tensor) -> float:
    return power_spectrum(wave).argmax().item() * RATE / wave.numel()


EFFECTS = [
    PitchShift(prob=1.0),
    FormantShift(prob=1.0),
    RandomEQ(prob=1.0),
    BandLimit(prob=1.0),
    MuLaw(prob=1.0),
    SoftClip(prob=1.0),
    Quantise(prob=1.0),
]


@pytest.mark.parametrize("effect", EFFECTS, ids=lambda e: type(e).__name__)
def test_effect_contract(effect):
    wave = speech_like()
    before = wave.clone()
    out = effect(wave, RATE, random.Random(0))
    assert out.shape == wave.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert out.abs().max() <= PEAK_BOUND * wave.abs().max() + 1e-6
    assert torch.equal(wave, before)  # the input is not modified
    assert not torch.allclose(out, wave, atol=1e-4)
    assert torch.equal(out, effect(wave, RATE, random.Random(0)))  # bit for bit
    assert not torch.equal(out, effect(wave, RATE, random.Random(1)))
    odd = effect(speech_like()[:12345], RATE, random.Random(0))  # lengths that are no power of 2
    assert odd.shape == (12345,) and torch.isfinite(odd).all()
    copied = copy.deepcopy(effect)  # as a spawned data worker gets it, by the pickle protocol
    assert torch.equal(copied(wave, RATE, random.Random(0)), out)


@pytest.mark.parametrize("effect", EFFECTS, ids=lambda e: type(e).__name__)
def test_effect_keeps_silence_and_short_clips_finite(effect):
    for wave in (torch.zeros(RATE), white(0.01)):
        out = effect(wave, RATE, random.Random(0))
        assert out.shape == wave.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("semitones", [-3.0, 2.5])
def test_pitch_shift_moves_a_sine_by_the_ratio_and_keeps_its_timing(semitones):
    t = torch.arange(RATE) / RATE
    burst = ((t > 0.25) & (t < 0.75)).float()
    sine = 0.5 * torch.sin(2 * math.pi * 440 * t)
    out = PitchShift(semitones=(semitones, semitones))(sine, RATE, random.Random(0))
    assert peak_hz(out) / 440 == pytest.approx(2 ** (semitones / 12), rel=0.01)
    assert out[4000:12000].abs().max() == pytest.approx(0.5, rel=0.05)  # level kept inside
    shifted = PitchShift(semitones=(semitones, semitones))(sine * burst, RATE, random.Random(0))
    outside = torch.cat([shifted[:3200], shifted[12800:]]).pow(2).sum()
    assert outside < 0.01 * shifted.pow(2).sum()  # the burst stays where it was


def harmonic_peaks(wave: torch.Tensor, f0: int = 125) -> list[float]:
    """Frequencies of the local maxima of the harmonic amplitudes: the formants."""
    spectrum = power_spectrum(wave)
    amps = [spectrum[k * f0 - 2 : k * f0 + 3].max().item() for k in range(1, 40)]
    return [(k + 1) * f0 for k in range(1, len(amps) - 1) if amps[k - 1] < amps[k] > amps[k + 1]]


@pytest.mark.parametrize("factor", [0.8, 1.2])
def test_formant_shift_moves_the_formants_and_keeps_the_pitch(factor):
    wave = vowel()
    out = FormantShift(factor=(factor, factor))(wave, RATE, random.Random(0))
    spectrum = power_spectrum(out)
    on_harmonics = sum(spectrum[k * 125 - 3 : k * 125 + 4].sum() for k in range(1, 64))
    assert on_harmonics / spectrum.sum() > 0.95  # still a 125 Hz voice
    peaks = harmonic_peaks(out)
    for centre, _ in FORMANTS:
        nearest = min(peaks, key=lambda f: abs(f - factor * centre))
        assert abs(nearest - factor * centre) <= 125, (centre, peaks)
    assert harmonic_peaks(wave)[0] < 800 and abs(peaks[0] - 750) >= 125


def test_random_eq_boosts_its_band_and_tilts_the_spectrum():
    noise = white()
    one_band = RandomEQ(
        bands=(1, 1), centre_hz=(1000, 1000), gain_db=(12, 12), q=(1, 1), tilt_db_per_octave=(0, 0)
    )
    ratio = power_spectrum(one_band(noise, RATE, random.Random(0))) / power_spectrum(noise)
    assert band_db(ratio, 980, 1020) - band_db(ratio, 5000, 7000) == pytest.approx(12, abs=1)
    tilt = RandomEQ(bands=(0, 0), tilt_db_per_octave=(3, 3))
    ratio = power_spectrum(tilt(noise, RATE, random.Random(0))) / power_spectrum(noise)
    assert band_db(ratio, 3900, 4100) - band_db(ratio, 950, 1050) == pytest.approx(6, abs=0.5)
    out = RandomEQ()(noise, RATE, random.Random(0))
    assert out.pow(2).mean().item() == pytest.approx(noise.pow(2).mean().item(), rel=1e-4)


def test_band_limit_removes_energy_outside_the_band():
    noise = white()
    assert power_spectrum(noise)[6000:].sum() / power_spectrum(noise).sum() > 0.2
    band = BandLimit(lowpass_hz=(4000, 4000), highpass_hz=(200, 200))
    spectrum = power_spectrum(band(noise, RATE, random.Random(0)))
    assert spectrum[6000:].sum() / spectrum.sum() < 0.01
    assert spectrum[:100].sum() / spectrum.sum() < 0.001
    low_only = BandLimit(lowpass_hz=(3000, 3000), highpass_hz=None)
    spectrum = power_spectrum(low_only(noise, RATE, random.Random(0)))
    assert spectrum[4500:].sum() / spectrum.sum() < 0.01 and spectrum[:200].sum() > 0
    unchanged = BandLimit(lowpass_hz=(8000, 8000), highpass_hz=None)
    assert unchanged(noise, RATE, random.Random(0)) is noise  # nothing to cut


def test_mu_law_and_quantise_leave_at_most_their_levels():
    wave = speech_like()
    for seed in range(5):
        assert MuLaw(levels=(16, 16))(wave, RATE, random.Random(seed)).unique().numel() <= 16
        assert Quantise(bits=(4, 4))(wave, RATE, random.Random(seed)).unique().numel() <= 15
    levels = MuLaw(levels=(16, 64))(wave, RATE, random.Random(3)).unique().numel()
    assert 8 <= levels <= 64
    out = MuLaw()(wave, RATE, random.Random(0))
    assert out.abs().max() == pytest.approx(wave.abs().max().item(), rel=1e-3)


def test_soft_clip_keeps_the_peak_and_adds_odd_harmonics():
    t = torch.arange(RATE) / RATE
    sine = 0.5 * torch.sin(2 * math.pi * 200 * t)
    out = SoftClip(drive_db=(12, 12))(sine, RATE, random.Random(0))
    assert out.abs().max() == pytest.approx(0.5, rel=1e-4)
    third = power_spectrum(out)[600] / power_spectrum(out)[200]
    assert third > 0.01 and power_spectrum(sine)[600] / power_spectrum(sine)[200] < 1e-6
    assert out.pow(2).mean() > sine.pow(2).mean() * 1.3  # squarer: more power at the same peak


def test_bad_settings_are_refused_with_the_setting_named():
    with pytest.raises(ValueError, match=r"PitchShift.semitones"):
        PitchShift(semitones=(3, -3))
    with pytest.raises(ValueError, match="prob"):
        RandomEQ(prob=1.5)
    with pytest.raises(ValueError, match=r"MuLaw.levels"):
        MuLaw(levels=(1, 8))
    with pytest.raises(ValueError, match=r"BandLimit.order"):
        BandLimit(order=0)
    with pytest.raises(ValueError, match=r"FormantShift.factor"):
        FormantShift(factor=(0.2, 1.0))
    assert value_range("x", [1, 2]) == (1.0, 2.0)

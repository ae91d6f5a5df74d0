"""seqrec.data.augment: waveform noise at the requested SNR and from the requested part of each
noise file, speed perturbation and shift."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from seqrec.data.augment import WaveformAugment
from tests.conftest import write_wav


def test_augment_noise_hits_the_requested_snr(tmp_path):
    torch.manual_seed(0)
    clean = torch.sin(torch.linspace(0, 2000, 16000))
    augment = WaveformAugment(
        16000, speeds=[], shift_seconds=0.0, noise_prob=1.0, snr_db=(10.0, 10.0)
    )
    noisy = augment(clean.clone())
    noise = noisy - clean
    snr = 10 * torch.log10(clean.pow(2).mean() / noise.pow(2).mean())
    assert snr.item() == pytest.approx(10.0, abs=0.01)


def test_augment_speed_and_shift(tmp_path):
    write_wav(tmp_path / "noise" / "n.wav", seconds=2.0)
    augment = WaveformAugment(
        16000, speeds=[1.1], speed_prob=1.0, shift_seconds=0.0, noise_prob=0.0
    )
    assert augment(torch.randn(16000)).shape == (math.ceil(16000 / 1.1),)
    shifter = WaveformAugment(16000, speeds=[], shift_seconds=0.01, noise_prob=0.0)
    out = shifter(torch.ones(1000))
    assert out.shape == (1000,) and (out == 0).sum() <= 160
    with_files = WaveformAugment(
        16000,
        speeds=[],
        shift_seconds=0.0,
        noise_prob=1.0,
        noise_dir=str(tmp_path / "noise"),
        white_noise_fraction=0.0,
    )
    assert torch.isfinite(with_files(torch.ones(4000))).all()
    assert len(with_files._noises) == 1


def peak_hz(wave: torch.Tensor, rate: int = 16000) -> float:
    spectrum = torch.fft.rfft(wave).abs()
    return spectrum.argmax().item() * rate / wave.numel()


def write_noise_by_part(path, rate: int = 16000, seconds: float = 10.0) -> None:
    """A noise file whose first 80 % is a 200 Hz tone, the next 10 % 1 kHz and the last
    10 % 3 kHz: the part a segment comes from is its spectral peak."""
    t = np.arange(round(seconds * rate)) / rate
    tone = np.where(t < 0.8 * seconds, 200.0, np.where(t < 0.9 * seconds, 1000.0, 3000.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.5 * np.sin(2 * math.pi * tone * t)).astype(np.float32), rate)


def test_augment_draws_noise_from_its_span_of_each_file(tmp_path):
    write_noise_by_part(tmp_path / "noise" / "parts.wav")
    clean = torch.zeros(8000)
    clean[::2] = 1.0  # all its energy at 8 kHz, away from the noise tones

    def noise_peaks(span) -> set[float]:
        augment = WaveformAugment(
            16000,
            speeds=[],
            shift_seconds=0.0,
            noise_prob=1.0,
            snr_db=(0.0, 0.0),
            noise_dir=str(tmp_path / "noise"),
            white_noise_fraction=0.0,
            noise_span=span,
        )
        return {round(peak_hz(augment(clean.clone(), seed=s) - clean)) for s in range(60)}

    assert noise_peaks((0.0, 0.8)) == {200}  # the training part only
    assert noise_peaks((0.0, 1.0)) == {200, 1000, 3000}  # the whole file
    with pytest.raises(ValueError, match="noise_span"):
        WaveformAugment(16000, noise_span=(0.5, 0.2))

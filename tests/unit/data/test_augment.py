"""seqrec.data.augment: waveform noise at the requested SNR, speed perturbation and shift."""

import math

import pytest
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

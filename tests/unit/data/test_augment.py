"""seqrec.data.augment: waveform noise at the requested SNR and from the requested part of each
noise file, speed perturbation and shift, and the list of effects (seqrec.data.channel, .room)."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from seqrec.data.augment import WaveformAugment
from seqrec.data.channel import MuLaw, PitchShift
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


def test_augment_without_effects_gives_what_it_always_gave():
    """Pinned outputs of the augmentation from before effects existed (speed, shift, noise)."""
    wave = torch.sin(torch.arange(16000) * 0.05) * 0.5
    augment = WaveformAugment(
        16000, speeds=[0.9, 1.1], speed_prob=1.0, shift_seconds=0.05, noise_prob=1.0
    )
    for seed, length, total, samples in [
        (
            0,
            14546,
            5.315660022646625,
            [0.4195723235607147, 0.10500435531139374, 0.4673967957496643],
        ),
        (
            7,
            17778,
            -28.25004059643834,
            [0.2618069648742676, -0.16430437564849854, 0.2664181590080261],
        ),
    ]:
        out = augment(wave.clone(), seed=seed)
        assert out.shape == (length,)
        assert out.double().sum().item() == pytest.approx(total, abs=1e-6)
        assert out[[100, 5000, 12345]].tolist() == pytest.approx(samples, abs=1e-7)


def augment_with(effects) -> WaveformAugment:
    return WaveformAugment(
        16000, speeds=[0.9, 1.1], shift_seconds=0.05, noise_prob=0.5, effects=effects
    )


class _Identity:
    prob = 1.0

    def __call__(self, waveform, sample_rate, rng):
        rng.random()  # draws like a real effect
        return waveform.clone()


def test_effects_leave_the_speed_shift_and_noise_draws_as_they_were():
    wave = torch.sin(torch.arange(16000) * 0.05) * 0.5
    plain = augment_with([])
    idle = augment_with([PitchShift(prob=0.0), MuLaw(prob=0.0)])
    identity = augment_with([_Identity(), MuLaw(prob=0.0)])
    for seed in range(10):
        expected = plain(wave.clone(), seed=seed)
        assert torch.equal(idle(wave.clone(), seed=seed), expected)
        assert torch.equal(identity(wave.clone(), seed=seed), expected)


def test_effects_fire_with_their_probability_and_are_reproducible():
    wave = torch.sin(torch.arange(16000) * 0.05) * 0.5
    plain = WaveformAugment(16000, speeds=[], shift_seconds=0.0, noise_prob=0.0)
    half = WaveformAugment(
        16000, speeds=[], shift_seconds=0.0, noise_prob=0.0, effects=[MuLaw(prob=0.5)]
    )
    changed = [not torch.equal(half(wave, seed=s), plain(wave, seed=s)) for s in range(100)]
    assert 30 <= sum(changed) <= 70
    both = augment_with([PitchShift(prob=1.0), MuLaw(prob=1.0, levels=(16, 16))])
    out = both(wave.clone(), speed=1.0, seed=3)
    assert out.shape == wave.shape and torch.isfinite(out).all()
    assert torch.equal(out, both(wave.clone(), speed=1.0, seed=3))
    assert not torch.equal(out, both(wave.clone(), speed=1.0, seed=4))
    assert both(wave.clone(), speed=1.1, seed=3).shape == (math.ceil(16000 / 1.1),)


class _Truncate:
    prob = 1.0

    def __call__(self, waveform, sample_rate, rng):
        return waveform[:-1]


def test_effects_must_keep_the_length_and_have_a_prob():
    with pytest.raises(RuntimeError, match="must keep the length"):
        augment_with([_Truncate()])(torch.ones(1000), seed=0)
    with pytest.raises(TypeError, match=r"effects\[1\]"):
        augment_with([MuLaw(), "mu-law"])


EFFECTS_YAML = """
reader: {sample_rate: 16000}
prepare: {root: ROOT}
dataset:
  augment:
    _target_: seqrec.data.augment.WaveformAugment
    sample_rate: ${...reader.sample_rate}
    speeds: [0.9, 1.0, 1.1]
    noise_prob: 0.8
    snr_db: [5.0, 30.0]
    effects:
      - {_target_: seqrec.data.channel.PitchShift, prob: 0.5, semitones: [-3.0, 3.0]}
      - {_target_: seqrec.data.channel.FormantShift, prob: 0.5, factor: [0.85, 1.15]}
      - {_target_: seqrec.data.channel.RandomEQ, prob: 0.5, gain_db: [-8.0, 8.0]}
      - {_target_: seqrec.data.channel.BandLimit, prob: 0.3, lowpass_hz: [3000.0, 8000.0]}
      - {_target_: seqrec.data.channel.MuLaw, prob: 0.2, levels: [16, 256]}
      - {_target_: seqrec.data.channel.SoftClip, prob: 0.2}
      - {_target_: seqrec.data.channel.Quantise, prob: 0.1, bits: [6, 10]}
      - {_target_: seqrec.data.room.Babble, prob: 1.0, folder: "${.....prepare.root}/train"}
"""


def test_effects_instantiate_from_yaml(tmp_path):
    write_wav(tmp_path / "train" / "yes" / "a.wav", seed=1)
    write_wav(tmp_path / "train" / "no" / "b.wav", seed=2)
    cfg = OmegaConf.create(EFFECTS_YAML.replace("ROOT", str(tmp_path)))
    augment = instantiate(cfg.dataset.augment, _convert_="all")
    names = [type(e).__name__ for e in augment.effects]
    assert names == [
        "PitchShift",
        "FormantShift",
        "RandomEQ",
        "BandLimit",
        "MuLaw",
        "SoftClip",
        "Quantise",
        "Babble",
    ]
    assert augment.effects[0].semitones == (-3.0, 3.0) and augment.effects[3].highpass_hz
    assert augment.effects[-1].folder == tmp_path / "train"
    wave = torch.sin(torch.arange(16000) * 0.05) * 0.5
    for seed in range(5):
        out = augment(wave.clone(), speed=1.0, seed=seed)
        assert out.shape == (16000,) and torch.isfinite(out).all()
    assert len(augment.effects[-1].recordings(16000)) == 2

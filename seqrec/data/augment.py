"""Waveform augmentation for training, applied per utterance in the data workers:
speed perturbation, a list of voice, channel and room effects (:mod:`seqrec.data.channel`,
:mod:`seqrec.data.room`), time shift, and additive noise at a random SNR.

Speed perturbation changes an utterance's length, so the training sampler draws the
speed factors of an epoch itself (:meth:`WaveformAugment.draw_speeds`) and batches
on the lengths they give; the dataset then applies the factor it was handed. A
batch's padded seconds therefore keep to ``max_batch_seconds`` after augmentation.
"""

import math
import random
from collections.abc import Sequence
from pathlib import Path

import torch
import torchaudio

from seqrec.data.audio import load_audio
from seqrec.data.channel import Effect


class WaveformAugment:
    """Randomly perturb a mono waveform (S,).

    Args:
        sample_rate: rate of the waveforms.
        speeds: speed factors to draw from (1.0 = unchanged); speed changes length.
        speed_prob: probability of speed perturbation.
        shift_seconds: maximum time shift either way; the vacated part is zero.
        noise_prob: probability of adding noise.
        snr_db: range of signal-to-noise ratios (dB) to draw from.
        noise_dir: folder of background-noise recordings (``*.wav``, searched
            recursively), read on first use; when absent or empty only white
            noise is used.
        white_noise_fraction: share of noise draws that use white noise even when
            noise files exist.
        noise_span: the part of each recording that noise is drawn from, as shares
            of its length: Speech Commands trains on the first 80 % and cuts its
            validation and test silence from the rest
            (:data:`~seqrec.data.speech_commands.NOISE_SHARES`).
        effects: applied in this order after speed perturbation, before the shift and
            the noise, each with its own probability ``prob``
            (:class:`~seqrec.data.channel.Effect`); each keeps the length. Their
            randomness is drawn after that of the shift and the noise, one child
            generator per effect, so adding effects (or one with ``prob`` 0) leaves
            the shift, the noise and the other effects' draws for a seed as they were.
    """

    def __init__(
        self,
        sample_rate: int,
        speeds: Sequence[float] = (0.9, 1.0, 1.1),
        speed_prob: float = 0.5,
        shift_seconds: float = 0.1,
        noise_prob: float = 0.8,
        snr_db: Sequence[float] = (5.0, 30.0),
        noise_dir: str | None = None,
        white_noise_fraction: float = 0.3,
        noise_span: Sequence[float] = (0.0, 1.0),
        effects: Sequence[Effect] = (),
    ) -> None:
        if not 0 <= noise_span[0] < noise_span[1] <= 1:
            raise ValueError(f"noise_span must be two shares 0 <= a < b <= 1, got {noise_span}")
        for i, effect in enumerate(effects):
            if not (callable(effect) and isinstance(getattr(effect, "prob", None), int | float)):
                raise TypeError(
                    f"effects[{i}] must be an effect with a `prob` (seqrec.data.channel.Effect), "
                    f"got {effect!r}"
                )
        self.sample_rate = sample_rate
        self.speeds = list(speeds)
        self.speed_prob = speed_prob
        self.shift = round(shift_seconds * sample_rate)
        self.noise_prob = noise_prob
        self.snr_db = tuple(snr_db)
        self.noise_dir = Path(noise_dir) if noise_dir else None
        self.white_noise_fraction = white_noise_fraction
        self.noise_span = tuple(noise_span)
        self.effects = list(effects)
        # loaded lazily, once per worker: the folder may be generated after construction
        self._noises: list[torch.Tensor] | None = None
        self._resamplers: dict[float, torchaudio.transforms.Resample] = {}

    def _speed(self, waveform: torch.Tensor, factor: float) -> torch.Tensor:
        if factor not in self._resamplers:
            self._resamplers[factor] = torchaudio.transforms.Resample(
                round(self.sample_rate * factor), self.sample_rate
            )
        return self._resamplers[factor](waveform)

    def _noise(self, length: int, rng: random.Random, generator: torch.Generator) -> torch.Tensor:
        if self._noises is None:
            files = (
                sorted(self.noise_dir.rglob("*.wav"))
                if self.noise_dir and self.noise_dir.is_dir()
                else []
            )
            self._noises = [self._span(load_audio(path, self.sample_rate)) for path in files]
        if not self._noises or rng.random() < self.white_noise_fraction:
            return torch.randn(length, generator=generator)
        noise = rng.choice(self._noises)
        if noise.numel() < length:
            noise = noise.repeat(length // noise.numel() + 1)
        start = rng.randint(0, noise.numel() - length)
        return noise[start : start + length]

    def _span(self, noise: torch.Tensor) -> torch.Tensor:
        lo, hi = (round(share * noise.numel()) for share in self.noise_span)
        return noise[lo:hi]

    def draw_speeds(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Speed factors of ``n`` utterances (1.0 for those left unperturbed), drawn
        from ``generator``: one epoch's plan for the sampler.

        >>> augment = WaveformAugment(16000, speeds=[0.9, 1.1], speed_prob=1.0)
        >>> sorted(set(augment.draw_speeds(100, torch.Generator().manual_seed(0)).tolist()))
        [0.9, 1.1]
        """
        factors = torch.ones(n, dtype=torch.float64)
        if not self.speeds or self.speed_prob <= 0:
            return factors
        perturbed = torch.rand(n, generator=generator, dtype=torch.float64) < self.speed_prob
        choice = torch.randint(len(self.speeds), (n,), generator=generator)
        drawn = torch.tensor(self.speeds, dtype=torch.float64)[choice]
        return torch.where(perturbed, drawn, factors)

    def speed_length(self, samples: int, factor: float) -> int:
        """Samples of a waveform of ``samples`` after speed perturbation by ``factor``.

        >>> WaveformAugment(16000).speed_length(16000, 0.9)
        17778
        """
        if factor == 1.0:
            return samples
        return math.ceil(samples * self.sample_rate / round(self.sample_rate * factor))

    def __call__(
        self, waveform: torch.Tensor, speed: float | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """Augment ``waveform``. ``speed`` is the factor the sampler drew for it (None:
        draw one here, with probability ``speed_prob``); ``seed`` fixes the time shift,
        the noise and the effects (None: draw them from the process's random state)."""
        rng = random.Random(seed) if seed is not None else random.Random(random.getrandbits(64))
        generator = torch.Generator().manual_seed(rng.getrandbits(63))
        if speed is None and self.speeds and rng.random() < self.speed_prob:
            speed = rng.choice(self.speeds)
        if speed is not None and speed != 1.0:
            waveform = self._speed(waveform, float(speed))
        # shift and noise are drawn before the effects, in the order they always were
        shift = rng.randint(-self.shift, self.shift) if self.shift > 0 else 0
        noise, snr = None, 0.0
        if rng.random() < self.noise_prob:
            noise = self._noise(waveform.numel(), rng, generator)
            snr = rng.uniform(*self.snr_db)
        waveform = self._apply_effects(waveform, rng)
        if shift != 0:
            waveform = torch.roll(waveform, shift)
            if shift > 0:
                waveform[:shift] = 0
            else:
                waveform[shift:] = 0
        if noise is not None:
            signal_power = waveform.pow(2).mean().clamp(min=1e-10)
            noise_power = noise.pow(2).mean().clamp(min=1e-10)
            waveform = waveform + noise * torch.sqrt(
                signal_power / (noise_power * 10 ** (snr / 10))
            )
        return waveform

    def _apply_effects(self, waveform: torch.Tensor, rng: random.Random) -> torch.Tensor:
        # one child generator per effect, drawn whether or not it fires, so that the
        # draws of one effect do not depend on the others
        children = [random.Random(rng.getrandbits(64)) for _ in self.effects]
        for effect, child in zip(self.effects, children, strict=True):
            if child.random() >= effect.prob:
                continue
            out = effect(waveform, self.sample_rate, child)
            if out.shape != waveform.shape:
                raise RuntimeError(
                    f"{effect!r} returned shape {tuple(out.shape)} for a waveform of shape "
                    f"{tuple(waveform.shape)}: effects must keep the length"
                )
            waveform = out
        return waveform

"""Audio frontend: waveforms (B, S) -> features (B, T, F), computed on the padded batch.

Every transform here is batch-invariant: frames are taken with ``center=False`` so a
frame never reads padding, normalisation statistics use only real frames, and
dither in eval mode is a fixed pattern aligned to the start of each utterance.
"""

import math

import torch
import torchaudio
from torch import nn

from seqrec.modules.masking import lengths_to_mask, zero_padding


class LogMelSpectrogram(nn.Module):
    """Log-mel filterbank energies.

    >>> fbank = LogMelSpectrogram(sample_rate=16000, n_mels=40)
    >>> feats, lengths = fbank(torch.randn(2, 16000), torch.tensor([16000, 8000]))
    >>> tuple(feats.shape), lengths.tolist()
    ((2, 97, 40), [97, 47])
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 40,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min: float = 20.0,
        f_max: float | None = None,
        log_floor: float = 1e-6,
    ) -> None:
        super().__init__()
        self.win_length = round(sample_rate * win_ms / 1000)
        self.hop_length = round(sample_rate * hop_ms / 1000)
        self.n_fft = 2 ** math.ceil(math.log2(self.win_length))
        self.out_dim = n_mels
        self.log_floor = log_floor
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=self.n_fft,
            win_length=self.win_length,
            hop_length=self.hop_length,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            center=False,
            power=2.0,
        )

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        return (
            torch.div(lengths - self.n_fft, self.hop_length, rounding_mode="floor").clamp(min=0) + 1
        )

    def forward(
        self, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if audio.shape[1] < self.n_fft:  # too short for one frame: pad with silence
            audio = nn.functional.pad(audio, (0, self.n_fft - audio.shape[1]))
        with torch.autocast(audio.device.type, enabled=False):
            power = self.mel(audio.float())  # (B, F, T)
        feats = torch.log(power + self.log_floor).transpose(1, 2)  # (B, T, F)
        return feats, self.num_frames(lengths)


class MFCC(LogMelSpectrogram):
    """Mel-frequency cepstral coefficients: a DCT of :class:`LogMelSpectrogram`.

    >>> mfcc = MFCC(n_mfcc=13, n_mels=40)
    >>> tuple(mfcc(torch.randn(1, 16000), torch.tensor([16000]))[0].shape)
    (1, 97, 13)
    """

    def __init__(
        self, sample_rate: int = 16000, n_mfcc: int = 40, n_mels: int = 64, **kwargs
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_mels=n_mels, **kwargs)
        self.out_dim = n_mfcc
        self.register_buffer("dct", torchaudio.functional.create_dct(n_mfcc, n_mels, "ortho"))

    def forward(
        self, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        log_mel, lengths = super().forward(audio, lengths)
        return log_mel @ self.dct, lengths  # (B, T, n_mfcc)


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al. 2019), in training mode only.

    Time masks fall inside each utterance's real frames; each is at most
    ``floor(time_width x length)`` frames wide, so short utterances are never wiped out.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: float = 0.05,
    ) -> None:
        super().__init__()
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.training:
            return x, lengths
        batch, frames, dims = x.shape
        keep = torch.ones_like(x, dtype=torch.bool)
        freq = torch.arange(dims, device=x.device)
        time = torch.arange(frames, device=x.device)
        for _ in range(self.freq_masks):
            width = torch.randint(0, self.freq_width + 1, (batch, 1), device=x.device)
            start = (torch.rand(batch, 1, device=x.device) * (dims - width + 1)).long()
            keep &= ~((freq >= start) & (freq < start + width)).unsqueeze(1)
        max_width = torch.floor(lengths.float() * self.time_width).unsqueeze(1)
        for _ in range(self.time_masks):
            width = (torch.rand(batch, 1, device=x.device) * (max_width + 1)).long()
            room = (lengths.unsqueeze(1) - width + 1).clamp(min=1)
            start = (torch.rand(batch, 1, device=x.device) * room).long()
            keep &= ~((time >= start) & (time < start + width)).unsqueeze(2)
        return x * keep, lengths


class AudioFrontend(nn.Module):
    """Dither, features, per-utterance normalisation and SpecAugment.

    ``out_dim``, when given (configs interpolate it for the next stage's input size),
    must equal the featurizer's output size.

    Dither adds ``dither`` x N(0, 1) to the waveform so that digital silence (exact
    zeros) and real silence map to the same features. Training draws fresh noise;
    evaluation adds a fixed noise pattern, so inference is deterministic and the
    same alone or in a batch.

    >>> frontend = AudioFrontend(LogMelSpectrogram(n_mels=40))
    >>> feats, lengths = frontend(torch.randn(3, 16000), torch.tensor([16000, 12000, 400]))
    >>> tuple(feats.shape), lengths.tolist()
    ((3, 97, 40), [97, 72, 1])
    """

    def __init__(
        self,
        featurizer: LogMelSpectrogram,
        normalize: bool = True,
        spec_augment: SpecAugment | None = None,
        dither: float = 1e-5,
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        _check_out_dim(self, out_dim, featurizer.out_dim)
        self.featurizer = featurizer
        self.normalize = normalize
        self.spec_augment = spec_augment
        self.dither = dither
        self.out_dim = featurizer.out_dim
        pattern = torch.randn(16384, generator=torch.Generator().manual_seed(0))
        self.register_buffer("dither_pattern", pattern, persistent=False)

    @property
    def time_stride(self) -> int:
        """Input samples per output frame."""
        return self.featurizer.hop_length

    def _add_dither(self, audio: torch.Tensor) -> torch.Tensor:
        if self.dither <= 0:
            return audio
        if self.training:
            return audio + self.dither * torch.randn_like(audio)
        repeats = math.ceil(audio.shape[1] / self.dither_pattern.numel())
        pattern = self.dither_pattern.repeat(repeats)[: audio.shape[1]]
        return audio + self.dither * pattern.to(audio.dtype)

    def forward(
        self, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) samples -> (B, T, F) features with frame counts."""
        audio = zero_padding(self._add_dither(audio), lengths)
        feats, lengths = self.featurizer(audio, lengths)  # (B, T, F)
        if self.normalize:
            feats = _normalize_per_utterance(feats, lengths)
        if self.spec_augment is not None:
            feats, lengths = self.spec_augment(feats, lengths)
        return zero_padding(feats, lengths), lengths


def _check_out_dim(module: nn.Module, declared: int | None, actual: int) -> None:
    if declared is not None and declared != actual:
        raise ValueError(
            f"{type(module).__name__}: out_dim={declared} in the config, but it produces {actual}"
        )


def _normalize_per_utterance(feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero mean and unit variance per feature over each utterance's real frames."""
    mask = lengths_to_mask(lengths, feats.shape[1]).unsqueeze(2).to(feats.dtype)  # (B, T, 1)
    count = lengths.clamp(min=1).view(-1, 1, 1).to(feats.dtype)
    mean = (feats * mask).sum(1, keepdim=True) / count
    var = (((feats - mean) * mask) ** 2).sum(1, keepdim=True) / count
    return (feats - mean) / torch.sqrt(var + 1e-5)

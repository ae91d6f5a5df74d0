"""Audio frontend: waveforms (B, S) -> features (B, T, F), computed on the padded batch.

Every transform here is batch-invariant: frames are taken with ``center=False`` so a
frame never reads padding, normalisation statistics use only real frames, PCEN's
smoother is causal, and dither in eval mode is a fixed pattern aligned to the start of
each utterance. The training-only augmentations (VTLP, SpecAugment) are random.
"""

import math
from collections.abc import Sequence

import torch
import torchaudio
from torch import nn

from seqrec.modules.masking import lengths_to_mask, zero_padding


class PowerMelSpectrogram(torchaudio.transforms.MelSpectrogram):
    """torchaudio's ``MelSpectrogram`` with ``center=False`` and power 2 (its buffers,
    so its state dict, are the same), the power spectrum taken as re^2 + im^2 rather
    than through the complex ``abs()`` and its square root, which cost more than the
    STFT itself in a profile of detection on one CPU thread."""

    def power_spectrum(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, S) -> (B, n_fft // 2 + 1, T)."""
        spectrogram = self.spectrogram
        spectrum = torch.stft(
            audio,
            spectrogram.n_fft,
            spectrogram.hop_length,
            spectrogram.win_length,
            spectrogram.window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        return torch.view_as_real(spectrum).square().sum(-1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, S) -> (B, n_mels, T)."""
        return self.mel_scale(self.power_spectrum(audio))


class LogMelSpectrogram(nn.Module):
    """Log-mel filterbank energies, optionally with VTLP in training mode.

    ``vtlp=[low, high]`` turns on vocal tract length perturbation (Jaitly & Hinton 2013):
    in training mode each utterance's frequency axis is warped by a factor ``alpha``
    drawn uniformly from [low, high] (:func:`vtlp_warp`: content at ``f`` moves to
    ``alpha * f`` up to a boundary set by ``vtlp_boundary_hz``, then linearly to the
    Nyquist frequency), so ``alpha > 1`` moves spectral peaks up. The warp is applied
    as a per-utterance mel filterbank. Evaluation never warps.

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
        vtlp: Sequence[float] | None = None,
        vtlp_boundary_hz: float = 4800.0,
    ) -> None:
        super().__init__()
        self.win_length = round(sample_rate * win_ms / 1000)
        self.hop_length = round(sample_rate * hop_ms / 1000)
        self.n_fft = 2 ** math.ceil(math.log2(self.win_length))
        self.out_dim = n_mels
        self.log_floor = log_floor
        self.mel = PowerMelSpectrogram(
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
        self.vtlp = _check_vtlp(vtlp, vtlp_boundary_hz, sample_rate)
        self.vtlp_boundary_hz = vtlp_boundary_hz
        self.nyquist_hz = sample_rate / 2
        if self.vtlp is not None:  # not persistent: the state dict stays as without VTLP
            scale = self.mel.mel_scale
            bins = torch.linspace(0, sample_rate // 2, self.n_fft // 2 + 1)  # as torchaudio
            self.register_buffer("bin_hz", bins, persistent=False)
            edges = _mel_points_hz(scale.f_min, scale.f_max, n_mels)
            self.register_buffer("mel_points_hz", edges, persistent=False)

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        return (
            torch.div(lengths - self.n_fft, self.hop_length, rounding_mode="floor").clamp(min=0) + 1
        )

    def energies(
        self, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) samples -> mel filterbank energies (B, T, F) before the log, in float32."""
        if audio.shape[1] < self.n_fft:  # too short for one frame: pad with silence
            audio = nn.functional.pad(audio, (0, self.n_fft - audio.shape[1]))
        with torch.autocast(audio.device.type, enabled=False):
            if self.training and self.vtlp is not None:
                power = self._warped_mel(audio.float())
            else:
                power = self.mel(audio.float())  # (B, F, T)
        return power.transpose(1, 2), self.num_frames(lengths)  # (B, T, F)

    def forward(
        self, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        power, lengths = self.energies(audio, lengths)
        return torch.log(power + self.log_floor), lengths  # (B, T, F)

    def _warped_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """The mel spectrogram (B, F, T) with each utterance's own VTLP factor."""
        spectrum = self.mel.power_spectrum(audio)  # (B, n_fft // 2 + 1, T)
        low, high = self.vtlp
        alpha = low + (high - low) * torch.rand(audio.shape[0], device=audio.device)
        bins = vtlp_warp(self.bin_hz, alpha, self.vtlp_boundary_hz, self.nyquist_hz)
        filterbank = _triangular_filters(bins, self.mel_points_hz)  # (B, n_fft // 2 + 1, F)
        return (spectrum.transpose(1, 2) @ filterbank).transpose(1, 2)


def vtlp_warp(
    freqs: torch.Tensor, alpha: torch.Tensor, boundary_hz: float, nyquist_hz: float
) -> torch.Tensor:
    """Where VTLP moves each frequency (Jaitly & Hinton 2013, eq. 1), (n,) and (B,) -> (B, n).

    ``f -> alpha * f`` up to ``f0 = boundary_hz * min(alpha, 1) / alpha``, then the line
    from ``(f0, alpha * f0)`` to ``(nyquist, nyquist)``, so the band edge stays put.

    >>> vtlp_warp(torch.tensor([0.0, 1000.0, 8000.0]), torch.tensor([1.1, 0.9]), 4800, 8000)
    tensor([[   0., 1100., 8000.],
            [   0.,  900., 8000.]])
    """
    alpha = alpha.unsqueeze(1)  # (B, 1)
    scaled = boundary_hz * alpha.clamp(max=1.0)  # where the boundary lands
    boundary = scaled / alpha  # (B, 1)
    slope = (nyquist_hz - scaled) / (nyquist_hz - boundary)
    above = nyquist_hz - slope * (nyquist_hz - freqs)
    return torch.where(freqs <= boundary, alpha * freqs, above)


def _triangular_filters(freqs: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Triangular mel filters with corners ``edges`` (F + 2,) evaluated at ``freqs``
    (B, n): (B, n, F). torchaudio's ``melscale_fbanks`` (htk, no norm) when ``freqs``
    are the FFT bins."""
    widths = edges[1:] - edges[:-1]  # (F + 1,)
    slopes = edges - freqs.unsqueeze(-1)  # (B, n, F + 2)
    rising = -slopes[..., :-2] / widths[:-1]
    falling = slopes[..., 2:] / widths[1:]
    return torch.minimum(rising, falling).clamp(min=0.0)


def _mel_points_hz(f_min: float, f_max: float, n_mels: int) -> torch.Tensor:
    """The corners of ``n_mels`` htk mel filters, (n_mels + 2,) in Hz, as torchaudio's."""
    low, high = (2595.0 * math.log10(1.0 + f / 700.0) for f in (f_min, f_max))
    return 700.0 * (10.0 ** (torch.linspace(low, high, n_mels + 2) / 2595.0) - 1.0)


def _check_vtlp(
    vtlp: Sequence[float] | None, boundary_hz: float, sample_rate: int
) -> tuple[float, float] | None:
    if vtlp is None:
        return None
    factors = tuple(float(v) for v in vtlp)
    if len(factors) != 2 or not 0 < factors[0] <= factors[1]:
        raise ValueError(
            f"LogMelSpectrogram: vtlp must be [low, high] with 0 < low <= high, got {vtlp}"
        )
    if not 0 < boundary_hz < sample_rate / 2:
        raise ValueError(
            f"LogMelSpectrogram: vtlp_boundary_hz={boundary_hz} must lie between 0 and the "
            f"Nyquist frequency {sample_rate / 2} Hz"
        )
    return factors


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


class PCEN(nn.Module):
    """Per-channel energy normalisation (Wang et al. 2017) of mel energies (B, T, F).

    ``y = (E / (eps + M) ** alpha + delta) ** r - delta ** r``, where ``M`` is ``E``
    smoothed over time, ``M_t = (1 - s) M_{t-1} + s E_t`` from ``M_0 = E_0``. It takes
    the place of log and CMVN (``AudioFrontend(normalize="pcen")``). ``alpha``, ``delta``
    and ``r`` are per channel (``num_channels`` of them, or 1 shared) and learnt, in log
    space, with ``trainable``; ``s``, the smoother's time constant (about 0.4 s at a 10 ms
    hop), is fixed.

    The smoother (:func:`pcen_smooth`) is exact and has no time loop, so the same code
    exports to ONNX with a dynamic T.

    >>> pcen = PCEN()
    >>> y, lengths = pcen(torch.rand(2, 50, 40), torch.tensor([50, 30]))
    >>> tuple(y.shape), lengths.tolist(), bool((y[1, 30:] == 0).all())
    ((2, 50, 40), [50, 30], True)
    """

    def __init__(
        self,
        num_channels: int = 1,
        s: float = 0.025,
        alpha: float = 0.98,
        delta: float = 2.0,
        r: float = 0.5,
        eps: float = 1e-6,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        if not 0 < s <= 1 or min(alpha, delta, r, eps) <= 0:
            raise ValueError(
                f"PCEN: needs 0 < s <= 1 and alpha, delta, r, eps > 0; got s={s}, "
                f"alpha={alpha}, delta={delta}, r={r}, eps={eps}"
            )
        self.num_channels, self.s, self.eps = num_channels, s, eps
        for name, value in (("log_alpha", alpha), ("log_delta", delta), ("log_r", r)):
            log_value = torch.full((num_channels,), math.log(value))
            if trainable:
                self.register_parameter(name, nn.Parameter(log_value))
            else:
                self.register_buffer(name, log_value)

    def forward(
        self, energies: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(energies.device.type, enabled=False):  # bf16 would blur M
            energies = energies.float()
            smooth = pcen_smooth(energies, self.s)  # (B, T, F)
            alpha, delta, r = self.log_alpha.exp(), self.log_delta.exp(), self.log_r.exp()
            y = (energies / (self.eps + smooth) ** alpha + delta) ** r - delta**r
        return zero_padding(y, lengths), lengths


def pcen_smooth(energies: torch.Tensor, s: float, block: int = 64) -> torch.Tensor:
    """PCEN's smoother ``M_t = (1 - s) M_{t-1} + s E_t`` from ``M_0 = E_0`` on energies
    (B, T, F), exactly and without a time loop, so it exports with a dynamic T.

    The frames run in nb blocks of L = ``block``: one product with the (L, L) matrix of
    ``s (1 - s) ** (i - j)`` smooths each block from a zero state, and one with the
    (nb, nb) matrix of ``(1 - s) ** (L x gap)`` carries each block's last value into the
    blocks after it. Causal, so padding after an utterance's end never reaches it; each
    weight is a power of its own, not a running product, so 3000 frames are as exact as
    3; the cost is linear in T (one (T, T) matrix made the front end 5.5x slower at 30 s).

    >>> pcen_smooth(torch.tensor([[[4.0], [0.0], [2.0]]]), 0.5, block=2).flatten().tolist()
    [4.0, 2.0, 2.0]
    """
    batch, frames, channels = energies.shape
    decay = 1.0 - s
    # M_0 = E_0 is the recursion from a zero state fed E_0 / s first
    energies = torch.cat([energies[:, :1] / s, energies[:, 1:]], dim=1)
    blocks = (frames + block - 1) // block
    padded = nn.functional.pad(energies, (0, 0, 0, blocks * block - frames))
    x = padded.reshape(batch, blocks, block, channels)
    i = torch.arange(block, device=energies.device)
    lag = (i.unsqueeze(1) - i).clamp(min=0).float()  # (L, L): i - j, 0 above the diagonal
    inside = torch.where(i.unsqueeze(1) >= i, s * torch.pow(decay, lag), 0.0)
    local = inside @ x  # (B, nb, L, F): each block smoothed from zero
    b = torch.arange(blocks, device=energies.device)
    gap = b.unsqueeze(1) - b - 1  # (nb, nb): whole blocks between block j's end and block b
    across = torch.where(gap >= 0, torch.pow(decay, block * gap.clamp(min=0).float()), 0.0)
    carried = across @ local[:, :, -1]  # (B, nb, F): M at the end of the block before
    into_block = torch.pow(decay, (i + 1).float()).unsqueeze(1)  # (L, 1)
    smooth = local + into_block * carried.unsqueeze(2)  # (B, nb, L, F)
    return smooth.reshape(batch, blocks * block, channels)[:, :frames]


NORMALIZE_CHOICES = ("cmvn", "none", "pcen")


def dither_pattern() -> torch.Tensor:
    """The fixed noise that evaluation adds as dither (:func:`add_dither`)."""
    return torch.randn(16384, generator=torch.Generator().manual_seed(0))


def add_dither(
    audio: torch.Tensor, dither: float, pattern: torch.Tensor, training: bool
) -> torch.Tensor:
    """``audio`` (B, S) plus ``dither`` x N(0, 1): fresh noise in training, the fixed
    ``pattern`` (repeated) in evaluation, so inference is deterministic and the same
    alone or in a batch."""
    if dither <= 0:
        return audio
    if training:
        return audio + dither * torch.randn_like(audio)
    repeats = math.ceil(audio.shape[1] / pattern.numel())
    return audio + dither * pattern.repeat(repeats)[: audio.shape[1]].to(audio.dtype)


class AudioFrontend(nn.Module):
    """Dither, features, normalisation and SpecAugment.

    ``normalize`` is ``"cmvn"`` (or ``True``): the log-mel features get zero mean and unit
    variance per utterance; ``"none"`` (or ``False``): left as they are; ``"pcen"``: the
    featurizer's mel energies go through :class:`PCEN` (standard parameters) instead of
    log and CMVN, or through the given :class:`PCEN` module (e.g. a trainable one).

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
    >>> pcen = AudioFrontend(LogMelSpectrogram(n_mels=40), normalize="pcen")
    >>> tuple(pcen(torch.randn(1, 16000), torch.tensor([16000]))[0].shape)
    (1, 97, 40)
    """

    def __init__(
        self,
        featurizer: LogMelSpectrogram,
        normalize: bool | str | PCEN = True,
        spec_augment: SpecAugment | None = None,
        dither: float = 1e-5,
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        _check_out_dim(self, out_dim, featurizer.out_dim)
        self.featurizer = featurizer
        self.normalize, self.pcen = _normalization(normalize, featurizer)
        self.spec_augment = spec_augment
        self.dither = dither
        self.out_dim = featurizer.out_dim
        self.register_buffer("dither_pattern", dither_pattern(), persistent=False)

    @property
    def time_stride(self) -> int:
        """Input samples per output frame."""
        return self.featurizer.hop_length

    def _add_dither(self, audio: torch.Tensor) -> torch.Tensor:
        return add_dither(audio, self.dither, self.dither_pattern, self.training)

    def forward(
        self, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) samples -> (B, T, F) features with frame counts."""
        audio = zero_padding(self._add_dither(audio), lengths)
        if self.pcen is not None:
            energies, lengths = self.featurizer.energies(audio, lengths)  # (B, T, F)
            feats, lengths = self.pcen(energies, lengths)
        else:
            feats, lengths = self.featurizer(audio, lengths)  # (B, T, F)
            if self.normalize == "cmvn":
                feats = _normalize_per_utterance(feats, lengths)
        if self.spec_augment is not None:
            feats, lengths = self.spec_augment(feats, lengths)
        return zero_padding(feats, lengths), lengths


def _normalization(
    normalize: bool | str | PCEN, featurizer: LogMelSpectrogram
) -> tuple[str, PCEN | None]:
    """``normalize`` as one of :data:`NORMALIZE_CHOICES`, with its PCEN module if any."""
    if isinstance(normalize, bool):
        return ("cmvn" if normalize else "none"), None
    if isinstance(normalize, str) and normalize in ("cmvn", "none"):
        return normalize, None
    if isinstance(normalize, str) and normalize != "pcen":
        raise ValueError(
            f"AudioFrontend: normalize={normalize!r}, expected true, false or one of "
            f"{NORMALIZE_CHOICES}"
        )
    pcen = PCEN(featurizer.out_dim) if isinstance(normalize, str) else normalize
    if not isinstance(pcen, PCEN):
        raise ValueError(f"AudioFrontend: normalize is a {type(pcen).__name__}, not a PCEN")
    if isinstance(featurizer, MFCC):  # PCEN works on mel energies; a DCT of it is not MFCC
        raise ValueError("AudioFrontend: normalize='pcen' needs LogMelSpectrogram, not MFCC")
    if pcen.num_channels not in (1, featurizer.out_dim):
        raise ValueError(
            f"AudioFrontend: PCEN has {pcen.num_channels} channels, the featurizer "
            f"{featurizer.out_dim} mel bands"
        )
    return "pcen", pcen


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

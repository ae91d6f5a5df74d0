"""Building blocks for time series: per-channel normalisation, and the convolutional
feature extractor of LSTM-FCN (Karim et al. 2018) made padding-exact, so that a
series gives the same output alone or padded in a batch."""

import torch
from torch import nn

from seqrec.modules.masking import lengths_to_mask, zero_padding


class SeriesFrontend(nn.Module):
    """(B, T, C) series -> (B, T, C) features: each channel of each series
    z-normalised over its own real steps (``normalize="series"``, the UCR/UEA
    convention, which makes the model blind to offset and scale), or passed through
    (``"none"``). Padding stays zero.

    >>> front = SeriesFrontend(channels=2)
    >>> y, n = front(torch.tensor([[[1.0, 5.0], [3.0, 5.0], [0.0, 0.0]]]), torch.tensor([2]))
    >>> y[0].round(decimals=3).abs().tolist()  # |y|: the padded step is -0.0 or 0.0
    [[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]
    >>> y[0, :, 0].sign().tolist()
    [-1.0, 1.0, 0.0]
    """

    time_stride = 1

    def __init__(
        self,
        channels: int,
        normalize: str = "series",
        eps: float = 1e-5,
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        if normalize not in ("series", "none"):
            raise ValueError(f"normalize must be 'series' or 'none', got {normalize!r}")
        _check_out_dim(self, out_dim, channels)
        self.channels = channels
        self.out_dim = channels
        self.normalize = normalize
        self.eps = eps

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() == 2:  # (B, T): one channel
            x = x.unsqueeze(-1)
        if x.shape[-1] != self.channels:
            raise ValueError(
                f"SeriesFrontend takes (B, T, {self.channels}) series, got {tuple(x.shape)}"
            )
        x = zero_padding(x, lengths)
        if self.normalize == "none":
            return x, lengths
        mask = lengths_to_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        count = lengths.clamp(min=1).to(x.dtype).view(-1, 1, 1)
        mean = x.sum(dim=1, keepdim=True) / count
        var = ((x - mean) * mask).pow(2).sum(dim=1, keepdim=True) / count
        return (x - mean) / (var + self.eps).sqrt() * mask, lengths


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch normalisation of (B, C, T) over the real steps only: in training the
    statistics leave padding out (``lengths``), so a series' neighbours' lengths do
    not change them; in evaluation the running statistics apply, as in
    :class:`torch.nn.BatchNorm1d`."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if not self.training:
            return super().forward(x)
        mask = lengths_to_mask(lengths, x.shape[2]).unsqueeze(1).to(x.dtype)  # (B, 1, T)
        count = mask.sum().clamp(min=2)
        mean = (x * mask).sum(dim=(0, 2)) / count
        var = ((x - mean.view(1, -1, 1)) * mask).pow(2).sum(dim=(0, 2)) / count
        with torch.no_grad():
            m = self.momentum if self.momentum is not None else 0.1
            self.running_mean.mul_(1 - m).add_(m * mean)
            self.running_var.mul_(1 - m).add_(m * var * count / (count - 1))
            self.num_batches_tracked.add_(1)
        y = (x - mean.view(1, -1, 1)) / (var.view(1, -1, 1) + self.eps).sqrt()
        return y * self.weight.view(1, -1, 1) + self.bias.view(1, -1, 1)


class ConvBlocks(nn.Module):
    """The fully convolutional branch of LSTM-FCN as an encoder: blocks of a 1-D
    convolution, batch normalisation over real steps and ReLU, padded steps zeroed
    after each. ``subsample`` (a power of 2) halves the frame rate in the first
    blocks by stride 2, for long series (1,460 steps in ACSF1).

    >>> enc = ConvBlocks(input_dim=3, channels=(16, 32), kernel_sizes=(7, 5), subsample=2)
    >>> y, n = enc(torch.randn(2, 30, 3), torch.tensor([30, 9]))
    >>> tuple(y.shape), n.tolist()
    ((2, 15, 32), [15, 5])
    """

    def __init__(
        self,
        input_dim: int,
        channels: tuple[int, ...] = (128, 256, 128),
        kernel_sizes: tuple[int, ...] = (7, 5, 3),
        subsample: int = 1,
        dropout: float = 0.0,
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        _check_out_dim(self, out_dim, channels[-1])
        if len(channels) != len(kernel_sizes) or not channels:
            raise ValueError("ConvBlocks needs one kernel size per block, and a block at least")
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel sizes must be odd (centred), got {tuple(kernel_sizes)}")
        if subsample < 1 or subsample & (subsample - 1):
            raise ValueError(f"subsample must be a power of 2, got {subsample}")
        strided = subsample.bit_length() - 1
        if strided > len(channels):
            raise ValueError(f"subsample {subsample} needs {strided} blocks, got {len(channels)}")
        self.factor = subsample
        self.out_dim = channels[-1]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        previous = input_dim
        for i, (width, kernel) in enumerate(zip(channels, kernel_sizes, strict=True)):
            stride = 2 if i < strided else 1
            self.convs.append(nn.Conv1d(previous, width, kernel, stride, padding=kernel // 2))
            self.norms.append(MaskedBatchNorm1d(width))
            previous = width
        self.dropout = nn.Dropout(dropout)

    @property
    def time_stride(self) -> int:
        return self.factor

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, F) -> (B, T / subsample, channels[-1])."""
        x = x.transpose(1, 2)  # (B, F, T)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = conv(x)
            if conv.stride[0] == 2:
                lengths = torch.div(lengths - 1, 2, rounding_mode="floor") + 1
            x = zero_padding(x.transpose(1, 2), lengths).transpose(1, 2)
            x = torch.relu(norm(x, lengths))
            x = zero_padding(x.transpose(1, 2), lengths).transpose(1, 2)
        return self.dropout(x.transpose(1, 2)), lengths


def _check_out_dim(module: nn.Module, declared: int | None, actual: int) -> None:
    if declared is not None and declared != actual:
        raise ValueError(
            f"{type(module).__name__}: out_dim is {declared} in the config but the module "
            f"gives {actual}"
        )

"""Convolutional subsampling in time, with exact length arithmetic."""

import torch
from torch import nn

from seqrec.modules.masking import zero_padding


class ConvSubsampling(nn.Module):
    """Stride-2 1-D convolutions that reduce the frame rate by ``factor`` (a power of 2).

    Each layer maps ``T -> floor((T - 1) / 2) + 1``. Padded frames are zeroed after
    every layer, so a frame next to the padding sees the same zeros it would see at
    the end of an unpadded utterance.

    >>> sub = ConvSubsampling(input_dim=40, out_dim=64, factor=4)
    >>> y, lengths = sub(torch.randn(2, 98, 40), torch.tensor([98, 5]))
    >>> tuple(y.shape), lengths.tolist()
    ((2, 25, 64), [25, 2])
    """

    def __init__(self, input_dim: int, out_dim: int, factor: int = 4, kernel_size: int = 5) -> None:
        super().__init__()
        if factor < 1 or factor & (factor - 1):
            raise ValueError(f"subsampling factor must be a power of 2, got {factor}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.factor = factor
        self.out_dim = out_dim
        self.layers = nn.ModuleList()
        channels = input_dim
        for _ in range(factor.bit_length() - 1):
            self.layers.append(
                nn.Conv1d(channels, out_dim, kernel_size, stride=2, padding=kernel_size // 2)
            )
            channels = out_dim
        if not self.layers:  # factor 1: a frame-wise projection
            self.layers.append(nn.Conv1d(channels, out_dim, 1))

    @property
    def time_stride(self) -> int:
        """Input frames per output frame."""
        return self.factor

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            if layer.stride[0] == 2:
                lengths = torch.div(lengths - 1, 2, rounding_mode="floor") + 1
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, F) -> (B, T / factor, out_dim)."""
        x = x.transpose(1, 2)  # (B, F, T)
        for layer in self.layers:
            x = nn.functional.gelu(layer(x))
            if layer.stride[0] == 2:
                lengths = torch.div(lengths - 1, 2, rounding_mode="floor") + 1
            x = zero_padding(x.transpose(1, 2), lengths).transpose(1, 2)
        return x.transpose(1, 2), lengths  # (B, T', out_dim)

"""Whole models: a chain of (x, lengths) stages, built from config."""

import torch
from torch import nn


class SequenceClassifier(nn.Module):
    """frontend -> [encoder] -> decoder -> head, each taking and returning (x, lengths).

    For audio the input is raw waveforms (B, S) and the frontend computes features;
    for video it is frames (B, T, C, H, W) and the frontend is a frame encoder.
    ``encoder`` is optional (e.g. convolutional subsampling).
    """

    def __init__(
        self,
        frontend: nn.Module,
        decoder: nn.Module,
        head: nn.Module,
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder
        self.decoder = decoder
        self.head = head

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input -> decoder frames (B, T, D) with their lengths."""
        x, lengths = self.frontend(x, lengths)
        if self.encoder is not None:
            x, lengths = self.encoder(x, lengths)
        return self.decoder(x, lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (logits (B, C), frame lengths)."""
        return self.head(*self.encode(x, lengths))

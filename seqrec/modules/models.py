"""Whole models: a chain of (x, lengths) stages, built from config."""

import torch
from torch import nn


class SequenceModel(nn.Module):
    """frontend -> [encoder] -> decoder -> head, each taking and returning (x, lengths).

    For audio the input is raw waveforms (B, S) and the frontend computes features;
    for video it is frames (B, T, C, H, W) and the frontend is a frame encoder.
    ``encoder`` is optional (e.g. convolutional subsampling). The head decides what
    comes out: class logits (B, C) from a
    :class:`~seqrec.modules.heads.ClassifierHead`, or per-frame log-probabilities
    (B, T, V) from a :class:`~seqrec.modules.heads.CTCHead`.
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
        """Returns (head output, frame lengths)."""
        return self.head(*self.encode(x, lengths))

    def forward_features(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` from the front end's output (B, T, F) on: for features a
        frozen front end computed before (:mod:`seqrec.data.feature_cache`)."""
        if self.encoder is not None:
            x, lengths = self.encoder(x, lengths)
        return self.head(*self.decoder(x, lengths))

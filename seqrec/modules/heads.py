"""Heads over decoder frames: masked pooling and a linear classifier."""

from typing import Literal

import torch
from torch import nn

from seqrec.modules.masking import lengths_to_mask


class MaskedPooling(nn.Module):
    """Pool (B, T, D) frames to (B, D) using real frames only.

    ``attention`` learns a score per frame and takes the softmax-weighted mean.

    >>> pool = MaskedPooling(dim=8, mode="max")
    >>> tuple(pool(torch.randn(2, 5, 8), torch.tensor([5, 2])).shape)
    (2, 8)
    """

    def __init__(self, dim: int, mode: Literal["mean", "max", "attention"] = "attention") -> None:
        super().__init__()
        if mode not in ("mean", "max", "attention"):
            raise ValueError(f"pooling mode must be mean, max or attention, got {mode!r}")
        self.mode = mode
        self.score = nn.Linear(dim, 1) if mode == "attention" else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = lengths_to_mask(lengths, x.shape[1]).unsqueeze(2)  # (B, T, 1)
        if self.mode == "max":
            return x.masked_fill(~mask, float("-inf")).amax(dim=1)
        if self.mode == "mean":
            return (x * mask).sum(1) / lengths.clamp(min=1).unsqueeze(1).to(x.dtype)
        scores = self.score(x).masked_fill(~mask, float("-inf"))  # (B, T, 1)
        weights = torch.softmax(scores, dim=1)
        return (weights * x).sum(1)


class ClassifierHead(nn.Module):
    """Masked pooling, dropout and a linear layer: (B, T, D) frames -> (B, C) logits.

    Returns ``(logits, lengths)``, passing through the frame counts that were pooled.

    >>> head = ClassifierHead(input_dim=16, num_classes=35)
    >>> logits, _ = head(torch.randn(4, 25, 16), torch.tensor([25, 20, 3, 1]))
    >>> tuple(logits.shape)
    (4, 35)
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        pooling: Literal["mean", "max", "attention"] = "attention",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.pool = MaskedPooling(input_dim, pooling)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(input_dim, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pool(x, lengths)  # (B, D)
        return self.linear(self.dropout(pooled)), lengths  # (B, C)


class CTCHead(nn.Module):
    """Dropout and a linear layer per frame, then log-softmax: (B, T, D) -> (B, T, V).

    ``num_classes`` counts the CTC blank (class 0) with the tokens; config takes it from
    the tokenizer (``${tokenizer.num_classes}``), and the CTC task checks the two agree.
    Returns ``(log_probs, lengths)``.

    >>> log_probs, lengths = CTCHead(16, 29)(torch.randn(2, 7, 16), torch.tensor([7, 3]))
    >>> tuple(log_probs.shape), lengths.tolist()
    ((2, 7, 29), [7, 3])
    """

    def __init__(self, input_dim: int, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(input_dim, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.linear(self.dropout(x)).log_softmax(dim=-1), lengths

"""Helpers for padded batches that travel with their lengths."""

import torch


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Boolean mask, True on real frames.

    >>> lengths_to_mask(torch.tensor([1, 3])).int().tolist()
    [[1, 0, 0], [1, 1, 1]]
    """
    max_len = int(lengths.max()) if max_len is None else max_len
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)


def zero_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Set padded frames of ``x`` (B, T, ...) to zero."""
    mask = lengths_to_mask(lengths, x.shape[1])
    return x * mask.view(*mask.shape, *([1] * (x.dim() - 2))).to(x.dtype)

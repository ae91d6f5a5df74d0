"""The recurrent decoder: stacked (bi)directional LSTM or GRU over padded frames."""

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqrec.modules.masking import zero_padding

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentDecoder(nn.Module):
    """A stack of LSTM or GRU layers that never reads padding.

    Sequences are packed, so the backward direction starts at each utterance's own
    last frame; the output is zero on padded frames. On CUDA this runs cuDNN's fused
    kernels.

    Args:
        input_dim: feature size F of the input (B, T, F).
        hidden: hidden units per direction.
        num_layers: stacked recurrent layers.
        cell: ``"lstm"`` or ``"gru"``.
        bidirectional: run a backward direction as well.
        dropout: dropout between layers and on the output.
        proj_size: if > 0, a linear projection of the output to this size.
        out_dim: optional; configs interpolate it (``${decoder.out_dim}``) for the
            head's input size, so it is checked against the real output size.

    >>> dec = RecurrentDecoder(input_dim=40, hidden=32, num_layers=2, cell="gru")
    >>> y, lengths = dec(torch.randn(2, 10, 40), torch.tensor([10, 4]))
    >>> tuple(y.shape), dec.out_dim
    ((2, 10, 64), 64)
    """

    def __init__(
        self,
        input_dim: int,
        hidden: int = 128,
        num_layers: int = 2,
        cell: Literal["lstm", "gru"] = "lstm",
        bidirectional: bool = True,
        dropout: float = 0.1,
        proj_size: int = 0,
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"decoder.cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.rnn = CELLS[cell](
            input_size=input_dim,
            hidden_size=hidden,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        rnn_dim = hidden * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(rnn_dim, proj_size) if proj_size > 0 else None
        self.out_dim = proj_size if proj_size > 0 else rnn_dim
        if out_dim is not None and out_dim != self.out_dim:
            raise ValueError(
                f"RecurrentDecoder: out_dim={out_dim} in the config, but it produces {self.out_dim}"
            )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, F) -> (B, T, out_dim); lengths are unchanged."""
        total = x.shape[1]
        if total > 0 and bool((lengths == total).all()):
            # no padding (one utterance, or equal lengths): packing would only cost time,
            # about a fifth of the RNN's on CPU
            y, _ = self.rnn(x)
        else:
            packed = pack_padded_sequence(
                x, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False
            )
            y, _ = self.rnn(packed)
            y, _ = pad_packed_sequence(y, batch_first=True, total_length=total)  # (B, T, rnn_dim)
        y = self.dropout(y)
        if self.proj is not None:
            y = zero_padding(self.proj(y), lengths)
        return y, lengths


def rnn_out_dim(hidden: int, bidirectional: bool, proj_size: int = 0) -> int:
    """Output size of :class:`RecurrentDecoder`; used as a config interpolation."""
    if proj_size > 0:
        return int(proj_size)
    return int(hidden) * (2 if bidirectional else 1)

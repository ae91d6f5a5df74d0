"""The recurrent decoder: stacked (bi)directional LSTM or GRU over padded frames."""

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqrec.modules.masking import zero_padding

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentDecoder(nn.Module):
    """A stack of LSTM or GRU layers that never reads padding.

    The backward direction starts at each utterance's own last frame, and the output
    is zero on padded frames. On CUDA the sequences are packed, for cuDNN's fused
    kernels. On CPU, where PyTorch's packed-sequence path costs several times the time
    forward + backward (``seqrec-bench``: ``rnn_gflops_packed_synthetic_shape``
    against ``rnn_gflops_synthetic_shape``),
    each layer and direction runs on the padded batch instead:
    the backward direction reads every utterance reversed within its own length.
    Both paths use the same ``nn.LSTM``/``nn.GRU`` parameters (checkpoints are the
    same) and give the same result.

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
            y, _ = self.rnn(x)  # no padding (one utterance, or equal lengths)
        elif x.is_cuda:
            packed = pack_padded_sequence(
                x, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False
            )
            y, _ = self.rnn(packed)
            y, _ = pad_packed_sequence(y, batch_first=True, total_length=total)  # (B, T, rnn_dim)
        else:
            y = zero_padding(self.run_layer_by_layer(x, lengths), lengths)
        return self.project(y, lengths), lengths

    def run_layer_by_layer(
        self, x: torch.Tensor, lengths: torch.Tensor, op: Callable[..., tuple] | None = None
    ) -> torch.Tensor:
        """The stacked RNN on a padded batch, one layer and direction at a time, with
        the parameters of ``self.rnn``. Padded frames of the output hold garbage.

        ``op`` runs one layer in one direction and has the signature of ``torch.lstm``
        (``torch.gru``), which it is by default; the ONNX export passes an op of the
        same signature that it can translate (:mod:`seqrec.export`)."""
        rnn = self.rnn
        lstm = isinstance(rnn, nn.LSTM)
        op = op or (torch.lstm if lstm else torch.gru)
        reverse = reversal_index(lengths.to(x.device), x.shape[1])
        out = x
        for layer in range(rnn.num_layers):
            directions = []
            for suffix in ("", "_reverse") if rnn.bidirectional else ("",):
                names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if rnn.bias else [])
                params = [getattr(rnn, f"{name}_l{layer}{suffix}") for name in names]
                inputs = out if not suffix else reverse_time(out, reverse)
                h0 = inputs.new_zeros(1, inputs.shape[0], rnn.hidden_size)
                hx = [h0, h0] if lstm else h0
                y = op(inputs, hx, params, rnn.bias, 1, 0.0, self.training, False, True)[0]
                directions.append(reverse_time(y, reverse) if suffix else y)  # (B, T, H)
            out = torch.cat(directions, dim=-1) if len(directions) > 1 else directions[0]
            if self.training and layer < rnn.num_layers - 1 and rnn.dropout > 0:
                out = nn.functional.dropout(out, rnn.dropout, self.training)
        return out

    def project(self, y: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The recurrent output (B, T, rnn_dim), zero on padding, after dropout and the
        optional projection -> (B, T, out_dim)."""
        y = self.dropout(y)
        if self.proj is not None:
            y = zero_padding(self.proj(y), lengths)
        return y


def reversal_index(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """(B, T) time index that reverses each sequence within its length and leaves
    padded frames in place; applying it twice is the identity.

    >>> reversal_index(torch.tensor([3, 1]), 4).tolist()
    [[2, 1, 0, 3], [0, 1, 2, 3]]
    """
    positions = torch.arange(total, device=lengths.device).unsqueeze(0)
    last = lengths.unsqueeze(1) - 1
    return torch.where(positions <= last, last - positions, positions)


def reverse_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Reorder the frames of ``x`` (B, T, F) by a (B, T) index from :func:`reversal_index`."""
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def rnn_out_dim(hidden: int, bidirectional: bool, proj_size: int = 0) -> int:
    """Output size of :class:`RecurrentDecoder`; used as a config interpolation."""
    if proj_size > 0:
        return int(proj_size)
    return int(hidden) * (2 if bidirectional else 1)

"""seqrec.modules.decoder: batch invariance, config errors, the CPU path against packed
sequences."""

import pytest
import torch

from seqrec.modules import RecurrentDecoder
from tests.helpers import assert_batch_invariant


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("bidirectional", "proj_size"), [(True, 0), (False, 0), (True, 12)])
def test_decoder_batch_invariance(cell, bidirectional, proj_size):
    torch.manual_seed(0)
    decoder = RecurrentDecoder(
        8, hidden=16, num_layers=2, cell=cell, bidirectional=bidirectional, proj_size=proj_size
    )
    out, _ = assert_batch_invariant(decoder, [torch.randn(n, 8) for n in (17, 9, 1, 12)])
    expected = proj_size or 16 * (2 if bidirectional else 1)
    assert out.shape == (4, 17, expected) and decoder.out_dim == expected


def test_decoder_config_errors():
    with pytest.raises(ValueError, match=r"decoder\.cell"):
        RecurrentDecoder(8, cell="transformer")
    with pytest.raises(ValueError, match="out_dim=100"):
        RecurrentDecoder(8, hidden=16, out_dim=100)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_decoder_cpu_path_matches_packed_sequences_with_gradients(cell, bidirectional):
    """The CPU path (padded batch, layer by layer, backward direction reversed within
    each length) gives the packed-sequence result, forward and backward."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    decoder = RecurrentDecoder(
        6, hidden=8, num_layers=3, cell=cell, bidirectional=bidirectional, dropout=0.0
    ).train()
    x = torch.randn(4, 11, 6)
    lengths = torch.tensor([11, 7, 1, 9])

    def packed_reference(inputs):
        packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
        y, _ = decoder.rnn(packed)
        return pad_packed_sequence(y, batch_first=True, total_length=11)[0]

    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    weights = torch.randn(4, 11, decoder.out_dim)
    got, _ = decoder(x1, lengths)
    (got * weights).sum().backward()
    got_grads = [p.grad.clone() for p in decoder.rnn.parameters()]
    decoder.zero_grad()
    expected = packed_reference(x2)
    (expected * weights).sum().backward()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-4)
    for got_grad, param in zip(got_grads, decoder.rnn.parameters(), strict=True):
        torch.testing.assert_close(got_grad, param.grad, atol=1e-5, rtol=1e-4)
    assert got[1, 7:].abs().max() == 0 and got[2, 1:].abs().max() == 0

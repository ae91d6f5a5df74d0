"""seqrec.modules.subsampling: output lengths match the frames the convolutions return."""

import math

import pytest
import torch

from seqrec.modules import ConvSubsampling
from tests.helpers import assert_batch_invariant


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_subsampling_lengths_match_the_frames_it_returns(factor):
    layer = ConvSubsampling(input_dim=8, out_dim=8, factor=factor, kernel_size=5).eval()
    for length in [1, 2, 3, 7, 8, 9, 31, 64, 101]:
        x = torch.randn(1, length, 8)
        y, out = layer(x, torch.tensor([length]))
        assert out.item() == y.shape[1] == math.ceil(length / factor), (factor, length)


@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_subsampling_lengths_match_the_convolutions(factor):
    sub = ConvSubsampling(input_dim=12, out_dim=10, factor=factor)
    lengths = [1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100]
    _, out_lengths = assert_batch_invariant(sub, [torch.randn(n, 12) for n in lengths])
    for n, got in zip(lengths, out_lengths.tolist(), strict=True):
        alone, _ = sub(torch.randn(1, n, 12), torch.tensor([n]))
        assert got == alone.shape[1]  # the arithmetic agrees with what the convs produce
    assert out_lengths.tolist() == sub.output_lengths(torch.tensor(lengths)).tolist()


def test_subsampling_rejects_bad_factors():
    with pytest.raises(ValueError, match="power of 2"):
        ConvSubsampling(4, 4, factor=3)

"""seqrec.modules.heads: pooling ignores padding."""

import pytest
import torch

from seqrec.modules import ClassifierHead, MaskedPooling
from tests.helpers import assert_batch_invariant


@pytest.mark.parametrize("mode", ["mean", "max", "attention"])
def test_pooling_ignores_padding(mode):
    torch.manual_seed(0)
    pool = ClassifierHead(6, num_classes=4, pooling=mode)
    assert_batch_invariant(pool, [torch.randn(n, 6) for n in (7, 3, 1)])
    x = torch.randn(2, 5, 6)
    lengths = torch.tensor([5, 2])
    garbage = x.clone()
    garbage[1, 2:] = 1e6  # whatever sits in the padding must not matter
    plain = MaskedPooling(6, mode)
    torch.testing.assert_close(plain(x, lengths), plain(garbage, lengths))

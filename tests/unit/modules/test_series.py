"""seqrec.modules.series: per-channel normalisation and the convolutional blocks,
padding-exact; the whole series model batch-invariant."""

import torch

from seqrec.modules import (
    ClassifierHead,
    ConvBlocks,
    MaskedBatchNorm1d,
    RecurrentDecoder,
    SequenceModel,
    SeriesFrontend,
)
from tests.helpers import assert_batch_invariant


def series_model(channels: int = 3, subsample: int = 2) -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel(
        frontend=SeriesFrontend(channels),
        encoder=ConvBlocks(channels, channels=(8, 16), kernel_sizes=(5, 3), subsample=subsample),
        decoder=RecurrentDecoder(input_dim=16, hidden=8, num_layers=1),
        head=ClassifierHead(input_dim=16, num_classes=4, pooling="attention"),
    ).eval()


def series(*lengths: int, channels: int = 3) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(n, channels, generator=generator) * 3 + 1 for n in lengths]


def test_each_channel_is_normalised_over_the_series_own_steps():
    front = SeriesFrontend(channels=2)
    x = torch.stack([torch.tensor([[1.0, 10.0], [3.0, 30.0], [0.0, 0.0]])])
    y, _ = front(x, torch.tensor([2]))
    assert torch.allclose(y[0, :2], torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), atol=1e-4)
    assert y[0, 2].abs().sum() == 0
    assert_batch_invariant(front, series(5, 17, 1, 9, channels=2))


def test_conv_blocks_and_the_whole_model_give_the_same_output_alone_or_padded():
    assert_batch_invariant(series_model().encoder.eval(), series(30, 7, 1, 64))
    assert_batch_invariant(series_model(), series(30, 7, 1, 64))
    assert_batch_invariant(series_model(subsample=4), series(3, 40, 11))


def test_masked_batch_norm_learns_statistics_from_real_steps_only():
    norm = MaskedBatchNorm1d(1, momentum=1.0).train()
    x = torch.tensor([[[1.0, 3.0, 0.0, 0.0]], [[5.0, 7.0, 9.0, 11.0]]])  # (B, C, T)
    norm(x, torch.tensor([2, 4]))
    real = torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0, 11.0])
    assert torch.allclose(norm.running_mean, real.mean().view(1))
    assert torch.allclose(norm.running_var, real.var().view(1))  # unbiased, as BatchNorm1d
    padded_more = torch.cat([x, torch.zeros(2, 1, 6)], dim=2)
    norm2 = MaskedBatchNorm1d(1, momentum=1.0).train()
    norm2(padded_more, torch.tensor([2, 4]))
    assert torch.allclose(norm.running_var, norm2.running_var)  # padding changes nothing

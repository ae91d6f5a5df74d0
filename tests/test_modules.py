"""Shapes, lengths and batch invariance of every sequence module: an utterance must give
the same output alone as padded inside a batch (tolerance 1e-5)."""

import pytest
import torch

from seqrec.modules import (
    MFCC,
    AudioFrontend,
    ClassifierHead,
    ConvSubsampling,
    LogMelSpectrogram,
    MaskedPooling,
    RecurrentDecoder,
    SequenceClassifier,
    SpecAugment,
)
from tests.helpers import assert_batch_invariant


def waveforms(*lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [0.1 * torch.randn(n, generator=generator) for n in lengths]


@pytest.mark.parametrize("featurizer", [LogMelSpectrogram(n_mels=40), MFCC(n_mfcc=13, n_mels=40)])
def test_frontend_batch_invariance(featurizer):
    frontend = AudioFrontend(featurizer, spec_augment=SpecAugment())
    out, lengths = assert_batch_invariant(frontend, waveforms(16000, 9000, 2500, 401))
    assert out.shape == (4, 97, featurizer.out_dim)
    assert lengths.tolist() == [97, 54, 13, 1]
    assert lengths.dtype == torch.int64


def test_eval_dither_is_deterministic_and_keeps_silence_finite():
    frontend = AudioFrontend(LogMelSpectrogram(n_mels=40), normalize=False).eval()
    silence = torch.zeros(1, 16000)
    a, _ = frontend(silence, torch.tensor([16000]))
    b, _ = frontend(silence, torch.tensor([16000]))
    assert torch.equal(a, b)
    assert torch.isfinite(a).all() and a.min() > -20  # log floor, not log(0)


def test_spec_augment_masks_only_in_training_and_inside_lengths():
    torch.manual_seed(0)
    aug = SpecAugment(freq_masks=2, freq_width=5, time_masks=2, time_width=0.2)
    x, lengths = torch.ones(8, 50, 20), torch.tensor([50, 40, 30, 20, 10, 5, 2, 1])
    aug.eval()
    assert torch.equal(aug(x, lengths)[0], x)
    aug.train()
    y, _ = aug(x, lengths)
    assert (y == 0).any()
    for i, n in enumerate(lengths.tolist()):  # each utterance keeps >= 60 % of its frames
        assert (y[i, :n].sum(-1) > 0).float().mean() >= 0.6 - 1e-6


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


def build_kws_model(cell: str) -> SequenceClassifier:
    torch.manual_seed(0)
    frontend = AudioFrontend(LogMelSpectrogram(n_mels=20), spec_augment=SpecAugment())
    return SequenceClassifier(
        frontend=frontend,
        encoder=ConvSubsampling(20, 24, factor=4),
        decoder=RecurrentDecoder(24, hidden=16, num_layers=2, cell=cell),
        head=ClassifierHead(32, num_classes=35),
    )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_whole_model_batch_invariance(cell):
    model = build_kws_model(cell)
    logits, _ = assert_batch_invariant(model, waveforms(16000, 11000, 4000, 800, seed=1))
    assert logits.shape == (4, 35)


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

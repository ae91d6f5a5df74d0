"""seqrec.modules.features: frontend batch invariance, eval dither, SpecAugment."""

import pytest
import torch

from seqrec.modules import MFCC, AudioFrontend, LogMelSpectrogram, SpecAugment
from tests.helpers import assert_batch_invariant, waveforms


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

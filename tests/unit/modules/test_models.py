"""seqrec.modules.models: whole models give an utterance or clip the same output alone as
padded inside a batch."""

import pytest
import torch

from seqrec.data.batch import collate_video
from seqrec.modules import (
    ClassifierHead,
    FrameEncoder,
    RecurrentDecoder,
    SequenceModel,
    SmallCNN,
)
from tests.helpers import assert_batch_invariant, build_kws_model, tiny_ctc_model, waveforms


def test_encoder_output_does_not_depend_on_batch_padding():
    model = tiny_ctc_model()
    lengths = [16000, 9000, 4001, 12345]
    waves = [torch.randn(n) * 0.1 for n in lengths]
    # the README's promise; measured: at most 4.8e-7 over 30 random models. The padded
    # frames hold log-probabilities too: the CTC loss and the search ignore them.
    assert_batch_invariant(model, waves, atol=1e-5, zero_padding=False)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_whole_model_batch_invariance(cell):
    model = build_kws_model(cell)
    logits, _ = assert_batch_invariant(model, waveforms(16000, 11000, 4000, 800, seed=1))
    assert logits.shape == (4, 35)


def test_model_batch_invariance_across_clips_of_different_lengths():
    torch.manual_seed(0)
    model = SequenceModel(
        frontend=FrameEncoder(SmallCNN(channels=(8, 16), out_dim=16)),
        decoder=RecurrentDecoder(16, hidden=12, num_layers=1, cell="gru"),
        head=ClassifierHead(24, num_classes=10),
    )
    clips = [torch.randn(t, 3, 16, 16) for t in (8, 5, 1, 3)]
    logits, _ = assert_batch_invariant(model, clips)
    assert logits.shape == (4, 10)
    batch = collate_video(
        [type("S", (), {"clips": [c], "target": 0, "id": str(i)})() for i, c in enumerate(clips)]
    )
    assert batch.lengths.tolist() == [8, 5, 1, 3] and batch.frames.shape == (4, 8, 3, 16, 16)

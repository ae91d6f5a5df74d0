"""seqrec.data.batch: collate pads with zeros and keeps every sample and its length."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqrec.data.batch import AudioSample, collate_audio


def test_collate_pads_with_zeros_and_keeps_lengths():
    from seqrec.data.batch import AudioSample

    samples = [AudioSample(torch.ones(5), 1, "a"), AudioSample(torch.full((2,), 2.0), 0, "b")]
    batch = collate_audio(samples)
    assert batch.audio.tolist() == [[1, 1, 1, 1, 1], [2, 2, 0, 0, 0]]
    assert batch.lengths.dtype == torch.int64 and batch.lengths.tolist() == [5, 2]
    assert batch.targets.tolist() == [1, 0] and batch.ids == ["a", "b"] and len(batch) == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=8))
def test_collate_keeps_every_sample_and_pads_with_zeros(lengths):
    samples = [AudioSample(torch.rand(n) + 0.5, i, f"id{i}") for i, n in enumerate(lengths)]
    batch = collate_audio(samples)
    assert batch.audio.shape == (len(lengths), max(lengths))
    assert batch.lengths.tolist() == lengths and batch.lengths.dtype == torch.int64
    for i, sample in enumerate(samples):
        assert torch.equal(batch.audio[i, : lengths[i]], sample.waveform)
        assert batch.audio[i, lengths[i] :].abs().sum() == 0
    assert batch.targets.tolist() == list(range(len(lengths)))

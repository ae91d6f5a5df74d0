"""seqrec.bench.padding: padding efficiency, measured on the lengths after speed perturbation."""

import math
from functools import partial

import pytest
import torch

from seqrec.bench.padding import measure_padding, padding_efficiency, speed_perturbed_length
from seqrec.data.audio import AudioReader, TranscribedAudioDataset
from seqrec.data.augment import WaveformAugment
from seqrec.tasks.datamodule import TranscriptionDataModule
from tests.conftest import write_manifest_lines, write_wav


def test_padding_efficiency_is_real_over_padded_length():
    assert padding_efficiency([[1.0, 2.0], [3.0, 4.0]]) == pytest.approx(10 / 12)
    assert padding_efficiency([[2.0] * 6]) == 1.0


@pytest.mark.parametrize("samples", [16000, 20000, 24001])
@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbed_length_is_what_the_augmentation_makes(samples, factor):
    augment = WaveformAugment(
        16000, speeds=[factor], speed_prob=1.0, shift_seconds=0.0, noise_prob=0.0
    )
    assert speed_perturbed_length(samples, factor, 16000) == augment(torch.randn(samples)).numel()


def test_padding_is_measured_on_the_lengths_after_speed_perturbation(tmp_path):
    # 1.0 s and 1.25 s share a batch, the two 2.0 s another (at most 2 per batch, 4 s cap);
    # the 1.0 s and 2.0 s utterances are slowed to 0.9x: ceil(S * 10 / 9) samples
    seconds = [1.0, 1.25, 2.0, 2.0]
    rows = [
        {
            "audio_filepath": str(write_wav(tmp_path / f"u{i}.wav", s, seed=i)),
            "duration": s,
            "text": "yes",
            "id": f"u{i}",
        }
        for i, s in enumerate(seconds)
    ]
    manifest = write_manifest_lines(tmp_path / "train.jsonl", rows)
    slow = WaveformAugment(16000, speeds=[0.9], speed_prob=1.0, shift_seconds=0.0, noise_prob=0.0)

    def augment(waveform: torch.Tensor) -> torch.Tensor:
        return slow(waveform) if waveform.numel() in (16000, 32000) else waveform

    dataset = partial(TranscribedAudioDataset, augment=augment)
    datamodule = TranscriptionDataModule(
        str(manifest),
        str(manifest),
        str(manifest),
        reader=AudioReader(16000),
        dataset=dataset,
        max_batch_seconds=4.0,
        max_batch_size=2,
        num_workers=0,
    )
    figures = measure_padding(datamodule, 16000, 4.0)

    one_s, two_s = math.ceil(16000 * 10 / 9), math.ceil(32000 * 10 / 9)  # 17778, 35556
    assert figures["padding_efficiency"] == pytest.approx(
        (one_s + 20000 + 2 * two_s) / (2 * 20000 + 2 * two_s)
    )
    assert figures["padding_efficiency_manifest"] == pytest.approx(
        (1.0 + 1.25 + 4.0) / (2 * 1.25 + 2 * 2.0)
    )
    # the 2 s batch held 4.0 s by its manifest durations, and 2 * 35556 samples once slowed
    assert figures["batches_over_cap"] == 0.5
    assert figures["batch_seconds_over_cap_max"] == pytest.approx(2 * two_s / 16000 / 4.0)

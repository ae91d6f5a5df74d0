import math

import numpy as np
import pytest
import soundfile as sf
import torch

from seqrec.data.audio import AudioClassificationDataset, AudioError, AudioReader, load_audio
from seqrec.data.augment import WaveformAugment
from seqrec.data.batch import collate_audio
from tests.conftest import write_manifest_lines, write_wav


def test_load_resamples_downmixes_and_seeks(tmp_path):
    path = tmp_path / "stereo8k.wav"
    left = np.linspace(-0.5, 0.5, 8000, dtype=np.float32)
    sf.write(path, np.stack([left, -left + 0.2], axis=1), 8000, subtype="FLOAT")
    audio = load_audio(path, 16000)
    assert audio.shape == (16000,) and audio.dtype == torch.float32
    assert torch.allclose(audio[1000:15000], torch.full((14000,), 0.1), atol=1e-3)  # (l + r) / 2
    segment = load_audio(path, 8000, offset=0.25, duration=0.5)
    assert segment.shape == (4000,)
    assert segment[0].item() == pytest.approx(0.1, abs=1e-6)


def test_unreadable_audio_names_the_file(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"empty\.wav: no audio samples"):
        load_audio(empty, 16000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioError, match=r"corrupt\.wav: cannot decode audio"):
        load_audio(corrupt, 16000)
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "missing.wav", 16000)
    short = write_wav(tmp_path / "short.wav", seconds=0.5)
    with pytest.raises(AudioError, match="past the end"):
        load_audio(short, 16000, offset=2.0)
    with pytest.raises(
        AudioError, match=r"offset \+ duration = 1\.000s runs past the end of the file \(0\.500s\)"
    ):
        load_audio(short, 16000, duration=1.0)
    assert load_audio(short, 16000, duration=0.52).shape == (8000,)  # within the tolerance


def test_dataset_error_names_manifest_line_and_file(tmp_path):
    write_wav(tmp_path / "good.wav")
    (tmp_path / "zero.wav").write_bytes(b"")
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"audio_filepath": "good.wav", "duration": 1.0, "label": "yes"},
            {"audio_filepath": "zero.wav", "duration": 1.0, "label": "no"},
        ],
    )
    dataset = AudioClassificationDataset(manifest, ["yes", "no"], AudioReader(16000))
    sample = dataset[0]
    assert sample.waveform.shape == (16000,) and sample.target == 0 and sample.id == "good"
    with pytest.raises(AudioError) as error:
        dataset[1]
    assert f"{manifest}:2" in str(error.value) and "zero.wav" in str(error.value)


def test_collate_pads_with_zeros_and_keeps_lengths():
    from seqrec.data.batch import AudioSample

    samples = [AudioSample(torch.ones(5), 1, "a"), AudioSample(torch.full((2,), 2.0), 0, "b")]
    batch = collate_audio(samples)
    assert batch.audio.tolist() == [[1, 1, 1, 1, 1], [2, 2, 0, 0, 0]]
    assert batch.lengths.dtype == torch.int64 and batch.lengths.tolist() == [5, 2]
    assert batch.targets.tolist() == [1, 0] and batch.ids == ["a", "b"] and len(batch) == 2


def test_augment_noise_hits_the_requested_snr(tmp_path):
    torch.manual_seed(0)
    clean = torch.sin(torch.linspace(0, 2000, 16000))
    augment = WaveformAugment(
        16000, speeds=[], shift_seconds=0.0, noise_prob=1.0, snr_db=(10.0, 10.0)
    )
    noisy = augment(clean.clone())
    noise = noisy - clean
    snr = 10 * torch.log10(clean.pow(2).mean() / noise.pow(2).mean())
    assert snr.item() == pytest.approx(10.0, abs=0.01)


def test_augment_speed_and_shift(tmp_path):
    write_wav(tmp_path / "noise" / "n.wav", seconds=2.0)
    augment = WaveformAugment(
        16000, speeds=[1.1], speed_prob=1.0, shift_seconds=0.0, noise_prob=0.0
    )
    assert augment(torch.randn(16000)).shape == (math.ceil(16000 / 1.1),)
    shifter = WaveformAugment(16000, speeds=[], shift_seconds=0.01, noise_prob=0.0)
    out = shifter(torch.ones(1000))
    assert out.shape == (1000,) and (out == 0).sum() <= 160
    with_files = WaveformAugment(
        16000,
        speeds=[],
        shift_seconds=0.0,
        noise_prob=1.0,
        noise_dir=str(tmp_path / "noise"),
        white_noise_fraction=0.0,
    )
    assert torch.isfinite(with_files(torch.ones(4000))).all()
    assert len(with_files._noises) == 1

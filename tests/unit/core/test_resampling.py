"""seqrec.core.resampling: torchaudio's windowed-sinc resampling for any pair of rates, at a
cost bounded by the audio's length, shared by the PyTorch side and the runtime."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from seqrec.core.resampling import (
    DENSE_KERNEL_TAPS,
    _resample_dense,
    _resample_sparse,
    dense_kernel_taps,
    reduced_rates,
    resample,
)
from seqrec.core.waveform import AudioError
from seqrec.data.audio import AudioClassificationDataset, AudioReader, load_audio
from seqrec.data.batch import SkippedSample
from seqrec.runtime.audio import read_audio
from tests.conftest import write_manifest_lines


@pytest.mark.parametrize(
    ("orig", "new"), [(8000, 16000), (44100, 16000), (16000, 8000), (11025, 16000)]
)
def test_both_paths_compute_torchaudios_filter(orig, new):
    x = np.random.default_rng(0).standard_normal(orig).astype(np.float32)
    expected = torchaudio.functional.resample(torch.from_numpy(x), orig, new).numpy()
    for path in (_resample_dense, _resample_sparse):
        got = path(x, *reduced_rates(orig, new))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4, path.__name__


def test_a_rate_with_a_small_gcd_takes_the_per_sample_path_and_is_right():
    # 44,101 Hz to 16 kHz: torchaudio's dense kernel would hold 16000 x 44135 taps
    assert dense_kernel_taps(44101, 16000) > 700_000_000 > DENSE_KERNEL_TAPS
    t = np.arange(44101) / 44101
    tone = np.sin(2 * math.pi * 440 * t).astype(np.float32)
    out = resample(tone, 44101, 16000)
    assert out.shape == (16000,)
    reference = np.sin(2 * math.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(out[200:-200] - reference[200:-200]).max() < 1e-3


def test_an_odd_rate_file_reads_the_same_on_both_sides(tmp_path):
    path = tmp_path / "odd.wav"
    tone = np.sin(2 * math.pi * 300 * np.arange(44101) / 44101).astype(np.float32) * 0.5
    sf.write(path, tone, 44101, subtype="FLOAT")
    torch_side = load_audio(path, 16000).numpy()
    assert torch_side.shape == (16000,)
    assert np.array_equal(torch_side, read_audio(path, 16000))


@pytest.mark.parametrize("rate", [100, 500_000])
def test_an_absurd_rate_is_an_audio_error_that_skip_counts(tmp_path, rate):
    path = tmp_path / "absurd.wav"
    sf.write(path, np.zeros(rate // 10 or 1, np.float32), rate, subtype="FLOAT")
    for read in (lambda: load_audio(path, 16000), lambda: read_audio(path, 16000)):
        with pytest.raises(AudioError, match=rf"absurd\.wav: sample rate {rate} Hz is outside"):
            read()
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(16000, np.float32), 16000)
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"audio_filepath": str(good), "duration": 1.0, "label": "a"},
            {"audio_filepath": str(path), "duration": 0.1, "label": "a"},
        ],
    )
    dataset = AudioClassificationDataset(manifest, ["a"], AudioReader(16000), on_error="skip")
    skipped = [s for s in (dataset[i] for i in range(len(dataset))) if isinstance(s, SkippedSample)]
    assert len(skipped) == 1 and "sample rate" in str(skipped[0].problem)


def test_an_8khz_file_and_its_upsampled_copy_read_alike(tmp_path):
    """A recording at 8 kHz read by seqrec (resampled on reading) and the same recording
    upsampled to 16 kHz beforehand (as sox would) give the same waveform."""
    rng = np.random.default_rng(1)
    speech_band = np.convolve(rng.standard_normal(8000), np.hanning(9), "same")
    speech_band = (0.3 * speech_band / np.abs(speech_band).max()).astype(np.float32)
    sf.write(tmp_path / "8k.wav", speech_band, 8000, subtype="FLOAT")
    up = torchaudio.functional.resample(torch.from_numpy(speech_band), 8000, 16000).numpy()
    sf.write(tmp_path / "16k.wav", up, 16000, subtype="FLOAT")
    reader = AudioReader(16000, clip_seconds=1.0, trim_db=40.0, level_db=-20.0, placement="centre")
    a, b = reader(tmp_path / "8k.wav")[0], reader(tmp_path / "16k.wav")[0]
    assert a.shape == b.shape == (16000,)
    assert torch.allclose(a, b, atol=1e-5)

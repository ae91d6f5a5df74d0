"""seqrec.core.waveform: fit_clip brings a word to one clip format whatever its padding,
silence and level; NaN and infinite samples are refused, named by their place."""

import random

import numpy as np
import pytest
import soundfile as sf

from seqrec.core.waveform import AudioError, check_finite, fit_clip, read_soundfile
from tests.helpers import CLIP_FORMAT as FORMAT
from tests.helpers import clip_variants as variants
from tests.helpers import word_burst as word

RATE = 16000


def test_the_same_samples_whatever_the_padding_silence_and_level():
    clips = {name: fit_clip(w, RATE, **FORMAT) for name, w in variants(word()).items()}
    reference = clips["as is"]
    assert reference.shape == (RATE,)
    rms = np.sqrt(np.mean(reference[np.abs(reference) > 0] ** 2))
    assert 20 * np.log10(rms) == pytest.approx(-20.0, abs=0.5)  # the word at -20 dB RMS
    for name, clip in clips.items():
        np.testing.assert_allclose(clip, reference, atol=1e-6, err_msg=name)


def test_without_the_format_the_clips_differ():
    """What the test above guards against: padding alone moves the word."""
    clips = [fit_clip(w, RATE, clip_seconds=1.0) for w in variants(word()).values()]
    assert max(np.abs(c - clips[0]).max() for c in clips) > 0.1


def test_placement_start_centre_random_and_cutting():
    wave = np.ones(400, np.float32)
    assert np.flatnonzero(fit_clip(wave, 1000, 1.0))[0] == 0
    assert np.flatnonzero(fit_clip(wave, 1000, 1.0, placement="centre"))[0] == 300
    starts = {
        int(np.flatnonzero(fit_clip(wave, 1000, 1.0, placement="random", rng=random.Random(s)))[0])
        for s in range(20)
    }
    assert len(starts) > 5 and min(starts) >= 0 and max(starts) <= 600
    long = np.arange(3000, dtype=np.float32)
    assert fit_clip(long, 1000, 1.0)[0] == 0  # the start kept, the end cut
    assert fit_clip(long, 1000, 1.0, placement="centre")[0] == 1000  # the middle second
    with pytest.raises(ValueError, match="placement must be one of"):
        fit_clip(wave, 1000, 1.0, placement="middle")


def test_silence_alone_is_left_as_silence():
    assert not fit_clip(np.zeros(500, np.float32), RATE, **FORMAT).any()


def test_a_nan_or_inf_sample_is_named_by_its_place_in_the_file(tmp_path):
    stereo = np.zeros((RATE, 2), np.float32)
    stereo[9000, 1] = -np.inf  # the second channel only: the mean would hide nothing
    sf.write(tmp_path / "inf.wav", stereo, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"^\S+inf\.wav: audio contains NaN or infinite samples "
                                         r"\(the first, -inf, at sample 9000\)$"):  # fmt: skip
        read_soundfile(tmp_path / "inf.wav")
    with pytest.raises(AudioError, match=r"at sample 9000\)$"):  # counted from the file's start
        read_soundfile(tmp_path / "inf.wav", offset=0.5, duration=0.25)
    assert read_soundfile(tmp_path / "inf.wav", duration=0.5)[0].shape == (RATE // 2,)
    assert check_finite(stereo[:9000], "x").shape == (9000, 2)
    with pytest.raises(AudioError, match=r"^x: .*\(the first, -inf, at sample 9000, byte 72000\)$"):
        check_finite(stereo[8990:], "x", first=8990, sample_bytes=8)

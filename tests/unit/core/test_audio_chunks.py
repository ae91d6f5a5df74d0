"""seqrec.core.audio_chunks: a file, raw PCM on stdin or any binary stream, read a block at
a time; NaN samples and WAV files piped as raw PCM."""

import io
import logging
import sys
import types

import numpy as np
import pytest
import soundfile as sf

from seqrec.core.audio_chunks import chunks_of_source
from seqrec.core.waveform import AudioError

RATE = 8000


class Trickle(io.RawIOBase):
    """A pipe that gives at most ``step`` bytes per read, as a slow writer's does."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = data, step

    def read(self, size: int = -1) -> bytes:
        part, self.data = self.data[: min(size, self.step)], self.data[min(size, self.step) :]
        return part


def on_stdin(monkeypatch, data: bytes | io.RawIOBase) -> None:
    buffer = io.BytesIO(data) if isinstance(data, bytes) else data
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=buffer))


def wav_bytes(wave: np.ndarray) -> bytes:
    out = io.BytesIO()
    sf.write(out, wave, RATE, format="WAV", subtype="PCM_16")
    return out.getvalue()


def test_a_wav_file_piped_to_stdin_is_read_as_raw_pcm_with_a_warning(monkeypatch, caplog):
    wave = 0.1 * np.sin(np.arange(RATE) / 5).astype(np.float32)
    for source in (wav_bytes(wave), Trickle(wav_bytes(wave), step=3)):
        caplog.clear()
        on_stdin(monkeypatch, source)
        with caplog.at_level(logging.WARNING, logger="seqrec.core.audio_chunks"):
            samples = np.concatenate(list(chunks_of_source("-", RATE)))
        (record,) = caplog.records
        assert "stdin starts with a RIFF header" in record.getMessage()
        assert "pass the file's path instead" in record.getMessage()
        assert "pcm=s16le or pcm=f32le" in record.getMessage()
        assert samples.size == RATE + 22  # the 44-byte header read as 22 samples
    caplog.clear()
    on_stdin(monkeypatch, (wave * 32767).astype("<i2").tobytes())  # raw PCM: no warning
    with caplog.at_level(logging.WARNING, logger="seqrec.core.audio_chunks"):
        samples = np.concatenate(list(chunks_of_source("-", RATE)))
    assert not caplog.records and np.abs(samples - wave).max() < 1e-4


def test_a_nan_on_stdin_names_its_sample_and_byte(monkeypatch):
    wave = np.zeros(3 * RATE, np.float32)
    wave[RATE + 5] = np.nan  # in the second block read
    on_stdin(monkeypatch, wave.astype("<f4").tobytes())
    chunks = chunks_of_source("-", RATE, "f32le")
    assert next(chunks).size == RATE  # the block before it is given
    with pytest.raises(AudioError, match=rf"^stdin: .*NaN .*\(the first, nan, at sample {RATE + 5}, "
                                         rf"byte {4 * (RATE + 5)}\)$"):  # fmt: skip
        next(chunks)


def test_an_infinite_sample_in_a_stereo_file_names_the_file_and_the_sample(tmp_path):
    wave = np.zeros((2 * RATE + 100, 2), np.float32)
    wave[2 * RATE + 7, 1] = np.inf  # the third block, the second channel
    sf.write(tmp_path / "inf.wav", wave, RATE, subtype="FLOAT")
    with pytest.raises(
        AudioError, match=rf"inf\.wav: .*\(the first, inf, at sample {2 * RATE + 7}\)"
    ):
        list(chunks_of_source(tmp_path / "inf.wav", RATE))

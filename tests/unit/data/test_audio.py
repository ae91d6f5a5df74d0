"""seqrec.data.audio: loading (resampling, downmixing, seeking), errors naming the file, and
the audio datasets."""

import numpy as np
import pytest
import soundfile as sf
import torch

from seqrec.data.audio import (
    AudioClassificationDataset,
    AudioError,
    AudioReader,
    TranscribedAudioDataset,
    load_audio,
)
from seqrec.data.augment import WaveformAugment
from seqrec.data.batch import collate_audio
from seqrec.data.manifest import ManifestError
from seqrec.data.sampler import AugmentKey
from seqrec.text import CharTokenizer
from tests.conftest import write_manifest_lines, write_wav


def test_manifest_text_outside_the_vocabulary_names_the_line_or_is_skipped(tmp_path):
    wav = write_wav(tmp_path / "a.wav", seconds=0.5)
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"audio_filepath": str(wav), "duration": 0.5, "text": "Hello, World!"},
            {"audio_filepath": str(wav), "duration": 0.5, "text": "call 911"},
        ],
    )
    with pytest.raises(ManifestError, match=r"m\.jsonl:2: text: character '9'"):
        TranscribedAudioDataset(manifest, CharTokenizer(), AudioReader(16000))
    dataset = TranscribedAudioDataset(
        manifest, CharTokenizer(), AudioReader(16000), on_error="skip"
    )
    assert len(dataset) == 1 and [p.reason for p in dataset.problems] == ["bad_text"]
    assert CharTokenizer().decode(dataset[0].target.tolist()) == "hello world"


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


def test_dataset_applies_the_speed_the_sampler_drew(tmp_path):
    rows = []
    for i, seconds in enumerate([0.5, 0.8, 1.2]):
        write_wav(tmp_path / f"{i}.wav", seconds=seconds, seed=i)
        rows.append({"audio_filepath": f"{i}.wav", "duration": seconds, "label": "a"})
    manifest = write_manifest_lines(tmp_path / "m.jsonl", rows)
    augment = WaveformAugment(
        16000, speeds=[0.9, 1.1], speed_prob=1.0, shift_seconds=0.0, noise_prob=0.0
    )
    dataset = AudioClassificationDataset(
        manifest, ["a"], AudioReader(16000), train=True, augment=augment
    )
    assert dataset.speed_plan == augment.draw_speeds
    for key in (AugmentKey(0, 0.9, 1), AugmentKey(1, 1.1, 2), AugmentKey(2, 1.0, 3)):
        samples = round(rows[key.item]["duration"] * 16000)
        expected = augment.speed_length(samples, key.speed)
        assert dataset[key].waveform.shape[0] == expected
    # evaluation datasets have no plan: the sampler yields plain indices
    assert AudioClassificationDataset(manifest, ["a"], AudioReader(16000)).speed_plan is None


def test_reader_brings_every_clip_to_clip_seconds(tmp_path):
    short = write_wav(tmp_path / "short.wav", seconds=0.6)
    long = write_wav(tmp_path / "long.wav", seconds=1.3)
    reader = AudioReader(16000, clip_seconds=1.0)
    (padded,) = reader(short)
    assert padded.shape == (16000,)
    assert torch.equal(padded[:9600], load_audio(short, 16000))  # zeros after the clip
    assert not padded[9600:].any()
    (cut,) = reader(long)
    assert torch.equal(cut, load_audio(long, 16000)[:16000])
    assert reader.prepare(np.ones(4000, dtype=np.float32))[0].shape == (16000,)
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"audio_filepath": str(short), "duration": 0.6, "label": "a"},
            {"audio_filepath": str(long), "duration": 1.3, "label": "a"},
        ],
    )
    dataset = AudioClassificationDataset(manifest, ["a"], reader)
    # the sampler batches on the lengths the model receives
    assert dataset.durations == [1.0, 1.0]
    assert [dataset[i].waveform.shape[0] for i in range(2)] == [16000, 16000]
    assert AudioClassificationDataset(manifest, ["a"], AudioReader(16000)).durations == [0.6, 1.3]
    with pytest.raises(ValueError, match="clip_seconds"):
        AudioReader(16000, clip_seconds=0.0)


def test_reader_owns_the_clip_format_and_training_places_words_at_random():
    """A reader with trimming, a level and centring gives one waveform for a word
    whatever its padding, silence and level; its training variant places the word
    anywhere in the window."""
    from tests.helpers import CLIP_FORMAT as FORMAT
    from tests.helpers import clip_variants as variants
    from tests.helpers import word_burst as word

    reader = AudioReader(16000, **FORMAT)
    clips = [reader.prepare(w)[0] for w in variants(word()).values()]
    for clip in clips:
        assert clip.shape == (16000,)
        torch.testing.assert_close(clip, clips[0], atol=1e-6, rtol=0)
    training = reader.for_training()
    assert training.placement == "random" and reader.placement == "centre"
    firsts = {int(torch.nonzero(training.prepare(word())[0])[0]) for _ in range(10)}
    assert len(firsts) > 3
    with pytest.raises(ValueError, match="trim_db must be positive"):
        AudioReader(16000, trim_db=-3)


def test_nan_in_a_file_or_an_array_is_an_audio_error_that_skip_counts(tmp_path):
    write_wav(tmp_path / "good.wav")
    wave = np.full(16000, 0.1, np.float32)
    wave[700] = np.nan
    sf.write(tmp_path / "nan.wav", wave, 16000, subtype="FLOAT")
    rows = [{"audio_filepath": f"{name}.wav", "duration": 1.0, "label": "yes"}
            for name in ("good", "nan")]  # fmt: skip
    manifest = write_manifest_lines(tmp_path / "m.jsonl", rows)
    with pytest.raises(AudioError, match=rf"^{manifest}:2: .*nan\.wav: audio contains NaN or "
                                         r"infinite samples \(the first, nan, at sample 700\)$"):  # fmt: skip
        AudioClassificationDataset(manifest, ["yes"], AudioReader(16000))[1]
    dataset = AudioClassificationDataset(manifest, ["yes"], AudioReader(16000), on_error="skip")
    batch = collate_audio([dataset[0], dataset[1]])
    assert len(batch) == 1 and [p.reason for p in batch.skipped] == ["unreadable_audio"]
    reader = AudioReader(16000, clip_seconds=1.0, level_db=-20)
    with pytest.raises(AudioError, match=r"^waveform: .*\(the first, nan, at sample 700\)$"):
        reader.prepare(wave)  # not levelled (all nan) and scored
    with pytest.raises(AudioError, match=r"^waveform 4: .*\(the first, inf, at sample 3\)$"):
        reader.prepare(torch.tensor([0.0, 0.1, 0.2, float("inf")]), index=4)

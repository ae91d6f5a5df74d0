import json

import numpy as np
import pytest
import soundfile as sf

from seqrec.data.manifest import read_manifest
from seqrec.synth import acoustics
from seqrec.synth.espeak import ESpeak, ESpeakError, list_variants
from seqrec.synth.kws import SyntheticCommands
from tests.conftest import TINY_WORDS


def test_espeak_speaks_and_rejects_unknown_voices():
    tts = ESpeak()
    audio = tts.synthesize("seven", voice="en-us+m3", rate=150)
    assert tts.sample_rate == 22050
    assert 0.2 < audio.size / tts.sample_rate < 1.5 and np.abs(audio).max() > 0.05
    slow = tts.synthesize("seven", voice="en-us+m3", rate=90)
    assert slow.size > audio.size
    with pytest.raises(ESpeakError, match="unknown eSpeak voice"):
        tts.synthesize("seven", voice="xx-nowhere+m3")


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
        audio, rate = sf.read(entries[0].path)
        assert rate == 16000 and audio.shape == (16000,) and entries[0].duration == 1.0
        assert (
            np.abs(audio).max() > 0.05 and np.abs(audio).min() >= 0
        )  # speech, and never digital silence
        assert (np.abs(audio) > 0).mean() > 0.9
    assert speakers["train"].isdisjoint(speakers["test"]) and speakers["train"].isdisjoint(
        speakers["val"]
    )
    assert len(list((root / "_background_noise_").glob("*.wav"))) == 6
    settings = json.loads((root / "corpus.json").read_text())
    corpus = SyntheticCommands(
        root=str(root),
        **{k: v for k, v in settings.items() if k not in ("num_workers", "synth_version")},
    )
    stamp = (root / "train.jsonl").stat().st_mtime_ns
    corpus()  # same settings: reused, not regenerated
    assert (root / "train.jsonl").stat().st_mtime_ns == stamp


def test_acoustics():
    rng = np.random.default_rng(0)
    for exponent in (0.0, 1.0, 2.0):
        noise = acoustics.colored_noise(16000, exponent, rng)
        assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-3)
    pink = np.abs(np.fft.rfft(acoustics.colored_noise(1 << 15, 1.0, rng))) ** 2
    assert pink[100:200].mean() > 5 * pink[5000:6000].mean()  # power falls with frequency
    speech = np.sin(np.linspace(0, 300, 8000)).astype(np.float32)
    mixed = acoustics.mix_at_snr(speech, acoustics.colored_noise(8000, 0.0, rng), 20.0)
    snr = 10 * np.log10(np.mean(speech**2) / np.mean((mixed - speech) ** 2))
    assert snr == pytest.approx(20.0, abs=1e-3)
    padded = np.concatenate([np.zeros(1000), speech, np.zeros(1000)]).astype(np.float32)
    assert abs(acoustics.trim_silence(padded, margin=0).size - speech.size) < 50
    rir = acoustics.room_impulse_response(16000, 0.3, rng)
    assert rir.size == 4800 and acoustics.reverberate(speech, rir).shape == speech.shape

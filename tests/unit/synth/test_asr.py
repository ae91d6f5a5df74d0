"""seqrec.synth.asr: the synthetic speech corpus holds out voices, sentences and words; word starts."""

import json

import hydra
import numpy as np
import pytest
import torchaudio

from seqrec.synth.asr import SyntheticSpeech, speak, text_statistics
from seqrec.synth.espeak import ESpeak
from tests.conftest import make_config


def test_rendered_utterances_know_where_each_word_starts():
    """With no reverberation and little noise, the audio is quiet before the first
    reported word start and loud just after it, and every later start falls inside
    the speech."""
    corpus = SyntheticSpeech(root="unused", reverb_prob=0.0, snr_db=(60.0, 60.0))
    tts = ESpeak()
    resample = torchaudio.transforms.Resample(tts.sample_rate, corpus.sample_rate)
    text = "bruno trapped your spooky laptop on the gorilla eagerly"
    for seed in range(3):
        audio, _, starts = speak(corpus, tts, resample, text, "m3", np.random.default_rng(seed))
        assert len(starts) == 9 and starts[6] is None  # eSpeak speaks "on the" as one word
        timed = [s for s in starts if s is not None]
        assert timed == sorted(timed) and timed[0] >= 0.05 and timed[-1] < audio.size / 16000 - 0.05
        first = int(timed[0] * 16000)
        before, after = audio[: first - 320], audio[first : first + 4800]  # 20 ms / 300 ms
        assert np.sqrt(np.mean(before**2)) < 0.01 * np.sqrt(np.mean(after**2))


def test_corpus_holds_out_voices_sentences_and_words(asr_data_dir):
    root = asr_data_dir / "asr_synthetic"
    rows = {
        s: [json.loads(line) for line in (root / f"{s}.jsonl").open()]
        for s in ("train", "val", "test")
    }
    assert [len(rows[s]) for s in ("train", "val", "test")] == [24, 4, 4]
    voices = {s: {r["speaker"] for r in rows[s]} for s in rows}
    texts = {s: {r["text"] for r in rows[s]} for s in rows}
    assert (
        not voices["train"] & (voices["val"] | voices["test"])
        and not voices["val"] & voices["test"]
    )
    assert not texts["train"] & (texts["val"] | texts["test"])
    lm_text = set((root / "lm_text.txt").read_text().splitlines())
    assert len(lm_text) == 200 and not lm_text & (texts["val"] | texts["test"])
    stats = json.loads((root / "text_stats.json").read_text())
    assert stats["test_unseen_type_share"] > 0
    assert [stats[f"{s}_left_out"] for s in ("train", "val", "test")] == [0, 0, 0]


@pytest.mark.parametrize("experiment", ["asr_synthetic", "asr_synthetic_large"])
def test_full_size_corpus_text_keeps_a_quarter_of_test_word_types_unseen(experiment, tmp_path):
    cfg = make_config(tmp_path, [f"experiment={experiment}"])
    corpus = hydra.utils.instantiate(cfg.data.prepare)
    texts = corpus.texts()  # the preset's own settings; text only, no audio
    assert len(texts["train"]) == cfg.data.prepare.utterances.train
    train_words = {w for s in texts["train"] for w in s.split()}
    test_tokens = [w for s in texts["test"] for w in s.split()]
    unseen = set(test_tokens) - train_words
    assert len(unseen) / len(set(test_tokens)) >= 0.25
    assert not set(texts["train"]) & set(texts["test"])
    stats = text_statistics(texts)
    assert stats["test_unseen_type_share"] == round(len(unseen) / len(set(test_tokens)), 4)
    token_share = sum(w in unseen for w in test_tokens) / len(test_tokens)
    assert stats["test_unseen_token_share"] == round(token_share, 4)
    if corpus.word_frequencies == "zipf":  # the unseen words are the rare ones
        assert token_share < 0.5 * stats["test_unseen_type_share"]

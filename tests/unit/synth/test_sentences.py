"""seqrec.synth.sentences: a vocabulary without homophones, Zipf word frequencies."""

from collections import Counter

import pytest

from seqrec.synth.asr import SyntheticSpeech
from seqrec.synth.espeak import ENGLISH_ACCENTS, ESpeak
from seqrec.synth.sentences import SentenceGenerator, all_words, split_vocabulary, zipf_weights


def test_vocabulary_has_no_homophones_in_any_accent():
    """No two words of the grammar sound the same to eSpeak, in any accent we use."""
    tts = ESpeak()
    words = sorted(all_words())
    for accent in ENGLISH_ACCENTS:
        sounds: dict[str, list[str]] = {}
        for word in words:
            phonemes = tts.phonemes(word, accent).replace("'", "").replace(",", "")
            sounds.setdefault(phonemes, []).append(word)
        assert [w for w in sounds.values() if len(w) > 1] == [], accent


def test_zipf_word_frequencies_fall_with_rank_and_put_held_out_words_last():
    train, full = split_vocabulary(0.4, seed=0)
    weights = zipf_weights(train, full, exponent=1.0, seed=0)
    nouns = sorted(full["noun"], key=weights["noun"].get, reverse=True)
    assert set(nouns[: len(train["noun"])]) == set(train["noun"])
    generate = SentenceGenerator(full, seed=1, weights=weights)
    counts = Counter(w for _ in range(20000) for w in generate().split())
    top, middle = counts[nouns[0]], counts[nouns[len(nouns) // 2]]
    # noun slots per sentence vary by template, so compare ratios loosely: 1/rank
    assert 0.5 * (len(nouns) // 2 + 1) < top / max(middle, 1) < 2.0 * (len(nouns) // 2 + 1)
    assert sum(counts[w] for w in set(full["noun"]) - set(train["noun"])) < 0.2 * sum(
        counts[w] for w in full["noun"]
    )
    uniform = SentenceGenerator(full, seed=1)
    counts = Counter(w for _ in range(20000) for w in uniform().split())
    held_out_share = sum(counts[w] for w in set(full["noun"]) - set(train["noun"])) / sum(
        counts[w] for w in full["noun"]
    )
    assert held_out_share == pytest.approx(0.4, abs=0.03)  # without weights: every noun alike
    with pytest.raises(ValueError, match="word_frequencies must be 'uniform' or 'zipf'"):
        SyntheticSpeech(root="unused", word_frequencies="zip")

"""seqrec.text.ngram: the estimated ARPA model is normalised."""

import pytest

from seqrec.text.ngram import estimate_arpa


def test_arpa_model_is_normalised(tmp_path):
    sentences = ["the cat sat on the mat", "the dog sat on a log", "a cat saw a dog"]
    counts = estimate_arpa(sentences, tmp_path / "lm.arpa", order=3)
    assert counts["1"] == 12  # 9 words, </s>, <unk> and <s> (listed, never predicted)
    probs, backoffs = {}, {}
    for line in (tmp_path / "lm.arpa").read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            probs[tuple(fields[1].split())] = 10 ** float(fields[0])
            if len(fields) == 3:
                backoffs[tuple(fields[1].split())] = 10 ** float(fields[2])

    def p(ngram):
        if ngram in probs:
            return probs[ngram]
        return backoffs.get(ngram[:-1], 1.0) * p(ngram[1:])

    vocab = [w for (w,) in (k for k in probs if len(k) == 1) if w != "<s>"]
    for context in [("<s>",), ("the",), ("<s>", "the"), ("the", "cat"), ("sat", "on"), ("zebra",)]:
        assert sum(p((*context, w)) for w in vocab) == pytest.approx(1.0, abs=1e-5), context

"""Word n-gram language models in ARPA format, estimated with interpolated
Kneser-Ney smoothing, for beam search with flashlight-text's KenLM.

Probabilities follow Chen & Goodman's interpolated Kneser-Ney with one absolute
discount per order: the highest order uses counts, the lower orders continuation
counts (how many different words precede an n-gram), except n-grams that start with
``<s>``, which nothing can precede and which keep their counts. Unigrams interpolate
with a uniform distribution over the vocabulary and ``<unk>``. Interpolated
estimates become ARPA's backoff form exactly: a seen n-gram stores its interpolated
probability and a context's backoff weight is its interpolation weight.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def estimate_arpa(
    sentences: Iterable[str], path: str | Path, order: int = 3, discount: float = 0.75
) -> dict[str, int]:
    """Write an ARPA model of the (already normalised) ``sentences`` to ``path``.

    Returns the number of n-grams of each order, e.g. ``{"1": 120, "2": 800, ...}``.
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    if not 0 < discount < 1:
        raise ValueError(f"discount must be in (0, 1), got {discount}")
    counts: list[Counter] = [Counter() for _ in range(order + 1)]  # counts[n][ngram]
    for sentence in sentences:
        words = [BOS, *sentence.split(), EOS]
        for n in range(1, order + 1):
            for i in range(len(words) - n + 1):
                ngram = tuple(words[i : i + n])
                if ngram != (BOS,):
                    counts[n][ngram] += 1
    if not counts[1]:
        raise ValueError("no text to estimate a language model from")

    # the counts each order's estimate uses: raw at the top order and after <s>,
    # continuation counts below
    effective: list[Counter] = [Counter() for _ in range(order + 1)]
    effective[order] = counts[order]
    for n in range(1, order):
        for ngram in counts[n + 1]:
            effective[n][ngram[1:]] += 1
        for ngram, c in counts[n].items():
            if ngram[0] == BOS:
                effective[n][ngram] = c
    effective[1].pop((BOS,), None)

    probs: list[dict[tuple, float]] = [{} for _ in range(order + 1)]
    backoffs: list[dict[tuple, float]] = [{} for _ in range(order + 1)]
    vocab = sorted({w for (w,) in effective[1]} | {EOS})
    uniform = 1.0 / (len(vocab) + 1)  # + <unk>
    total = sum(effective[1].values())
    types = len(effective[1])
    for word in vocab:
        seen = max(effective[1].get((word,), 0) - discount, 0.0) / total
        probs[1][(word,)] = seen + discount * types / total * uniform
    probs[1][(UNK,)] = discount * types / total * uniform

    for n in range(2, order + 1):
        by_context: dict[tuple, dict[str, int]] = defaultdict(dict)
        for ngram, c in effective[n].items():
            by_context[ngram[:-1]][ngram[-1]] = c
        for context, followers in by_context.items():
            context_total = sum(followers.values())
            weight = discount * len(followers) / context_total
            backoffs[n - 1][context] = weight
            for word, c in followers.items():
                lower = _probability(probs, backoffs, (*context[1:], word))
                probs[n][(*context, word)] = (c - discount) / context_total + weight * lower

    probs[1][(BOS,)] = 0.0  # never predicted; ARPA wants it listed (log10 -99)
    _write(path, probs, backoffs, order)
    return {str(n): len(probs[n]) for n in range(1, order + 1)}


def _probability(probs, backoffs, ngram: tuple) -> float:
    """p(ngram[-1] | ngram[:-1]) from the orders estimated so far, backing off."""
    if ngram in probs[len(ngram)]:
        return probs[len(ngram)][ngram]
    if len(ngram) == 1:
        return probs[1][(UNK,)]
    return backoffs[len(ngram) - 1].get(ngram[:-1], 1.0) * _probability(probs, backoffs, ngram[1:])


def _write(path, probs, backoffs, order: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for n in range(1, order + 1):
            f.write(f"ngram {n}={len(probs[n])}\n")
        for n in range(1, order + 1):
            f.write(f"\n\\{n}-grams:\n")
            for ngram in sorted(probs[n]):
                p = probs[n][ngram]
                logp = -99.0 if p <= 0 else math.log10(p)
                line = f"{logp:.6f}\t{' '.join(ngram)}"
                if n < order and ngram in backoffs[n]:
                    line += f"\t{math.log10(backoffs[n][ngram]):.6f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")
    tmp.replace(path)

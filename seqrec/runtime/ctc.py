"""Greedy CTC search in numpy: the results of :class:`seqrec.decoding.GreedySearch`.
The hypotheses and their word times are :mod:`seqrec.results`', shared with it."""

import numpy as np

from seqrec.results import Hypothesis, greedy_hypotheses
from seqrec.text.tokenizers import Tokenizer


def greedy_decode(
    log_probs: np.ndarray, lengths: np.ndarray, tokenizer: Tokenizer
) -> list[Hypothesis]:
    """(B, T, V) log-probabilities and (B,) frame counts -> B hypotheses.

    >>> from seqrec.text import CharTokenizer
    >>> frames = np.array([[0, 10, 10, 0, 11, 0]])  # blank, h, h, blank, i, blank
    >>> greedy_decode(np.eye(29)[frames], np.array([6]), CharTokenizer())[0].text
    'hi'
    """
    return greedy_hypotheses(log_probs.argmax(axis=-1), lengths, tokenizer)

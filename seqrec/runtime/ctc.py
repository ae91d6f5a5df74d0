"""The CTC searches of :mod:`seqrec.decoding` in numpy: greedy, and, where
flashlight-text is installed, beam search with or without a lexicon and its n-gram LM
(:mod:`seqrec.core.ctc_search`, which the PyTorch side runs too). The hypotheses and their
word times are :mod:`seqrec.core.results`', shared with it."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from seqrec.core.ctc_search import SEARCHES, beam_search, decoding_config, lexicon_search
from seqrec.core.results import Hypothesis, greedy_hypotheses
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


class GreedyDecoder:
    """:class:`seqrec.decoding.GreedySearch` on numpy arrays."""

    method = "greedy"

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def decode(self, log_probs: np.ndarray, lengths: np.ndarray) -> list[Hypothesis]:
        return greedy_decode(log_probs, lengths, self.tokenizer)


def build_search(
    decoding: Mapping[str, Any] | None, tokenizer: Tokenizer, source: str | Path = "decoding"
) -> Any:
    """The search a decoding config names, as :func:`seqrec.decoding.build_search` builds
    it, without Hydra: only seqrec's three searches, with the settings each takes (the
    config may come from a file's metadata, so nothing in it is instantiated)."""
    config = decoding_config(decoding)
    target = config.pop("_target_")
    config.pop("_partial_", None)
    if target not in SEARCHES:
        raise ValueError(
            f"{source}: decoding names {target!r}, which is none of seqrec's searches "
            f"{tuple(SEARCHES)}"
        )
    method, allowed = SEARCHES[target]
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"{source}: {method} decoding takes no {', '.join(unknown)}")
    if method == "greedy":
        return GreedyDecoder(tokenizer)
    try:
        import flashlight.lib.text  # noqa: F401
    except ImportError:
        raise ImportError(
            f"{source}: {method} decoding needs flashlight-text (pip install flashlight-text); "
            f"greedy decoding does not"
        ) from None
    if method == "beam":
        return beam_search(tokenizer, **config)
    return lexicon_search(tokenizer, **config)

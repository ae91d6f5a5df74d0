"""Decoding CTC outputs into text: the search over CTC paths (:class:`GreedySearch`,
:class:`BeamSearch`, :class:`LexiconBeamSearch`), and word times. (The recurrent
network is ``seqrec.modules.RecurrentDecoder``; the search here is called "search" to
keep the two apart.)

Config names the search class (``conf/decoding/*.yaml``, a ``_partial_`` completed with
the tokenizer); :func:`build_search` builds one from that config or from the
``{"method": ...}`` form that older checkpoints hold."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from seqrec.checkpoint import check_config
from seqrec.core.ctc_search import FlashlightSearch, beam_search, decoding_config, lexicon_search
from seqrec.core.results import Hypothesis, greedy_hypotheses
from seqrec.core.results import WordTime as WordTime
from seqrec.core.results import word_times as word_times
from seqrec.core.safe_config import DECODING_TARGETS
from seqrec.text.tokenizers import Tokenizer


class CTCSearch:
    """What every search over CTC paths does: (B, T, V) log-probabilities and (B,)
    frame counts in, text out. ``method`` names it in reports (``greedy``, ``beam``,
    ``beam_lm``, as the files in ``conf/decoding/``).

    Args:
        tokenizer: the model's :class:`~seqrec.text.Tokenizer`.
    """

    method: str

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """(B, T, V) log-probabilities and (B,) frame counts -> B strings."""
        return [hypothesis.text for hypothesis in self.decode(log_probs, lengths)]

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[Hypothesis]:
        """(B, T, V) log-probabilities and (B,) frame counts -> B hypotheses, with the
        frame of every token (for :func:`word_times`)."""
        raise NotImplementedError


class GreedySearch(CTCSearch):
    """Best path: the top token per frame, repeats merged, blanks dropped.

    >>> from seqrec.text import CharTokenizer
    >>> tok = CharTokenizer()
    >>> frames = torch.tensor([[0, 10, 10, 0, 11, 0]])  # blank, h, h, blank, i, blank
    >>> GreedySearch(tok)(torch.nn.functional.one_hot(frames, 29).float(), torch.tensor([6]))
    ['hi']
    """

    method = "greedy"

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[Hypothesis]:
        best = log_probs.argmax(dim=-1).cpu().numpy()  # (B, T)
        return greedy_hypotheses(best, lengths.tolist(), self.tokenizer)


class _FlashlightSearch(CTCSearch):
    """A beam search run by flashlight-text (:class:`seqrec.core.ctc_search.FlashlightSearch`,
    which :mod:`seqrec.runtime` runs too)."""

    def __init__(self, tokenizer: Tokenizer, search: FlashlightSearch) -> None:
        super().__init__(tokenizer)
        self._search = search

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[Hypothesis]:
        emissions = log_probs.detach().float().cpu().numpy()
        return self._search.decode(emissions, lengths.cpu().tolist())


class BeamSearch(_FlashlightSearch):
    """Lexicon-free beam search without a language model (flashlight-text).

    Args:
        tokenizer: the model's :class:`~seqrec.text.Tokenizer`.
        beam_size: hypotheses kept per frame.
        beam_threshold: prune hypotheses this far below the best.
    """

    method = "beam"

    def __init__(
        self, tokenizer: Tokenizer, beam_size: int = 32, beam_threshold: float = 25.0
    ) -> None:
        super().__init__(tokenizer, beam_search(tokenizer, beam_size, beam_threshold))


class LexiconBeamSearch(_FlashlightSearch):
    """Beam search over a lexicon with a word n-gram LM (flashlight-text KenLM).

    Args:
        tokenizer: the model's :class:`~seqrec.text.Tokenizer`.
        settings: those of :func:`seqrec.core.ctc_search.lexicon_search`, with its defaults:
            ``beam_size``, ``beam_threshold`` (as for :class:`BeamSearch`);
            ``lm_path``, an ARPA or KenLM binary model, or ``lm_text``, normalised
            sentences one per line to estimate an n-gram LM of order ``lm_order``
            from (cached next to the text as ``<name>.<order>gram.arpa``);
            ``lexicon``, a words file (one word per line, or a lexicon whose first
            column is the word) limiting the words the search may output (None: the
            words of ``lm_text``); ``lm_weight`` and ``word_score``, the LM weight
            and word insertion bonus; ``lm_arpa`` and ``words``, the LM's ARPA text
            and the words as data, the form checkpoints and exports carry
            (:func:`seqrec.core.ctc_search.embed_decoding`). The same function builds the
            runtime's search.
    """

    method = "beam_lm"

    def __init__(self, tokenizer: Tokenizer, **settings: Any) -> None:
        super().__init__(tokenizer, lexicon_search(tokenizer, **settings))


def build_search(
    decoding: Mapping[str, Any] | None,
    tokenizer: Tokenizer,
    source: str | Path = "the decoding config",
) -> CTCSearch:
    """The search a decoding config names (either form, :func:`decoding_config`),
    completed with ``tokenizer``.

    The config may come from a checkpoint, so it is checked first
    (:func:`~seqrec.checkpoint.check_config`: only seqrec's own classes, no
    interpolations); ``source`` names it in the error.

    >>> from seqrec.text import CharTokenizer
    >>> build_search({"_target_": "seqrec.decoding.BeamSearch", "beam_size": 8}, CharTokenizer()).method
    'beam'
    >>> build_search({"method": "greedy"}, CharTokenizer()).method
    'greedy'
    """
    from hydra.utils import instantiate

    config = decoding_config(decoding)
    check_config(config, source, "decoding", DECODING_TARGETS)
    search = instantiate(config, _partial_=True)(tokenizer)
    if not isinstance(search, CTCSearch):
        raise TypeError(f"{source}: decoding names {config['_target_']}, which is not a CTC search")
    return search

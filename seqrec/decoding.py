"""Decoding CTC outputs into text: the search over CTC paths (:class:`GreedySearch`,
:class:`BeamSearch`, :class:`LexiconBeamSearch`), and word times. (The recurrent
network is ``seqrec.modules.RecurrentDecoder``; the search here is called "search" to
keep the two apart.)

Config names the search class (``conf/decoding/*.yaml``, a ``_partial_`` completed with
the tokenizer); :func:`build_search` builds one from that config or from the
``{"method": ...}`` form that older checkpoints hold."""

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from seqrec.checkpoint import check_config
from seqrec.results import Hypothesis, best_paths, greedy_hypotheses
from seqrec.results import WordTime as WordTime
from seqrec.results import word_times as word_times
from seqrec.text.tokenizers import WORD_BOUNDARY, Tokenizer


def ctc_greedy_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0
) -> list[list[int]]:
    """Best path decoding: take the top token per frame, merge repeats, drop blanks.

    Args:
        log_probs: (B, T, V) scores per frame; padded frames are ignored.
        lengths: (B,) real frame counts.
        blank: index of the CTC blank.

    >>> frames = torch.tensor([[0, 3, 3, 0, 3, 5, 5, 0]])  # blank = 0
    >>> ctc_greedy_decode(torch.nn.functional.one_hot(frames, 6).float(), torch.tensor([7]))
    [[3, 3, 5]]
    """
    return [tokens for tokens, _ in ctc_greedy_path(log_probs, lengths, blank)]


def ctc_greedy_path(
    log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0
) -> list[tuple[list[int], list[int]]]:
    """:func:`ctc_greedy_decode` with, for every token, the frame where its run of
    frames begins.

    >>> frames = torch.tensor([[0, 3, 3, 0, 3, 5, 5, 0]])
    >>> ctc_greedy_path(torch.nn.functional.one_hot(frames, 6).float(), torch.tensor([7]))
    [([3, 3, 5], [1, 4, 5])]
    """
    return best_paths(log_probs.argmax(dim=-1).cpu().numpy(), lengths.tolist(), blank)


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
    """A beam search run by flashlight-text, through
    :func:`torchaudio.models.decoder.ctc_decoder`; ``options`` go to it."""

    def __init__(
        self, tokenizer: Tokenizer, beam_size: int, beam_threshold: float, **options: Any
    ) -> None:
        super().__init__(tokenizer)
        from torchaudio.models.decoder import ctc_decoder

        tokens = tokenizer.decoder_tokens()
        self._extra_columns = len(tokens) - tokenizer.num_classes  # a never-emitted "|"
        self._search = ctc_decoder(
            tokens=tokens,
            beam_size=beam_size,
            beam_threshold=beam_threshold,
            blank_token=tokens[0],
            sil_token=WORD_BOUNDARY,
            nbest=1,
            **options,
        )

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[Hypothesis]:
        emissions = log_probs.detach().float().cpu()
        if self._extra_columns:
            pad = emissions.new_full((*emissions.shape[:2], self._extra_columns), -1e5)
            emissions = torch.cat([emissions, pad], dim=-1)
        results = self._search(emissions.contiguous(), lengths.cpu().to(torch.int32))
        hypotheses = []
        for hyps in results:
            if not hyps:
                hypotheses.append(Hypothesis(""))
                continue
            tokens = hyps[0].tokens.tolist()
            # flashlight's path starts with a sentinel before frame 0, which torchaudio
            # counts in its timesteps: frame = timestep - 1
            frames = (hyps[0].timesteps - 1).clamp(min=0).tolist()
            hypotheses.append(Hypothesis(self.tokenizer.decode(tokens), tokens, frames))
        return hypotheses


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
        super().__init__(tokenizer, beam_size, beam_threshold, lexicon=None, lm=None)


class LexiconBeamSearch(_FlashlightSearch):
    """Beam search over a lexicon with a word n-gram LM (flashlight-text KenLM).

    Args:
        tokenizer: the model's :class:`~seqrec.text.Tokenizer`.
        beam_size, beam_threshold: as for :class:`BeamSearch`.
        lm_path: ARPA or KenLM binary model; None builds one from ``lm_text``.
        lm_text: normalised sentences, one per line, to estimate an n-gram LM from
            (cached next to the text as ``<name>.<order>gram.arpa``).
        lm_order: n of that LM.
        lexicon: words file (one word per line, or a lexicon whose first column is the
            word) limiting the words the search may output; None takes the words of
            ``lm_text``.
        lm_weight, word_score: LM weight and word insertion bonus.
    """

    method = "beam_lm"

    def __init__(
        self,
        tokenizer: Tokenizer,
        beam_size: int = 32,
        beam_threshold: float = 25.0,
        lm_path: str | None = None,
        lm_text: str | None = None,
        lm_order: int = 3,
        lexicon: str | None = None,
        lm_weight: float = 1.0,
        word_score: float = 0.0,
    ) -> None:
        if lm_path is None:
            if lm_text is None:
                raise ValueError("beam_lm needs decoding.lm_path (ARPA/binary) or decoding.lm_text")
            lm_path = str(ensure_lm(lm_text, lm_order))
        if not Path(lm_path).is_file():
            raise FileNotFoundError(f"language model {lm_path} not found")
        words = _read_words(lexicon or lm_text, lexicon is not None)
        with tempfile.TemporaryDirectory() as tmp:  # read whole by ctc_decoder
            lexicon_file = Path(tmp) / "lexicon.txt"
            lexicon_file.write_text(
                "".join(f"{w}\t{' '.join(tokenizer.spell(w))}\n" for w in words), encoding="utf-8"
            )
            super().__init__(
                tokenizer,
                beam_size,
                beam_threshold,
                lexicon=str(lexicon_file),
                lm=str(lm_path),
                lm_weight=lm_weight,
                word_score=word_score,
            )


GREEDY: dict[str, Any] = {"_target_": "seqrec.decoding.GreedySearch", "_partial_": True}

# Checkpoints written before the searches were named by ``_target_`` hold the arguments
# of the old ``CTCSearch(tokenizer, method, ...)``: ``{"method": ..., ...}``. For each
# method, the class it meant and the settings it ignored (dropped, so it decodes as it did).
_BEAM_SETTINGS = ("beam_size", "beam_threshold")
_LM_SETTINGS = ("lm_path", "lm_text", "lm_order", "lexicon", "lm_weight", "word_score")
_OLD_METHODS = {
    "greedy": ("seqrec.decoding.GreedySearch", (*_BEAM_SETTINGS, *_LM_SETTINGS)),
    "beam": ("seqrec.decoding.BeamSearch", _LM_SETTINGS),
    "beam_lm": ("seqrec.decoding.LexiconBeamSearch", ()),
}


def decoding_config(decoding: Mapping[str, Any] | None) -> dict[str, Any]:
    """``decoding`` as a config that names its search class.

    A config with a ``_target_`` (``conf/decoding/``) is returned as it is, and None
    means greedy. The ``{"method": "greedy"|"beam"|"beam_lm", ...}`` of checkpoints
    written before the classes were named becomes the class that method meant, with
    the settings it used.

    >>> decoding_config({"method": "beam", "beam_size": 8, "lm_weight": 2.0})
    {'_target_': 'seqrec.decoding.BeamSearch', '_partial_': True, 'beam_size': 8}
    """
    if not decoding:
        return dict(GREEDY)
    config = dict(decoding)
    if "_target_" in config:
        return config
    method = config.pop("method", "greedy")
    if method not in _OLD_METHODS:
        raise ValueError(
            f"decoding has no _target_, and its method {method!r} is none of {tuple(_OLD_METHODS)}"
        )
    target, ignored = _OLD_METHODS[method]
    settings = {key: value for key, value in config.items() if key not in ignored}
    return {"_target_": target, "_partial_": True, **settings}


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
    check_config(config, source, "decoding")
    search = instantiate(config, _partial_=True)(tokenizer)
    if not isinstance(search, CTCSearch):
        raise TypeError(f"{source}: decoding names {config['_target_']}, which is not a CTC search")
    return search


def ensure_lm(lm_text: str | Path, order: int = 3) -> Path:
    """An ARPA model of ``lm_text``, estimated once and reused while the text is unchanged."""
    from seqrec.text.ngram import estimate_arpa

    lm_text = Path(lm_text)
    if not lm_text.is_file():
        raise FileNotFoundError(f"LM text {lm_text} not found")
    arpa = lm_text.with_name(f"{lm_text.stem}.{order}gram.arpa")
    if not arpa.is_file() or arpa.stat().st_mtime < lm_text.stat().st_mtime:
        with lm_text.open(encoding="utf-8") as f:
            estimate_arpa((line.strip() for line in f if line.strip()), arpa, order)
    return arpa


def _read_words(path: str | Path, is_lexicon: bool) -> list[str]:
    """The distinct words of a text file (or the first column of a lexicon)."""
    words: dict[str, None] = {}
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            for word in fields[:1] if is_lexicon else fields:
                words[word] = None
    return list(words)

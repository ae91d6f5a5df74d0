"""Decoding CTC outputs."""

import tempfile
from pathlib import Path

import torch

from seqrec.text.tokenizers import WORD_BOUNDARY


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
    best = log_probs.argmax(dim=-1).cpu()  # (B, T)
    hypotheses = []
    for path, length in zip(best, lengths.tolist(), strict=True):
        tokens = torch.unique_consecutive(path[:length])
        hypotheses.append(tokens[tokens != blank].tolist())
    return hypotheses


DECODING_METHODS = ("greedy", "beam", "beam_lm")


class CTCDecoder:
    """Turns CTC log-probabilities into text: greedy, beam search, or beam search with
    a lexicon and a word n-gram LM (flashlight-text, through
    :func:`torchaudio.models.decoder.ctc_decoder`).

    Args:
        tokenizer: the model's :class:`~seqrec.text.Tokenizer`.
        method: ``greedy``, ``beam`` (lexicon-free, no LM) or ``beam_lm``.
        beam_size: hypotheses kept per frame.
        beam_threshold: prune hypotheses this far below the best.
        lm_path: ARPA or KenLM binary model (``beam_lm``); None builds one from
            ``lm_text``.
        lm_text: normalised sentences, one per line, to estimate an n-gram LM from
            (cached next to the text as ``<name>.<order>gram.arpa``).
        lm_order: n of that LM.
        lexicon: words file (one word per line, or a lexicon whose first column is the
            word) limiting the words the search may output; None takes the words of
            ``lm_text``.
        lm_weight, word_score: LM weight and word insertion bonus.
    """

    def __init__(
        self,
        tokenizer,
        method: str = "greedy",
        beam_size: int = 32,
        beam_threshold: float = 25.0,
        lm_path: str | None = None,
        lm_text: str | None = None,
        lm_order: int = 3,
        lexicon: str | None = None,
        lm_weight: float = 1.0,
        word_score: float = 0.0,
    ) -> None:
        if method not in DECODING_METHODS:
            raise ValueError(f"decoding method must be one of {DECODING_METHODS}, got {method!r}")
        self.tokenizer = tokenizer
        self.method = method
        self._search = None
        if method == "greedy":
            return
        from torchaudio.models.decoder import ctc_decoder

        tokens = tokenizer.decoder_tokens()
        self._extra_columns = len(tokens) - tokenizer.num_classes  # a never-emitted "|"
        options = dict(
            tokens=tokens,
            beam_size=beam_size,
            beam_threshold=beam_threshold,
            blank_token=tokens[0],
            sil_token=WORD_BOUNDARY,
            nbest=1,
        )
        if method == "beam":
            self._search = ctc_decoder(lexicon=None, lm=None, **options)
            return
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
            self._search = ctc_decoder(
                lexicon=str(lexicon_file),
                lm=str(lm_path),
                lm_weight=lm_weight,
                word_score=word_score,
                **options,
            )

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """(B, T, V) log-probabilities and (B,) frame counts -> B strings."""
        if self._search is None:
            return [self.tokenizer.decode(ids) for ids in ctc_greedy_decode(log_probs, lengths)]
        emissions = log_probs.detach().float().cpu()
        if self._extra_columns:
            pad = emissions.new_full((*emissions.shape[:2], self._extra_columns), -1e5)
            emissions = torch.cat([emissions, pad], dim=-1)
        results = self._search(emissions.contiguous(), lengths.cpu().to(torch.int32))
        return [self.tokenizer.decode(hyps[0].tokens.tolist()) if hyps else "" for hyps in results]


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

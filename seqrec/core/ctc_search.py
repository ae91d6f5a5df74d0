"""The CTC searches, in numpy and torch-free, for the PyTorch models and the ONNX
runtime alike: :class:`GreedySearch`, and flashlight-text's lexicon-free and lexicon
decoders with its KenLM (:class:`BeamSearch`, :class:`LexiconBeamSearch`), built from
a decoding config by :func:`build_search`.

flashlight-text does the beam search; :class:`FlashlightSearch` builds its decoders
exactly as ``torchaudio.models.decoder.ctc_decoder`` does (same options, same trie of
the lexicon's spellings scored by the LM, same silence and blank), but from numpy
arrays, so that the runtime needs no torch. Also here: the decoding config
(:func:`decoding_config`) and the LM of a text (:func:`ensure_lm`). (The recurrent
network is ``seqrec.modules.RecurrentDecoder``; the search here is called "search" to
keep the two apart.)
"""

import itertools
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqrec.core.results import Hypothesis, greedy_hypotheses
from seqrec.core.safe_config import (
    BEAM,
    DECODING_PATHS,
    GREEDY,
    LEXICON_BEAM,
    MAX_LM_ORDER,
    check_search_settings,
    renamed,
)
from seqrec.text.tokenizers import WORD_BOUNDARY, Tokenizer

_BEAM = ("beam_size", "beam_threshold")
# lm_arpa and words: the LM and the lexicon as data (checkpoints, exports); the rest
# name files, which only the user may give
_LM = ("lm_path", "lm_text", "lm_order", "lexicon", "lm_weight", "word_score", "lm_arpa", "words")
# the settings each search takes (besides the tokenizer), and what ``method`` calls it
SEARCHES: dict[str, tuple[str, tuple[str, ...]]] = {
    GREEDY: ("greedy", ()),
    BEAM: ("beam", _BEAM),
    LEXICON_BEAM: ("beam_lm", (*_BEAM, *_LM)),
}


def decoding_config(decoding: Mapping[str, Any] | None) -> dict[str, Any]:
    """``decoding`` as a config naming one of :data:`SEARCHES` by ``_target_`` (an old
    name under its new one, :data:`~seqrec.core.safe_config.RENAMED_TARGETS`); None
    means greedy.

    >>> decoding_config({"_target_": "seqrec.decoding.BeamSearch", "beam_size": 8})
    {'_target_': 'seqrec.core.ctc_search.BeamSearch', 'beam_size': 8}
    >>> decoding_config({"method": "beam"})
    Traceback (most recent call last):
    ...
    ValueError: decoding names no search: give a _target_, one of greedy, beam, beam_lm (conf/decoding/)
    """
    if not decoding:
        return {"_target_": GREEDY}
    config = renamed(dict(decoding))
    if config.get("_target_") not in SEARCHES:
        if "_target_" not in config:
            names = ", ".join(method for method, _ in SEARCHES.values())
            raise ValueError(
                f"decoding names no search: give a _target_, one of {names} (conf/decoding/)"
            )
        raise ValueError(
            f"decoding names {config['_target_']!r}, which is none of seqrec's searches "
            f"{tuple(SEARCHES)}"
        )
    return config


def search_method(decoding: Mapping[str, Any] | None) -> str:
    """``greedy``, ``beam`` or ``beam_lm``: the method of a decoding config; an error
    for a class that is none of seqrec's three searches.

    >>> search_method({"_target_": "seqrec.core.ctc_search.LexiconBeamSearch", "lm_text": "t.txt"})
    'beam_lm'
    """
    return SEARCHES[decoding_config(decoding)["_target_"]][0]


class FlashlightSearch:
    """A CTC beam search by flashlight-text: lexicon-free with no LM, or over the words
    of ``lexicon`` scored by the KenLM (ARPA or binary) ``lm_path``.

    Args:
        tokenizer: the model's :class:`~seqrec.text.Tokenizer`.
        beam_size: hypotheses kept per frame.
        beam_threshold: prune hypotheses this far below the best.
        lexicon: the words the search may output (each spelled by the tokenizer), or
            None for a lexicon-free search.
        lm_path: the word LM of a lexicon search.
        lm_weight, word_score: LM weight and word insertion bonus.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        beam_size: int,
        beam_threshold: float,
        lexicon: Sequence[str] | None = None,
        lm_path: str | Path | None = None,
        lm_weight: float = 1.0,
        word_score: float = 0.0,
    ) -> None:
        from flashlight.lib.text import decoder as fl
        from flashlight.lib.text.dictionary import Dictionary, create_word_dict

        self.tokenizer = tokenizer
        self.method = "beam" if lexicon is None else "beam_lm"
        tokens = tokenizer.decoder_tokens()
        self.num_tokens = len(tokens)  # may exceed the model's classes by a never-emitted "|"
        token_dict = Dictionary(tokens)
        self.blank = token_dict.get_index(tokens[0])
        silence = token_dict.get_index(WORD_BOUNDARY)
        common = {
            "beam_size": beam_size,
            "beam_size_token": token_dict.index_size(),
            "beam_threshold": beam_threshold,
            "lm_weight": lm_weight,
            "sil_score": 0.0,
            "log_add": False,
            "criterion_type": fl.CriterionType.CTC,
        }
        if lexicon is None:
            if lm_path is not None:
                raise ValueError("a lexicon-free search takes no LM here; give a lexicon")
            self.lm = fl.ZeroLM()
            options = fl.LexiconFreeDecoderOptions(**common)
            self._decoder = fl.LexiconFreeDecoder(options, self.lm, silence, self.blank, [])
            return
        from flashlight.lib.text.decoder import KenLM

        spellings = _load_lexicon(lexicon, tokenizer)
        word_dict = create_word_dict(spellings)
        self.lm = KenLM(str(lm_path), word_dict) if lm_path is not None else fl.ZeroLM()
        trie = fl.Trie(token_dict.index_size(), silence)
        start = self.lm.start(False)
        for word, spelled in spellings.items():
            index = word_dict.get_index(word)
            _, score = self.lm.score(start, index)
            for spelling in spelled:
                trie.insert([token_dict.get_index(t) for t in spelling], index, score)
        trie.smear(fl.SmearingMode.MAX)
        options = fl.LexiconDecoderOptions(**common, word_score=word_score, unk_score=float("-inf"))
        unk = word_dict.get_index("<unk>")
        self._decoder = fl.LexiconDecoder(
            options, trie, self.lm, silence, self.blank, unk, [], False
        )

    def decode(self, log_probs: np.ndarray, lengths: Sequence[int]) -> list[Hypothesis]:
        """(B, T, V) log-probabilities and (B,) frame counts -> B best hypotheses, with
        the frame where each token's run begins."""
        emissions = np.asarray(log_probs, dtype=np.float32)
        batch, frames, classes = emissions.shape
        if classes < self.num_tokens:  # columns for tokens the model never emits
            pad = np.full((batch, frames, self.num_tokens - classes), -1e5, np.float32)
            emissions = np.concatenate([emissions, pad], axis=-1)
        emissions = np.ascontiguousarray(emissions)
        row_bytes = emissions.strides[0]
        hypotheses = []
        for b, length in enumerate(lengths):
            results = self._decoder.decode(
                emissions.ctypes.data + b * row_bytes, int(length), self.num_tokens
            )
            hypotheses.append(self._hypothesis(results[0].tokens) if results else Hypothesis(""))
        return hypotheses

    def _hypothesis(self, path: Sequence[int]) -> Hypothesis:
        """The tokens of a flashlight path, and the frame where each token's run begins.
        The path starts with a sentinel before frame 0, so position i is frame i - 1."""
        tokens, frames = [], []
        position = 0
        for token, run in itertools.groupby(path):
            if token != self.blank:
                tokens.append(token)
                frames.append(max(position - 1, 0))
            position += len(list(run))
        return Hypothesis(self.tokenizer.decode(tokens), tokens, frames)


def _load_lexicon(words: Sequence[str], tokenizer: Tokenizer) -> dict[str, list[list[str]]]:
    """flashlight's lexicon of ``words`` spelled by ``tokenizer``, read as
    ``ctc_decoder`` reads its lexicon file (``load_words``, which adds ``<unk>``)."""
    from flashlight.lib.text.dictionary import load_words

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lexicon.txt"
        path.write_text(
            "".join(f"{w}\t{' '.join(tokenizer.spell(w))}\n" for w in words), encoding="utf-8"
        )
        return load_words(str(path))


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


def read_words(path: str | Path, is_lexicon: bool) -> list[str]:
    """The distinct words of a text file (or the first column of a lexicon), in order."""
    words: dict[str, None] = {}
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            for word in fields[:1] if is_lexicon else fields:
                words[word] = None
    return list(words)


def lexicon_search(
    tokenizer: Tokenizer,
    beam_size: int = 32,
    beam_threshold: float = 25.0,
    lm_path: str | None = None,
    lm_text: str | None = None,
    lm_order: int = 3,
    lexicon: str | None = None,
    lm_weight: float = 1.0,
    word_score: float = 0.0,
    lm_arpa: str | None = None,
    words: Sequence[str] | None = None,
) -> FlashlightSearch:
    """The flashlight search of :class:`LexiconBeamSearch` (its arguments, its
    defaults): the LM ``lm_arpa`` (an ARPA model's text), ``lm_path``, or one estimated
    from ``lm_text``; the words of ``words``, ``lexicon``, or ``lm_text`` (with
    ``lm_arpa`` alone: the LM's unigrams)."""
    check_search_settings({"beam_size": beam_size, "lm_order": lm_order, "words": words})
    if lm_arpa is not None:
        counts = check_arpa(lm_arpa)
        if words is None:
            words = arpa_unigrams(lm_arpa)
        if not counts:
            raise ValueError("lm_arpa holds no n-grams")
        with tempfile.TemporaryDirectory() as tmp:  # KenLM reads a file; it is ours
            arpa = Path(tmp) / "lm.arpa"
            arpa.write_text(lm_arpa, encoding="utf-8")
            return FlashlightSearch(
                tokenizer, beam_size, beam_threshold, list(words), arpa, lm_weight, word_score
            )
    if lm_path is None:
        if lm_text is None:
            raise ValueError(
                "beam_lm needs decoding.lm_path (ARPA/binary), decoding.lm_text or decoding.lm_arpa"
            )
        lm_path = str(ensure_lm(lm_text, lm_order))
    if not Path(lm_path).is_file():
        raise FileNotFoundError(f"language model {lm_path} not found")
    if words is None:
        words_file = lexicon or lm_text
        if words_file is None:
            raise ValueError("beam_lm with lm_path needs decoding.lexicon (or decoding.lm_text)")
        if not Path(words_file).is_file():
            raise FileNotFoundError(f"lexicon {words_file} not found")
        words = read_words(words_file, lexicon is not None)
    return FlashlightSearch(
        tokenizer, beam_size, beam_threshold, list(words), lm_path, lm_weight, word_score
    )


class CTCSearch:
    """What every search over CTC paths does: (B, T, V) log-probabilities and (B,)
    frame counts in (numpy arrays), text out. ``method`` names it in reports
    (``greedy``, ``beam``, ``beam_lm``, as the files in ``conf/decoding/``).

    Args:
        tokenizer: the model's :class:`~seqrec.text.Tokenizer`.
    """

    method: str

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, log_probs: np.ndarray, lengths: Sequence[int]) -> list[str]:
        """(B, T, V) log-probabilities and (B,) frame counts -> B strings."""
        return [hypothesis.text for hypothesis in self.decode(log_probs, lengths)]

    def decode(self, log_probs: np.ndarray, lengths: Sequence[int]) -> list[Hypothesis]:
        """(B, T, V) log-probabilities and (B,) frame counts -> B hypotheses, with the
        frame of every token (for :func:`~seqrec.core.results.word_times`)."""
        raise NotImplementedError


class GreedySearch(CTCSearch):
    """Best path: the top token per frame, repeats merged, blanks dropped.

    >>> from seqrec.text import CharTokenizer
    >>> frames = np.array([[0, 10, 10, 0, 11, 0]])  # blank, h, h, blank, i, blank
    >>> GreedySearch(CharTokenizer())(np.eye(29)[frames], [6])
    ['hi']
    """

    method = "greedy"

    def decode(self, log_probs: np.ndarray, lengths: Sequence[int]) -> list[Hypothesis]:
        return greedy_hypotheses(np.asarray(log_probs).argmax(axis=-1), lengths, self.tokenizer)


class _FlashlightBacked(CTCSearch):
    """A search run by a :class:`FlashlightSearch` that the subclass builds."""

    _search: FlashlightSearch

    def decode(self, log_probs: np.ndarray, lengths: Sequence[int]) -> list[Hypothesis]:
        return self._search.decode(log_probs, lengths)


class BeamSearch(_FlashlightBacked):
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
        super().__init__(tokenizer)
        check_search_settings({"beam_size": beam_size})
        self._search = FlashlightSearch(tokenizer, beam_size, beam_threshold)


class LexiconBeamSearch(_FlashlightBacked):
    """Beam search over a lexicon with a word n-gram LM (flashlight-text KenLM).

    Args:
        tokenizer: the model's :class:`~seqrec.text.Tokenizer`.
        settings: those of :func:`lexicon_search`, with its defaults: ``beam_size``,
            ``beam_threshold`` (as for :class:`BeamSearch`); ``lm_path``, an ARPA or
            KenLM binary model, or ``lm_text``, normalised sentences one per line to
            estimate an n-gram LM of order ``lm_order`` from (cached next to the text
            as ``<name>.<order>gram.arpa``); ``lexicon``, a words file (one word per
            line, or a lexicon whose first column is the word) limiting the words the
            search may output (None: the words of ``lm_text``); ``lm_weight`` and
            ``word_score``, the LM weight and word insertion bonus; ``lm_arpa`` and
            ``words``, the LM's ARPA text and the words as data, the form checkpoints
            and exports carry (:func:`embed_decoding`).
    """

    method = "beam_lm"

    def __init__(self, tokenizer: Tokenizer, **settings: Any) -> None:
        super().__init__(tokenizer)
        self._search = lexicon_search(tokenizer, **settings)


def build_search(
    decoding: Mapping[str, Any] | None,
    tokenizer: Tokenizer,
    source: str | Path = "the decoding config",
) -> CTCSearch:
    """The search a decoding config names (``conf/decoding/``; None: greedy), completed
    with ``tokenizer``. Nothing in the config is instantiated: it may come from a
    checkpoint or an export, so it may only name one of :data:`SEARCHES` with the
    settings that search takes; ``source`` names it in an error.

    >>> from seqrec.text import CharTokenizer
    >>> build_search({"_target_": "seqrec.core.ctc_search.GreedySearch"}, CharTokenizer()).method
    'greedy'
    """
    try:
        config = decoding_config(decoding)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    target = config.pop("_target_")
    config.pop("_partial_", None)
    method, allowed = SEARCHES[target]
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"{source}: {method} decoding takes no {', '.join(unknown)}")
    if method == "greedy":
        return GreedySearch(tokenizer)
    try:
        import flashlight.lib.text  # noqa: F401
    except ImportError:
        raise ImportError(
            f"{source}: {method} decoding needs flashlight-text (pip install flashlight-text); "
            f"greedy decoding does not"
        ) from None
    if method == "beam":
        return BeamSearch(tokenizer, **config)
    return LexiconBeamSearch(tokenizer, **config)


def embed_decoding(decoding: Mapping[str, Any] | None) -> dict[str, Any]:
    """``decoding`` (either form) with the files it names read into it: a lexicon
    search's LM as ARPA text (``lm_arpa``, estimated from ``lm_text`` if need be) and
    its words (``words``), so that a checkpoint or an export carries them as data and
    names no file (:mod:`seqrec.core.safe_config`). Other configs are returned as
    :func:`decoding_config` gives them.

    >>> embed_decoding({"_target_": "seqrec.core.ctc_search.BeamSearch", "beam_size": 8})
    {'_target_': 'seqrec.core.ctc_search.BeamSearch', 'beam_size': 8}
    """
    config = decoding_config(decoding)
    if config["_target_"] != LEXICON_BEAM or all(config.get(k) is None for k in DECODING_PATHS):
        return config
    lm_path, lm_text, lexicon = (config.pop(key, None) for key in DECODING_PATHS)
    order = config.pop("lm_order", 3)
    check_search_settings({"lm_order": order})
    if lm_path is None:
        if lm_text is None:
            raise ValueError("beam_lm needs decoding.lm_path (ARPA) or decoding.lm_text")
        lm_path = ensure_lm(lm_text, order)
    try:
        config["lm_arpa"] = Path(lm_path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            f"{lm_path}: a language model travels inside a checkpoint or an export as ARPA "
            f"text; this one is binary (give the ARPA file it was built from)"
        ) from None
    check_arpa(config["lm_arpa"], str(lm_path))
    if config.get("words") is None:
        words_file = lexicon or lm_text
        config["words"] = (
            read_words(words_file, lexicon is not None)
            if words_file is not None
            else arpa_unigrams(config["lm_arpa"])
        )
    return config


def check_arpa(text: str, source: str = "lm_arpa") -> dict[int, int]:
    """The n-gram counts of an ARPA model's text, after checking that its header
    declares exactly the entries its sections hold, for orders 1 to
    :data:`~seqrec.core.safe_config.MAX_LM_ORDER` (KenLM sizes its tables by the header)."""
    declared: dict[int, int] = {}
    found: dict[int, int] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "\\data\\":
            section = "data"
        elif line == "\\end\\":
            section = None
        elif line.startswith("\\") and line.endswith("-grams:"):
            try:
                section = int(line[1:].split("-")[0])
            except ValueError:
                raise ValueError(f"{source}: not an ARPA model (section {line!r})") from None
            found.setdefault(section, 0)
        elif section == "data" and line.startswith("ngram "):
            order, _, count = line[len("ngram ") :].partition("=")
            try:
                declared[int(order)] = int(count)
            except ValueError:
                raise ValueError(f"{source}: not an ARPA model (header line {line!r})") from None
        elif isinstance(section, int):
            found[section] += 1
    if not declared:
        raise ValueError(f"{source}: not an ARPA model (no \\data\\ header with ngram counts)")
    if max(declared) > MAX_LM_ORDER or min(declared) < 1:
        raise ValueError(
            f"{source}: ARPA model of order {max(declared)} (1-{MAX_LM_ORDER} allowed)"
        )
    if declared != found:
        raise ValueError(
            f"{source}: the ARPA header declares {declared} n-grams but the model holds {found}"
        )
    return declared


def arpa_unigrams(text: str) -> list[str]:
    """The words of an ARPA model's unigrams, without ``<s>``, ``</s>`` and ``<unk>``."""
    words: list[str] = []
    inside = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("\\"):
            inside = line == "\\1-grams:"
            continue
        fields = line.split()
        if inside and len(fields) >= 2 and fields[1] not in ("<s>", "</s>", "<unk>"):
            words.append(fields[1])
    return words

"""CTC tokenizers: characters, or SentencePiece BPE trained on the training text.

Class 0 of the model output is the CTC blank; token ``i`` of the tokenizer is class
``i + 1``. A tokenizer is rebuilt from :meth:`Tokenizer.state` (plain strings), which
the checkpoint carries, so inference never needs the training data.
"""

import base64
import io
from collections.abc import Iterable

from seqrec.text.normalize import ALPHABET, TextError, normalize_text

BLANK = 0
# the word boundary in flashlight-text's token list (its ``sil_token``)
WORD_BOUNDARY = "|"


class Tokenizer:
    """Text <-> CTC class indices (1-based; 0 is the blank)."""

    kind: str

    @property
    def num_classes(self) -> int:
        """Output classes of a CTC model for this tokenizer: tokens + blank."""
        return len(self.tokens) + 1

    @property
    def tokens(self) -> list[str]:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """Normalise ``text`` (:func:`~seqrec.text.normalize_text`) and encode it."""
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        """Class indices (blanks and merged repeats already removed) to text."""
        raise NotImplementedError

    def state(self) -> dict[str, str]:
        raise NotImplementedError

    def decoder_tokens(self) -> list[str]:
        """flashlight-text's token list, one per model output class (blank first),
        plus a word-boundary token ``|`` when the tokenizer has none of its own."""
        raise NotImplementedError

    def spell(self, word: str) -> list[str]:
        """A word as decoder tokens, for the lexicon."""
        raise NotImplementedError


class CharTokenizer(Tokenizer):
    """Space, apostrophe and a-z: 28 tokens.

    >>> tok = CharTokenizer()
    >>> tok.encode("It's on")
    [11, 22, 2, 21, 1, 17, 16]
    >>> tok.decode(tok.encode("It's on"))
    "it's on"
    """

    kind = "char"

    def __init__(self) -> None:
        self._index = {c: i + 1 for i, c in enumerate(ALPHABET)}

    @property
    def tokens(self) -> list[str]:
        return list(ALPHABET)

    def encode(self, text: str) -> list[int]:
        return [self._index[c] for c in normalize_text(text)]

    def decode(self, ids: Iterable[int]) -> str:
        text = "".join(ALPHABET[i - 1] for i in ids if 0 < i <= len(ALPHABET))
        return " ".join(text.split())

    def state(self) -> dict[str, str]:
        return {"kind": self.kind}

    def decoder_tokens(self) -> list[str]:
        return ["<blank>", *(WORD_BOUNDARY if c == " " else c for c in ALPHABET)]

    def spell(self, word: str) -> list[str]:
        return [*word, WORD_BOUNDARY]


class SentencePieceTokenizer(Tokenizer):
    """SentencePiece (BPE by default) over normalised text.

    Build one with :meth:`train`; the model travels as bytes in :meth:`state`.
    """

    kind = "sentencepiece"

    def __init__(self, model: bytes) -> None:
        import sentencepiece as spm

        self._model = model
        self._sp = spm.SentencePieceProcessor(model_proto=model)

    @classmethod
    def train(
        cls, texts: Iterable[str], vocab_size: int = 256, model_type: str = "bpe"
    ) -> "SentencePieceTokenizer":
        """Learn pieces from ``texts`` (normalised first). Deterministic: the same
        text and settings give the same model."""
        import sentencepiece as spm

        lines = [normalize_text(t) for t in texts]
        lines = [line for line in lines if line]
        if not lines:
            raise TextError("no training text for the SentencePiece tokenizer")
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines),
                model_writer=model,
                vocab_size=vocab_size,
                model_type=model_type,
                character_coverage=1.0,
                required_chars=ALPHABET[1:],  # every letter has a piece, seen or not
                normalization_rule_name="identity",
                add_dummy_prefix=True,
                unk_id=0,
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                num_threads=1,
                minloglevel=2,
            )
        except RuntimeError as e:
            raise TextError(f"SentencePiece training failed: {e}") from None
        return cls(model.getvalue())

    @property
    def tokens(self) -> list[str]:
        return [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]

    def encode(self, text: str) -> list[int]:
        return [i + 1 for i in self._sp.encode(normalize_text(text))]

    def decode(self, ids: Iterable[int]) -> str:
        pieces = [i - 1 for i in ids if 0 < i <= self._sp.get_piece_size()]
        return " ".join(self._sp.decode(pieces).split())

    def state(self) -> dict[str, str]:
        return {"kind": self.kind, "model": base64.b64encode(self._model).decode("ascii")}

    def decoder_tokens(self) -> list[str]:
        return ["<blank>", *self.tokens, WORD_BOUNDARY]  # the boundary is never emitted

    def spell(self, word: str) -> list[str]:
        return self._sp.encode(word, out_type=str)


def tokenizer_from_state(state: dict[str, str]) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.state`."""
    if state.get("kind") == CharTokenizer.kind:
        return CharTokenizer()
    if state.get("kind") == SentencePieceTokenizer.kind:
        return SentencePieceTokenizer(base64.b64decode(state["model"]))
    raise ValueError(f"unknown tokenizer state {state.get('kind')!r}")


def build_tokenizer(kind: str, train_text: Iterable[str] = (), vocab_size: int = 256) -> Tokenizer:
    """``char``, or ``bpe``/``unigram`` SentencePiece learnt from ``train_text``."""
    if kind == "char":
        return CharTokenizer()
    if kind in ("bpe", "unigram"):
        return SentencePieceTokenizer.train(train_text, vocab_size, kind)
    raise ValueError(f"tokenizer kind must be char, bpe or unigram, got {kind!r}")

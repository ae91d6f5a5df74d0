"""CTC tokenizers: characters, or SentencePiece BPE trained on the training text.

Class 0 of the model output is the CTC blank; token ``i`` of the tokenizer is class
``i + 1``. Configs build a tokenizer by ``_target_`` (``conf/tokenizer/``) and say how
many classes it gives (``num_classes``), which the CTC head reads; the tokenizer checks
that number when it is built. A tokenizer is rebuilt from :meth:`Tokenizer.state`
(plain strings), which the checkpoint carries, so inference never needs the training
data.
"""

import base64
import io
from collections.abc import Iterable

from seqrec.text.normalize import ALPHABET, TextError, normalize_text

BLANK = 0
# the word boundary in flashlight-text's token list (its ``sil_token``)
WORD_BOUNDARY = "|"


MAX_TOKENS = 100_000


def ctc_num_classes(num_tokens: int) -> int:
    """Output classes of a CTC model over ``num_tokens`` tokens: the tokens and the
    blank. Configs derive a size with it (``${ctc_num_classes:${.vocab_size}}``).

    >>> ctc_num_classes(256)
    257
    """
    return num_tokens + 1


class Tokenizer:
    """Text <-> CTC class indices (1-based; 0 is the blank)."""

    kind: str

    @property
    def num_classes(self) -> int:
        """Output classes of a CTC model for this tokenizer: tokens + blank."""
        return ctc_num_classes(len(self.tokens))

    def _check_num_classes(self, declared: int | None) -> None:
        """Refuse a ``num_classes`` in the config that is not this tokenizer's."""
        if declared is not None and declared != self.num_classes:
            raise ValueError(
                f"{type(self).__name__}: num_classes={declared} in the config "
                f"(tokenizer.num_classes), but it has {len(self.tokens)} tokens + the blank "
                f"= {self.num_classes}"
            )

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
    """Space, apostrophe and a-z: 28 tokens, so 29 CTC classes.

    Args:
        num_classes: optional; the config states it (``conf/tokenizer/char.yaml``) for
            the CTC head, and it must be 29.

    >>> tok = CharTokenizer(num_classes=29)
    >>> tok.encode("It's on")
    [11, 22, 2, 21, 1, 17, 16]
    >>> tok.decode(tok.encode("It's on"))
    "it's on"
    """

    kind = "char"

    def __init__(self, num_classes: int | None = None) -> None:
        self._index = {c: i + 1 for i, c in enumerate(ALPHABET)}
        self._check_num_classes(num_classes)

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

    Build one with :meth:`train` (``conf/tokenizer/bpe.yaml`` names it as a partial,
    which the datamodule completes with the training texts); the model travels as
    bytes in :meth:`state`.
    """

    kind = "sentencepiece"

    def __init__(self, model: bytes) -> None:
        import sentencepiece as spm

        self._model = model
        self._sp = spm.SentencePieceProcessor(model_proto=model)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 256,
        model_type: str = "bpe",
        num_classes: int | None = None,
    ) -> "SentencePieceTokenizer":
        """Learn ``vocab_size`` pieces from ``texts`` (normalised first). Deterministic:
        the same text and settings give the same model.

        Args:
            texts: the training text.
            vocab_size: pieces, the unknown piece included.
            model_type: ``bpe`` or ``unigram``.
            num_classes: optional; the config states it for the CTC head, and it must be
                ``vocab_size + 1`` (the blank).
        """
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
        tokenizer = cls(model.getvalue())
        tokenizer._check_num_classes(num_classes)
        return tokenizer

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
    """Rebuild a tokenizer from :meth:`Tokenizer.state`: ``{"kind": "char"}`` or
    ``{"kind": "sentencepiece", "model": <base64>}``, as every seqrec checkpoint holds."""
    if not isinstance(state, dict):
        raise ValueError(f"a tokenizer state is a mapping, got a {type(state).__name__}")
    if state.get("kind") == CharTokenizer.kind:
        return CharTokenizer()
    if state.get("kind") == SentencePieceTokenizer.kind:
        model = state.get("model")
        if not isinstance(model, str):
            raise ValueError("a sentencepiece tokenizer state holds its model as base64 text")
        try:
            tokenizer = SentencePieceTokenizer(base64.b64decode(model, validate=True))
        except (ValueError, RuntimeError, OSError) as e:  # binascii.Error is a ValueError
            raise ValueError(f"the sentencepiece model does not load ({e})") from None
        if not 0 < len(tokenizer.tokens) <= MAX_TOKENS:
            raise ValueError(f"{len(tokenizer.tokens)} tokens (1-{MAX_TOKENS} allowed)")
        return tokenizer
    raise ValueError(f"unknown tokenizer state {state.get('kind')!r}")

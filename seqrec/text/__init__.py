"""Text for speech recognition: normalisation and CTC tokenizers."""

from seqrec.text.alignment import align_words
from seqrec.text.normalize import TextError, normalize_text
from seqrec.text.tokenizers import (
    CharTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    build_tokenizer,
    tokenizer_from_state,
)

__all__ = [
    "CharTokenizer",
    "SentencePieceTokenizer",
    "TextError",
    "Tokenizer",
    "align_words",
    "build_tokenizer",
    "normalize_text",
    "tokenizer_from_state",
]

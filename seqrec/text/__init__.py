"""Text for speech recognition: normalisation and CTC tokenizers."""

from seqrec.text.alignment import align_words
from seqrec.text.normalize import TextError, normalize_text
from seqrec.text.tokenizers import (
    CharTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    ctc_num_classes,
    tokenizer_from_state,
)

__all__ = [
    "CharTokenizer",
    "SentencePieceTokenizer",
    "TextError",
    "Tokenizer",
    "align_words",
    "ctc_num_classes",
    "normalize_text",
    "tokenizer_from_state",
]

"""The one text normalisation used for training targets, references and the LM.

Transcripts are reduced to lower-case letters a-z, the apostrophe and single spaces:

1. Unicode compatibility forms are folded (NFKC) and the text is lower-cased.
2. Accents are dropped from Latin letters (``café`` -> ``cafe``).
3. Typographic apostrophes (’ ‘ ʼ `) become ``'``.
4. Hyphens, dashes, slashes and underscores separate words (become spaces).
5. Sentence punctuation (``. , ; : ! ? " ( ) [ ] { } …`` and quotation marks) is
   removed.
6. Runs of whitespace become one space; leading and trailing space is dropped.

Anything else (digits, ``&``, ``%``, other scripts) raises :class:`TextError` naming
the character: spell numbers and symbols out in the transcript, because a CTC model
cannot learn how a digit is read from audio alone.
"""

import re
import unicodedata

ALPHABET = " '" + "abcdefghijklmnopqrstuvwxyz"

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})
_SEPARATORS = re.compile(r"[-‐‑‒–—―/_\s]+")
_PUNCTUATION = re.compile(r"[.,;:!?\"()\[\]{}…“”«»„]")
_ALLOWED = set(ALPHABET)


class TextError(ValueError):
    """Text that cannot be turned into training targets."""


def normalize_text(text: str) -> str:
    """Normalise a transcript (see the module doc).

    >>> normalize_text("  Don’t STOP—the Café's  open! ")
    "don't stop the cafe's open"
    >>> normalize_text("room 101")
    Traceback (most recent call last):
    ...
    seqrec.text.normalize.TextError: character '1' (U+0031) in 'room 101' is not allowed: text may hold only the letters a-z, the apostrophe and spaces after normalisation (spell numbers and symbols out)
    """
    folded = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES)
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)
    )
    cleaned = _PUNCTUATION.sub("", stripped)
    cleaned = _SEPARATORS.sub(" ", cleaned).strip()
    for char in cleaned:
        if char not in _ALLOWED:
            raise TextError(
                f"character {char!r} (U+{ord(char):04X}) in {text!r} "
                "is not allowed: text may hold only the letters a-z, the apostrophe and "
                "spaces after normalisation (spell numbers and symbols out)"
            )
    return cleaned

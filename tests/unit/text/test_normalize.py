"""seqrec.text.normalize: the documented normalisation, and what it refuses."""

import pytest

from seqrec.text import CharTokenizer, TextError, normalize_text


def test_normalisation_is_the_documented_one_and_refuses_the_rest():
    assert normalize_text("“Naïve” Café—OPEN; it’s 'fine'...") == "naive cafe open it's 'fine'"
    with pytest.raises(TextError, match=r"character '7' \(U\+0037\) in 'room 7'"):
        CharTokenizer().encode("room 7")
    with pytest.raises(TextError, match="'&'"):
        normalize_text("salt & pepper")

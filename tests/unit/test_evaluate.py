"""seqrec.evaluate: word errors on known and unknown words, known words, frame shuffling."""

import pytest
import torch

from seqrec.evaluate import align_words, errors_by_known_words, read_known_words
from seqrec.text import TextError
from tests.conftest import write_manifest_lines


def test_word_alignment_and_errors_on_known_and_unknown_words():
    assert align_words([], ["a"]) == [(None, "a")]
    assert align_words(["a", "b"], []) == [("a", None), ("b", None)]
    assert align_words(["the", "red", "cat", "sat"], ["the", "rad", "cat"]) == [
        ("the", "the"),
        ("red", "rad"),
        ("cat", "cat"),
        ("sat", None),
    ]
    groups = errors_by_known_words(
        ["the rad cat", "a dog ran"], ["the red cat sat", "a dog"], known={"the", "cat", "sat", "a"}
    )
    # known: the cat sat a (sat deleted: 3 of 10 characters); unknown: red (1 of 3), dog
    assert groups["known_words"] == {"words": 4, "wer": 0.25, "cer": 0.3}
    assert groups["unknown_words"]["words"] == 2
    assert groups["unknown_words"]["wer"] == 0.5
    assert groups["unknown_words"]["cer"] == pytest.approx(1 / 6)


def test_known_words_come_from_a_manifest_or_text_and_bad_text_names_the_line(tmp_path):
    manifest = tmp_path / "train.jsonl"
    write_manifest_lines(
        manifest, [{"audio_filepath": "a.wav", "duration": 1.0, "text": "Hello, World"}]
    )
    text = tmp_path / "words.txt"
    text.write_text("one two\nthree\n")
    assert read_known_words(manifest) == {"hello", "world"}
    assert read_known_words(text) == {"one", "two", "three"}
    text.write_text("fine\nroom 101\n")
    with pytest.raises(TextError, match=r"words\.txt:2"):
        read_known_words(text)


def test_shuffle_time_keeps_frames_and_changes_order():
    from seqrec.evaluate import shuffle_time

    clip = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 3, 2, 2)
    (shuffled,) = shuffle_time([[clip]], torch.Generator().manual_seed(0))[0]
    assert sorted(shuffled[:, 0, 0, 0].tolist()) == list(range(10))
    assert shuffled[:, 0, 0, 0].tolist() != list(range(10))

"""seqrec.inference.evaluate: word errors on known and unknown words, known words, frame shuffling."""

import json

import pytest
import torch

from seqrec.inference.evaluate import align_words, errors_by_known_words, read_known_words
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
    from seqrec.inference.evaluate import shuffle_time

    clip = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 3, 2, 2)
    (shuffled,) = shuffle_time([[clip]], torch.Generator().manual_seed(0))[0]
    assert sorted(shuffled[:, 0, 0, 0].tolist()) == list(range(10))
    assert shuffled[:, 0, 0, 0].tolist() != list(range(10))


def test_macro_and_per_class_accuracy_cover_the_labels_the_manifest_holds(
    model, synthetic_data_dir, tmp_path
):
    from seqrec.inference.evaluate import evaluate_classifier

    corpus = synthetic_data_dir / "kws_synthetic"
    rows = [json.loads(line) for line in (corpus / "test.jsonl").read_text().splitlines()]
    kept = [row for row in rows if row["label"] != model.labels[0]]
    for row in kept:
        row["audio_filepath"] = str(corpus / row["audio_filepath"])
    manifest = tmp_path / "two_labels.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in kept))
    results = evaluate_classifier(model, manifest)
    held = sorted({row["label"] for row in kept})
    assert results["labels_present"] == len(held) == len(model.labels) - 1
    assert sorted(k.removeprefix("acc_class/") for k in results if "acc_class/" in k) == held
    # the mean of the per-class accuracies computed here, file by file
    hits = {label: [] for label in held}
    for row in kept:
        hits[row["label"]].append(model.classify([row["audio_filepath"]])[0].label == row["label"])
    expected = {label: sum(h) / len(h) for label, h in hits.items()}
    for label in held:
        assert results[f"acc_class/{label}"] == pytest.approx(expected[label], abs=1e-6)
    assert results["acc_macro"] == pytest.approx(sum(expected.values()) / len(held), abs=1e-6)
    assert results["acc"] == pytest.approx(sum(sum(h) for h in hits.values()) / len(kept), abs=1e-6)

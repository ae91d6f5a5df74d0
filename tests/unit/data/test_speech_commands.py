"""Speech Commands preparation (35 words, 12 classes) from a miniature layout."""

import pytest
import soundfile as sf

from seqrec.data.manifest import read_manifest
from seqrec.data.speech_commands import (
    SILENCE,
    UNKNOWN,
    WORDS_10,
    WORDS_35,
    DatasetLayoutError,
    SpeechCommandsPreparer,
)


def test_35_word_task_follows_the_split_lists(speech_commands_root, tmp_path):
    out = SpeechCommandsPreparer(
        root=str(speech_commands_root), out_dir=str(tmp_path / "sc35"), task=35
    )()
    splits = {
        s: read_manifest(out / f"{s}.jsonl", labels=WORDS_35) for s in ("train", "val", "test")
    }
    assert [len(splits[s]) for s in ("train", "val", "test")] == [70, 35, 35]
    val_list = set((speech_commands_root / "validation_list.txt").read_text().split())
    assert {e.id for e in splits["val"]} == val_list
    assert all(e.speaker in ("0a1b2c3d", "1b2c3d4e") for e in splits["train"])
    assert {e.speaker for e in splits["test"]} == {"3d4e5f6a"}
    assert splits["train"][0].duration == 1.0


def test_12_class_task_has_unknown_and_held_apart_silence(speech_commands_root, tmp_path):
    preparer = SpeechCommandsPreparer(
        root=str(speech_commands_root),
        out_dir=str(tmp_path / "sc12"),
        task=12,
        unknown_share=0.5,
        silence_share=0.2,
    )
    out = preparer()
    labels = [*WORDS_10, SILENCE, UNKNOWN]
    train = read_manifest(out / "train.jsonl", labels=labels)
    counts = {label: sum(e.label == label for e in train) for label in labels}
    assert all(counts[w] == 2 for w in WORDS_10)
    assert counts[UNKNOWN] == 10 and counts[SILENCE] == 4
    unknown_words = {e.path.parent.name for e in train if e.label == UNKNOWN}
    assert unknown_words and unknown_words.isdisjoint(WORDS_10)
    silence = [e for e in train if e.label == SILENCE]
    audio, rate = sf.read(silence[0].path)
    assert rate == 16000 and audio.shape == (16000,)
    test = read_manifest(out / "test.jsonl", labels=labels)
    assert sum(e.label == SILENCE for e in test) == 2
    stamp = (out / "train.jsonl").stat().st_mtime_ns
    preparer()
    assert (out / "train.jsonl").stat().st_mtime_ns == stamp  # prepared once, then reused


def test_layout_errors_are_clear(speech_commands_root, tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"no validation_list\.txt"):
        SpeechCommandsPreparer(root=str(tmp_path), out_dir=str(tmp_path / "o"))()
    for path in (speech_commands_root / "wow").iterdir():
        path.unlink()
    (speech_commands_root / "wow").rmdir()
    with pytest.raises(DatasetLayoutError, match=r"word folder.*wow"):
        SpeechCommandsPreparer(root=str(speech_commands_root), out_dir=str(tmp_path / "o"))()
    with pytest.raises(ValueError, match="12 or 35"):
        SpeechCommandsPreparer(
            root=str(speech_commands_root), out_dir=str(tmp_path / "o"), task=30
        )()

"""Speech Commands preparation (35 words, 12 classes, the released test set) from miniature
layouts; the preset's reading of every clip at 1 s and its noise kept apart by split."""

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hydra.utils import instantiate

from seqrec.data.manifest import read_manifest
from seqrec.data.speech_commands import (
    NOISE_SHARES,
    SILENCE,
    UNKNOWN,
    WORDS_10,
    WORDS_35,
    DatasetLayoutError,
    SpeechCommandsPreparer,
    task_labels,
)
from tests.conftest import make_config, write_wav

LABELS_12 = task_labels(12)


def write_released_test_set(folder: Path) -> Path:
    """A miniature speech_commands_test_set_v0.02: two 1 s clips in each of the 12
    class folders, and a file beside them."""
    for c, label in enumerate(LABELS_12):
        for k in range(2):
            write_wav(folder / label / f"{c:04x}beef_nohash_{k}.wav", seed=500 + 10 * c + k)
    (folder / "LICENSE").write_text("CC BY 4.0")
    return folder


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


def test_released_test_set_is_the_12_class_test_split(speech_commands_root, tmp_path):
    released = write_released_test_set(tmp_path / "speech_commands_test_set_v0.02")
    options = {"root": str(speech_commands_root), "unknown_share": 0.5, "silence_share": 0.2}
    out = SpeechCommandsPreparer(
        out_dir=str(tmp_path / "released"), test_root=str(released), **options
    )()
    derived = SpeechCommandsPreparer(out_dir=str(tmp_path / "derived"), **options)()
    test = read_manifest(out / "test.jsonl", labels=LABELS_12)
    assert sorted(str(e.path) for e in test) == sorted(str(p) for p in released.rglob("*.wav"))
    assert all(e.label == Path(e.path).parent.name for e in test)
    assert Counter(e.label for e in test) == {label: 2 for label in LABELS_12}
    assert not (out / SILENCE / "test").exists()  # the released _silence_ clips test
    # training and validation are those of the derived test set, and no clip of
    # testing_list.txt is in either
    testing_list = set((speech_commands_root / "testing_list.txt").read_text().split())
    for split in ("train", "val"):
        ids = [e.id for e in read_manifest(out / f"{split}.jsonl", labels=LABELS_12)]
        assert ids  # not two empty lists
        assert ids == [e.id for e in read_manifest(derived / f"{split}.jsonl", labels=LABELS_12)]
        assert not testing_list & set(ids)
    listed = {i for i in testing_list if i.split("/")[0] in WORDS_10}
    assert listed  # the fallback: the derived test set holds the listed word clips
    assert {e.id for e in read_manifest(derived / "test.jsonl", labels=LABELS_12)} >= listed


def test_released_test_set_layout_errors_are_clear(speech_commands_root, tmp_path):
    released = write_released_test_set(tmp_path / "speech_commands_test_set_v0.02")
    root, out = str(speech_commands_root), str(tmp_path / "o")
    with pytest.raises(ValueError, match="12-class task; task 35"):
        SpeechCommandsPreparer(root=root, out_dir=out, task=35, test_root=str(released))()
    with pytest.raises(DatasetLayoutError, match=r"pass it as data\.prepare\.test_root"):
        SpeechCommandsPreparer(root=str(released), out_dir=out)()  # the two folders swapped
    with pytest.raises(
        DatasetLayoutError, match=r"unexpected folder\(s\) _background_noise_, backward"
    ):
        SpeechCommandsPreparer(root=root, out_dir=out, test_root=root)()
    for path in (released / UNKNOWN).iterdir():
        path.unlink()
    with pytest.raises(DatasetLayoutError, match=r"_unknown_: no \.wav files"):
        SpeechCommandsPreparer(root=root, out_dir=out, test_root=str(released))()
    (released / UNKNOWN).rmdir()
    with pytest.raises(DatasetLayoutError, match=r"v0\.02: missing class folder\(s\) _unknown_"):
        SpeechCommandsPreparer(root=root, out_dir=out, test_root=str(released))()


def write_tones_by_split(path: Path, seconds: float = 12.0, rate: int = 16000) -> dict[str, int]:
    """A noise file with one tone in each split's part (NOISE_SHARES); returns the tones."""
    tones = {"train": 200, "val": 1000, "test": 3000}
    t = np.arange(round(seconds * rate)) / rate
    frequency = np.zeros_like(t)
    for split, (lo, hi) in NOISE_SHARES.items():
        frequency[(t >= lo * seconds) & (t < hi * seconds)] = tones[split]
    sf.write(path, (0.5 * np.sin(2 * math.pi * frequency * t)).astype(np.float32), rate)
    return tones


def test_silence_of_each_split_is_cut_from_its_own_part_of_the_noise(
    speech_commands_root, tmp_path
):
    for path in (speech_commands_root / "_background_noise_").glob("*.wav"):
        tones = write_tones_by_split(path)
    out = SpeechCommandsPreparer(
        root=str(speech_commands_root), out_dir=str(tmp_path / "o"), silence_share=1.0
    )()
    for split in ("train", "val", "test"):
        silence = [
            e for e in read_manifest(out / f"{split}.jsonl", labels=LABELS_12) if e.label == SILENCE
        ]
        assert len(silence) >= 10
        for entry in silence:
            audio, rate = sf.read(entry.path)
            peak = np.abs(np.fft.rfft(audio)).argmax() * rate / audio.size
            assert peak == tones[split], (split, entry.id)


def test_preset_reads_every_clip_at_1s_and_trains_on_the_training_noise(
    speech_commands_root, tmp_path
):
    cfg = make_config(
        tmp_path / "run",
        [
            "experiment=kws_speech_commands",
            f"data.prepare.root={speech_commands_root}",
            f"paths.data_dir={tmp_path / 'data'}",
        ],
    )
    augment = instantiate(cfg.data.dataset.augment)
    assert augment.noise_span == NOISE_SHARES["train"]
    # word clips shorter than 1 s; the _silence_ clips are exactly 1 s
    for relative in ("yes/3d4e5f6a_nohash_0.wav", "stop/3d4e5f6a_nohash_0.wav"):
        write_wav(speech_commands_root / relative, seconds=0.7)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("test")
    test = datamodule.datasets["test"]
    durations = {e.id: e.duration for e in test.entries}
    assert durations["yes/3d4e5f6a_nohash_0.wav"] == pytest.approx(0.7)
    assert {test[i].waveform.shape[0] for i in range(len(test))} == {16000}

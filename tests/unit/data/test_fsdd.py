"""seqrec.data.fsdd: the manifest of a folder of FSDD recordings, on tiny files and
(when ../shared is there) on the real development set."""

import json
from pathlib import Path

import pytest

from seqrec.data.fsdd import DIGIT_WORDS, fsdd_manifest
from seqrec.data.manifest import read_manifest
from tests.conftest import write_wav
from tests.helpers import REPO

FSDD_DEV = REPO.parent / "shared" / "data" / "fsdd-dev"


def tiny_fsdd(folder: Path) -> Path:
    """Four recordings at 8 kHz of three digits by two speakers, and a README."""
    for name, seconds in [
        ("7_jackson_32.wav", 0.5),
        ("7_jackson_4.wav", 0.25),
        ("0_lucas_10.wav", 0.375),
        ("9_jackson_0.wav", 0.625),
    ]:
        write_wav(folder / name, seconds=seconds, rate=8000)
    (folder / "README.md").write_text("not a recording\n")
    return folder


def test_every_recording_becomes_a_line(tmp_path):
    root = tiny_fsdd(tmp_path / "fsdd")
    summary = fsdd_manifest(root, tmp_path / "out" / "fsdd.jsonl")
    lines = [
        json.loads(line) for line in (tmp_path / "out" / "fsdd.jsonl").read_text().splitlines()
    ]
    assert lines == [  # digit, speaker, index (numerically: 4 before 32)
        {"audio_filepath": str(root / "0_lucas_10.wav"), "duration": 0.375, "label": "zero",
         "speaker": "lucas", "id": "0_lucas_10"},
        {"audio_filepath": str(root / "7_jackson_4.wav"), "duration": 0.25, "label": "seven",
         "speaker": "jackson", "id": "7_jackson_4"},
        {"audio_filepath": str(root / "7_jackson_32.wav"), "duration": 0.5, "label": "seven",
         "speaker": "jackson", "id": "7_jackson_32"},
        {"audio_filepath": str(root / "9_jackson_0.wav"), "duration": 0.625, "label": "nine",
         "speaker": "jackson", "id": "9_jackson_0"},
    ]  # fmt: skip
    assert (summary.lines, summary.speakers, summary.labels, summary.skipped) == (
        4,
        ("jackson", "lucas"),
        ("zero", "seven", "nine"),
        (),
    )
    entries = read_manifest(summary.manifest, labels=list(DIGIT_WORDS))  # seqrec reads it
    assert [e.speaker for e in entries] == ["lucas", "jackson", "jackson", "jackson"]


@pytest.mark.parametrize("name", ["seven_jackson_1.wav", "7_jackson.wav", "12_lucas_3.wav"])
def test_a_misnamed_recording_is_an_error_naming_it_or_a_counted_skip(tmp_path, name):
    root = tiny_fsdd(tmp_path / "fsdd")
    write_wav(root / name, rate=8000)
    with pytest.raises(ValueError, match=rf"{name}: not named as an FSDD recording"):
        fsdd_manifest(root, tmp_path / "fsdd.jsonl")
    assert not (tmp_path / "fsdd.jsonl").exists()
    summary = fsdd_manifest(root, tmp_path / "fsdd.jsonl", on_error="skip")
    assert summary.lines == 4 and summary.skipped == (name,)
    assert f"skipped 1 files not named as FSDD's: {name}" in str(summary)


def test_a_folder_without_recordings_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing: no such folder"):
        fsdd_manifest(tmp_path / "missing", tmp_path / "fsdd.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no FSDD recordings"):
        fsdd_manifest(tmp_path / "empty", tmp_path / "fsdd.jsonl")


def test_an_unreadable_recording_is_an_error_naming_it(tmp_path):
    root = tiny_fsdd(tmp_path / "fsdd")
    (root / "3_george_1.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match=r"3_george_1\.wav: not a readable audio file"):
        fsdd_manifest(root, tmp_path / "fsdd.jsonl")


@pytest.mark.skipif(not FSDD_DEV.is_dir(), reason=f"the FSDD dev set is not at {FSDD_DEV}")
def test_the_real_development_set(tmp_path):
    summary = fsdd_manifest(FSDD_DEV, tmp_path / "fsdd_dev.jsonl")
    assert summary.lines == 1500 and summary.skipped == ()
    assert summary.speakers == ("george", "jackson", "lucas")
    assert summary.labels == DIGIT_WORDS
    entries = read_manifest(summary.manifest, labels=list(DIGIT_WORDS))
    assert len(entries) == 1500 and len({e.id for e in entries}) == 1500
    per_speaker_label = {(e.speaker, e.label) for e in entries}
    assert len(per_speaker_label) == 30  # each speaker says every digit
    assert all(0.1 < e.duration < 3.0 for e in entries)

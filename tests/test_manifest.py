import pytest

from seqrec.data.manifest import ManifestError, read_manifest, write_manifest
from tests.conftest import write_manifest_lines, write_wav


@pytest.fixture
def wav(tmp_path):
    return write_wav(tmp_path / "audio" / "a.wav")


def test_reads_entries_and_resolves_relative_paths(tmp_path, wav):
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"audio_filepath": "audio/a.wav", "duration": 1.0, "label": "yes", "speaker": "s1"},
            "",
            {
                "audio_filepath": str(wav),
                "duration": 0.5,
                "offset": 0.25,
                "label": "no",
                "id": "x",
                "lang": "en",
            },
        ],
    )
    entries = read_manifest(manifest, labels=["yes", "no"])
    assert [e.path for e in entries] == [wav, wav]
    assert entries[0].speaker == "s1" and entries[0].id == "a"
    assert entries[1].offset == 0.25 and entries[1].id == "x" and entries[1].extra == {"lang": "en"}
    assert entries[1].source == f"{manifest}:3"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"audio_filepath": "audio/a.wav", "duration": 1.0, "label": "yes"', "not valid JSON"),
        ('["audio/a.wav", 1.0]', "expected a JSON object"),
        ('{"audio_filepath": "audio/a.wav", "label": "yes"}', "missing field(s) duration"),
        (
            '{"audio_filepath": "audio/a.wav", "duration": "long", "label": "yes"}',
            "must be numbers",
        ),
        (
            '{"audio_filepath": "audio/a.wav", "duration": 0, "label": "yes"}',
            "duration must be positive",
        ),
        (
            '{"audio_filepath": "audio/missing.wav", "duration": 1.0, "label": "yes"}',
            "does not exist",
        ),
        (
            '{"audio_filepath": "audio/a.wav", "duration": 1.0, "label": "maybe"}',
            "label 'maybe' is not in the label set",
        ),
    ],
)
def test_bad_line_names_manifest_line_and_problem(tmp_path, wav, line, problem):
    good = {"audio_filepath": "audio/a.wav", "duration": 1.0, "label": "yes"}
    manifest = write_manifest_lines(tmp_path / "m.jsonl", [good, line])
    with pytest.raises(ManifestError) as error:
        read_manifest(manifest, labels=["yes", "no"])
    assert str(error.value).startswith(f"{manifest}:2: ")
    assert problem in str(error.value)


def test_missing_and_empty_manifest(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "nope.jsonl")
    empty = write_manifest_lines(tmp_path / "empty.jsonl", [""])
    with pytest.raises(ManifestError, match="no entries"):
        read_manifest(empty)


def test_text_target_and_video_key(tmp_path, wav):
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl", [{"video_filepath": "audio/a.wav", "duration": 1.0, "text": "hello"}]
    )
    (entry,) = read_manifest(manifest, path_key="video_filepath", target_key="text")
    assert entry.text == "hello"
    bad = write_manifest_lines(
        tmp_path / "b.jsonl", [{"audio_filepath": "audio/a.wav", "duration": 1.0, "text": 3}]
    )
    with pytest.raises(ManifestError, match="text must be a string"):
        read_manifest(bad, target_key="text")


def test_write_manifest_round_trip(tmp_path, wav):
    rows = [{"audio_filepath": str(wav), "duration": 1.0, "label": "ünïcode"}]
    assert write_manifest(tmp_path / "out" / "m.jsonl", rows) == 1
    assert read_manifest(tmp_path / "out" / "m.jsonl")[0].label == "ünïcode"
    assert not list((tmp_path / "out").glob("*.tmp"))

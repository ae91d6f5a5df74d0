"""seqrec.data.manifest: reading, errors naming the line, writing; any line parses or raises."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqrec.data.manifest import ManifestError, parse_line, read_manifest, write_manifest
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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), json_values.map(json.dumps)))
def test_any_line_parses_or_raises_a_manifest_error(line):
    """Whatever a line holds, parsing gives an entry or a ManifestError naming the line."""
    try:
        entry = parse_line(line, "m.jsonl:7", Path("/data"), check_files=False, target_key=None)
    except ManifestError as e:
        assert str(e).startswith("m.jsonl:7: ")
        assert e.reason
    else:
        assert entry.duration > 0 and entry.offset >= 0


@settings(max_examples=200, deadline=None)
@given(
    path=st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s and s.strip("/") != ""),
    duration=st.floats(min_value=1e-3, max_value=1e5),
    offset=st.floats(min_value=0, max_value=1e4),
    label=st.text(max_size=10),
    speaker=st.none() | st.text(max_size=10),
)
def test_valid_rows_round_trip(path, duration, offset, label, speaker):
    row = {
        "audio_filepath": path,
        "duration": duration,
        "offset": offset,
        "label": label,
        "speaker": speaker,
    }
    entry = parse_line(
        json.dumps(row), "m.jsonl:1", Path("/base"), check_files=False, label_set={label}
    )
    assert entry.duration == duration and entry.offset == offset and entry.label == label
    assert entry.speaker == speaker
    assert (
        entry.path == Path("/base") / path
        if not Path(path).is_absolute()
        else entry.path == Path(path)
    )

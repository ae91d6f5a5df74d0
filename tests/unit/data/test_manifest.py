"""seqrec.data.manifest: reading, errors naming the line, writing; any line parses or raises."""

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqrec.data.manifest import (
    MAX_SECONDS,
    ManifestError,
    parse_line,
    read_manifest,
    scan_manifest,
    write_manifest,
)
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
            "duration must be a number of seconds, got 'long'",
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


GOOD_LINE = '"audio_filepath": "audio/a.wav", "duration": 1.0, "label": "yes"'


@pytest.mark.parametrize(
    ("fields", "reason", "problem"),
    [
        ('"audio_filepath": "audio/a.wav", "duration": 1.0, "offset": NaN, "label": "yes"',
         "bad_value", "offset is NaN; every number must be finite"),
        ('"audio_filepath": "audio/a.wav", "duration": Infinity, "label": "yes"',
         "bad_value", "duration is Infinity; every number must be finite"),
        ('"audio_filepath": "audio/a.wav", "duration": 1e999, "label": "yes"',
         "bad_value", "duration is Infinity; every number must be finite"),
        (GOOD_LINE + ', "gain": {"db": [0, -Infinity]}',
         "bad_value", r"gain.db[1] is -Infinity; every number must be finite"),
        ('"audio_filepath": 5, "duration": 1.0, "label": "yes"',
         "bad_value", "audio_filepath must be a path (a non-empty string), got 5"),
        ('"audio_filepath": "", "duration": 1.0, "label": "yes"',
         "bad_value", "audio_filepath must be a path (a non-empty string), got ''"),
        ('"audio_filepath": "audio/a.wav", "duration": "1.0", "label": "yes"',
         "bad_value", "duration must be a number of seconds, got '1.0'"),
        ('"audio_filepath": "audio/a.wav", "duration": true, "label": "yes"',
         "bad_value", "duration must be a number of seconds, got True"),
        ('"audio_filepath": "audio/a.wav", "duration": 1.0, "offset": [0], "label": "yes"',
         "bad_value", "offset must be a number of seconds, got [0]"),
        ('"audio_filepath": "audio/a.wav", "duration": 1e300, "label": "yes"',
         "bad_value", "duration 1e+300 is beyond any recording (expected at most 1e+09 seconds)"),
        # an int too large for a float: float() would raise OverflowError
        ('"audio_filepath": "audio/a.wav", "duration": 1' + "0" * 400 + ', "label": "yes"',
         "bad_value", "duration 1000000000000000000000000000000000000... is beyond any"),
        ('"audio_filepath": "audio/a.wav", "duration": 1' + "0" * 5000 + ', "label": "yes"',
         "invalid_json", "not valid JSON (Exceeds the limit (4300 digits)"),
        ('"audio_filepath": "audio/a.wav", "duration": 1.0, "label": 5',
         "bad_value", "label must be a string, got 5"),
        ('"audio_filepath": "audio/a.wav", "duration": 1.0, "label": null',
         "bad_value", "label must be a string, got None"),
        (GOOD_LINE + ', "text": ["hello"]', "bad_text", "text must be a string, got ['hello']"),
        (GOOD_LINE + ', "speaker": 17', "bad_value", "speaker must be a string or null, got 17"),
        (GOOD_LINE + ', "id": {"n": 1}', "bad_value", "id must be a string or null, got {'n': 1}"),
        (GOOD_LINE + ', "deep": ' + "[" * 100_000,
         "invalid_json", "not valid JSON (nested too deeply to read)"),
    ],
)  # fmt: skip
def test_wrong_types_and_non_finite_numbers_name_the_line(tmp_path, wav, fields, reason, problem):
    """Python's json reads NaN, Infinity and 1e999, and a field of the wrong type used to
    get as far as Path(5) or a clip of garbage: each is a ManifestError at the parse."""
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl", ["{" + GOOD_LINE + "}", "{" + fields + "}"]
    )
    scan = scan_manifest(manifest, labels=["yes"])
    assert [e.source for e in scan.entries] == [f"{manifest}:1"]
    ((found,),) = [scan.problems]
    assert (found.source, found.reason) == (f"{manifest}:2", reason)
    assert found.message.startswith(problem)
    with pytest.raises(ManifestError) as error:
        read_manifest(manifest, labels=["yes"])
    assert str(error.value).startswith(f"{manifest}:2: {problem}")


def test_a_line_that_is_not_utf8_is_its_own_error_and_the_rest_are_read(tmp_path, wav):
    good = json.dumps({"audio_filepath": "audio/a.wav", "duration": 1.0, "label": "yes"})
    manifest = tmp_path / "m.jsonl"
    bad = b'{"audio_filepath": "audio/a.wav", "duration": 1.0, "label": "caf\xe9"}'
    manifest.write_bytes(good.encode() + b"\n" + bad + b"\n" + good.encode() + b"\n")
    column = bad.index(b"\xe9") + 1
    scan = scan_manifest(manifest, labels=["yes"])
    assert [e.source for e in scan.entries] == [f"{manifest}:1", f"{manifest}:3"]
    assert [str(p) for p in scan.problems] == [
        f"{manifest}:2: not UTF-8 text (byte 0xe9 at column {column})"
    ]
    assert scan.problems[0].reason == "invalid_json"


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


FIELDS = ("audio_filepath", "duration", "offset", "label", "text", "id", "speaker")
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])  # Python's json writes and reads them
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | non_finite | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
# every field of the format, each drawn of its right type (often) or of any other
seconds = st.floats(min_value=1e-3, max_value=1e4) | st.integers(1, 10**4)
texts = st.text(max_size=6)
manifest_rows = st.fixed_dictionaries(
    {
        "audio_filepath": st.text(min_size=1, max_size=6) | texts | json_values,
        "duration": seconds | seconds | non_finite | st.floats() | st.integers() | json_values,
    },
    optional={
        "offset": seconds | non_finite | st.floats() | json_values,
        "label": texts | json_values,
        "text": texts | json_values,
        "id": texts | json_values,
        "speaker": texts | json_values,
        "lang": json_values,
    },
).flatmap(lambda row: st.sampled_from([None, None, None, *sorted(row)]).map(  # drop one, at times
    lambda dropped: {k: v for k, v in row.items() if k != dropped}
))  # fmt: skip


def _finite_everywhere(row: dict) -> bool:
    try:
        json.dumps(row, allow_nan=False)
    except ValueError:
        return False
    return True


def _is_seconds(value, low_ok: bool) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and (value >= 0 if low_ok else value > 0) and value <= MAX_SECONDS


def _follows_the_format(row: dict) -> bool:
    """The format, written out again apart from the parser: what it must accept."""
    return (
        _finite_everywhere(row)
        and isinstance(row.get("audio_filepath"), str)
        and row["audio_filepath"] != ""
        and _is_seconds(row.get("duration"), low_ok=False)
        and (row.get("offset") is None or _is_seconds(row["offset"], low_ok=True))
        and all(row.get(key) is None or isinstance(row[key], str) for key in FIELDS[3:])
    )


@settings(max_examples=500, deadline=None)
@given(manifest_rows)
def test_a_row_parses_exactly_when_its_fields_follow_the_format(row):
    """Rows with and without each field, of the right type or not, with NaN and
    infinities anywhere: the parser accepts exactly those the format allows, keeps
    their values, and names the line in every refusal (a non-finite number first)."""
    line = json.dumps(row)
    try:
        entry = parse_line(line, "m.jsonl:7", Path("/data"), check_files=False, target_key=None)
    except ManifestError as e:
        assert str(e).startswith("m.jsonl:7: ")
        assert not _follows_the_format(row), str(e)
        if not _finite_everywhere(row):
            assert e.reason == "bad_value" and str(e).endswith("every number must be finite")
    else:
        assert _follows_the_format(row), row
        assert entry.path == Path("/data") / row["audio_filepath"]
        assert entry.duration == row["duration"] and entry.offset == (row.get("offset") or 0)
        assert (entry.label, entry.text, entry.speaker) == tuple(
            row.get(key) for key in ("label", "text", "speaker")
        )
        assert entry.id == (row["id"] if row.get("id") is not None else entry.path.stem)
        assert entry.extra == ({"lang": row["lang"]} if "lang" in row else {})


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.binary(max_size=80), json_values.map(json.dumps)))
def test_any_line_parses_or_raises_a_manifest_error(line):
    """Whatever a line holds (bytes that are not UTF-8 too), parsing gives an entry or
    a ManifestError naming the line."""
    try:
        entry = parse_line(line, "m.jsonl:7", Path("/data"), check_files=False, target_key=None)
    except ManifestError as e:
        assert str(e).startswith("m.jsonl:7: ")
        assert e.reason
    else:
        assert 0 < entry.duration <= MAX_SECONDS and 0 <= entry.offset <= MAX_SECONDS


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

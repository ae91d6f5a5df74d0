"""Property-based tests: manifest parsing, collate and padding, CTC greedy decoding."""

import json
from pathlib import Path

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqrec.data.batch import AudioSample, collate_audio
from seqrec.data.manifest import ManifestError, parse_line
from seqrec.decoding import ctc_greedy_decode

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


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=8))
def test_collate_keeps_every_sample_and_pads_with_zeros(lengths):
    samples = [AudioSample(torch.rand(n) + 0.5, i, f"id{i}") for i, n in enumerate(lengths)]
    batch = collate_audio(samples)
    assert batch.audio.shape == (len(lengths), max(lengths))
    assert batch.lengths.tolist() == lengths and batch.lengths.dtype == torch.int64
    for i, sample in enumerate(samples):
        assert torch.equal(batch.audio[i, : lengths[i]], sample.waveform)
        assert batch.audio[i, lengths[i] :].abs().sum() == 0
    assert batch.targets.tolist() == list(range(len(lengths)))


@st.composite
def ctc_paths(draw, vocab: int = 6, blank: int = 0):
    """A label sequence and one of its CTC alignments (repeats and blanks inserted)."""
    labels = draw(st.lists(st.integers(1, vocab - 1), max_size=10))
    frames = [blank] * draw(st.integers(0, 2))
    for i, token in enumerate(labels):
        if i > 0 and labels[i - 1] == token:
            frames.append(blank)  # a repeated label needs a blank between
        frames += [token] * draw(st.integers(1, 3))
        frames += [blank] * draw(st.integers(0, 2))
    return labels, frames


@settings(max_examples=200, deadline=None)
@given(paths=st.lists(ctc_paths(), min_size=1, max_size=4), noise=st.integers(0, 2**16))
def test_greedy_decoding_recovers_the_labels_of_any_alignment(paths, noise):
    lengths = [max(1, len(frames)) for _, frames in paths]
    generator = torch.Generator().manual_seed(noise)
    log_probs = torch.randn(
        len(paths), max(lengths) + 3, 6, generator=generator
    )  # padding holds noise
    for b, (_, frames) in enumerate(paths):
        peaked = torch.full((len(frames), 6), -10.0)
        peaked[torch.arange(len(frames)), torch.tensor(frames, dtype=torch.long)] = 0.0
        log_probs[b, : len(frames)] = peaked
        if not frames:
            log_probs[b, 0] = torch.tensor([0.0] + [-10.0] * 5)  # one blank frame
    decoded = ctc_greedy_decode(log_probs, torch.tensor(lengths))
    assert decoded == [labels for labels, _ in paths]

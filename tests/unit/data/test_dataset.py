"""seqrec.data.dataset: the error policy shared by the datasets (skip mode counts)."""

import pytest

from seqrec.data.audio import AudioClassificationDataset, AudioReader
from seqrec.data.manifest import ManifestError
from tests.conftest import broken_manifest, write_manifest_lines, write_wav


def test_dataset_skip_mode_counts_instead_of_raising(tmp_path):
    manifest = broken_manifest(tmp_path)
    with pytest.raises(ManifestError, match=rf"{manifest}:2: not valid JSON"):
        AudioClassificationDataset(manifest, ["yes", "no"], AudioReader(16000))
    dataset = AudioClassificationDataset(
        manifest, ["yes", "no"], AudioReader(16000), on_error="skip"
    )
    assert sorted(p.reason for p in dataset.problems) == [
        "invalid_json",
        "missing_field",
        "missing_file",
        "unknown_label",
    ]
    assert len(dataset) == 6  # decodable or not, the rest stay until they are read
    from seqrec.data.batch import collate_audio

    batch = collate_audio([dataset[i] for i in range(len(dataset))])
    assert len(batch) == 3
    assert sorted(p.reason for p in batch.skipped) == [
        "duration_mismatch",
        "empty_audio",
        "unreadable_audio",
    ]


def test_non_finite_duration_or_offset_is_a_manifest_problem_not_a_crash(tmp_path):
    """An audio "duration": Infinity raised an OverflowError naming no file when read, even
    under on_error=skip; "offset": NaN failed later as "cannot decode audio". Both are
    problems of their manifest line, raised or counted when the dataset is built."""
    write_wav(tmp_path / "a.wav", seconds=1.0)
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"audio_filepath": "a.wav", "duration": 1.0, "label": "yes"},
            '{"audio_filepath": "a.wav", "duration": Infinity, "label": "yes"}',
            '{"audio_filepath": "a.wav", "duration": 0.5, "offset": NaN, "label": "no"}',
        ],
    )
    with pytest.raises(ManifestError, match=rf"{manifest}:2: duration is Infinity; every number"):
        AudioClassificationDataset(manifest, ["yes", "no"], AudioReader(16000))
    dataset = AudioClassificationDataset(
        manifest, ["yes", "no"], AudioReader(16000), on_error="skip"
    )
    assert [(p.source, p.reason, p.message) for p in dataset.problems] == [
        (f"{manifest}:2", "bad_value", "duration is Infinity; every number must be finite"),
        (f"{manifest}:3", "bad_value", "offset is NaN; every number must be finite"),
    ]
    assert len(dataset) == 1 and dataset[0].target == 0 and dataset[0].waveform.shape == (16000,)

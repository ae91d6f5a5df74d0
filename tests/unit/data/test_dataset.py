"""seqrec.data.dataset: the error policy shared by the datasets (skip mode counts)."""

import pytest

from seqrec.data.audio import AudioClassificationDataset, AudioReader
from seqrec.data.manifest import ManifestError
from tests.conftest import broken_manifest


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

"""LibriSpeech preparation from a miniature layout."""

import json
from pathlib import Path

import pytest

from seqrec.data.librispeech import LibriSpeechPreparer
from seqrec.data.prepared import DatasetLayoutError


def test_librispeech_preparation(librispeech_root, tmp_path):
    out = LibriSpeechPreparer(
        root=str(librispeech_root.parent), out_dir=str(tmp_path / "ls"), eval_subsets=["dev-clean"]
    )()
    train = [json.loads(line) for line in (out / "train.jsonl").open()]
    dev = [json.loads(line) for line in (out / "dev-clean.jsonl").open()]
    assert len(train) == len(dev) == 4
    assert train[0]["text"] == "northanger abbey chapter two's end" and train[0]["speaker"] == "19"
    assert [r["duration"] for r in dev[:2]] == [0.5, 1.0] and Path(
        dev[0]["audio_filepath"]
    ).is_file()
    (librispeech_root / "dev-clean" / "26" / "495" / "26-495-0001.flac").unlink()
    with pytest.raises(
        DatasetLayoutError, match=r"26-495\.trans\.txt:2: audio 26-495-0001\.flac not found"
    ):
        LibriSpeechPreparer(
            root=str(librispeech_root), out_dir=str(tmp_path / "ls2"), eval_subsets=["dev-clean"]
        )()


def test_evaluation_subsets_not_downloaded_say_how_to_leave_them_out(librispeech_root, tmp_path):
    message = (
        r"LibriSpeech: evaluation subset folder\(s\) dev-other, test-clean, test-other not found\. "
        r".*data\.prepare\.eval_subsets=\[dev-clean\]"
    )
    with pytest.raises(DatasetLayoutError, match=message):
        LibriSpeechPreparer(root=str(librispeech_root), out_dir=str(tmp_path / "ls"))()
    with pytest.raises(DatasetLayoutError, match=r"training subset folder\(s\) train-clean-360"):
        LibriSpeechPreparer(
            root=str(librispeech_root),
            out_dir=str(tmp_path / "ls"),
            train_subsets=["train-clean-100", "train-clean-360"],
            eval_subsets=["dev-clean"],
        )()

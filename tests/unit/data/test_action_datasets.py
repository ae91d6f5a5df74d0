"""UCF101 and HMDB51 preparation from miniature layouts."""

import pytest

from seqrec.data.action_datasets import DatasetLayoutError, HMDB51Preparer, UCF101Preparer
from seqrec.data.manifest import read_manifest


def test_ucf101_preparation(ucf101_root, tmp_path):
    out = UCF101Preparer(
        root=str(ucf101_root), out_dir=str(tmp_path / "ucf"), split=1, val_groups=1
    )()
    labels = ["ApplyEyeMakeup", "Archery", "YoYo"]
    splits = {
        s: read_manifest(out / f"{s}.jsonl", "video_filepath", labels=labels)
        for s in ("train", "val", "test")
    }
    groups = {s: {e.id.split("_g")[1][:2] for e in entries} for s, entries in splits.items()}
    assert groups == {"train": {"08", "09"}, "val": {"10"}, "test": {"01", "02"}}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 3, 6]
    assert splits["test"][0].duration == pytest.approx(0.6)
    (ucf101_root / "ucfTrainTestlist" / "testlist01.txt").write_text(
        "Bowling/v_Bowling_g01_c01.avi\n"
    )
    with pytest.raises(DatasetLayoutError, match=r"'Bowling' is not in classInd\.txt"):
        UCF101Preparer(root=str(ucf101_root), out_dir=str(tmp_path / "ucf2"))()


def test_hmdb51_preparation(hmdb51_root, tmp_path):
    out = HMDB51Preparer(
        root=str(hmdb51_root), out_dir=str(tmp_path / "hmdb"), split=1, val_share=0.3
    )()
    splits = {
        s: read_manifest(out / f"{s}.jsonl", "video_filepath", labels=["brush_hair", "wave"])
        for s in ("train", "val", "test")
    }
    assert len(splits["test"]) == 8  # k = 0, 3, 6, 9 of each class
    assert len(splits["train"]) + len(splits["val"]) == 14  # flag 1; flag 0 (unused) left out
    assert splits["val"] and not {e.id for e in splits["val"]} & {e.id for e in splits["train"]}
    with pytest.raises(DatasetLayoutError, match="split2"):
        HMDB51Preparer(root=str(hmdb51_root), out_dir=str(tmp_path / "h2"), split=2)()

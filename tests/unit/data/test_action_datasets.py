"""UCF101 and HMDB51 preparation from miniature layouts: the official splits, validation held
out by group (UCF101) and by source video (HMDB51), or none."""

from pathlib import Path

import pytest

from seqrec.data.action_datasets import (
    DatasetLayoutError,
    HMDB51Preparer,
    UCF101Preparer,
    hmdb_source_video,
)
from seqrec.data.manifest import read_manifest
from tests.conftest import write_video


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


def write_hmdb51_by_source(root: Path) -> dict[str, str]:
    """A miniature HMDB51 layout whose clips come 1-3 from each of 12 source videos per
    class, some source videos in both classes, named as HMDB51 names them; returns each
    clip's source video."""
    sources = {}
    for label in ("brush_hair", "wave"):
        lines = []
        for s in range(12):
            source = f"Movie_{s:02d}_take" if s % 4 else f"How_to_{label}_{s}"
            for n in range(1 + s % 3):
                name = f"{source}_{label}_u_nm_np1_fr_{('bad', 'med', 'goo')[n]}_{n}.avi"
                write_video(root / "hmdb51_org" / label / name, [40] * 3)
                sources[name] = source
                lines.append(f"{name} {2 if s >= 10 else 1}")
        split_file = root / "testTrainMulti_7030_splits" / f"{label}_test_split1.txt"
        split_file.parent.mkdir(parents=True, exist_ok=True)
        split_file.write_text("\n".join(lines) + "\n")
    return sources


def test_hmdb51_validation_holds_out_whole_source_videos(tmp_path):
    sources = write_hmdb51_by_source(tmp_path / "HMDB51")
    out = HMDB51Preparer(
        root=str(tmp_path / "HMDB51"), out_dir=str(tmp_path / "hmdb"), val_share=0.4
    )()
    splits = {
        s: read_manifest(out / f"{s}.jsonl", "video_filepath", labels=["brush_hair", "wave"])
        for s in ("train", "val", "test")
    }
    by_split = {s: {sources[Path(e.path).name] for e in entries} for s, entries in splits.items()}
    assert by_split["train"] and by_split["val"]
    assert not by_split["train"] & by_split["val"]  # no source video in both
    clips = {s: len(entries) for s, entries in splits.items()}
    assert clips["train"] + clips["val"] == 2 * sum(1 + s % 3 for s in range(10))  # flag 1
    # the clip number, tags and class are not part of a source video's name
    assert hmdb_source_video("April_09_brush_hair_u_nm_np1_ba_goo_1.avi", "brush_hair") == (
        hmdb_source_video("April_09_brush_hair_f_cm_np2_le_bad_0.avi", "brush_hair")
    )


def test_hmdb51_split_file_lines_that_are_not_clips_name_the_line(tmp_path):
    bad = tmp_path / "bad"
    (bad / "hmdb51_org").mkdir(parents=True)
    split_file = bad / "testTrainMulti_7030_splits" / "wave_test_split1.txt"
    split_file.parent.mkdir()
    preparer = HMDB51Preparer(root=str(bad), out_dir=str(tmp_path / "out"))
    split_file.write_text(
        "a_wave_u_nm_np1_fr_med_0.avi 2\nb_wave_u_nm_np1_fr_med_0.avi 0\nclip.avi 1\n"
    )
    with pytest.raises(DatasetLayoutError, match=r"split1\.txt:3: 'clip\.avi' is not an HMDB51"):
        preparer()
    split_file.write_text("a_wave_u_nm_np1_fr_med_0.avi 2\nb_wave_u_nm_np1_fr_med_0.avi 3\n")
    with pytest.raises(
        DatasetLayoutError, match=r"split1\.txt:2: expected '<clip>\.avi <0\|1\|2>'"
    ):
        preparer()


def test_whole_train_lists_leave_no_validation_manifest(ucf101_root, hmdb51_root, tmp_path):
    out = UCF101Preparer(root=str(ucf101_root), out_dir=str(tmp_path / "ucf"), val_groups=1)()
    assert (out / "val.jsonl").is_file()
    UCF101Preparer(root=str(ucf101_root), out_dir=str(tmp_path / "ucf"), val_groups=0)()
    labels = ["ApplyEyeMakeup", "Archery", "YoYo"]
    train = read_manifest(out / "train.jsonl", "video_filepath", labels=labels)
    listed = (ucf101_root / "ucfTrainTestlist" / "trainlist01.txt").read_text().split("\n")
    assert sorted(Path(e.path).name for e in train) == sorted(
        line.split()[0].split("/")[1] for line in listed if line.strip()
    )
    assert not (out / "val.jsonl").exists()  # the stale one is gone too
    with pytest.raises(ValueError, match=r"val_groups must be from 0 .* to 2 .*got 3"):
        UCF101Preparer(root=str(ucf101_root), out_dir=str(tmp_path / "u3"), val_groups=3)()
    out = HMDB51Preparer(root=str(hmdb51_root), out_dir=str(tmp_path / "hmdb"), val_share=0)()
    assert len(read_manifest(out / "train.jsonl", "video_filepath")) == 14
    assert not (out / "val.jsonl").exists()

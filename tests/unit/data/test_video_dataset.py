"""seqrec.data.video_dataset: a video cut short is a counted skip."""

import pytest

from seqrec.data.batch import SkippedSample, collate_video
from seqrec.data.video import ClipReader, ClipTransform, VideoError
from seqrec.data.video_dataset import VideoClassificationDataset
from seqrec.tasks.callbacks import SkippedSampleReport
from tests.conftest import write_manifest_lines


def test_video_cut_short_is_a_counted_skip(cut_short_and_whole, tmp_path):
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"video_filepath": "whole.mp4", "duration": 2.0, "label": "a"},
            {"video_filepath": "cut.mp4", "duration": 2.0, "label": "a"},
        ],
    )
    reader = ClipReader(num_frames=4, short_side=16, transform=ClipTransform(size=16))
    with pytest.raises(VideoError, match=r"m\.jsonl:2: .*cut\.mp4: the frames end at 0\.600s"):
        VideoClassificationDataset(manifest, ["a"], reader)[1]
    dataset = VideoClassificationDataset(manifest, ["a"], reader, on_error="skip")
    skipped = dataset[1]
    assert isinstance(skipped, SkippedSample)
    assert (skipped.problem.source, skipped.problem.reason) == (f"{manifest}:2", "truncated_video")
    assert "cut.mp4" in skipped.problem.message
    batch = collate_video([dataset[0], skipped])
    assert len(batch) == 1 and batch.lengths.tolist() == [4]
    report = SkippedSampleReport()
    report.on_train_batch_start(None, None, batch, 0)
    assert report.totals == {"train": {"truncated_video": 1}}

"""seqrec.data.video: frame sampling by time, clip reading and transforms, files cut short or
corrupt."""

import numpy as np
import pytest
import torch

from seqrec.data.video import (
    ClipReader,
    ClipTransform,
    VideoError,
    clip_times,
    decode_video,
    probe_video,
    read_frames,
)
from seqrec.data.video_dataset import VideoClassificationDataset
from tests.conftest import write_manifest_lines, write_video

LEVELS = [8 * i for i in range(30)]  # frame i is grey level 8i: 30 frames at 10 fps


@pytest.fixture
def counting_video(tmp_path):
    return write_video(tmp_path / "count.mp4", LEVELS, fps=10, gop=5)


def frame_index(frame: np.ndarray) -> int:
    return round(float(frame.mean()) / 8)


def test_frames_are_sampled_by_time(counting_video):
    info = probe_video(counting_video)
    assert (
        info.duration == pytest.approx(3.0)
        and info.fps == 10
        and (info.width, info.height) == (32, 32)
    )
    times = [0.0, 0.05, 0.1, 0.34, 0.99, 1.75, 2.5, 2.99, 3.04]
    frames = read_frames(counting_video, times)
    # the frame on screen at t is the last one starting at or before t; just past the end
    # (within END_TOLERANCE of 3.0 s), the last frame
    assert [frame_index(f) for f in frames] == [0, 0, 1, 3, 9, 17, 25, 29, 29]
    with pytest.raises(VideoError, match=r"count\.mp4: the frames end at 3\.000s; .* 3\.100s") as e:
        read_frames(counting_video, [2.0, 3.1])  # further past the end is an error
    assert e.value.reason == "duration_mismatch"
    late = read_frames(counting_video, [2.05, 2.6])  # seeks past the start first
    assert [frame_index(f) for f in late] == [20, 26]
    assert read_frames(counting_video, [1.0], short_side=16).shape == (1, 16, 16, 3)
    with pytest.raises(ValueError, match="ascending"):
        read_frames(counting_video, [1.0, 0.5])


def test_clip_reader_samples_segments_and_fps(counting_video):
    plain = ClipTransform(size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    reader = ClipReader(num_frames=6, short_side=32, transform=plain)
    (clip,) = reader(counting_video)
    assert clip.shape == (6, 3, 32, 32)
    assert [round(v * 255 / 8) for v in clip.mean(dim=(1, 2, 3)).tolist()] == [
        2,
        7,
        12,
        17,
        22,
        27,
    ]  # centres
    three = ClipReader(num_frames=2, num_clips=3, clip_seconds=1.0, short_side=32, transform=plain)(
        counting_video
    )
    assert [[round(v * 255 / 8) for v in c.mean(dim=(1, 2, 3)).tolist()] for c in three] == [
        [2, 7],
        [12, 17],
        [22, 27],
    ]
    by_fps = ClipReader(num_frames=16, frames_per_second=2.0, short_side=32, transform=plain)
    assert by_fps(counting_video)[0].shape[0] == 6  # 3 s at 2 fps
    assert by_fps(counting_video, start=2.0, duration=1.0)[0].shape[0] == 2


def test_training_transform_shares_one_crop_and_flip_is_opt_in():
    frames = np.stack(
        [np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (32, 1, 3))] * 4
    )  # x gradient
    train = ClipTransform(size=16, train=True, color_jitter=0.0, flip=False)
    for _ in range(10):
        clip = train(frames)
        assert clip.shape == (4, 3, 16, 16)
        assert all(torch.equal(clip[0], clip[t]) for t in range(4))  # same crop for every frame
        assert (clip[0, 0, :, -1] > clip[0, 0, :, 0]).all()  # never flipped
    flips = ClipTransform(size=16, train=True, color_jitter=0.0, flip=True)
    assert any((flips(frames)[0, 0, :, -1] < flips(frames)[0, 0, :, 0]).all() for _ in range(30))


def test_corrupt_and_empty_videos_name_the_file(tmp_path):
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    (tmp_path / "empty.mp4").write_bytes(b"")
    for name in ("corrupt.mp4", "empty.mp4", "missing.mp4"):
        with pytest.raises(VideoError, match=name):
            read_frames(tmp_path / name, [0.0])
    write_video(tmp_path / "ok.mp4", [100] * 5)
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"video_filepath": "ok.mp4", "duration": 0.5, "label": "a"},
            {"video_filepath": "corrupt.mp4", "duration": 0.5, "label": "a"},
        ],
    )
    reader = ClipReader(num_frames=2, short_side=16, transform=ClipTransform(size=16))
    dataset = VideoClassificationDataset(manifest, ["a"], reader)
    assert dataset[0].clips[0].shape == (2, 3, 16, 16)
    with pytest.raises(VideoError, match=r"m\.jsonl:2: .*corrupt\.mp4"):
        dataset[1]


def test_video_cut_short_is_an_error_naming_the_file(cut_short_and_whole):
    cut, whole = cut_short_and_whole
    clip = clip_times(2.0, 4)  # [0.25, 0.75, 1.25, 1.75]
    assert [frame_index(f) for f in read_frames(whole, clip)] == [2, 7, 12, 17]
    assert decode_video(whole).duration == pytest.approx(2.0)
    message = r"cut\.mp4: the frames end at 0\.600s but the header says 2\.000s"
    for times in (clip, [1.25, 1.75]):  # from the start, and after a seek past the cut
        with pytest.raises(VideoError, match=message) as e:
            read_frames(cut, times)
        assert e.value.reason == "truncated_video"
    with pytest.raises(VideoError, match=message):
        decode_video(cut)
    assert [frame_index(f) for f in read_frames(cut, [0.1, 0.55, 0.62])] == [1, 5, 5]

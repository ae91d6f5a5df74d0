"""seqrec.data.video: frame sampling by time, clip reading and transforms, files cut short or
corrupt."""

from pathlib import Path

import av
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


FPS = 25
WANTED = [0, 7, 14, 21, 28, 35, 42, 49, 56, 59]  # the frames, every 7th, and the last


def numbered_image(i: int, size: int = 32) -> np.ndarray:
    """Frame i shows its number in binary: one 4-pixel stripe per bit, white for 1,
    which lossy coding keeps."""
    image = np.zeros((size, size, 3), dtype=np.uint8)
    for bit in range(8):
        if i >> bit & 1:
            image[:, 4 * bit : 4 * bit + 4] = 255
    return image


def frame_number(frame: np.ndarray) -> int:
    return sum(1 << bit for bit in range(8) if frame[:, 4 * bit : 4 * bit + 4].mean() > 128)


def write_numbered_video(
    path, count: int, codec: str, options: dict, container_format: str | None = None
) -> Path:
    """``count`` numbered frames at 25 fps; the format follows the file name unless given."""
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=FPS, options=options)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(numbered_image(i), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def decoded_times(path) -> list[float | None]:
    """The times PyAV gives the decoded frames, in the order it gives them."""
    with av.open(str(path)) as container:
        return [frame.time for frame in container.decode(video=0)]


def assert_picks_the_wanted_frames(path) -> None:
    """The frame on screen at the middle, and at the start, of each wanted frame's
    period, from the first frame and after a seek; and the duration decoding finds."""
    for offset in (0.5, 0.0):
        times = [(k + offset) / FPS for k in WANTED]
        assert [frame_number(f) for f in read_frames(path, times)] == WANTED, offset
        late = [t for t in times if t > 1.0]  # read after a seek where there is one
        assert [frame_number(f) for f in read_frames(path, late)] == WANTED[-len(late) :]
    assert decode_video(path).duration == pytest.approx(60 / FPS)


def test_frames_of_a_b_frame_avi_are_picked_by_their_place_in_the_stream(tmp_path):
    # MPEG-4 Part 2 with B-frames in AVI, as UCF101's and HMDB51's XviD files are
    path = write_numbered_video(
        tmp_path / "bframes.avi", 60, "mpeg4", {"bf": "2", "g": "12", "qscale": "2"}
    )
    with av.open(str(path)) as container:
        packet_times = [p.pts for p in container.demux(video=0) if p.size]
    assert packet_times != sorted(packet_times)  # B-frames: stored out of display order
    # the times FFmpeg makes up for AVI frames run one frame late, so frame k would be
    # read where frame k + 1 is on screen
    assert decoded_times(path)[:3] == pytest.approx([1 / FPS, 2 / FPS, 3 / FPS])
    assert_picks_the_wanted_frames(path)


def test_frames_of_a_video_without_timestamps_are_picked_by_their_place(tmp_path):
    # a raw H.264 stream (with B-frames) carries no timestamps at all
    path = write_numbered_video(
        tmp_path / "raw.h264", 60, "libx264", {"bf": "2", "g": "12", "crf": "10"}, "h264"
    )
    assert set(decoded_times(path)) == {None}
    assert_picks_the_wanted_frames(path)


def test_timestamps_out_of_order_fall_back_to_the_decoders_order(tmp_path):
    """A Matroska file whose frames 3 and 4 carry each other's timestamps: the frames
    come out of the decoder with times out of order, and are read in the order the
    decoder gives them, one frame period apart from the stream's start."""
    intra = write_numbered_video(tmp_path / "intra.mkv", 60, "mpeg4", {"g": "1", "qscale": "2"})
    path = tmp_path / "swapped.mkv"
    with av.open(str(intra)) as source, av.open(str(path), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if not packet.size:
                continue
            tick = round(packet.pts * packet.time_base * FPS)
            shown = {3: 4, 4: 3}.get(tick, tick)
            # presentation one frame after decoding, so the swapped times stay valid
            packet.pts = round((shown + 1) / FPS / packet.time_base)
            packet.dts = round(tick / FPS / packet.time_base)
            packet.stream = stream
            target.mux(packet)
    times = decoded_times(path)
    assert times[:6] == pytest.approx([k / FPS for k in (1, 2, 3, 5, 4, 6)])
    start = 1 / FPS  # where the stream starts
    for offset in (0.5, 0.0):
        wanted = [0, 3, 4, 5, *WANTED[2:]]
        frames = read_frames(path, [start + (k + offset) / FPS for k in wanted])
        assert [frame_number(f) for f in frames] == wanted, offset
    assert decode_video(path).duration == pytest.approx(60 / FPS, abs=0.05)

"""Reading frames from video files with PyAV, torch-free: decoding, and frame sampling by
time. The one home of both for :mod:`seqrec.data.video` (whose clip transforms make
tensors of the frames) and for :mod:`seqrec.runtime` (which runs without torch).

Time is in seconds throughout. A frame "at" time t is the frame on screen at t: the
last frame that comes on screen at or before t.

When a frame comes on screen is read from its timestamp, with two exceptions that
time it by its place in the stream instead (frame k at k / fps after the stream's
start):

- Containers that store no presentation times: AVI (UCF101 and HMDB51 are XviD/DivX
  AVI, one frame per tick of the stream's rate) and raw streams such as ``.h264``.
  The times FFmpeg gives their frames are made up from the decoding order; with
  B-frames they come out shifted by the reordering delay, out of order, or missing.
- Any other video whose decoded frames turn out to have a missing timestamp, or one
  that is not later than the frame before it. The read starts again from the first
  frame, timed by index.

Timing by index decodes from the first frame (no seek): decoders give frames in
display order, so counting them is exact, while a seek lands on a keyframe whose
place in that order such a file does not record.

A video whose frames stop before the end its header gives (a download cut short, say)
is an error when a frame past its last one is asked for, not padded with copies of
the last frame.
"""

import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from seqrec.core.waveform import DURATION_MISMATCH

UNREADABLE_VIDEO = "unreadable_video"
EMPTY_VIDEO = "empty_video"
TRUNCATED_VIDEO = "truncated_video"  # the frames end before the header says they do
# Seconds by which a frame asked for may lie past the end of the last frame (its time
# plus its duration) and still get that frame: the tolerance that seqrec-validate
# allows a manifest duration by default.
END_TOLERANCE = 0.05
# Seconds into a file after which reading starts with a seek to the keyframe before,
# rather than decoding from the first frame.
SEEK_AFTER = 0.5

T = TypeVar("T")


class VideoError(RuntimeError):
    """A video file that cannot be used; the message names the file and the problem."""

    def __init__(self, message: str, reason: str = UNREADABLE_VIDEO) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # seconds
    fps: float
    width: int
    height: int


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise VideoError(f"{path}: file not found", "missing_file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise VideoError(f"{path}: cannot open video ({e})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: no video stream")
    return container


def _fps(stream: av.video.stream.VideoStream) -> float:
    return float(stream.average_rate or stream.guessed_rate or 0)


def _stated_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float:
    """The duration the header gives (0.0 when it gives none)."""
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    fps = _fps(stream)
    return stream.frames / fps if fps and stream.frames else 0.0


def _cut_short(path: Path, end: float, stated: float) -> str:
    return f"{path}: the frames end at {end:.3f}s but the header says {stated:.3f}s (cut short?)"


def probe_video(path: str | Path) -> VideoInfo:
    """Duration, frame rate and size from the container, without decoding."""
    with _open(Path(path)) as container:
        return _header_info(container, container.streams.video[0])


def _header_info(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> VideoInfo:
    width, height = stream.codec_context.width, stream.codec_context.height
    return VideoInfo(_stated_duration(container, stream), _fps(stream), width, height)


class _UnusableTimestamps(Exception):
    """A decoded frame with no timestamp, or one not later than the frame before it."""


def _by_index(container: av.container.InputContainer) -> bool:
    """Whether the container stores no presentation times, so its frames are timed
    by their place in the stream: AVI, and the raw streams FFmpeg flags as
    timestamp-less (``.h264``, ``.m4v``, ...)."""
    return container.format.name == "avi" or bool(
        container.format.flags & av.format.Flags.no_timestamps.value
    )


def _frame_period(path: Path, stream: av.video.stream.VideoStream) -> float:
    fps = _fps(stream)
    if not fps:
        raise VideoError(f"{path}: the frames have no usable timestamps and no frame rate")
    return 1 / fps


def _frames(
    path: Path,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    by_index: bool,
    start: float = 0.0,
) -> Iterator[tuple[float, float, av.VideoFrame]]:
    """The frames in display order, each with the times (seconds) it comes on screen
    and leaves it.

    By timestamp, decoding starts at the keyframe before ``start`` (a seek, when
    ``start`` is over 0.5 s), and a missing or non-increasing timestamp raises
    :class:`_UnusableTimestamps`. By index, decoding starts at the first frame, and
    frame k comes on screen at the stream's start time (0 when it gives none) plus
    k frame periods.
    """
    if by_index:
        period = _frame_period(path, stream)
        origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        for k, frame in enumerate(container.decode(stream)):
            yield origin + k * period, origin + (k + 1) * period, frame
        return
    if start > SEEK_AFTER and stream.time_base:
        container.seek(int(start / stream.time_base), stream=stream, backward=True)
    fps, previous = _fps(stream), None
    for frame in container.decode(stream):
        if frame.time is None or (previous is not None and frame.time <= previous):
            raise _UnusableTimestamps
        previous = frame.time
        if frame.duration and frame.time_base:
            length = float(frame.duration * frame.time_base)
        else:
            length = 1 / fps if fps else 0.0
        yield frame.time, frame.time + length, frame


def _last(frames: Iterator[T]) -> T | None:
    """The last of ``frames`` (None: there are none), decoding all of them."""
    tail = deque(frames, maxlen=1)
    return tail[0] if tail else None


def _decoding(
    path: Path,
    read: Callable[[av.container.InputContainer, av.video.stream.VideoStream, bool], T],
) -> T:
    """``read(container, stream, by_index)`` on the opened video: timed by timestamp
    unless the container stores none (:func:`_by_index`), and once more by index if
    the timestamps prove unusable. A decoding failure is a VideoError naming the file."""
    for by_index in (None, True):  # None: as the container says
        with _open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                return read(container, stream, by_index or _by_index(container))
            except _UnusableTimestamps:
                continue
            except av.error.FFmpegError as e:
                raise VideoError(f"{path}: cannot decode video ({e})") from None
    raise AssertionError("frames timed by index never have unusable timestamps")


def decode_video(path: str | Path) -> VideoInfo:
    """:func:`probe_video`, proved by decoding every frame. Frames that end more than
    ``END_TOLERANCE`` before the header's duration raise a ``truncated_video``
    VideoError; otherwise the duration is where they end, at most the header's."""
    path = Path(path)

    def last_end(container, stream, by_index) -> tuple[VideoInfo, float | None]:
        last = _last(_frames(path, container, stream, by_index))
        return _header_info(container, stream), last[1] if last else None

    info, end = _decoding(path, last_end)
    if end is None:
        raise VideoError(f"{path}: no decodable video frames", EMPTY_VIDEO)
    if end + END_TOLERANCE < info.duration:
        raise VideoError(_cut_short(path, end, info.duration), TRUNCATED_VIDEO)
    return replace(info, duration=min(end, info.duration) if info.duration else end)


def read_frames(
    path: str | Path, times: Sequence[float], short_side: int | None = None
) -> np.ndarray:
    """Frames on screen at each of ``times`` (seconds, ascending), as (T, H, W, 3) uint8.

    Seeks to the keyframe before the first time (unless the frames are timed by
    index, see the module's docstring) and decodes only up to the last one. Frames
    are scaled on conversion so the shorter side is ``short_side`` pixels.

    A time up to ``END_TOLERANCE`` past the end of the last frame gets the last frame.
    A later one raises a VideoError: ``truncated_video`` when the header says the
    video goes on, ``duration_mismatch`` when the video is whole and the times run
    past it.
    """
    path = Path(path)
    times = list(times)
    if times != sorted(times):
        raise ValueError("times must be ascending")

    def pick(container, stream, by_index) -> list[np.ndarray]:
        width, height = stream.codec_context.width, stream.codec_context.height
        size = {}
        if short_side:
            scale = short_side / min(width, height)
            size = {"width": max(1, round(width * scale)), "height": max(1, round(height * scale))}
        start = times[0] if times else 0.0
        picked, last = _pick(_frames(path, container, stream, by_index, start), times, size)
        if len(picked) < len(times) and last is None and start > SEEK_AFTER and not by_index:
            container.seek(0)  # no frames after the seek: find where they end
            last = _last(_frames(path, container, stream, by_index))
        if len(picked) < len(times) and last is not None:
            end = last[1]
            if times[-1] > end + END_TOLERANCE:
                raise _ends_early(path, end, _stated_duration(container, stream), times[-1])
            held = _to_array(last[2], size)  # just past the last frame: hold it
            picked += [held] * (len(times) - len(picked))
        return picked

    picked = _decoding(path, pick)
    if len(picked) < len(times):
        raise VideoError(f"{path}: no decodable video frames", EMPTY_VIDEO)
    return np.stack(picked)


def _pick(
    frames: Iterator[tuple[float, float, av.VideoFrame]], times: list[float], size: dict
) -> tuple[list[np.ndarray], tuple[float, float, av.VideoFrame] | None]:
    """For each of ``times`` in turn, as far as ``frames`` go, the frame on screen then
    (a time before the first frame gets that frame), each converted once; and the
    last frame decoded (None: none). Decoding stops at the first frame after the
    last time."""
    picked: list[np.ndarray] = []
    previous, array = None, None  # the last frame decoded, and its array once converted
    for timed in frames:
        while len(picked) < len(times) and times[len(picked)] < timed[0] - 1e-6:
            previous = previous or timed  # a time before the first frame gets that frame
            if array is None:
                array = _to_array(previous[2], size)
            picked.append(array)
        if previous is not timed:
            previous, array = timed, None
        if len(picked) == len(times):
            break
    return picked, previous


def _ends_early(path: Path, end: float, stated: float, wanted: float) -> VideoError:
    """The error for a frame asked for at ``wanted`` seconds when the frames end at
    ``end`` and the header says ``stated``."""
    if end + END_TOLERANCE < stated:
        return VideoError(
            f"{_cut_short(path, end, stated)}; a frame at {wanted:.3f}s was asked for",
            TRUNCATED_VIDEO,
        )
    return VideoError(
        f"{path}: the frames end at {end:.3f}s; a frame at {wanted:.3f}s was asked for",
        DURATION_MISMATCH,
    )


def _to_array(frame: av.VideoFrame, size: dict) -> np.ndarray:
    return frame.to_ndarray(format="rgb24", **size)


def clip_times(
    duration: float,
    num_frames: int,
    start: float = 0.0,
    end: float | None = None,
    jitter: bool = False,
) -> list[float]:
    """``num_frames`` times in [start, end): the centre of each of ``num_frames`` equal
    segments, or (``jitter``) a random time within each segment.

    >>> clip_times(2.0, 4)
    [0.25, 0.75, 1.25, 1.75]
    """
    end = duration if end is None else end
    step = (end - start) / num_frames
    offsets = [random.random() if jitter else 0.5 for _ in range(num_frames)]
    return [start + (i + offset) * step for i, offset in enumerate(offsets)]


def clip_windows(
    duration: float, num_clips: int, clip_seconds: float | None
) -> list[tuple[float, float]]:
    """``num_clips`` windows of ``clip_seconds`` (whole video when None), evenly spread.

    >>> clip_windows(10.0, 3, 2.0)
    [(0.0, 2.0), (4.0, 6.0), (8.0, 10.0)]
    """
    length = duration if clip_seconds is None else min(clip_seconds, duration)
    if num_clips == 1:
        start = (duration - length) / 2
        return [(start, start + length)]
    starts = [k * (duration - length) / (num_clips - 1) for k in range(num_clips)]
    return [(s, s + length) for s in starts]

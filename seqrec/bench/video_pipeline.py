"""seqrec-bench-video: the video training data pipeline against raw PyAV decoding.

    seqrec-bench-video                                    # experiment=video_synthetic
    seqrec-bench-video --clips 256 data.num_workers=2     # any Hydra override

Both sides read the same videos, the same clips of them (the training reader's
windows: the whole video, or ``clip_seconds`` of it as on the UCF101 and HMDB51
presets) and the same number of frames per clip, one after the other in this run:

- raw decode: PyAV opens each file, goes to the keyframe before the clip (a seek,
  when the clip starts over ``SEEK_AFTER`` seconds in; the pipeline seeks there too,
  except in containers without timestamps, such as AVI, which it decodes from the
  first frame), decodes frames up to the last one needed and converts the needed ones
  to RGB arrays at native size, with no resizing or other work: the cost of the
  clip's frames themselves;
- pipeline: the training DataLoader (workers, time sampling with jitter, seeking,
  resizing, crop, colour jitter, normalisation, collate), exactly as training
  builds it.

The ratio pipeline / raw is the pipeline's throughput as a share of raw decoding
in one process. Above 1 means the DataLoader workers more than make up for the
pipeline's own work.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import av
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Subset

from seqrec.config import conf_dir, register_resolvers
from seqrec.core.video_frames import SEEK_AFTER
from seqrec.data.video import ClipReader


def raw_decode(paths: list[Path], frame_times: list[list[list[float]]]) -> float:
    """Seconds to decode, from each file, the frames at each of its clips' times
    (seconds into the file, ascending within a clip), as :meth:`ClipReader.frame_times`
    gives them."""
    start = time.perf_counter()
    for path, clips in zip(paths, frame_times, strict=True):
        for times in clips:
            _decode_clip(path, times)
    return time.perf_counter() - start


def _decode_clip(path: Path, times: list[float]) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if times[0] > SEEK_AFTER and stream.time_base:
            container.seek(int(times[0] / stream.time_base), stream=stream, backward=True)
        i = 0
        for frame in container.decode(stream):
            while i < len(times) and (frame.time or 0.0) >= times[i] - 1e-6:
                frame.to_ndarray(format="rgb24")
                i += 1
            if i == len(times):
                break


def pipeline(dataset, indices: list[int], batch_size: int, num_workers: int) -> float:
    """Seconds for the training DataLoader to deliver every clip, worker start-up included."""
    loader = DataLoader(
        Subset(dataset, indices),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=dataset.collate_fn,
    )
    start = time.perf_counter()
    delivered = sum(len(batch) for batch in loader)
    elapsed = time.perf_counter() - start
    assert delivered == len(indices), (delivered, len(indices))
    return elapsed


def run(argv: list[str] | None = None) -> dict:
    """Measure, print, and return the results."""
    parser = argparse.ArgumentParser(
        prog="seqrec-bench-video", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--experiment", default="video_synthetic")
    parser.add_argument("--clips", type=int, default=512, help="clips per side (default 512)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data.num_workers=2")
    args = parser.parse_args(argv)
    register_resolvers()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"experiment={args.experiment}", "paths.output_dir=unused", *args.overrides],
        )
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    dataset = datamodule.datasets["train"]
    indices = list(range(min(args.clips, len(dataset))))
    entries = [dataset.entries[i] for i in indices]
    reader: ClipReader = dataset.reader  # the training reader: its windows, its frame counts
    paths = [e.path for e in entries]
    # the reader's clips without the jitter, which moves frames within their segments only
    frame_times = [reader.frame_times(e.offset, e.duration) for e in entries]
    torch.set_num_threads(1)

    raw_decode(paths[:8], frame_times[:8])  # warm the file cache
    raw_seconds = raw_decode(paths, frame_times)
    batch_size = cfg.data.max_batch_size or 32
    pipe_seconds = pipeline(dataset, indices, batch_size, cfg.data.num_workers)
    raw_rate, pipe_rate = len(indices) / raw_seconds, len(indices) / pipe_seconds
    result = {
        "experiment": args.experiment,
        "clips": len(indices),
        "frames_per_clip": reader.num_frames,
        "clip_seconds": reader.clip_seconds,
        "num_workers": cfg.data.num_workers,
        "raw_decode_clips_per_s": round(raw_rate, 1),
        "pipeline_clips_per_s": round(pipe_rate, 1),
        "pipeline_over_raw": round(pipe_rate / raw_rate, 3),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s) per process",
    }
    print(f"{'':28}{'clips/s':>10}")
    print(f"{'raw PyAV decode (1 proc)':28}{raw_rate:>10.1f}")
    print(
        f"{'training pipeline':28}{pipe_rate:>10.1f}   ({cfg.data.num_workers} workers, batch {batch_size})"
    )
    print(f"{'pipeline / raw':28}{pipe_rate / raw_rate:>10.3f}")
    print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> None:
    run(argv)


if __name__ == "__main__":
    main()

"""seqrec.bench.video_pipeline: the video input pipeline against raw decoding, with the
same clips of the same videos on both sides."""

import json
from pathlib import Path

import av
import pytest

from seqrec.bench import video_pipeline
from seqrec.data.manifest import read_manifest
from tests.conftest import tiny_video_overrides, write_video


def test_video_pipeline_benchmark(video_data_dir, capsys):
    """With its default arguments (the video_synthetic preset, every clip up to 512)."""
    overrides = [
        o for o in tiny_video_overrides(video_data_dir) if o.startswith(("paths.", "data."))
    ]
    result = video_pipeline.run(overrides)
    train = read_manifest(
        video_data_dir / "video_synthetic" / "train.jsonl", "video_filepath", check_files=False
    )
    assert result["clips"] == len(train) and result["frames_per_clip"] == 4
    assert result["clip_seconds"] is None
    assert result["raw_decode_clips_per_s"] > 0 and result["pipeline_clips_per_s"] > 0
    ratio = result["pipeline_clips_per_s"] / result["raw_decode_clips_per_s"]
    assert result["pipeline_over_raw"] == pytest.approx(ratio, rel=0.01)
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line) == result


class _SpyAv:
    """``av`` for the benchmark's raw side: records the time of every frame it converts."""

    def __init__(self) -> None:
        self.converted: dict[str, list[float]] = {}

    def open(self, path: str) -> "_SpyContainer":
        return _SpyContainer(av.open(path), self.converted.setdefault(Path(path).name, []))


class _SpyContainer:
    def __init__(self, container, converted: list[float]) -> None:
        self.container, self.converted = container, converted

    def __enter__(self) -> "_SpyContainer":
        return self

    def __exit__(self, *exc) -> None:
        self.container.close()

    def __getattr__(self, name: str):
        return getattr(self.container, name)

    def decode(self, *args, **kwargs):
        for frame in self.container.decode(*args, **kwargs):
            yield _SpyFrame(frame, self.converted)


class _SpyFrame:
    def __init__(self, frame, converted: list[float]) -> None:
        self.frame, self.converted = frame, converted

    def __getattr__(self, name: str):
        return getattr(self.frame, name)

    def to_ndarray(self, **kwargs):
        self.converted.append(self.frame.time)
        return self.frame.to_ndarray(**kwargs)


@pytest.mark.parametrize("experiment", ["video_ucf101", "video_hmdb51"])
def test_raw_decode_reads_the_pipelines_window_on_the_real_presets(
    experiment, tmp_path, monkeypatch, capsys
):
    """The UCF101 and HMDB51 readers train on a 4 s window in the middle of each video.
    The raw side decoded frames spread over the whole video instead; now it converts
    as many frames as the pipeline, from the same window."""
    names = ["v_ApplyEyeMakeup_g08_c01.avi", "v_ApplyEyeMakeup_g09_c01.avi"]
    if experiment == "video_ucf101":
        root = tmp_path / "UCF101"
        lists = root / "ucfTrainTestlist"
        lists.mkdir(parents=True)
        (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n")
        (lists / "trainlist01.txt").write_text("".join(f"ApplyEyeMakeup/{n} 1\n" for n in names))
        (lists / "testlist01.txt").write_text("")
        videos = [root / "UCF-101" / "ApplyEyeMakeup" / n for n in names]
        layout = ["data.prepare.val_groups=0", "data.val_manifest=null"]
    else:
        root = tmp_path / "HMDB51"
        names = [f"wave_clip{k}_f_cm_np1_fr_med_{k}.avi" for k in range(2)]
        split = root / "testTrainMulti_7030_splits" / "wave_test_split1.txt"
        split.parent.mkdir(parents=True)
        split.write_text("".join(f"{n} 1\n" for n in names))
        videos = [root / "hmdb51_org" / "wave" / n for n in names]
        layout = ["data.prepare.val_share=0", "data.val_manifest=null"]
    for video in videos:  # 10 s at 10 frames a second
        write_video(video, [(7 * i) % 250 for i in range(100)], fps=10, size=32)
    spy = _SpyAv()
    monkeypatch.setattr(video_pipeline, "av", spy)
    result = video_pipeline.run(
        [
            "--experiment",
            experiment,
            f"paths.data_dir={tmp_path / 'data'}",
            f"data.prepare.root={root}",
            "data.num_workers=0",
            "data.reader.short_side=32",
            "data.reader.transform.size=32",
            *layout,
        ]
    )
    assert sorted(spy.converted) == sorted(names)
    for name, times in spy.converted.items():
        # warmed once, then timed: 16 frames each time, all inside [3 s, 7 s)
        assert len(times) == 2 * 16, (name, times)
        assert all(3.0 <= t < 7.0 + 0.1 for t in times), (name, times)
    assert (result["clips"], result["frames_per_clip"], result["clip_seconds"]) == (2, 16, 4.0)

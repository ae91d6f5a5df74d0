"""seqrec.bench.video_pipeline: the video input pipeline against raw decoding."""

import json

import pytest

from tests.conftest import tiny_video_overrides


def test_video_pipeline_benchmark(video_data_dir, capsys):
    from seqrec.bench.video_pipeline import run

    overrides = [
        o for o in tiny_video_overrides(video_data_dir) if o.startswith(("paths.", "data."))
    ]
    result = run(["--clips", "6", *overrides])
    assert result["clips"] == 6 and result["frames_per_clip"] == 4
    assert result["raw_decode_clips_per_s"] > 0 and result["pipeline_clips_per_s"] > 0
    ratio = result["pipeline_clips_per_s"] / result["raw_decode_clips_per_s"]
    assert result["pipeline_over_raw"] == pytest.approx(ratio, rel=0.01)
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line) == result

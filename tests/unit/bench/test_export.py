"""seqrec-bench-export: the three versions of each model timed in turn and scored."""

import json

import pytest

from tests.helpers import write_checkpoint, write_test_set


def test_seqrec_bench_export_compares_the_three_side_by_side(tmp_path, capsys, monkeypatch):
    """The benchmark exports each checkpoint (float and int8), times PyTorch, fp32 and
    int8 in turn, and scores all three on the test manifests."""
    from seqrec.bench.export import main

    monkeypatch.chdir(tmp_path)  # no default test manifests here

    kws = write_checkpoint(tmp_path / "kws.ckpt", "kws_gru_mean")
    asr = write_checkpoint(tmp_path / "asr.ckpt", "ctc_char")
    video = write_checkpoint(tmp_path / "video.ckpt", "video_small_cnn")
    kws_set, asr_set = write_test_set(tmp_path, "kws"), write_test_set(tmp_path, "ctc")
    main(
        [
            f"--kws-ckpt={kws}", f"--asr-ckpt={asr}", f"--video-ckpt={video}",
            f"--kws-manifest={kws_set}", f"--asr-manifest={asr_set}",
            "--runs=2", "--repeats=1", "--utterances=3", f"--out-dir={tmp_path / 'onnx'}",
            "--stream-seconds=3",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    results = json.loads(out.strip().splitlines()[-1])
    for figure in ("kws_ms_per_clip", "kws_detect_rtf", "asr_rtf", "video_clips_per_second"):
        assert all(results[figure][v] > 0 for v in ("torch", "fp32", "int8"))
        assert figure in out
    assert results["asr_rtf"]["audio_seconds"] == pytest.approx(sum((1.0, 0.3, 2.2)))
    kws_scores, asr_scores = results["scores"]["kws"], results["scores"]["asr"]
    assert kws_scores["fp32"]["acc"] == kws_scores["torch"]["acc"]
    assert asr_scores["fp32"]["cer"] == pytest.approx(asr_scores["torch"]["cer"])
    assert "video" not in results["scores"]  # no video test set: timing only
    assert "no video test manifest at data/video_synthetic/test.jsonl" in out
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == sorted(
        f"{m}-{n}{q}.onnx" for m, n in (("audio", "kws"), ("audio", "asr"), ("video", "video"))
        for q in ("", ".int8")
    )  # fmt: skip

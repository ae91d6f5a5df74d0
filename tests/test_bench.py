"""seqrec-bench: each measurement runs and the JSON line carries it."""

import json

import pytest
import torch

from seqrec.bench.suite import MEASUREMENTS, bottleneck, kws_model, main, padding_efficiency, run
from tests.conftest import tiny_asr_overrides


def _tiny(asr_data_dir) -> list[str]:
    return [o for o in tiny_asr_overrides(asr_data_dir) if o.startswith(("paths.", "data.", "frontend.",
                                                                         "encoder.", "decoder."))]  # fmt: skip


def test_padding_efficiency_is_real_over_padded_seconds():
    # one bucket-sorted batch of [1, 2] and one of [3, 4] (at most 2 per batch)
    assert padding_efficiency([1.0, 2.0, 3.0, 4.0], None, 2) == pytest.approx(10 / 12)
    assert padding_efficiency([2.0] * 6, 8.0, None) == 1.0


def test_bench_measures_everything_and_ends_with_json(asr_data_dir, capsys):
    results = run(
        ["--steps", "2", "--utterances", "2", "--skip", "ddp2_speedup", *_tiny(asr_data_dir)]
    )
    expected = set(MEASUREMENTS) - {"ddp2_speedup"}
    assert expected <= results.keys()
    assert 0 < results["padding_efficiency"] <= 1 and results["train_pipeline_efficiency"] > 0
    for stage in ("loop", "compute", "loader", "features"):
        assert results[f"{stage}_samples_per_s"] > 0
    assert results["compute_drift"] > 0 and results["loop_audio_seconds_per_s"] > 0
    assert results["bound"] in {"data loading", "features", "model (subsampling, RNN, CTC)"}
    assert "errors" not in results
    assert results["asr_rtf"] > 0
    assert all(results[f"kws_ms_per_clip{cell}"] > 0 for cell in ("", "_lstm", "_gru"))
    assert (
        results["rnn_gflops"] > 0
        and results["rnn_gflops_packed"] > 0
        and results["gemm_gflops"] > 0
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: last[k] for k in expected} == {k: results[k] for k in expected}


def test_kws_cell_comparison_times_the_cell_it_names():
    # kws_ms_per_clip_lstm / _gru compare two different networks, not one twice
    for cell, rnn_type in (("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
        model = kws_model(None, [f"decoder.cell={cell}"])
        assert type(model.model.decoder.rnn) is rnn_type
        assert len(model.labels) == 35


def test_a_failing_measurement_is_reported_and_the_others_still_run(asr_data_dir, tmp_path, capsys):
    missing = tmp_path / "missing.ckpt"
    skip = "ddp2_speedup,train_pipeline_efficiency,kws_ms_per_clip,rnn_gflops"
    with pytest.raises(SystemExit) as exit_info:
        main(["--asr-ckpt", str(missing), "--skip", skip, *_tiny(asr_data_dir)])
    assert exit_info.value.code == 1
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "asr_rtf" not in last and "missing.ckpt" in last["errors"]["asr_rtf"]
    assert 0 < last["padding_efficiency"] <= 1 and last["gemm_gflops"] > 0


def test_gpu_without_cuda_is_refused_up_front(asr_data_dir, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(SystemExit):
        run(["--accelerator", "gpu", *_tiny(asr_data_dir)])
    assert "no CUDA device" in capsys.readouterr().err


def test_bottleneck_names_the_slowest_stage():
    rates = {"compute_samples_per_s": 100.0, "features_samples_per_s": 1000.0}
    assert bottleneck({**rates, "loader_samples_per_s": 105.0}) == "data loading"
    assert bottleneck({**rates, "loader_samples_per_s": 500.0}).startswith("model")
    features_heavy = {**rates, "features_samples_per_s": 150.0, "loader_samples_per_s": 500.0}
    assert bottleneck(features_heavy) == "features"

"""seqrec-bench (seqrec.bench.suite): the verdicts against the goals, and the whole command on a
tiny corpus."""

import json

import pytest

from seqrec.bench.suite import judge, main, run
from tests.conftest import tiny_bench_overrides as _tiny


def test_judge_says_met_missed_or_unresolved():
    verdicts = judge(
        {
            "train_pipeline_efficiency": 0.95,
            "train_pipeline_efficiency_min": 0.93,
            "train_pipeline_efficiency_max": 0.96,
            "padding_efficiency": 0.85,
            "asr_rtf": 0.019,
            "asr_rtf_min": 0.015,
            "asr_rtf_max": 0.022,
        }
    )
    assert verdicts["train_pipeline_efficiency"].startswith(
        "met"
    )  # spread 0.03 < 0.05 from the goal
    assert verdicts["padding_efficiency"].startswith("missed")
    assert verdicts["asr_rtf"].startswith("unresolved")  # spread 0.007 >= 0.001 from the goal
    assert "kws_ms_per_clip" not in verdicts


def _unresolved(spread: str, distance: str, goal: str) -> str:
    return f"unresolved: spread {spread} >= distance {distance} from the goal (goal {goal})"


@pytest.mark.parametrize(
    ("figure", "value", "low", "high", "verdict"),
    [
        # higher is better (goal >= 0.9)
        ("train_pipeline_efficiency", 0.95, 0.93, 0.96, "met (goal >= 0.9)"),
        ("train_pipeline_efficiency", 0.85, 0.84, 0.86, "missed (goal >= 0.9)"),
        ("train_pipeline_efficiency", 0.91, 0.88, 0.93, _unresolved("0.0500", "0.0100", ">= 0.9")),
        ("train_pipeline_efficiency", 0.89, 0.87, 0.95, _unresolved("0.0800", "0.0100", ">= 0.9")),
        ("train_pipeline_efficiency", 1.0, 0.9, 1.0, _unresolved("0.1000", "0.1000", ">= 0.9")),
        ("padding_efficiency", 0.9, None, None, "met (goal >= 0.9)"),  # on the goal, one run
        ("padding_efficiency", 0.8999, None, None, "missed (goal >= 0.9)"),
        ("padding_efficiency", 0.95, 0.949, 0.951, "met (goal >= 0.9)"),
        # lower is better (goal <= 0.02, <= 5.0)
        ("asr_rtf", 0.015, 0.014, 0.016, "met (goal <= 0.02)"),
        ("asr_rtf", 0.03, 0.028, 0.031, "missed (goal <= 0.02)"),
        ("asr_rtf", 0.019, 0.015, 0.022, _unresolved("0.0070", "0.0010", "<= 0.02")),
        ("asr_rtf", 0.021, 0.018, 0.024, _unresolved("0.0060", "0.0010", "<= 0.02")),
        ("kws_ms_per_clip", 5.5, 5.0, 5.5, _unresolved("0.5000", "0.5000", "<= 5.0")),
        ("kws_ms_per_clip", 5.5, 5.01, 5.5, "missed (goal <= 5.0)"),
        ("kws_ms_per_clip", 4.5, 4.5, 5.0, _unresolved("0.5000", "0.5000", "<= 5.0")),
        ("kws_ms_per_clip", 4.0, 3.5, 4.49, "met (goal <= 5.0)"),
        ("kws_ms_per_clip", 5.0, None, None, "met (goal <= 5.0)"),
    ],
)
def test_judge_on_both_sides_of_higher_and_lower_is_better_goals(figure, value, low, high, verdict):
    """Met or missed by the comparison; unresolved, on either side of the goal, when the
    spread over repeats (max - min) reaches the distance from the goal."""
    spread = {} if low is None else {f"{figure}_min": low, f"{figure}_max": high}
    assert judge({figure: value, **spread, "gemm_gflops": 1.0}) == {figure: verdict}


def test_bench_measures_everything_and_ends_with_json(asr_data_dir, capsys):
    results = run(
        ["--steps", "2", "--repeats", "1", "--skip", "ddp2_speedup", *_tiny(asr_data_dir)]
    )
    assert "errors" not in results
    figures = {
        "train_pipeline_efficiency",
        "padding_efficiency",
        "padding_efficiency_manifest",
        "asr_rtf",
        "kws_ms_per_clip",
        "kws_ms_per_clip_lstm",
        "kws_ms_per_clip_gru",
        "rnn_gflops_synthetic_shape",
        "rnn_gflops_packed_synthetic_shape",
        "rnn_gflops_preset_batches",
        "gemm_gflops",
    }
    assert figures <= results.keys()
    # one run: its ratio is the loop's rate over the reference's, pooled before and after
    ratio = results["loop_audio_seconds_per_s"] / results["compute_audio_seconds_per_s"]
    assert results["train_pipeline_efficiency"] == pytest.approx(ratio, rel=1e-3)
    assert results["train_pipeline_efficiency_min"] == results["train_pipeline_efficiency_max"]
    assert results["asr_rtf_utterances"] == 4  # the whole tiny test set
    assert results["bound"] in {"data loading", "features", "model (subsampling, RNN, CTC)"}
    assert set(results["goals"]) == {
        "train_pipeline_efficiency",
        "padding_efficiency",
        "asr_rtf",
        "kws_ms_per_clip",
    }
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: last[k] for k in figures} == {k: results[k] for k in figures}


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

"""seqrec-bench: each figure against a value computed independently on a small case,
and the whole command on a tiny corpus."""

import json
import math
import time
from functools import partial
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from seqrec.bench import asr_rtf, ddp
from seqrec.bench.common import compose_config
from seqrec.bench.gflops import rnn_gflops_preset_batches, rnn_matmul_flops, timed_gflops
from seqrec.bench.kws import kws_model
from seqrec.bench.padding import measure_padding, padding_efficiency, speed_perturbed_length
from seqrec.bench.pipeline import bottleneck, pipeline_figures, timed_steps
from seqrec.bench.suite import MEASUREMENTS, judge, main, run
from seqrec.bench.timing import StepTimer, Timing, time_seqrec_train
from seqrec.data.audio import AudioReader, TranscribedAudioDataset
from seqrec.data.augment import WaveformAugment
from seqrec.data.manifest import read_manifest
from seqrec.data.sampler import DurationBucketSampler
from seqrec.tasks.datamodule import TranscriptionDataModule
from tests.conftest import tiny_asr_overrides, write_manifest_lines, write_wav


def _tiny(asr_data_dir) -> list[str]:
    return [
        o
        for o in tiny_asr_overrides(asr_data_dir)
        if o.startswith(("paths.", "data.", "frontend.", "encoder.", "decoder."))
    ]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# padding_efficiency


def test_padding_efficiency_is_real_over_padded_length():
    assert padding_efficiency([[1.0, 2.0], [3.0, 4.0]]) == pytest.approx(10 / 12)
    assert padding_efficiency([[2.0] * 6]) == 1.0


@pytest.mark.parametrize("samples", [16000, 20000, 24001])
@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbed_length_is_what_the_augmentation_makes(samples, factor):
    augment = WaveformAugment(
        16000, speeds=[factor], speed_prob=1.0, shift_seconds=0.0, noise_prob=0.0
    )
    assert speed_perturbed_length(samples, factor, 16000) == augment(torch.randn(samples)).numel()


def test_padding_is_measured_on_the_lengths_after_speed_perturbation(tmp_path):
    # 1.0 s and 1.25 s share a batch, the two 2.0 s another (at most 2 per batch, 4 s cap);
    # the 1.0 s and 2.0 s utterances are slowed to 0.9x: ceil(S * 10 / 9) samples
    seconds = [1.0, 1.25, 2.0, 2.0]
    rows = [
        {
            "audio_filepath": str(write_wav(tmp_path / f"u{i}.wav", s, seed=i)),
            "duration": s,
            "text": "yes",
            "id": f"u{i}",
        }
        for i, s in enumerate(seconds)
    ]
    manifest = write_manifest_lines(tmp_path / "train.jsonl", rows)
    slow = WaveformAugment(16000, speeds=[0.9], speed_prob=1.0, shift_seconds=0.0, noise_prob=0.0)

    def augment(waveform: torch.Tensor) -> torch.Tensor:
        return slow(waveform) if waveform.numel() in (16000, 32000) else waveform

    dataset = partial(TranscribedAudioDataset, augment=augment)
    datamodule = TranscriptionDataModule(
        str(manifest),
        str(manifest),
        str(manifest),
        reader=AudioReader(16000),
        dataset=dataset,
        max_batch_seconds=4.0,
        max_batch_size=2,
        num_workers=0,
    )
    figures = measure_padding(datamodule, 16000, 4.0)

    one_s, two_s = math.ceil(16000 * 10 / 9), math.ceil(32000 * 10 / 9)  # 17778, 35556
    assert figures["padding_efficiency"] == pytest.approx(
        (one_s + 20000 + 2 * two_s) / (2 * 20000 + 2 * two_s)
    )
    assert figures["padding_efficiency_manifest"] == pytest.approx(
        (1.0 + 1.25 + 4.0) / (2 * 1.25 + 2 * 2.0)
    )
    # the 2 s batch held 4.0 s by its manifest durations, and 2 * 35556 samples once slowed
    assert figures["batches_over_cap"] == 0.5
    assert figures["batch_seconds_over_cap_max"] == pytest.approx(2 * two_s / 16000 / 4.0)


# train_pipeline_efficiency


class _Batch:
    """An audio batch as the timers count it: its length and its sample counts."""

    audio = None

    def __init__(self, lengths: list[int]) -> None:
        self.lengths = torch.tensor(lengths)

    def __len__(self) -> int:
        return len(self.lengths)


def test_step_timer_times_the_steps_after_warmup():
    clock = FakeClock()
    timer = StepTimer(warmup=1, clock=clock)
    module = SimpleNamespace(device=torch.device("cpu"), hparams={"reader": {"sample_rate": 16000}})
    batches = [_Batch([16000]), _Batch([16000, 8000]), _Batch([32000, 32000, 16000])]
    for seconds, batch in zip((5.0, 2.0, 3.0), batches, strict=True):
        clock.advance(seconds)
        timer.on_train_batch_end(None, module, None, batch, 0)
    assert timer.samples == 5 and timer.seconds == 5.0  # the last two steps
    assert timer.audio_seconds == pytest.approx((24000 + 80000) / 16000)


def test_timed_steps_counts_the_steps_after_warmup():
    clock = FakeClock()
    batches = [_Batch([16000] * n) for n in (4, 2, 3)]
    timing = timed_steps(
        batches, 1, torch.device("cpu"), lambda b: clock.advance(0.5 * len(b)), 16000, clock
    )
    assert timing == Timing(samples=5, audio_seconds=5.0, seconds=2.5)


def test_pipeline_efficiency_divides_each_run_by_the_reference_around_it():
    loops = [Timing(10, 100.0, 2.0), Timing(10, 90.0, 2.0)]  # 50 and 45 audio s/s
    computes = [Timing(10, 100.0, 1.6), Timing(10, 100.0, 2.4), Timing(10, 100.0, 2.0)]
    figures = pipeline_figures(loops, computes)
    ratios = [50 / (200 / 4.0), 45 / (200 / 4.4)]  # each run over the two passes around it, pooled
    assert figures["train_pipeline_efficiency"] == pytest.approx(sum(ratios) / 2)
    assert figures["train_pipeline_efficiency_min"] == pytest.approx(min(ratios))
    assert figures["train_pipeline_efficiency_max"] == pytest.approx(max(ratios))
    assert figures["compute_drift"] == pytest.approx((100 / 2.0) / (100 / 1.6))
    assert figures["compute_audio_seconds_per_s"] == pytest.approx(300 / 6.0)
    assert figures["loop_audio_seconds_per_s"] == pytest.approx(47.5)
    with pytest.raises(ValueError, match="3 reference passes"):
        pipeline_figures(loops, computes[:2])


def test_the_timed_loop_is_seqrec_train_with_its_callbacks_and_loggers(asr_data_dir, tmp_path):
    overrides = [
        "experiment=asr_synthetic",
        *_tiny(asr_data_dir),
        "trainer.log_every_n_steps=1",
        "checkpoint_every_n_steps=2",
        "threads=1",
    ]
    timing = time_seqrec_train(overrides, steps=2, warmup=1, run_dir=tmp_path / "run")
    assert timing.samples > 0 and timing.audio_seconds > 0 and timing.seconds > 0
    config = OmegaConf.load(tmp_path / "run" / "config.yaml")
    assert config.trainer.enable_progress_bar is True  # the recipe's progress bar, not turned off
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()  # the last-checkpoint writer
    header = (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "lr-" in header  # the CSV logger, with the learning-rate monitor's column
    assert any((tmp_path / "run" / "tensorboard").iterdir())


# ddp2_speedup


def test_ddp_runs_compare_the_same_global_batch_on_the_same_cores(monkeypatch):
    runs = []

    def fake_run(overrides, steps, warmup, run_dir) -> Timing:
        runs.append(overrides)
        two = "trainer.devices=2" in overrides
        return Timing(samples=40 if two else 30, audio_seconds=120.0, seconds=3.0 if two else 4.0)

    monkeypatch.setattr(ddp, "time_seqrec_train", fake_run)
    cfg = OmegaConf.create({"data": {"max_batch_seconds": 120, "max_batch_size": 16}})
    figures = ddp.ddp2_speedup(cfg, ["data.num_workers=0"], threads=4, steps=5, repeats=2)
    assert figures["ddp2_speedup"] == pytest.approx((120 / 3.0) / (120 / 4.0))
    assert figures["ddp2_speedup_min"] == figures["ddp2_speedup_max"] == figures["ddp2_speedup"]
    one, two = runs[0], runs[1]
    assert "trainer=cpu" in one and "threads=4" in one and "data.max_batch_seconds=60.0" not in one
    assert {
        "trainer=ddp",
        "trainer.devices=2",
        "threads=2",
        "data.max_batch_seconds=60.0",
        "data.max_batch_size=8",
    } <= set(two)
    assert len(runs) == 4


def test_split_batch_refuses_a_batch_size_that_does_not_split():
    with pytest.raises(ValueError, match="max_batch_size=5"):
        ddp.split_batch_overrides(
            OmegaConf.create({"max_batch_seconds": None, "max_batch_size": 5}), 2
        )


# asr_rtf


def test_rtf_is_reading_and_transcribing_time_over_audio_seconds(tmp_path):
    clock = FakeClock()
    rows = [
        {
            "audio_filepath": str(write_wav(tmp_path / f"u{i}.wav", s, rate=8000, seed=i)),
            "duration": s,
            "text": text,
        }
        for i, (s, text) in enumerate([(1.0, "yes no"), (3.0, "up")])
    ]
    manifest = write_manifest_lines(tmp_path / "test.jsonl", rows)
    real_reader = AudioReader(16000)

    def read(*args):  # reading costs 0.25 s a file
        clock.advance(0.25)
        return real_reader(*args)

    class Model:  # transcribing costs 1 s a call
        sample_rate, decoding, reader = 16000, {"method": "greedy"}, staticmethod(read)

        def set_decoding(self, decoding) -> None:
            self.decoding = decoding

        def transcribe_waveforms(self, waveforms, batch_size):
            clock.advance(1.0)
            return ["yes no", "down"][: len(waveforms)]

    results = asr_rtf.measure_rtf(Model(), manifest, clock=clock)
    assert results["utterances"] == 2 and results["audio_seconds"] == pytest.approx(
        4.0
    )  # resampled to 16 kHz
    greedy = results["greedy"]
    assert greedy["seconds"] == pytest.approx(2 * 0.25 + 1.0)  # the warm-up call is not timed
    assert greedy["rtf"] == pytest.approx(1.5 / 4.0) and greedy["read_seconds"] == pytest.approx(
        0.5
    )
    assert greedy["wer"] == pytest.approx(1 / 3)


def test_both_commands_measure_one_asr_rtf(asr_run, asr_data_dir, monkeypatch, capsys):
    ticks = iter(range(10**6))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(ticks)))  # one second a reading
    checkpoint = str(asr_run / "checkpoints" / "best.ckpt")
    manifest = asr_data_dir / "asr_synthetic" / "test.jsonl"
    asr_rtf.main([checkpoint, "--manifest", str(manifest), "--greedy-only"])
    alone = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    skip = ",".join(m for m in MEASUREMENTS if m != "asr_rtf")
    suite = run(["--asr-ckpt", checkpoint, "--skip", skip, *_tiny(asr_data_dir)])
    assert (
        alone["utterances"]
        == suite["asr_rtf_utterances"]
        == len(read_manifest(manifest, target_key="text"))
    )
    assert alone["audio_seconds"] == pytest.approx(suite["asr_rtf_audio_seconds"], abs=0.01)
    assert (
        alone["asr_rtf"]
        == suite["asr_rtf"]
        == pytest.approx(2 / suite["asr_rtf_audio_seconds"], rel=1e-3)
    )


# rnn_gflops and gemm_gflops


def test_rnn_flops_follow_the_hand_formula():
    assert rnn_matmul_flops(torch.nn.LSTM(10, 20), frames=7) == 3 * 2 * 4 * 20 * (10 + 20) * 7
    gru = torch.nn.GRU(10, 20, num_layers=2, bidirectional=True)
    layers = (
        2 * 3 * 20 * (10 + 20) * 2 + 2 * 3 * 20 * (40 + 20) * 2
    )  # the second reads both directions
    assert rnn_matmul_flops(gru, frames=5) == 3 * layers * 5


def test_gflops_are_flops_over_the_timed_seconds():
    clock, calls = FakeClock(), []

    def step() -> None:
        calls.append(1)
        clock.advance(0.5)

    assert timed_gflops([step] * 4, 6e9, "cpu", clock) == pytest.approx(6e9 / 2.0 / 1e9)
    assert len(calls) == 5  # one warm-up call, untimed


def test_rnn_gflops_preset_batches_run_the_samplers_batches(asr_data_dir):
    cfg = compose_config("asr_synthetic", _tiny(asr_data_dir))
    figures = rnn_gflops_preset_batches(cfg, batches=3)
    entries = read_manifest(cfg.data.train_manifest, target_key="text")
    augment = instantiate(cfg.data.dataset.augment)
    sampler = DurationBucketSampler(  # as training builds it: batches on perturbed lengths
        [e.duration for e in entries],
        cfg.data.max_batch_seconds,
        cfg.data.max_batch_size,
        seed=cfg.seed,
        speed_plan=augment.draw_speeds,
    )
    first = list(sampler)[:3]

    def frames(
        seconds: float,
    ) -> int:  # 25 ms windows (512-point FFT), 10 ms hop, then 2 stride-2 convolutions
        n = (round(seconds * 16000) - 512) // 160 + 1
        return ((n - 1) // 2) // 2 + 1

    longest = [max(frames(entries[k.item].duration / k.speed) for k in batch) for batch in first]
    assert figures["preset_batches"] == len(first) == 3
    assert figures["preset_batch_utterances_mean"] == pytest.approx(sum(map(len, first)) / 3)
    assert figures["preset_batch_frames_max_mean"] == pytest.approx(sum(longest) / 3)
    assert figures["rnn_gflops_preset_batches"] > 0


# the whole command


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

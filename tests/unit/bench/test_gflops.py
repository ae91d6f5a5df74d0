"""seqrec.bench.gflops: RNN FLOPs by hand formula, GFLOP/s over timed seconds, the preset's batches."""

import pytest
import torch
from hydra.utils import instantiate

from seqrec.bench.common import compose_config
from seqrec.bench.gflops import rnn_gflops_preset_batches, rnn_matmul_flops, timed_gflops
from seqrec.data.manifest import read_manifest
from seqrec.data.sampler import DurationBucketSampler
from tests.conftest import tiny_bench_overrides as _tiny
from tests.helpers import FakeClock


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

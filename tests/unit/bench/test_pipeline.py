"""seqrec.bench.pipeline: timed steps, the pipeline-efficiency ratio, the bottleneck."""

import pytest
import torch

from seqrec.bench.pipeline import bottleneck, pipeline_figures, timed_steps
from seqrec.bench.timing import Timing
from tests.helpers import FakeAudioBatch as _Batch
from tests.helpers import FakeClock


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


def test_bottleneck_names_the_slowest_stage():
    rates = {"compute_samples_per_s": 100.0, "features_samples_per_s": 1000.0}
    assert bottleneck({**rates, "loader_samples_per_s": 105.0}) == "data loading"
    assert bottleneck({**rates, "loader_samples_per_s": 500.0}).startswith("model")
    features_heavy = {**rates, "features_samples_per_s": 150.0, "loader_samples_per_s": 500.0}
    assert bottleneck(features_heavy) == "features"

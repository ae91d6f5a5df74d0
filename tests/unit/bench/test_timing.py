"""seqrec.bench.timing: the step timer, and the timed loop being seqrec-train itself."""

from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from seqrec.bench.timing import StepTimer, time_seqrec_train
from tests.conftest import tiny_bench_overrides as _tiny
from tests.helpers import FakeAudioBatch as _Batch
from tests.helpers import FakeClock


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

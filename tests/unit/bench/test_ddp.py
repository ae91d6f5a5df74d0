"""seqrec.bench.ddp: the DDP speed-up compares one global batch on the same cores."""

import pytest
from omegaconf import OmegaConf

from seqrec.bench import ddp
from seqrec.bench.timing import Timing


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

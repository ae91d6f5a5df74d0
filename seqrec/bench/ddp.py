"""``ddp2_speedup``: training throughput of 2 CPU DDP processes over 1 process, at the
same global batch.

One process trains with the recipe's batch cap B (``data.max_batch_seconds``, and
``data.max_batch_size`` when set) on ``threads`` threads. Two processes each take
batches capped at B / 2 (the sampler shards the batches across them), on
``threads / 2`` threads each, so an optimizer step sees as much audio in both, on the
same cores. Both are ``seqrec-train`` runs (:func:`~seqrec.bench.timing.time_seqrec_train`)
timed over the same number of optimizer steps; throughput is audio seconds trained
per second, summed over the ranks. The runs alternate, ``repeats`` pairs of them, so
that a change in the machine's speed reaches both alike.
"""

import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from seqrec.bench.timing import Timing, time_seqrec_train


def split_batch_overrides(data: DictConfig, processes: int) -> list[str]:
    """Overrides that give each of ``processes`` ranks 1/``processes`` of the batch cap.

    >>> from omegaconf import OmegaConf
    >>> split_batch_overrides(OmegaConf.create({"max_batch_seconds": 120, "max_batch_size": None}), 2)
    ['data.max_batch_seconds=60.0']
    """
    overrides = []
    if data.get("max_batch_seconds") is not None:
        overrides.append(f"data.max_batch_seconds={float(data.max_batch_seconds) / processes}")
    if data.get("max_batch_size") is not None:
        if data.max_batch_size % processes:
            raise ValueError(
                f"data.max_batch_size={data.max_batch_size} does not split into {processes} ranks"
            )
        overrides.append(f"data.max_batch_size={data.max_batch_size // processes}")
    return overrides


def speedup_figures(ones: Sequence[Timing], twos: Sequence[Timing]) -> dict[str, float]:
    """The median of each pair's 2-process over 1-process audio rate, its spread, and
    the median rates."""
    ratios = [
        two.audio_seconds_per_s / one.audio_seconds_per_s
        for one, two in zip(ones, twos, strict=True)
    ]
    return {
        "ddp2_speedup": statistics.median(ratios),
        "ddp2_speedup_min": min(ratios),
        "ddp2_speedup_max": max(ratios),
        "ddp1_audio_seconds_per_s": statistics.median(t.audio_seconds_per_s for t in ones),
        "ddp2_audio_seconds_per_s": statistics.median(t.audio_seconds_per_s for t in twos),
        "ddp1_samples_per_s": statistics.median(t.samples_per_s for t in ones),
        "ddp2_samples_per_s": statistics.median(t.samples_per_s for t in twos),
    }


def ddp2_speedup(
    cfg: DictConfig,
    overrides: Sequence[str],
    threads: int,
    steps: int,
    repeats: int = 3,
    warmup: int = 3,
) -> dict[str, float]:
    """:func:`speedup_figures` of ``repeats`` pairs of runs of ``seqrec-train
    experiment=asr_synthetic <overrides>`` (``cfg`` is that config, composed)."""
    base = ["experiment=asr_synthetic", *overrides]
    one = [*base, "trainer=cpu", f"threads={threads}"]
    two = [
        *base,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"threads={max(1, threads // 2)}",
        *split_batch_overrides(cfg.data, 2),
    ]
    ones, twos = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            ones.append(time_seqrec_train(one, steps, warmup, Path(tmp) / "one"))
            twos.append(time_seqrec_train(two, steps, warmup, Path(tmp) / "two"))
    return speedup_figures(ones, twos)

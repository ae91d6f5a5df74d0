"""A Lightning callback that times training steps, for the benchmarks."""

import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch


class StepTimer(pl.Callback):
    """Time training from the end of step ``warmup`` to the end of the last step,
    counting the samples (and audio seconds, for audio batches) of the timed steps on
    every rank. With ``output`` set, rank 0 writes the totals there as JSON when
    training ends.
    """

    def __init__(self, warmup: int = 2, output: str | None = None) -> None:
        self.warmup = warmup
        self.output = output
        self.samples = 0
        self.audio_seconds = 0.0
        self.seconds = 0.0
        self._start: float | None = None
        self._steps = 0
        self._sample_rate: float | None = None

    def on_train_start(self, trainer, module) -> None:
        spec = module.hparams.get("input_spec", {})
        self._sample_rate = spec.get("sample_rate") if spec.get("modality") == "audio" else None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.device.type == "cuda":  # time the step's GPU work, not its launch
            torch.cuda.synchronize(module.device)
        self._steps += 1
        if self._steps == self.warmup:
            self._start = time.perf_counter()
        elif self._steps > self.warmup:
            self.samples += len(batch)
            rate = getattr(module, "sample_rate", None) or module.hparams.get("input_spec", {}).get(
                "sample_rate"
            )
            if hasattr(batch, "audio") and rate:
                self.audio_seconds += float(batch.lengths.sum()) / float(rate)
            self.seconds = time.perf_counter() - self._start

    def on_train_end(self, trainer, module) -> None:
        totals = torch.tensor([self.samples, self.audio_seconds], dtype=torch.float64)
        if trainer.world_size > 1:
            totals = trainer.strategy.reduce(totals, reduce_op="sum")
        self.samples, self.audio_seconds = int(totals[0]), float(totals[1])
        if self.output and trainer.is_global_zero:
            Path(self.output).write_text(json.dumps({
                "samples": self.samples, "audio_seconds": self.audio_seconds,
                "seconds": self.seconds, "world_size": trainer.world_size}))  # fmt: skip

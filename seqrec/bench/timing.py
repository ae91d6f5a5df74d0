"""Timing training steps for the benchmarks: a Lightning callback, and a timed run of
``seqrec-train`` itself."""

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch


@dataclass(frozen=True)
class Timing:
    """What some timed training steps processed, and how long they took."""

    samples: int
    audio_seconds: float
    seconds: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds

    @property
    def audio_seconds_per_s(self) -> float:
        return self.audio_seconds / self.seconds


def pooled(timings: Sequence[Timing]) -> Timing:
    """Several timings as one: their totals."""
    return Timing(
        sum(t.samples for t in timings),
        sum(t.audio_seconds for t in timings),
        sum(t.seconds for t in timings),
    )


class StepTimer(pl.Callback):
    """Time training from the end of step ``warmup`` to the end of the last step,
    counting the samples (and audio seconds, for audio batches) of the timed steps on
    every rank. With ``output`` set, rank 0 writes the totals there as JSON when
    training ends.
    """

    def __init__(
        self, warmup: int = 2, output: str | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self.warmup = warmup
        self.output = output
        self.clock = clock or time.perf_counter
        self.samples = 0
        self.audio_seconds = 0.0
        self.seconds = 0.0
        self._start: float | None = None
        self._steps = 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.device.type == "cuda":  # time the step's GPU work, not its launch
            torch.cuda.synchronize(module.device)
        self._steps += 1
        if self._steps == self.warmup:
            self._start = self.clock()
        elif self._steps > self.warmup:
            self.samples += len(batch)
            rate = module.hparams.get("reader", {}).get("sample_rate")
            if hasattr(batch, "audio") and rate:
                self.audio_seconds += float(batch.lengths.sum()) / float(rate)
            self.seconds = self.clock() - self._start

    def on_train_end(self, trainer, module) -> None:
        totals = torch.tensor([self.samples, self.audio_seconds], dtype=torch.float64)
        if trainer.world_size > 1:
            totals = trainer.strategy.reduce(totals, reduce_op="sum")
        self.samples, self.audio_seconds = int(totals[0]), float(totals[1])
        if self.output and trainer.is_global_zero:
            Path(self.output).write_text(
                json.dumps(
                    {
                        "samples": self.samples,
                        "audio_seconds": self.audio_seconds,
                        "seconds": self.seconds,
                        "world_size": trainer.world_size,
                    }
                )
            )


def time_seqrec_train(overrides: Sequence[str], steps: int, warmup: int, run_dir: Path) -> Timing:
    """Run ``seqrec-train`` (its Hydra entry point, in a fresh process, into ``run_dir``)
    for ``warmup + steps`` optimizer steps and time the last ``steps``.

    The run is the one the config makes, with :func:`seqrec.train.train`'s callbacks
    (non-finite guard, last-checkpoint writer, LR monitor, skip report), loggers and
    progress bar; only a :class:`StepTimer` is added (through ``callbacks``), and
    validation and testing are turned off, since they are not training steps. The
    totals are summed over the ranks of a DDP run.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    output = run_dir / "step_timer.json"
    timer = f"{{_target_: seqrec.bench.timing.StepTimer, warmup: {warmup}, output: '{output}'}}"
    command = [
        sys.executable,
        "-m",
        "seqrec.cli.train",
        *overrides,
        f"+trainer.max_steps={warmup + steps}",
        "+trainer.limit_val_batches=0",
        "+trainer.limit_test_batches=0",
        "+trainer.num_sanity_val_steps=0",
        f"hydra.run.dir={run_dir}",
        f"+callbacks.step_timer={timer}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not output.is_file():
        raise RuntimeError(
            f"seqrec-train {' '.join(overrides)} failed (exit {result.returncode}):\n"
            f"{result.stderr[-2000:]}"
        )
    timing = json.loads(output.read_text())
    if timing["seconds"] <= 0:
        raise RuntimeError(
            f"seqrec-train {' '.join(overrides)}: no step was timed after {warmup} warm-up steps"
        )
    return Timing(timing["samples"], timing["audio_seconds"], timing["seconds"])

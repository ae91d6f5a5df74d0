"""``train_pipeline_efficiency``: the loop ``seqrec-train`` runs, against forward +
backward + optimizer step alone on the same batches held in memory.

The loop is ``seqrec-train`` itself (:func:`~seqrec.bench.timing.time_seqrec_train`):
its callbacks, loggers and progress bar, data loading and augmentation. The
reference runs the same utterances in the same batches (same sampler seed and epoch),
collated beforehand and moved to the device, with the task's own loss, gradient
clipping and optimizer. Augmentation draws differ between the two and speed
perturbation changes lengths, so both are counted in audio seconds per second, which
the cost follows.

The machine's speed changes during a measurement, so the reference runs before and
after each loop run, and each loop run is divided by the reference around it
(pooled). Repeating this ``repeats`` times gives the spread that is reported beside
the median.
"""

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from seqrec.bench.common import build_task, sync
from seqrec.bench.timing import Timing, pooled, time_seqrec_train
from seqrec.tasks.classification import parameter_groups


def held_batches(
    datamodule: pl.LightningDataModule, number: int, clock: Callable[[], float] = time.perf_counter
) -> tuple[list, float]:
    """The first ``number`` training batches, epoch after epoch as training draws them,
    and the loader's own rate (samples per second) after its first 3 batches, which
    include worker start-up."""
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    batches: list = []
    loaded, start, seconds, epoch = 0, clock(), 0.0, 0
    while len(batches) < number:
        loader.batch_sampler.set_epoch(epoch)
        for batch in loader:
            batches.append(batch)
            if len(batches) == 3:
                start = clock()
            elif len(batches) > 3:
                loaded += len(batch)
                seconds = clock() - start
            if len(batches) == number:
                break
        epoch += 1
    return batches, loaded / seconds if seconds > 0 else float("nan")


def timed_steps(
    batches: Sequence,
    warmup: int,
    device: torch.device,
    step: Callable,
    sample_rate: float,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """``step(batch)`` on each batch; the steps after ``warmup``, each timed to the end
    of its device work."""
    samples, audio, seconds = 0, 0.0, 0.0
    for i, batch in enumerate(batches):
        sync(device)
        start = clock()
        step(batch)
        sync(device)
        if i >= warmup:
            seconds += clock() - start
            samples += len(batch)
            audio += float(batch.lengths.sum()) / sample_rate
    return Timing(samples, audio, seconds)


def compute_step(
    task: pl.LightningModule, clip: float | None, autocast: torch.autocast
) -> Callable:
    """Forward + loss, backward, gradient clipping and optimizer step of one batch, as
    a training step makes them, without the trainer."""
    # the task's own optimizer; its schedule needs a trainer, and costs nothing to step
    optimizer = task.optimizer_factory(parameter_groups(task.model, task.weight_decay))
    task.train()

    def step(batch) -> None:
        with autocast:
            loss = task._loss(batch)[0]
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(task.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad()

    return step


def pipeline_figures(loops: Sequence[Timing], computes: Sequence[Timing]) -> dict[str, float]:
    """The figures of ``repeats`` loop runs, each between two reference passes
    (``computes`` has one more entry than ``loops``).

    ``train_pipeline_efficiency`` is the median over runs of the loop's audio
    seconds per second over the reference's around it; ``_min`` and ``_max`` are
    their spread. ``compute_drift`` is the last reference pass's rate over the first
    (1.0 on a steady machine). Rates are medians over runs (loop) or pooled over
    passes (reference).
    """
    if len(computes) != len(loops) + 1:
        raise ValueError(
            f"{len(loops)} loop runs need {len(loops) + 1} reference passes, got {len(computes)}"
        )
    ratios = [
        loop.audio_seconds_per_s / pooled(computes[i : i + 2]).audio_seconds_per_s
        for i, loop in enumerate(loops)
    ]
    reference = pooled(computes)
    return {
        "train_pipeline_efficiency": statistics.median(ratios),
        "train_pipeline_efficiency_min": min(ratios),
        "train_pipeline_efficiency_max": max(ratios),
        "train_pipeline_repeats": float(len(loops)),
        "loop_audio_seconds_per_s": statistics.median(t.audio_seconds_per_s for t in loops),
        "loop_samples_per_s": statistics.median(t.samples_per_s for t in loops),
        "compute_audio_seconds_per_s": reference.audio_seconds_per_s,
        "compute_samples_per_s": reference.samples_per_s,
        "compute_drift": computes[-1].audio_seconds_per_s / computes[0].audio_seconds_per_s,
    }


def train_pipeline_efficiency(
    cfg: DictConfig, train_overrides: Sequence[str], steps: int, repeats: int = 3, warmup: int = 3
) -> dict[str, float]:
    """:func:`pipeline_figures` of ``repeats`` runs of ``seqrec-train <train_overrides>``
    (``cfg`` is the same config composed here), ``steps`` timed steps each, with the
    rates of the stages beside them: the data loader alone (its configured workers,
    nothing else running) and the frontend alone, on the same batches, to tell what
    bounds the loop."""
    device = torch.device("cuda" if cfg.trainer.accelerator == "gpu" else "cpu")
    precision = str(cfg.trainer.precision)
    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=precision.startswith("bf16")
    )
    sample_rate = float(cfg.data.reader.sample_rate)
    datamodule = instantiate(cfg.data)
    task = build_task(cfg, datamodule).to(device)
    batches, loader_rate = held_batches(datamodule, warmup + steps)
    batches = [task.transfer_batch_to_device(b, device, 0) for b in batches]
    step = compute_step(task, cfg.trainer.get("gradient_clip_val"), autocast)

    def reference() -> Timing:
        return timed_steps(batches, warmup, device, step, sample_rate)

    computes, loops = [reference()], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            loops.append(time_seqrec_train(train_overrides, steps, warmup, Path(tmp) / "run"))
        computes.append(reference())

    task.train()

    def features(batch) -> None:
        with torch.no_grad(), autocast:
            task.model.frontend(batch.inputs, batch.lengths)

    features_rate = timed_steps(batches, warmup, device, features, sample_rate).samples_per_s
    return {
        **pipeline_figures(loops, computes),
        "train_pipeline_steps": float(steps),
        "loader_samples_per_s": loader_rate,
        "features_samples_per_s": features_rate,
    }


def bottleneck(results: dict[str, float]) -> str:
    """What bounds training, from the stage rates that ``train_pipeline_efficiency``
    measured: the data loader when it alone delivers less than 1.1x what the model
    consumes, else the larger share of a compute step (features, or the rest of the
    model)."""
    compute = results["compute_samples_per_s"]
    if results["loader_samples_per_s"] < 1.1 * compute:
        return "data loading"
    features_share = compute / results["features_samples_per_s"]
    return "features" if features_share > 0.5 else "model (subsampling, RNN, CTC)"

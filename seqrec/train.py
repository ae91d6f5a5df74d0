"""``train(cfg)``: the whole training run as a plain function, called by ``seqrec-train``
and directly by tests."""

import json
import logging
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from seqrec.checkpoint import CheckpointError, read_checkpoint
from seqrec.tasks.callbacks import (
    NONFINITE_STEPS,
    NonFiniteGuard,
    SamplerEpochCallback,
    SkippedSampleReport,
)
from seqrec.tasks.checkpointing import (
    AtomicCheckpointIO,
    LastCheckpoint,
    TopCheckpoints,
    average_checkpoints,
)

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """Tensors and numpy scalars to Python numbers, for JSON."""
    return value.item() if hasattr(value, "item") else value


def _results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """``trainer.validate``/``test`` results (one dict per data loader) as one plain dict."""
    return {key: _plain(value) for result in results for key, value in result.items()}


def _choose_checkpoint(validation: dict[str, dict[str, Any]], monitor: str, mode: str) -> str:
    """``averaged`` when validated, unless its ``monitor`` is worse than ``best``'s."""
    if "averaged" not in validation:
        return "best"
    sign = 1 if mode == "max" else -1
    worse = sign * validation["averaged"][monitor] < sign * validation["best"][monitor]
    return "best" if worse else "averaged"


def resolve_resume_checkpoint(ckpt_path: str | None, checkpoint_dir: Path) -> str | None:
    """``ckpt_path=last`` means this run directory's ``checkpoints/last.ckpt``.

    The checkpoint is opened safely first (``weights_only``), so a file carrying a
    pickled payload is refused with a clear error before Lightning touches it.
    """
    if ckpt_path is None:
        return None
    path = checkpoint_dir / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        hint = (
            " (ckpt_path=last resumes the run in hydra.run.dir=<run directory>)"
            if ckpt_path == "last"
            else ""
        )
        raise CheckpointError(f"{path}: no checkpoint to resume from{hint}")
    read_checkpoint(path)
    return str(path)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then validate and test the best checkpoint; write metrics.json.

    The run directory ``cfg.paths.output_dir`` receives ``checkpoints/best.ckpt`` and
    ``checkpoints/last.ckpt``, ``config.yaml`` (resolved), ``metrics.json``, CSV and
    TensorBoard logs, and the test confusion matrix. Returns the final metrics.

    With ``average_checkpoints=N`` (N > 1), the N best checkpoints by the validation
    metric are kept in ``checkpoints/top/`` and averaged into
    ``checkpoints/averaged.ckpt``. Both it and ``best.ckpt`` are validated; the
    average is tested unless it validates worse.
    """
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_dir = output_dir / "checkpoints"
    resume_from = resolve_resume_checkpoint(cfg.get("ckpt_path"), checkpoint_dir)
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(cfg.seed, workers=True)

    datamodule: pl.LightningDataModule = instantiate(cfg.data)
    # The task is built in two steps so the model config reaches it as a plain dict
    # (stored in the checkpoint) rather than being instantiated by Hydra.
    task_factory: partial = instantiate(cfg.task, _partial_=True)
    task: pl.LightningModule = task_factory(
        model_config=OmegaConf.to_container(cfg.model, resolve=True),
        input_spec=OmegaConf.to_container(cfg.input_spec, resolve=True),
        **datamodule.task_targets(),  # the label set, or the tokenizer
    )
    log.info("model: %.3fM parameters", sum(p.numel() for p in task.parameters()) / 1e6)

    best = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="best",
        monitor=task.monitor,
        mode=task.monitor_mode,
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    average = int(cfg.get("average_checkpoints") or 1)
    top = (
        TopCheckpoints(checkpoint_dir / "top", task.monitor, task.monitor_mode, average)
        if average > 1
        else None
    )
    nonfinite = NonFiniteGuard(cfg.nonfinite_max_consecutive)
    skips = SkippedSampleReport()
    callbacks = [
        best,
        *([top] if top else []),
        LastCheckpoint(checkpoint_dir, cfg.checkpoint_every_n_steps),
        LearningRateMonitor("step"),
        SamplerEpochCallback(),
        nonfinite,
        skips,
        *(instantiate(c) for c in (cfg.get("callbacks") or {}).values()),
    ]
    loggers = [
        CSVLogger(output_dir, name="logs", version=""),
        TensorBoardLogger(output_dir, name="tensorboard", version="", default_hp_metric=False),
    ]
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(output_dir),
    )
    # The datamodule restores the sampler's place in the epoch, which this Lightning
    # check does not know about.
    warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
    trainer.fit(task, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)

    metrics: dict[str, Any] = {}
    for key in task.fit_summary_keys:  # e.g. CTC's count of unalignable utterances
        if key in trainer.callback_metrics:
            metrics[key] = _plain(trainer.callback_metrics[key])
    candidates = {"best": best.best_model_path or None}
    members = sorted(top.best_k_models) if top is not None else []
    if len(members) > 1:
        averaged = checkpoint_dir / "averaged.ckpt"
        if trainer.is_global_zero:
            average_checkpoints(members, averaged)
        trainer.strategy.barrier()
        candidates["averaged"] = str(averaged)
    validation = {
        name: _results(
            trainer.validate(
                task, datamodule=datamodule, ckpt_path=path, verbose=False, weights_only=True
            )
        )
        for name, path in candidates.items()
    }
    chosen = _choose_checkpoint(validation, task.monitor, task.monitor_mode)
    metrics.update(validation[chosen])
    metrics.update(
        _results(
            trainer.test(
                task,
                datamodule=datamodule,
                ckpt_path=candidates[chosen],
                verbose=False,
                weights_only=True,
            )
        )
    )
    metrics[NONFINITE_STEPS] = nonfinite.skipped
    if trainer.is_global_zero:
        summary = {
            "best_checkpoint": best.best_model_path or None,
            "evaluated_checkpoint": candidates[chosen],
            **(
                {
                    "averaged_from": [Path(p).name for p in members],
                    "validation_by_checkpoint": {
                        name: result.get(task.monitor) for name, result in validation.items()
                    },
                }
                if len(candidates) > 1
                else {}
            ),
            "global_step": trainer.global_step,
            **metrics,
            "data/skipped": {"manifest": datamodule.manifest_skips(), "loading": skips.totals},
        }
        (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        headline = {
            k: round(v, 4)
            for k, v in metrics.items()
            if k.startswith("test/") and "/acc_class/" not in k
        }
        print(f"test metrics: {json.dumps(headline)}")
        skipped = sum(
            n
            for split in summary["data/skipped"].values()
            for counts in split.values()
            for n in counts.values()
        )
        if skipped:
            print(f"skipped samples: {json.dumps(summary['data/skipped'])}")
        print(f"run directory: {output_dir}")
    return metrics

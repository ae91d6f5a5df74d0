"""``train(cfg)``: the whole training run as a plain function, called by ``seqrec-train``
and directly by tests."""

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from seqrec.tasks.callbacks import SamplerEpochCallback

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """Tensors and numpy scalars to Python numbers, for JSON."""
    return value.item() if hasattr(value, "item") else value


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then validate and test the best checkpoint; write metrics.json.

    The run directory ``cfg.paths.output_dir`` receives ``checkpoints/best.ckpt`` and
    ``checkpoints/last.ckpt``, ``config.yaml`` (resolved), ``metrics.json``, CSV and
    TensorBoard logs, and the test confusion matrix. Returns the final metrics.
    """
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
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
        labels=list(cfg.data.labels),
        input_spec=OmegaConf.to_container(cfg.input_spec, resolve=True),
    )
    log.info("model: %.3fM parameters", sum(p.numel() for p in task.parameters()) / 1e6)

    checkpoint = ModelCheckpoint(
        dirpath=output_dir / "checkpoints",
        filename="best",
        monitor=task.monitor,
        mode=task.monitor_mode,
        save_last=True,
        auto_insert_metric_name=False,
    )
    callbacks = [checkpoint, LearningRateMonitor("step"), SamplerEpochCallback()]
    loggers = [
        CSVLogger(output_dir, name="logs", version=""),
        TensorBoardLogger(output_dir, name="tensorboard", version="", default_hp_metric=False),
    ]
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers, default_root_dir=str(output_dir)
    )
    trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))

    best = "best" if checkpoint.best_model_path else None
    metrics: dict[str, float] = {}
    for results in (
        trainer.validate(task, datamodule=datamodule, ckpt_path=best, verbose=False),
        trainer.test(task, datamodule=datamodule, ckpt_path=best, verbose=False),
    ):
        for result in results:
            metrics.update({key: _plain(value) for key, value in result.items()})
    if trainer.is_global_zero:
        summary = {"best_checkpoint": checkpoint.best_model_path or None, **metrics}
        (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        headline = {
            k: round(v, 4)
            for k, v in metrics.items()
            if k.startswith("test/") and "/acc_class/" not in k
        }
        print(f"test metrics: {json.dumps(headline)}")
        print(f"run directory: {output_dir}")
    return metrics

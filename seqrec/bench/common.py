"""What the benchmark measurements share: the composed recipe config, the task built
from it, and waiting for the device."""

from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from seqrec.config import conf_dir, register_resolvers


def compose_config(experiment: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The training config of preset ``experiment`` with ``overrides``, as
    ``seqrec-train`` composes it (no run directory)."""
    register_resolvers()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose(
            "train", overrides=[f"experiment={experiment}", "paths.output_dir=unused", *overrides]
        )


def build_task(cfg: DictConfig, datamodule: pl.LightningDataModule) -> pl.LightningModule:
    """The task as :func:`seqrec.train.train` builds it: the model config reaches it as
    a plain dict."""
    factory = instantiate(cfg.task, _partial_=True)
    return factory(model_config=OmegaConf.to_container(cfg.model, resolve=True),
                   input_spec=OmegaConf.to_container(cfg.input_spec, resolve=True),
                   **datamodule.task_targets())  # fmt: skip


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)

"""What the benchmark measurements share: the composed recipe config, the task built
from it (as training builds it), and waiting for the device."""

from collections.abc import Sequence

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from seqrec.config import conf_dir, register_resolvers
from seqrec.train import build_task

__all__ = ["build_task", "compose_config", "sync"]


def compose_config(experiment: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The training config of preset ``experiment`` with ``overrides``, as
    ``seqrec-train`` composes it (no run directory)."""
    register_resolvers()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose(
            "train", overrides=[f"experiment={experiment}", "paths.output_dir=unused", *overrides]
        )


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)

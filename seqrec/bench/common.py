"""What the benchmark measurements share: the composed recipe config, the task built
from it (as training builds it), waiting for the device, and timing several calls
in turns."""

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from seqrec.config import conf_dir, register_resolvers
from seqrec.train import build_task

__all__ = ["build_task", "compose_config", "in_turns", "sync"]


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


def in_turns(
    calls: dict[str, Callable[[], Any]], runs: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of each of ``calls``, ``runs`` times after ``warmup`` untimed
    rounds, the calls taking turns, so that a change in the machine's speed reaches
    them all alike."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(warmup + runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            if i >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return seconds

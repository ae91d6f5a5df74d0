"""``kws_ms_per_clip``: milliseconds to classify one 1 s clip, on 1 thread (median);
``kws_ms_per_clip_lstm`` / ``_gru``: the same for the ``kws_synthetic`` preset with
each recurrent cell (random weights), timed in turn with it."""

import functools
import statistics
from collections.abc import Sequence
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from seqrec.api import Classifier
from seqrec.bench.common import compose_config, in_turns
from seqrec.inference import torch_classifier


def kws_model(checkpoint: str | None, overrides: Sequence[str] = ()) -> Classifier:
    """The trained voice-commands model, or the ``kws_synthetic`` preset with random
    weights (the same cost)."""
    if checkpoint:
        import seqrec

        return seqrec.load(checkpoint)
    cfg = compose_config("kws_synthetic", overrides)
    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    return torch_classifier(
        instantiate(model_config), list(cfg.data.labels), instantiate(cfg.data.reader)
    )


def kws_ms_per_clip(models: dict[str, Any], runs: int = 200) -> dict[str, float]:
    """Median milliseconds to classify one 1 s clip held in memory, for each model (a
    checkpoint's or an exported one: each gets the clip as its ``prepare`` gives it,
    before timing). The models take turns clip by clip, after 10 untimed rounds."""
    rate = next(iter(models.values())).sample_rate
    clip = (0.1 * torch.randn(rate, generator=torch.Generator().manual_seed(0))).numpy()
    calls = {
        name: functools.partial(model.classify_clips, [model.prepare(clip)], ["clip"], 1)
        for name, model in models.items()
    }
    return {name: 1000 * statistics.median(t) for name, t in in_turns(calls, runs, 10).items()}

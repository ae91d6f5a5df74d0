"""``kws_ms_per_clip``: milliseconds to classify one 1 s clip, on 1 thread (median);
``kws_ms_per_clip_lstm`` / ``_gru``: the same for the ``kws_synthetic`` preset with
each recurrent cell (random weights), timed in turn with it."""

import statistics
import time
from collections.abc import Sequence

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from seqrec.bench.common import compose_config
from seqrec.inference import Classifier


def kws_model(checkpoint: str | None, overrides: Sequence[str] = ()) -> Classifier:
    """The trained voice-commands model, or the ``kws_synthetic`` preset with random
    weights (the same cost)."""
    if checkpoint:
        import seqrec

        return seqrec.load(checkpoint)
    cfg = compose_config("kws_synthetic", overrides)
    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    return Classifier(
        instantiate(model_config), list(cfg.data.labels), instantiate(cfg.data.reader)
    )


def kws_ms_per_clip(models: dict[str, Classifier], runs: int = 200) -> dict[str, float]:
    """Median milliseconds to classify one 1 s clip, for each model. The models take
    turns clip by clip, so a change in the machine's speed reaches them all alike."""
    clip = [[torch.randn(next(iter(models.values())).sample_rate) * 0.1]]
    times: dict[str, list[float]] = {name: [] for name in models}
    for i in range(runs + 10):
        for name, model in models.items():
            start = time.perf_counter()
            model.classify_clips(clip, ["clip"], top_k=1)
            if i >= 10:  # warm-up
                times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}

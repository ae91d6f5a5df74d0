"""seqrec-train: train a model from a Hydra config.

seqrec-train experiment=kws_synthetic decoder.cell=gru
seqrec-train -m experiment=kws_synthetic decoder.hidden=64,128
"""

import hydra
from omegaconf import DictConfig

from seqrec.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    from seqrec.train import train  # heavy imports after Hydra has parsed the command line

    try:
        metrics = train(cfg).metrics
    finally:
        _end_process_group()
    return metrics.get(cfg.get("sweep_metric", "val/acc"))


def _end_process_group() -> None:
    """Close a DDP run's process group before the interpreter exits. Left open, gloo's
    threads can outlive it, and the process aborts ("terminate called without an
    active exception") after the run has finished; a multirun's next job would also
    find the old group."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

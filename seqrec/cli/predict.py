"""seqrec-predict: label audio or video files with a checkpoint and write JSON Lines.

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
    from seqrec.evaluate import load_inputs

    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    model = seqrec.load(cfg.ckpt_path, device=cfg.device)
    names = [str(p) for p in cfg.inputs or []]
    items = [model.prepare(path) for path in names]
    if cfg.manifest:
        path_key = "video_filepath" if model.modality == "video" else "audio_filepath"
        entries = read_manifest(cfg.manifest, path_key, target_key=None)
        loaded, _ = load_inputs(model, entries, "raise", [])
        items += loaded  # the segments the manifest names (offset, duration)
        names += [e.id for e in entries]
    if not items:
        raise SystemExit("seqrec-predict: nothing to do; give inputs=[...] or manifest=...")
    predictions = model.classify_clips(items, names, top_k=cfg.top_k, batch_size=cfg.batch_size)
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as f:
        for prediction in predictions:
            f.write(json.dumps(prediction.as_dict()) + "\n")
    print(f"wrote {len(predictions)} predictions to {output}")


if __name__ == "__main__":
    main()

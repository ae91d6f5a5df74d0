"""seqrec-predict: label or transcribe audio or video files with a checkpoint (or a
model exported by seqrec-export, ``ckpt_path=model.onnx``) and write JSON Lines (``label``/``score``/``top_k``, or ``text``, per input).
With ``word_times=true``, a transcript also lists its words with their start and end
in seconds (``words``).

seqrec-predict ckpt_path=best.ckpt 'inputs=[a.wav,b.wav]' output=predictions.jsonl
seqrec-predict ckpt_path=best.ckpt manifest=data/kws_synthetic/test.jsonl
seqrec-predict ckpt_path=asr.ckpt 'inputs=[talk.flac]' decoding=beam_lm decoding.lm_path=lm.arpa
seqrec-predict ckpt_path=asr.ckpt 'inputs=[talk.flac]' word_times=true
"""

import hydra
from omegaconf import DictConfig

from seqrec.cli import load_model, refuse_unused_options
from seqrec.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="predict")
def main(cfg: DictConfig) -> None:
    import json
    from pathlib import Path

    from seqrec.api import Transcribes
    from seqrec.data.dataset import read_entry
    from seqrec.data.manifest import read_manifest
    from seqrec.inference.evaluate import model_reader

    model = load_model(cfg)
    refuse_unused_options("seqrec-predict", cfg, model)
    if isinstance(model, Transcribes):
        model.chunk_seconds = float(cfg.chunk_seconds)
    names = [str(p) for p in cfg.inputs or []]
    items = [model.prepare(path) for path in names]
    if cfg.manifest:
        reader = model_reader(model)
        entries = read_manifest(cfg.manifest, reader.path_key, target_key=None)
        segments = [  # the segments the manifest names (offset, duration)
            read_entry(e, lambda e: reader(e.path, e.offset, e.duration), reader.error)
            for e in entries
        ]
        items += segments
        names += [e.id for e in entries]
    if not items:
        raise SystemExit("seqrec-predict: nothing to do; give inputs=[...] or manifest=...")
    if isinstance(model, Transcribes):
        waveforms = [item[0] for item in items]
        transcripts = model.transcripts(waveforms, cfg.batch_size, with_times=cfg.word_times)
        rows = []
        for name, transcript in zip(names, transcripts, strict=True):
            transcript.input = name
            row = transcript.as_dict()
            if not cfg.word_times:
                row.pop("words")
            rows.append(row)
    else:
        predictions = model.classify_clips(items, names, cfg.top_k, cfg.batch_size)
        rows = [prediction.as_dict() for prediction in predictions]
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} predictions to {output}")


if __name__ == "__main__":
    main()

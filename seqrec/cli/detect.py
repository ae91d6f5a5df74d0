"""seqrec-detect: keywords in a long recording or a live stream, as JSON lines of
events (``word``, ``start``, ``end``, ``score``, ``decided``, in seconds), written as they are found.

seqrec-detect ckpt_path=<kws run>/checkpoints/best.ckpt input=long.wav
    seqrec-detect ckpt_path=kws.onnx input=long.wav threshold=0.8 output=events.jsonl
    arecord -f S16_LE -r 16000 -c 1 | seqrec-detect ckpt_path=kws.onnx input=-

Settings left at null (the threshold, hop, smoothing, refractory period, decision
span) come from the
model's sidecar (``best.ckpt`` -> ``best.detect.json``) that seqrec-eval-stream writes,
else from the defaults (threshold 0.5).
"""

import hydra
from omegaconf import DictConfig

from seqrec.cli import load_model
from seqrec.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="detect")
def main(cfg: DictConfig) -> None:
    import contextlib
    import json
    import sys
    from pathlib import Path

    from omegaconf import OmegaConf

    from seqrec.core.waveform import AudioError
    from seqrec.kws.settings import SETTINGS

    model = load_model(cfg)
    if model.kind != "classifier" or model.modality != "audio":
        raise SystemExit(
            f"seqrec-detect: {cfg.ckpt_path} is a {model.modality} {model.kind}; "
            f"detection needs a voice-commands classifier"
        )
    options = {key: cfg[key] for key in (*SETTINGS, "pcm")}
    if OmegaConf.is_config(options["threshold"]):  # threshold={yes:0.8,no:0.9}
        options["threshold"] = OmegaConf.to_container(options["threshold"])
    found = 0
    with contextlib.ExitStack() as stack:
        out = (
            sys.stdout
            if cfg.output == "-"
            else stack.enter_context(Path(cfg.output).open("w", encoding="utf-8"))
        )
        try:
            for event in model.detect(str(cfg.input), **options):
                out.write(json.dumps(event.as_dict()) + "\n")
                out.flush()
                found += 1
        except (AudioError, ValueError) as e:
            raise SystemExit(f"seqrec-detect: {e}") from None
    print(f"{found} events", file=sys.stderr)


if __name__ == "__main__":
    main()

"""seqrec-export: write a checkpoint as an ONNX file that runs without PyTorch
(``seqrec.runtime``, or ``seqrec.load("model.onnx")``).

seqrec-export ckpt_path=outputs/kws_synthetic/.../checkpoints/best.ckpt
    seqrec-export ckpt_path=best.ckpt out=kws.onnx quantize=int8
"""

import hydra
from omegaconf import DictConfig

from seqrec.config import conf_dir, register_resolvers

register_resolvers()

FORMATS = ("onnx",)


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="export")
def main(cfg: DictConfig) -> None:
    from pathlib import Path

    import seqrec
    from seqrec.export import QUANTIZE_CHOICES, ExportError, check_export, export_onnx
    from seqrec.inference.checkpoint import CheckpointError

    if cfg.format not in FORMATS:
        raise SystemExit(f"seqrec-export: format={cfg.format} is not one of {FORMATS}")
    if cfg.quantize not in QUANTIZE_CHOICES:
        raise SystemExit(
            f"seqrec-export: quantize={cfg.quantize} is not one of {QUANTIZE_CHOICES[1:]} (or null)"
        )
    ckpt = Path(cfg.ckpt_path)
    if ckpt.suffix == ".onnx":
        raise SystemExit(f"seqrec-export: {ckpt} is already an ONNX file; give a checkpoint")
    out = Path(cfg.out) if cfg.out else ckpt.with_suffix(".int8.onnx" if cfg.quantize else ".onnx")
    try:
        model = seqrec.load(ckpt)
        export_onnx(model, out, quantize=cfg.quantize)
    except (CheckpointError, ExportError) as e:
        raise SystemExit(f"seqrec-export: {e}") from None
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {model.kind})")
    if cfg.check:
        print(f"checked: {check_export(model, out)}")


if __name__ == "__main__":
    main()

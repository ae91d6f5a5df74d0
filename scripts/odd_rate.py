"""Classify a 1 s WAV recorded at an odd sample rate (44,101 Hz by default) with the
``kws_synthetic`` preset's network, in a fresh process, and print the seconds the
``classify`` call took and the process's resident peak.

    python scripts/odd_rate.py [RATE]

torchaudio's resampler would build a 16,000 x 44,135 kernel (2.8 GB) for this rate;
:mod:`seqrec.core.resampling` computes only its non-zero taps. The network's weights are
its initial ones: what is measured is reading and resampling, not accuracy.
"""

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def write_checkpoint(folder: Path) -> Path:
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from seqrec.config import conf_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=kws_synthetic", f"paths.output_dir={folder}"])
    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    model = instantiate(model_config)
    hparams = {
        "model_config": model_config,
        "labels": list(cfg.data.labels),
        "reader": OmegaConf.to_container(cfg.data.reader, resolve=True),
    }
    path = folder / "kws.ckpt"
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, path)
    return path


def child(checkpoint: str, wav: str) -> None:
    import seqrec

    model = seqrec.load(checkpoint)
    start = time.perf_counter()
    prediction = model.classify([wav])[0]
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"classify: {seconds:.2f} s, peak resident memory {peak:.0f} MB ({prediction.label})")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
        return
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 44101
    folder = Path(tempfile.mkdtemp(prefix="odd_rate_"))
    wav = folder / f"one_second_{rate}.wav"
    t = np.arange(rate) / rate
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    checkpoint = write_checkpoint(folder)
    print(f"{wav.name}: 1 s at {rate} Hz")
    subprocess.run([sys.executable, __file__, "--child", str(checkpoint), str(wav)], check=True)


if __name__ == "__main__":
    main()

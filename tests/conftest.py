"""Shared fixtures: a tiny synthetic corpus, a miniature Speech Commands layout, a
config builder, and a tiny trained checkpoint. Nothing here touches the network."""

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from seqrec.config import conf_dir, register_resolvers
from seqrec.data.speech_commands import WORDS_35

register_resolvers()

TINY_WORDS = ["yes", "no", "up"]


def tiny_model_overrides() -> list[str]:
    """A model small enough to train for a step in well under a second."""
    return [
        "frontend.featurizer.n_mels=16",
        "encoder.out_dim=16",
        "decoder.hidden=16",
        "decoder.num_layers=1",
        "data.num_workers=0",
        "data.max_batch_seconds=8",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]


def tiny_synthetic_overrides(data_dir: Path) -> list[str]:
    words = "[" + ",".join(f"'{w}'" for w in TINY_WORDS) + "]"
    return [
        f"paths.data_dir={data_dir}",
        f"data.labels={words}",
        "data.prepare.max_voices=6",
        "data.prepare.val_voices=1",
        "data.prepare.test_voices=1",
        "data.prepare.clips_per_voice={train: 2, val: 2, test: 2}",
    ]


def make_config(output_dir: Path, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={output_dir}", *overrides])


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory) -> Path:
    """Data dir holding a tiny generated ``kws_synthetic`` corpus (3 words, 6 voices)."""
    data_dir = tmp_path_factory.mktemp("data")
    cfg = make_config(
        data_dir / "unused", ["experiment=kws_synthetic", *tiny_synthetic_overrides(data_dir)]
    )
    from hydra.utils import instantiate

    instantiate(cfg.data.prepare)()
    return data_dir


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, synthetic_data_dir) -> Path:
    """Run directory of one tiny training epoch on the synthetic corpus."""
    from seqrec.train import train

    run_dir = tmp_path_factory.mktemp("run")
    cfg = make_config(
        run_dir,
        [
            "experiment=kws_synthetic",
            *tiny_synthetic_overrides(synthetic_data_dir),
            *tiny_model_overrides(),
        ],
    )
    train(cfg)
    return run_dir


def write_wav(
    path: Path, seconds: float = 1.0, rate: int = 16000, channels: int = 1, seed: int = 0
) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * math.pi * rng.uniform(200, 2000) * t) + 0.01 * rng.standard_normal(
        t.size
    )
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.astype(np.float32), rate, subtype="PCM_16")
    return path


def write_manifest_lines(path: Path, rows: list) -> Path:
    """Rows are dicts (written as JSON) or raw strings (written as they are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def speech_commands_root(tmp_path) -> Path:
    """A miniature Speech Commands v2 layout: 35 word folders of 4 clips by 4 speakers,
    the two split lists, and two background-noise files."""
    root = tmp_path / "speech_commands_v0.02"
    rng = random.Random(0)
    val, test = [], []
    for w, word in enumerate(WORDS_35):
        for s, speaker in enumerate(["0a1b2c3d", "1b2c3d4e", "2c3d4e5f", "3d4e5f6a"]):
            relative = f"{word}/{speaker}_nohash_0.wav"
            write_wav(root / relative, seconds=1.0, seed=w * 10 + s)
            (val if s == 2 else test if s == 3 else []).append(relative)
    rng.shuffle(val)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    for i in range(2):
        write_wav(root / "_background_noise_" / f"noise_{i}.wav", seconds=12.0, seed=100 + i)
    (root / "_background_noise_" / "README.md").write_text("not audio")
    return root

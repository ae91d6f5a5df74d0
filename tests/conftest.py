"""Shared fixtures, and the builders of the config and data they make: tiny synthetic
corpora (voice commands, speech, video), miniature Speech Commands, LibriSpeech, UCF101
and HMDB51 layouts, tiny trained runs, media files written on the fly (a wav, a video,
one cut short) and a manifest of bad lines. Nothing here touches the network."""

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import seqrec
from seqrec.config import conf_dir, register_resolvers
from seqrec.data.speech_commands import WORDS_35
from seqrec.data.video import probe_video
from seqrec.text import SentencePieceTokenizer
from tests.helpers import TINY_TRAINER_OVERRIDES

register_resolvers()

TINY_WORDS = ["yes", "no", "up"]


def tiny_model_overrides() -> list[str]:
    """A model small enough to train for a step in well under a second."""
    return [
        "frontend.featurizer.n_mels=16",
        "encoder.out_dim=16",
        "decoder.hidden=16",
        "decoder.num_layers=1",
        "data.max_batch_seconds=8",
        *TINY_TRAINER_OVERRIDES,
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


@pytest.fixture(scope="module")
def model(trained_run):
    """The classifier of ``trained_run``, loaded once per test module."""
    return seqrec.load(trained_run / "checkpoints" / "best.ckpt")


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


def broken_manifest(folder: Path) -> Path:
    """A manifest with one good line and one of each kind of problem."""
    write_wav(folder / "good.wav", seconds=1.0)
    write_wav(folder / "stereo8k.wav", seconds=1.0, rate=8000, channels=2)
    sf.write(folder / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage" + bytes(40))
    good = {"audio_filepath": "good.wav", "duration": 1.0, "label": "yes"}
    return write_manifest_lines(
        folder / "m.jsonl",
        [
            good,
            '{"audio_filepath": "good.wav", "duration": 1.0,',  # 2: not JSON
            {"audio_filepath": "good.wav", "label": "yes"},  # 3: no duration
            {"audio_filepath": "missing.wav", "duration": 1.0, "label": "yes"},  # 4
            {"audio_filepath": "empty.wav", "duration": 1.0, "label": "yes"},  # 5
            {"audio_filepath": "corrupt.wav", "duration": 1.0, "label": "yes"},  # 6
            {
                "audio_filepath": "good.wav",
                "duration": 2.5,
                "label": "yes",
            },  # 7: duration disagrees
            {
                "audio_filepath": "stereo8k.wav",
                "duration": 1.0,
                "label": "yes",
            },  # 8: rate, channels
            {"audio_filepath": "good.wav", "duration": 1.0, "label": "maybe"},  # 9: unknown label
            good,
        ],
    )


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


def write_video(path: Path, levels: list[int], fps: int = 10, size: int = 32, gop: int = 5) -> Path:
    """An H.264 video whose frame i is a flat grey image of brightness ``levels[i]``."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "10", "g": str(gop)})
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for level in levels:
            image = np.full((size, size, 3), level, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_cut_short_video(path: Path, seconds: float = 2.0, kept: float = 0.6) -> Path:
    """An mp4 at 10 fps (frame i: grey level 8i) whose header says ``seconds`` and that
    holds only the frames before ``kept`` s (all of them when ``kept >= seconds``), as a
    download cut short leaves it: the index sits at the front (faststart) and the bytes
    stop where the first frame at or after ``kept`` begins."""
    import av

    whole = path.with_name(f"whole_{path.name}")
    with av.open(str(whole), "w", options={"movflags": "+faststart"}) as container:
        # no B-frames, so the frames lie in the file in display order
        stream = container.add_stream(
            "libx264", rate=10, options={"crf": "10", "g": "5", "bf": "0"}
        )
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(round(seconds * 10)):
            image = np.full((32, 32, 3), 8 * i, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    with av.open(str(whole)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        cut = next((p.pos for p in packets if p.pts * p.time_base >= kept - 1e-6), None)
    path.write_bytes(whole.read_bytes()[:cut])
    whole.unlink()
    return path


@pytest.fixture
def cut_short_and_whole(tmp_path) -> tuple[Path, Path]:
    """A 2 s video cut short after 0.6 s, and the same video whole."""
    import av

    cut = write_cut_short_video(tmp_path / "cut.mp4")
    whole = write_cut_short_video(tmp_path / "whole.mp4", kept=2.0)
    for path, frames in ((cut, 6), (whole, 20)):
        assert probe_video(path).duration == pytest.approx(2.0)  # what the header says
        with av.open(str(path)) as container:
            times = [frame.time for frame in container.decode(video=0)]
        assert times == pytest.approx([i / 10 for i in range(frames)])  # what the file holds
    return cut, whole


TINY_ACTIONS = ["right", "left", "right_twice", "zigzag_left"]


def tiny_video_overrides(data_dir: Path) -> list[str]:
    labels = "[" + ",".join(TINY_ACTIONS) + "]"
    return [
        f"paths.data_dir={data_dir}",
        f"data.labels={labels}",
        "data.prepare.clips_per_class={train: 2, val: 1, test: 1}",
        "data.prepare.num_frames=12",
        "data.prepare.size=32",
        "data.reader.num_frames=4",
        "data.reader.short_side=24",
        "data.reader.transform.size=16",
        "frontend.backbone.channels=[8,16]",
        "frontend.backbone.out_dim=16",
        "decoder.hidden=16",
        "data.max_batch_size=8",
        *TINY_TRAINER_OVERRIDES,
    ]


@pytest.fixture(scope="session")
def video_data_dir(tmp_path_factory) -> Path:
    """Data dir holding a tiny ``video_synthetic`` corpus (all 10 classes rendered)."""
    from hydra.utils import instantiate

    data_dir = tmp_path_factory.mktemp("video_data")
    cfg = make_config(
        data_dir / "unused", ["experiment=video_synthetic", *tiny_video_overrides(data_dir)]
    )
    instantiate(cfg.data.prepare)()
    return data_dir


@pytest.fixture
def ucf101_root(tmp_path) -> Path:
    """A miniature UCF101 layout: 3 classes x 4 groups of tiny videos, split lists."""
    root = tmp_path / "UCF101"
    classes = ["ApplyEyeMakeup", "Archery", "YoYo"]
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text(
        "".join(f"{i} {c}\n" for i, c in enumerate(classes, start=1))
    )
    train, test = [], []
    for i, name in enumerate(classes):
        for group in (1, 2, 8, 9, 10):
            relative = f"{name}/v_{name}_g{group:02d}_c01.avi"
            write_video(root / "UCF-101" / relative, [40 * i + 10] * 6)
            (test if group <= 2 else train).append(relative)
    (lists / "trainlist01.txt").write_text(
        "".join(f"{r} {classes.index(r.split('/')[0]) + 1}\n" for r in train)
    )
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r in test))
    return root


@pytest.fixture
def hmdb51_root(tmp_path) -> Path:
    """A miniature HMDB51 layout: 2 classes of tiny videos with split-1 files."""
    root = tmp_path / "HMDB51"
    for c, label in enumerate(["brush_hair", "wave"]):
        lines = []
        for k in range(12):
            name = f"{label}_clip{k}_f_cm_np1_fr_med_{k}.avi"
            write_video(root / "hmdb51_org" / label / name, [30 * c + 20] * 5)
            lines.append(f"{name} {0 if k == 11 else 2 if k % 3 == 0 else 1}")
        split_file = root / "testTrainMulti_7030_splits" / f"{label}_test_split1.txt"
        split_file.parent.mkdir(parents=True, exist_ok=True)
        split_file.write_text("\n".join(lines) + "\n")
    return root


def tiny_asr_overrides(data_dir: Path) -> list[str]:
    """A tiny ``asr_synthetic`` corpus (2 held-out voices each for val and test) and model."""
    return [
        f"paths.data_dir={data_dir}",
        "data.prepare.utterances={train: 24, val: 4, test: 4}",
        "data.prepare.lm_sentences=200",
        "data.prepare.val_voices=2",
        "data.prepare.test_voices=2",
        "data.max_batch_seconds=20",
        "frontend.featurizer.n_mels=16",
        "encoder.out_dim=16",
        "decoder.hidden=16",
        "decoder.num_layers=1",
        *TINY_TRAINER_OVERRIDES,
    ]


def tiny_bench_overrides(data_dir: Path) -> list[str]:
    """:func:`tiny_asr_overrides` less the trainer's: the data and model that
    ``seqrec-bench`` measures on."""
    return [
        o
        for o in tiny_asr_overrides(data_dir)
        if o.startswith(("paths.", "data.", "frontend.", "encoder.", "decoder."))
    ]


@pytest.fixture(scope="session")
def asr_data_dir(tmp_path_factory) -> Path:
    """Data dir holding a tiny ``asr_synthetic`` corpus."""
    from hydra.utils import instantiate

    data_dir = tmp_path_factory.mktemp("asr_data")
    cfg = make_config(
        data_dir / "unused", ["experiment=asr_synthetic", *tiny_asr_overrides(data_dir)]
    )
    instantiate(cfg.data.prepare)()
    return data_dir


@pytest.fixture(scope="session")
def asr_run(tmp_path_factory, asr_data_dir) -> Path:
    """Run directory of one tiny CTC training epoch on the tiny corpus."""
    from seqrec.train import train

    run_dir = tmp_path_factory.mktemp("asr_run")
    train(make_config(run_dir, ["experiment=asr_synthetic", *tiny_asr_overrides(asr_data_dir)]))
    return run_dir


@pytest.fixture
def librispeech_root(tmp_path) -> Path:
    """A miniature LibriSpeech layout: dev-clean and train-clean-100, two chapters each."""
    root = tmp_path / "LibriSpeech"
    for subset in ["train-clean-100", "dev-clean"]:
        for speaker, chapter in [("19", "198"), ("26", "495")]:
            folder = root / subset / speaker / chapter
            lines = []
            for k in range(2):
                utterance = f"{speaker}-{chapter}-{k:04d}"
                sf.write(
                    folder.mkdir(parents=True, exist_ok=True) or folder / f"{utterance}.flac",
                    np.zeros(8000 * (k + 1), dtype=np.float32),
                    16000,
                )
                lines.append(f"{utterance} NORTHANGER ABBEY CHAPTER {'ONE' if k else 'TWO'}'S END")
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def bpe() -> SentencePieceTokenizer:
    """A SentencePiece BPE tokenizer of 60 pieces, learnt from three sentences."""
    texts = [
        "the brave otter carried a golden pebble",
        "did alice find the rusty lantern",
        "they will paint every wooden wagon quietly",
    ] * 20
    return SentencePieceTokenizer.train(texts, vocab_size=60)

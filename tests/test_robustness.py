"""Bad inputs, interrupted runs, non-finite steps and safe checkpoints."""

import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from seqrec.cli.validate import main as validate_main
from seqrec.data.audio import AudioClassificationDataset, AudioReader
from seqrec.data.manifest import ManifestError
from seqrec.inference import CheckpointError
from seqrec.tasks.callbacks import NonFiniteGuard
from seqrec.tasks.checkpointing import AtomicCheckpointIO
from seqrec.train import train
from tests.conftest import (
    make_config,
    tiny_model_overrides,
    tiny_synthetic_overrides,
    write_manifest_lines,
    write_wav,
)
from tests.helpers import run_cli


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


def test_validate_reports_every_problem_with_line_and_reason(tmp_path, capsys):
    manifest = broken_manifest(tmp_path)
    code = validate_main(
        [str(manifest), "--labels", "yes,no", "--sample-rates", "16000", "--channels", "1"]
    )
    out = capsys.readouterr()
    assert code == 1
    lines = out.out.strip().splitlines()
    expected = {
        2: "invalid_json",
        3: "missing_field",
        4: "missing_file",
        5: "empty_audio",
        6: "unreadable_audio",
        7: "duration_mismatch",
        9: "unknown_label",
    }
    for lineno, reason in expected.items():
        assert any(line.startswith(f"{manifest}:{lineno}: {reason}: ") for line in lines), (
            lineno,
            reason,
            lines,
        )
    stereo = [line for line in lines if line.startswith(f"{manifest}:8: ")]
    assert len(stereo) == 2 and all("unsupported_format" in line for line in stereo)
    assert not any(line.startswith((f"{manifest}:1:", f"{manifest}:10:")) for line in lines)
    assert "9 problem(s) in 10 lines" in out.err


def test_validate_text_charset_and_clean_manifest(tmp_path, capsys):
    write_wav(tmp_path / "a.wav")
    rows = [
        {"audio_filepath": "a.wav", "duration": 1.0, "text": "hello world"},
        # training normalises this to "hello world" and accepts it
        {"audio_filepath": "a.wav", "duration": 1.0, "text": "Héllo, Wörld!"},
        {"audio_filepath": "a.wav", "duration": 1.0, "text": "room 101"},
        {"audio_filepath": "a.wav", "duration": 1.0, "text": "quiet"},
    ]
    manifest = write_manifest_lines(tmp_path / "asr.jsonl", rows)
    assert validate_main([str(manifest), "--charset", "abcdefghijklmnoprstuvwxyz' "]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in out] == [f"{manifest}:3", f"{manifest}:4"]
    assert "bad_text: character '1'" in out[0]
    assert out[1].endswith("text has characters outside the tokenizer after normalisation: 'q'")
    clean = write_manifest_lines(
        tmp_path / "ok.jsonl", [{"audio_filepath": "a.wav", "duration": 1.0, "label": "x"}]
    )
    assert validate_main([str(clean)]) == 0
    assert "no problems" in capsys.readouterr().err


def test_dataset_skip_mode_counts_instead_of_raising(tmp_path):
    manifest = broken_manifest(tmp_path)
    with pytest.raises(ManifestError, match=rf"{manifest}:2: not valid JSON"):
        AudioClassificationDataset(manifest, ["yes", "no"], AudioReader(16000))
    dataset = AudioClassificationDataset(
        manifest, ["yes", "no"], AudioReader(16000), on_error="skip"
    )
    assert sorted(p.reason for p in dataset.problems) == [
        "invalid_json",
        "missing_field",
        "missing_file",
        "unknown_label",
    ]
    assert len(dataset) == 6  # decodable or not, the rest stay until they are read
    from seqrec.data.batch import collate_audio

    batch = collate_audio([dataset[i] for i in range(len(dataset))])
    assert len(batch) == 3
    assert sorted(p.reason for p in batch.skipped) == [
        "duration_mismatch",
        "empty_audio",
        "unreadable_audio",
    ]


def write_corpus_with_problems(data_dir: Path, folder: Path) -> None:
    """Copy the tiny corpus manifests, adding bad lines and a ten-minute recording."""
    root = data_dir / "kws_synthetic"
    folder.mkdir(parents=True)
    write_wav(folder / "ten_minutes.wav", seconds=600.0, rate=16000)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage" + bytes(40))
    for split in ("train", "val", "test"):
        lines = [json.loads(line) for line in (root / f"{split}.jsonl").read_text().splitlines()]
        for row in lines:
            row["audio_filepath"] = str(root / row["audio_filepath"])
        extra = [
            "not json",
            {"audio_filepath": str(folder / "corrupt.wav"), "duration": 1.0, "label": "yes"},
            {"audio_filepath": str(folder / "ten_minutes.wav"), "duration": 600.0, "label": "no"},
        ]
        write_manifest_lines(folder / f"{split}.jsonl", [*lines[:3], *extra, *lines[3:]])


def test_training_skips_bad_samples_and_reports_them(tmp_path, synthetic_data_dir):
    data = tmp_path / "messy"
    write_corpus_with_problems(synthetic_data_dir, data)
    overrides = [
        "experiment=kws_synthetic",
        *tiny_synthetic_overrides(synthetic_data_dir),
        *tiny_model_overrides(),
        *(f"data.{split}_manifest={data / split}.jsonl" for split in ("train", "val", "test")),
        "data.max_duration=20",
    ]
    with pytest.raises(ManifestError, match=r"train\.jsonl:4: not valid JSON"):
        train(make_config(tmp_path / "strict", overrides))
    train(make_config(tmp_path / "run", [*overrides, "data.on_error=skip"]))
    skipped = json.loads((tmp_path / "run" / "metrics.json").read_text())["data/skipped"]
    for split in ("train", "val", "test"):
        # max_duration limits training only: evaluation scores the ten-minute recording
        too_long = {"too_long": 1} if split == "train" else {}
        assert skipped["manifest"][split] == {"invalid_json": 1, **too_long}
        assert skipped["loading"][split] == {"unreadable_audio": 1}


def test_ten_minute_recording_without_max_duration_gets_its_own_batch(tmp_path):
    from seqrec.data.sampler import DurationBucketSampler

    batches = list(
        DurationBucketSampler([1.0] * 50 + [600.0], max_batch_seconds=16.0, shuffle=False)
    )
    assert [50] in batches and all(len(b) <= 16 for b in batches)


def interrupt_overrides(data_dir: Path) -> list[str]:
    """Tiny and free of randomness, so an interrupted run must match an uninterrupted one."""
    return [
        "experiment=kws_synthetic",
        *tiny_synthetic_overrides(data_dir),
        *tiny_model_overrides(),
        "trainer.max_epochs=4",
        "checkpoint_every_n_steps=2",
        "data.dataset.augment=null",
        "frontend.spec_augment=null",
        "frontend.dither=0",
        "decoder.dropout=0",
        "head.dropout=0",
    ]


def run_training(run_dir: Path, overrides: list[str]) -> subprocess.CompletedProcess:
    """seqrec-train into ``run_dir``; the caller checks how it ended (killed, or not)."""
    return run_cli(
        "seqrec-train", f"hydra.run.dir={run_dir}", *overrides, cwd=run_dir.parent, check=False
    )


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, synthetic_data_dir):
    overrides = interrupt_overrides(synthetic_data_dir)
    reference = run_training(tmp_path / "reference", overrides)
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    assert expected["global_step"] == 12  # 4 epochs of 3 batches

    run = tmp_path / "interrupted"
    killed = run_training(
        run, [*overrides, "+callbacks.kill={_target_: tests.helpers.KillAtStep, step: 9}"]
    )
    assert killed.returncode == -signal.SIGKILL
    assert not (run / "metrics.json").exists()
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 8  # saved mid-epoch: epoch 2, after 2 of its 3 batches
    assert not list((run / "checkpoints").glob(".*tmp*"))

    resumed = run_training(run, [*overrides, "ckpt_path=last"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    got = json.loads((run / "metrics.json").read_text())
    assert got["global_step"] == expected["global_step"]
    for key in ("val/loss", "test/loss", "test/acc"):
        assert got[key] == pytest.approx(expected[key], abs=1e-5), key


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


def recorded_steps(path: Path) -> dict[int, dict]:
    return {r["step"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_sigkill_then_resume_draws_the_same_augmentations_and_dropout(tmp_path, synthetic_data_dir):
    """With waveform augmentation, dither, SpecAugment and dropout on, a run killed in
    its third epoch and resumed from the checkpoint of the step before trains the
    remaining steps on the same batches of the same augmented waveforms, with the
    same losses, as the uninterrupted run: the sampler seeds each item's augmentation
    from the seed, the epoch and the item, and ``StepSeed`` seeds the model's draws
    (dither, SpecAugment, dropout) from the batch's place in the run."""
    overrides = [
        "experiment=kws_synthetic",
        *tiny_synthetic_overrides(synthetic_data_dir),
        *tiny_model_overrides(),
        "trainer.max_epochs=4",
        "checkpoint_every_n_steps=1",
    ]
    record = "+callbacks.record={_target_: tests.test_robustness.RecordTrainingSteps, path: %s}"
    reference = run_training(
        tmp_path / "reference", [*overrides, record % (tmp_path / "ref.jsonl")]
    )
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = recorded_steps(tmp_path / "ref.jsonl")
    total = len(expected)
    assert sorted(expected) == list(range(1, total + 1)) and total % 4 == 0 and total >= 12
    assert len({r["loss"] for r in expected.values()}) == total  # the draws vary
    kill = 2 * total // 4 + 2  # saved after the first batch of epoch 2, killed after the second

    run = tmp_path / "interrupted"
    killed = run_training(
        run,
        [
            *overrides,
            f"+callbacks.kill={{_target_: tests.helpers.KillAtStep, step: {kill}}}",
            record % (tmp_path / "killed.jsonl"),
        ],
    )
    assert killed.returncode == -signal.SIGKILL
    before = recorded_steps(tmp_path / "killed.jsonl")
    assert before == {step: expected[step] for step in range(1, kill)}  # same start, same draws
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == kill - 1

    resumed = run_training(
        run, [*overrides, "ckpt_path=last", record % (tmp_path / "resumed.jsonl")]
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = recorded_steps(tmp_path / "resumed.jsonl")
    assert sorted(after) == list(range(kill, total + 1))
    for step, got in after.items():
        want = expected[step]
        assert got["ids"] == want["ids"], step  # the sampler's place in the epoch: restored
        assert (got["lengths"], got["sums"]) == (want["lengths"], want["sums"]), step
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-5), step
    got = json.loads((run / "metrics.json").read_text())
    reference_metrics = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    for key in ("val/loss", "test/loss", "test/acc"):
        assert got[key] == pytest.approx(reference_metrics[key], abs=1e-5), key


def test_resume_without_a_checkpoint_says_how(tmp_path):
    cfg = make_config(tmp_path, ["experiment=kws_synthetic", "ckpt_path=last"])
    with pytest.raises(CheckpointError, match=r"no checkpoint to resume from.*hydra\.run\.dir"):
        train(cfg)


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/seqrec_resume_payload_ran",))


def test_resume_refuses_a_pickled_payload(tmp_path):
    marker = Path("/tmp/seqrec_resume_payload_ran")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "loops": Payload()}, evil)
    with pytest.raises(CheckpointError, match="refused to load"):
        train(make_config(tmp_path, ["experiment=kws_synthetic", f"ckpt_path={evil}"]))
    assert not marker.exists()


def test_atomic_checkpoint_write_never_leaves_a_truncated_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, path)

    def dies_halfway(obj, f, *args, **kwargs):
        f.write(b"partial bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert io.load_checkpoint(path)["step"].item() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


class NanAtSteps(pl.LightningModule):
    """Linear regression whose loss is NaN on chosen steps."""

    def __init__(self, nan_steps: set[int]) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.nan_steps = nan_steps
        self.weights_seen: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        self.weights_seen.append(self.layer.weight.detach().clone())
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        return loss * float("nan") if self.global_step in self.nan_steps else loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.1, weight_decay=0.1)


def nan_trainer(guard: NonFiniteGuard, steps: int) -> pl.Trainer:
    return pl.Trainer(
        max_steps=steps,
        callbacks=[guard],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
    )


def regression_data() -> DataLoader:
    x = torch.randn(64, 4)
    return DataLoader(list(zip(x, x.sum(1, keepdim=True), strict=True)), batch_size=8)


def test_nonfinite_steps_are_skipped_and_counted():
    module, guard = NanAtSteps({2, 3, 5}), NonFiniteGuard(max_consecutive=3)
    nan_trainer(guard, 8).fit(module, regression_data())
    w = module.weights_seen
    assert guard.skipped == 3
    assert (
        torch.equal(w[2], w[3]) and torch.equal(w[3], w[4]) and torch.equal(w[5], w[6])
    )  # no update
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[6], w[7])  # real steps still update
    assert torch.isfinite(module.layer.weight).all()


def test_too_many_nonfinite_steps_in_a_row_stop_the_run():
    module, guard = NanAtSteps({1, 2, 3, 4}), NonFiniteGuard(max_consecutive=3)
    with pytest.raises(FloatingPointError, match="3 optimizer steps in a row"):
        nan_trainer(guard, 8).fit(module, regression_data())
    assert torch.isfinite(module.layer.weight).all()


def test_same_seed_same_first_epoch_loss(tmp_path, synthetic_data_dir):
    overrides = [
        "experiment=kws_synthetic",
        *tiny_synthetic_overrides(synthetic_data_dir),
        *tiny_model_overrides(),
    ]
    losses = []
    for name in ("a", "b"):
        train(make_config(tmp_path / name, overrides))
        losses.append((tmp_path / name / "logs" / "metrics.csv").read_text())
    first = [line for line in losses[0].splitlines() if line]
    assert first == [line for line in losses[1].splitlines() if line]
    assert len(first) > 3


def write_video(path: Path, frames: int = 10, fps: int = 10, size: int = 32) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps
        )
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.full((size, size, 3), i * 20 % 255, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_validate_video_manifests(tmp_path, capsys):
    write_video(tmp_path / "clip.mp4", frames=10, fps=10)
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    manifest = write_manifest_lines(
        tmp_path / "video.jsonl",
        [
            {"video_filepath": "clip.mp4", "duration": 1.0, "label": "left"},
            {"video_filepath": "broken.mp4", "duration": 1.0, "label": "left"},
            {"video_filepath": "clip.mp4", "duration": 3.0, "label": "left"},
        ],
    )
    assert validate_main([str(manifest), "--video", "--labels", "left,right"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{manifest}:2: unreadable_video: ")
    assert lines[1].startswith(f"{manifest}:3: duration_mismatch: ")

"""The real-dataset presets follow their corpus's protocol, on miniature layouts: LibriSpeech
scores every test utterance, however long, on test-clean and test-other; UCF101 trains on
its whole official train list with no validation split and tests the last checkpoint."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import seqrec
from seqrec.data.manifest import ManifestError
from seqrec.inference.evaluate import evaluate_classifier, evaluate_transcriber
from seqrec.tasks import metrics as names
from seqrec.train import train
from tests.conftest import make_config, tiny_model_overrides
from tests.helpers import REPO, TINY_TRAINER_OVERRIDES, TINY_VIDEO_READER_OVERRIDES

# seconds of each utterance; 21 and 22 s are over the preset's max_duration of 20 s
LIBRISPEECH = {
    "train-clean-100": [3.0, 3.0, 3.0, 21.0],
    "dev-clean": [2.0, 3.0],
    "dev-other": [2.0],
    "test-clean": [2.0, 21.0],
    "test-other": [3.0, 22.0],
}
SENTENCES = ["northanger abbey chapter one", "the end of the chapter", "a brave otter"]


@pytest.fixture
def one_thread():
    """One torch thread for the test: on 2 busy cores two threads wait on each other
    (tests/integration/test_train.py measured 25x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_librispeech(root: Path) -> Path:
    """``root/LibriSpeech/<subset>/<speaker>/<chapter>/``: one chapter per subset, an
    utterance of quiet noise for each duration of LIBRISPEECH."""
    rng = np.random.default_rng(0)
    for s, (subset, durations) in enumerate(LIBRISPEECH.items()):
        speaker, chapter = str(100 + s), "7"
        folder = root / "LibriSpeech" / subset / speaker / chapter
        folder.mkdir(parents=True)
        lines = []
        for k, seconds in enumerate(durations):
            utterance = f"{speaker}-{chapter}-{k:04d}"
            noise = 0.01 * rng.standard_normal(round(seconds * 16000))
            sf.write(folder / f"{utterance}.flac", noise.astype(np.float32), 16000)
            lines.append(f"{utterance} {SENTENCES[k % len(SENTENCES)].upper()}")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def librispeech_overrides(root: Path, data_dir: Path) -> list[str]:
    """The preset as it is (max_duration 20 s, every evaluation subset), with characters
    and a tiny model."""
    return [
        "experiment=asr_librispeech",
        f"paths.data_dir={data_dir}",
        f"data.prepare.root={root}",
        "tokenizer=char",
        *tiny_model_overrides(),
    ]


def manifest_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_librispeech_scores_every_test_utterance_of_test_clean_and_test_other(tmp_path, one_thread):
    root = write_librispeech(tmp_path / "corpus")
    result = train(make_config(tmp_path / "run", librispeech_overrides(root, tmp_path / "data")))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # max_duration leaves out the 21 s training utterance, and nothing else
    assert metrics["data/skipped"]["manifest"] == {"train": {"too_long": 1}, "val": {}, "test": {}}
    out = tmp_path / "data" / "librispeech"
    test_clean = manifest_lines(out / "test-clean.jsonl")
    assert [row["duration"] for row in test_clean] == [2.0, 21.0]
    assert [e.id for e in result.datamodule.datasets["test"].entries] == [
        row["id"] for row in test_clean
    ]
    # seqrec-eval's scoring of the tested checkpoint: the same WER on test-clean, and
    # every test-other utterance scored
    model = seqrec.load(metrics["evaluated_checkpoint"])
    clean = evaluate_transcriber(model, out / "test-clean.jsonl")
    assert clean["num_examples"] == 2
    assert metrics[names.TEST_WER] == pytest.approx(clean["wer"], abs=1e-6)
    other = evaluate_transcriber(model, out / "test-other.jsonl")
    assert other["num_examples"] == len(manifest_lines(out / "test-other.jsonl")) == 2


@pytest.mark.slow
def test_librispeech_recipe_scores_test_other_with_the_tested_checkpoint(tmp_path):
    root = write_librispeech(tmp_path / "corpus")
    run = tmp_path / "run"
    overrides = librispeech_overrides(root, tmp_path / "data")[1:]  # run.sh picks the preset
    subprocess.run(
        [str(REPO / "recipes/librispeech/run.sh"), str(root), *overrides, f"hydra.run.dir={run}"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    metrics = json.loads((run / "metrics.json").read_text())
    other = json.loads((run / "test-other.json").read_text())
    assert other["num_examples"] == 2 and other["skipped"] == {}
    model = seqrec.load(metrics["evaluated_checkpoint"])
    expected = evaluate_transcriber(model, tmp_path / "data" / "librispeech" / "test-other.jsonl")
    assert other["wer"] == pytest.approx(expected["wer"], abs=1e-6)


def ucf101_overrides(root: Path, data_dir: Path) -> list[str]:
    """The preset on the whole official train list (no validation), with tiny clips and
    a small CNN in place of its ResNet-18."""
    return [
        "experiment=video_ucf101",
        "frontend=small_cnn",
        "frontend.backbone.channels=[8,16]",
        "frontend.backbone.out_dim=16",
        "decoder.hidden=16",
        f"paths.data_dir={data_dir}",
        f"data.prepare.root={root}",
        "data.prepare.val_groups=0",
        "data.val_manifest=null",
        *TINY_VIDEO_READER_OVERRIDES,
        *TINY_TRAINER_OVERRIDES,
    ]


def test_ucf101_trains_on_the_whole_train_list_with_no_validation(
    ucf101_root, tmp_path, one_thread
):
    overrides = ucf101_overrides(ucf101_root, tmp_path / "data")
    result = train(make_config(tmp_path / "run", overrides))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    train_list = (ucf101_root / "ucfTrainTestlist" / "trainlist01.txt").read_text().split()
    assert len(result.datamodule.datasets["train"]) == len(train_list) // 2 == 9
    assert "val" not in result.datamodule.datasets
    assert not [key for key in metrics if key.startswith("val/")]
    # the checkpoint tested is last.ckpt, written as training ended
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert metrics["best_checkpoint"] is None
    assert metrics["evaluated_checkpoint"] == str(last)
    assert not (last.parent / "best.ckpt").exists()
    assert torch.load(last, weights_only=True)["global_step"] == metrics["global_step"] == 5
    test_manifest = tmp_path / "data" / "ucf101_split1" / "test.jsonl"
    scores = evaluate_classifier(seqrec.load(last), test_manifest)
    assert metrics[names.TEST_ACC] == pytest.approx(scores["acc"], abs=1e-6)
    assert scores["num_examples"] == 6

    # no validation split, but a validation manifest still named: what to set
    with pytest.raises(ManifestError, match=r"val\.jsonl: .*set data\.val_manifest=null"):
        train(make_config(tmp_path / "run2", [o for o in overrides if "val_manifest" not in o]))
    with pytest.raises(ValueError, match=r"average_checkpoints=2 .* no validation split"):
        train(make_config(tmp_path / "run3", [*overrides, "average_checkpoints=2"]))

"""Whole training runs (``train(cfg)``) on tiny data: what they write, and that their logged
scores are the evaluated checkpoint's, recomputed here."""

import csv
import json
import math

import pytest
import soundfile as sf
import torch

import seqrec
from seqrec.data.manifest import read_manifest
from seqrec.tasks import metrics as names
from seqrec.tasks.ctc import ctc_min_frames
from seqrec.text import normalize_text
from seqrec.train import train
from tests.conftest import (
    make_config,
    tiny_model_overrides,
    tiny_synthetic_overrides,
    tiny_video_overrides,
)
from tests.helpers import direct_scores, error_rates


def test_trained_run_writes_wer_and_cer(asr_run, asr_data_dir):
    """The logged error rates are those of the evaluated checkpoint's own transcripts."""
    metrics = json.loads((asr_run / "metrics.json").read_text())
    model = seqrec.load(metrics["evaluated_checkpoint"])
    assert model.search.method == "greedy"  # as validation decodes; the preset tests so too
    root = asr_data_dir / "asr_synthetic"
    for split in ("val", "test"):
        rows = [json.loads(line) for line in (root / f"{split}.jsonl").open()]
        hypotheses = model.transcribe([root / r["audio_filepath"] for r in rows])
        wer, cer = error_rates(hypotheses, [normalize_text(r["text"]) for r in rows])
        assert metrics[f"{split}/wer"] == pytest.approx(wer, abs=1e-6), split
        assert metrics[f"{split}/cer"] == pytest.approx(cer, abs=1e-6), split
    # An utterance is too short for CTC when its frames cannot hold its transcript. Speed
    # perturbation (0.9 or 1.1) changes the frames, so the count lies between the
    # utterances too short even slowed down and those too short when sped up.
    train = [json.loads(line) for line in (root / "train.jsonl").open()]
    needed = [
        ctc_min_frames(torch.tensor([ids]), torch.tensor([len(ids)])).item()
        for ids in (model.tokenizer.encode(r["text"]) for r in train)
    ]
    too_short = {}
    for factor in (0.9, 1.1):
        samples = [math.ceil(sf.info(root / r["audio_filepath"]).frames / factor) for r in train]
        with torch.no_grad():
            frames = [
                model.network.model(torch.zeros(1, n), torch.tensor([n]))[1].item() for n in samples
            ]
        too_short[factor] = sum(f < k for f, k in zip(frames, needed, strict=True))
    assert too_short[0.9] <= metrics[names.TRAIN_TOO_SHORT] <= too_short[1.1]
    assert (asr_run / "checkpoints" / "best.ckpt").is_file()


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


def test_trained_run_writes_every_output(trained_run, synthetic_data_dir):
    for path in (
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "config.yaml",
        "metrics.json",
        "logs/metrics.csv",
        "confusion_matrix.png",
    ):
        assert (trained_run / path).is_file(), path
    assert list((trained_run / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["best_checkpoint"].endswith("best.ckpt")
    assert metrics["evaluated_checkpoint"] == metrics["best_checkpoint"]
    # every logged score is the evaluated checkpoint's, recomputed from its logits
    root = synthetic_data_dir / "kws_synthetic"
    val = direct_scores(metrics["best_checkpoint"], root / "val.jsonl")
    test = direct_scores(metrics["best_checkpoint"], root / "test.jsonl")
    assert metrics[names.VAL_ACC] == pytest.approx(val["acc"], abs=1e-6)
    assert metrics[names.VAL_LOSS] == pytest.approx(val["loss"], abs=1e-4)
    assert metrics[names.TEST_ACC] == pytest.approx(test["acc"], abs=1e-6)
    assert metrics[names.TEST_ACC_MACRO] == pytest.approx(test["acc_macro"], abs=1e-6)
    assert metrics[names.TEST_LOSS] == pytest.approx(test["loss"], abs=1e-4)
    assert test["per_class"].keys() == {"yes", "no", "up"}
    for label, accuracy in test["per_class"].items():
        assert metrics[f"{names.TEST_CLASS_ACC_PREFIX}{label}"] == pytest.approx(accuracy, abs=1e-6)
    assert "${" not in (trained_run / "config.yaml").read_text()  # resolved


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_both_cells_train_and_learn(tmp_path, synthetic_data_dir, cell):
    """Ten short epochs on the tiny corpus: the training loss must fall."""
    cfg = make_config(
        tmp_path,
        [
            "experiment=kws_synthetic",
            *tiny_synthetic_overrides(synthetic_data_dir),
            *tiny_model_overrides(),
            f"decoder.cell={cell}",
            "trainer.max_epochs=10",
            "data.dataset.augment.noise_prob=0",
            "frontend.spec_augment=null",
            "task.optimizer.lr=0.02",
            "task.label_smoothing=0",
        ],
    )
    train(cfg)
    with (tmp_path / "logs" / "metrics.csv").open() as f:
        losses = [float(row["train/loss"]) for row in csv.DictReader(f) if row["train/loss"]]
    # every step logged; speed perturbation can make an epoch more than 3 batches
    assert len(losses) == json.loads((tmp_path / "metrics.json").read_text())["global_step"] >= 30
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3
    model = seqrec.load(tmp_path / "checkpoints" / "last.ckpt")
    rnn = model.network.model.decoder.rnn
    assert isinstance(rnn, torch.nn.GRU if cell == "gru" else torch.nn.LSTM)


def test_averaged_checkpoint_is_the_mean_of_the_top_k_and_chosen_on_validation(
    tmp_path, synthetic_data_dir
):
    cfg = make_config(
        tmp_path,
        [
            "experiment=kws_synthetic",
            *tiny_synthetic_overrides(synthetic_data_dir),
            *tiny_model_overrides(),
            "trainer.max_epochs=4",
            "average_checkpoints=3",
        ],
    )
    train(cfg)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    top = sorted((tmp_path / "checkpoints" / "top").glob("*.ckpt"))
    assert len(top) == 3 and summary["averaged_from"] == [p.name for p in top]
    members = [torch.load(p, weights_only=True)["state_dict"] for p in top]
    averaged = torch.load(tmp_path / "checkpoints" / "averaged.ckpt", weights_only=True)
    assert averaged["averaged_from"] == summary["averaged_from"]
    for key, value in averaged["state_dict"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, sum(m[key] for m in members) / 3)
    assert any(  # the members differ, so the average is a new point
        not torch.equal(members[0][key], members[1][key]) for key in members[0]
    )
    scores = summary["validation_by_checkpoint"]
    chosen = "averaged" if scores["averaged"] >= scores["best"] else "best"  # val/acc: higher wins
    assert summary["evaluated_checkpoint"].endswith(f"{chosen}.ckpt")
    assert summary[names.VAL_ACC] == scores[chosen]
    val = synthetic_data_dir / "kws_synthetic" / "val.jsonl"
    for name in ("best", "averaged"):  # each file scores what was logged for it
        acc = direct_scores(tmp_path / "checkpoints" / f"{name}.ckpt", val)["acc"]
        assert scores[name] == pytest.approx(acc, abs=1e-6), name


def test_fast_dev_run_writes_metrics_without_checkpoints(tmp_path, synthetic_data_dir):
    cfg = make_config(
        tmp_path,
        [
            "experiment=kws_synthetic",
            *tiny_synthetic_overrides(synthetic_data_dir),
            *tiny_model_overrides(),
            "trainer.fast_dev_run=true",
        ],
    )
    result = train(cfg)
    assert (
        names.TEST_ACC in result.metrics
        and json.loads((tmp_path / "metrics.json").read_text())["best_checkpoint"] is None
    )
    assert result.checkpoint is None and result.output_dir == tmp_path  # tested in memory


@pytest.mark.slow
def test_kws_model_learns_held_out_voices_above_chance(tmp_path):
    """25 epochs on a small synthetic corpus (3 words, 10 training voices): on 24 clips
    by 2 voices never heard in training, accuracy is far above chance (1/3; 15 or
    more right by luck has probability 0.003). Measured: 17 right (seeds 1-3: 18 to
    21)."""
    from hydra.utils import instantiate

    data = [
        f"paths.data_dir={tmp_path / 'data'}",
        "data.labels=['yes','no','up']",
        "data.prepare.max_voices=14",
        "data.prepare.val_voices=2",
        "data.prepare.test_voices=2",
        "data.prepare.clips_per_voice={train: 4, val: 4, test: 4}",
    ]
    # one thread: on 2 busy cores two threads wait on each other (25x slower measured)
    cfg = make_config(
        tmp_path / "run",
        [
            "experiment=kws_synthetic",
            *data,
            *tiny_model_overrides(),
            "encoder.out_dim=32",
            "decoder.hidden=32",
            "trainer.max_epochs=25",
            "threads=1",
        ],
    )
    instantiate(cfg.data.prepare)()
    threads = torch.get_num_threads()
    try:
        metrics = train(cfg).metrics
    finally:
        torch.set_num_threads(threads)
    test = direct_scores(
        tmp_path / "run" / "checkpoints" / "best.ckpt",
        tmp_path / "data" / "kws_synthetic" / "test.jsonl",
    )
    assert len(test["per_class"]) == 3 and test["acc"] == pytest.approx(metrics[names.TEST_ACC])
    assert test["acc"] >= 15 / 24 and test["loss"] < math.log(3)


def test_tiny_video_training_and_classify(tmp_path, video_data_dir):
    cfg = make_config(
        tmp_path, ["experiment=video_synthetic", *tiny_video_overrides(video_data_dir)]
    )
    metrics = train(cfg).metrics
    reader = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)[
        "hyper_parameters"
    ]["reader"]
    assert reader == {  # the data config's reader, overrides applied
        "_target_": "seqrec.data.video.ClipReader",
        "num_frames": 4,
        "frames_per_second": None,
        "num_clips": 1,
        "clip_seconds": None,
        "short_side": 24,
        "transform": {
            "_target_": "seqrec.data.video.ClipTransform",
            "size": 16,
            "crop_scale": [0.7, 1.0],
            "color_jitter": 0.3,
            "flip": False,
        },
    }
    evaluated = json.loads((tmp_path / "metrics.json").read_text())["evaluated_checkpoint"]
    model = seqrec.load(evaluated)
    test_set = read_manifest(video_data_dir / "video_synthetic" / "test.jsonl", "video_filepath")
    videos = [entry.path for entry in test_set]
    predictions = model.classify(videos, top_k=2)
    assert [p.input for p in predictions] == [str(v) for v in videos]
    # test/acc is what the evaluated checkpoint's own predictions score on the manifest labels
    correct = [p.label == entry.label for p, entry in zip(predictions, test_set, strict=True)]
    assert metrics["test/acc"] == pytest.approx(sum(correct) / len(correct))
    # each prediction is the top 2 of the network's softmax, computed here one clip at a
    # time, and the same whether classify() is given the file or the clip read from it
    clips = [model.reader(video)[0] for video in videos]
    with torch.no_grad():
        for clip, prediction in zip(clips, predictions, strict=True):
            logits, _ = model.network.model(clip[None], torch.tensor([clip.shape[0]]))
            top = logits.softmax(dim=-1)[0].topk(2)
            assert prediction.label == model.labels[top.indices[0]]
            assert [label for label, _ in prediction.top_k] == [
                model.labels[j] for j in top.indices
            ]
            assert [s for _, s in prediction.top_k] == pytest.approx(top.values.tolist(), abs=1e-5)
    from_clips = model.classify(clips, top_k=2)
    assert [p.top_k for p in from_clips] == [p.top_k for p in predictions]


def test_single_frame_baseline_is_one_override(tmp_path, video_data_dir):
    overrides = [o for o in tiny_video_overrides(video_data_dir) if not o.startswith("decoder.")]
    cfg = make_config(tmp_path, ["experiment=video_synthetic", *overrides, "decoder=frame_pooling"])
    train(cfg)
    model = seqrec.load(tmp_path / "checkpoints" / "last.ckpt").network.model
    assert not any(isinstance(m, torch.nn.RNNBase) for m in model.modules())
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert "test/acc" in summary

"""Video: frame sampling by time, files cut short, clip transforms, batch invariance,
dataset preparation, the video experiments and classification."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import seqrec
from seqrec.cli.validate import main as validate_main
from seqrec.data.action_datasets import DatasetLayoutError, HMDB51Preparer, UCF101Preparer
from seqrec.data.batch import SkippedSample, collate_video
from seqrec.data.manifest import read_manifest
from seqrec.data.video import (
    ClipReader,
    ClipTransform,
    VideoError,
    clip_times,
    decode_video,
    probe_video,
    read_frames,
)
from seqrec.data.video_dataset import VideoClassificationDataset
from seqrec.modules import (
    ClassifierHead,
    FrameEncoder,
    RecurrentDecoder,
    SequenceClassifier,
    SmallCNN,
)
from seqrec.synth.video import ORDERS, frame_order, render_clip
from seqrec.tasks.callbacks import SkippedSampleReport
from seqrec.train import train
from tests.conftest import (
    TINY_ACTIONS,
    make_config,
    tiny_video_overrides,
    write_manifest_lines,
    write_video,
)
from tests.helpers import assert_batch_invariant, run_cli

LEVELS = [8 * i for i in range(30)]  # frame i is grey level 8i: 30 frames at 10 fps


@pytest.fixture
def counting_video(tmp_path):
    return write_video(tmp_path / "count.mp4", LEVELS, fps=10, gop=5)


def frame_index(frame: np.ndarray) -> int:
    return round(float(frame.mean()) / 8)


def test_frames_are_sampled_by_time(counting_video):
    info = probe_video(counting_video)
    assert (
        info.duration == pytest.approx(3.0)
        and info.fps == 10
        and (info.width, info.height) == (32, 32)
    )
    times = [0.0, 0.05, 0.1, 0.34, 0.99, 1.75, 2.5, 2.99, 3.04]
    frames = read_frames(counting_video, times)
    # the frame on screen at t is the last one starting at or before t; just past the end
    # (within END_TOLERANCE of 3.0 s), the last frame
    assert [frame_index(f) for f in frames] == [0, 0, 1, 3, 9, 17, 25, 29, 29]
    with pytest.raises(VideoError, match=r"count\.mp4: the frames end at 3\.000s; .* 3\.100s") as e:
        read_frames(counting_video, [2.0, 3.1])  # further past the end is an error
    assert e.value.reason == "duration_mismatch"
    late = read_frames(counting_video, [2.05, 2.6])  # seeks past the start first
    assert [frame_index(f) for f in late] == [20, 26]
    assert read_frames(counting_video, [1.0], short_side=16).shape == (1, 16, 16, 3)
    with pytest.raises(ValueError, match="ascending"):
        read_frames(counting_video, [1.0, 0.5])


def test_clip_reader_samples_segments_and_fps(counting_video):
    plain = ClipTransform(size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    reader = ClipReader(num_frames=6, short_side=32, transform=plain)
    (clip,) = reader(counting_video)
    assert clip.shape == (6, 3, 32, 32)
    assert [round(v * 255 / 8) for v in clip.mean(dim=(1, 2, 3)).tolist()] == [
        2,
        7,
        12,
        17,
        22,
        27,
    ]  # centres
    three = ClipReader(num_frames=2, num_clips=3, clip_seconds=1.0, short_side=32, transform=plain)(
        counting_video
    )
    assert [[round(v * 255 / 8) for v in c.mean(dim=(1, 2, 3)).tolist()] for c in three] == [
        [2, 7],
        [12, 17],
        [22, 27],
    ]
    by_fps = ClipReader(num_frames=16, frames_per_second=2.0, short_side=32, transform=plain)
    assert by_fps(counting_video)[0].shape[0] == 6  # 3 s at 2 fps
    assert by_fps(counting_video, start=2.0, duration=1.0)[0].shape[0] == 2


def test_training_transform_shares_one_crop_and_flip_is_opt_in():
    frames = np.stack(
        [np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (32, 1, 3))] * 4
    )  # x gradient
    train = ClipTransform(size=16, train=True, color_jitter=0.0, flip=False)
    for _ in range(10):
        clip = train(frames)
        assert clip.shape == (4, 3, 16, 16)
        assert all(torch.equal(clip[0], clip[t]) for t in range(4))  # same crop for every frame
        assert (clip[0, 0, :, -1] > clip[0, 0, :, 0]).all()  # never flipped
    flips = ClipTransform(size=16, train=True, color_jitter=0.0, flip=True)
    assert any((flips(frames)[0, 0, :, -1] < flips(frames)[0, 0, :, 0]).all() for _ in range(30))


def test_corrupt_and_empty_videos_name_the_file(tmp_path):
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    (tmp_path / "empty.mp4").write_bytes(b"")
    for name in ("corrupt.mp4", "empty.mp4", "missing.mp4"):
        with pytest.raises(VideoError, match=name):
            read_frames(tmp_path / name, [0.0])
    write_video(tmp_path / "ok.mp4", [100] * 5)
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"video_filepath": "ok.mp4", "duration": 0.5, "label": "a"},
            {"video_filepath": "corrupt.mp4", "duration": 0.5, "label": "a"},
        ],
    )
    reader = ClipReader(num_frames=2, short_side=16, transform=ClipTransform(size=16))
    dataset = VideoClassificationDataset(manifest, ["a"], reader)
    assert dataset[0].clips[0].shape == (2, 3, 16, 16)
    with pytest.raises(VideoError, match=r"m\.jsonl:2: .*corrupt\.mp4"):
        dataset[1]


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


def test_video_cut_short_is_an_error_naming_the_file(cut_short_and_whole):
    cut, whole = cut_short_and_whole
    clip = clip_times(2.0, 4)  # [0.25, 0.75, 1.25, 1.75]
    assert [frame_index(f) for f in read_frames(whole, clip)] == [2, 7, 12, 17]
    assert decode_video(whole).duration == pytest.approx(2.0)
    message = r"cut\.mp4: the frames end at 0\.600s but the header says 2\.000s"
    for times in (clip, [1.25, 1.75]):  # from the start, and after a seek past the cut
        with pytest.raises(VideoError, match=message) as e:
            read_frames(cut, times)
        assert e.value.reason == "truncated_video"
    with pytest.raises(VideoError, match=message):
        decode_video(cut)
    assert [frame_index(f) for f in read_frames(cut, [0.1, 0.55, 0.62])] == [1, 5, 5]


def test_video_cut_short_is_a_counted_skip(cut_short_and_whole, tmp_path):
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"video_filepath": "whole.mp4", "duration": 2.0, "label": "a"},
            {"video_filepath": "cut.mp4", "duration": 2.0, "label": "a"},
        ],
    )
    reader = ClipReader(num_frames=4, short_side=16, transform=ClipTransform(size=16))
    with pytest.raises(VideoError, match=r"m\.jsonl:2: .*cut\.mp4: the frames end at 0\.600s"):
        VideoClassificationDataset(manifest, ["a"], reader)[1]
    dataset = VideoClassificationDataset(manifest, ["a"], reader, on_error="skip")
    skipped = dataset[1]
    assert isinstance(skipped, SkippedSample)
    assert (skipped.problem.source, skipped.problem.reason) == (f"{manifest}:2", "truncated_video")
    assert "cut.mp4" in skipped.problem.message
    batch = collate_video([dataset[0], skipped])
    assert len(batch) == 1 and batch.lengths.tolist() == [4]
    report = SkippedSampleReport()
    report.on_train_batch_start(None, None, batch, 0)
    assert report.totals == {"train": {"truncated_video": 1}}


def test_validate_decodes_video_to_prove_its_duration(cut_short_and_whole, tmp_path, capsys):
    manifest = write_manifest_lines(
        tmp_path / "video.jsonl",
        [
            {"video_filepath": "whole.mp4", "duration": 2.0, "label": "a"},
            {"video_filepath": "cut.mp4", "duration": 2.0, "label": "a"},
        ],
    )
    assert validate_main([str(manifest), "--video"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{manifest}:2: truncated_video: ")
    assert "cut.mp4: the frames end at 0.600s but the header says 2.000s" in lines[0]
    assert validate_main([str(manifest), "--video", "--no-decode"]) == 0  # the header alone passes
    whole_only = write_manifest_lines(
        tmp_path / "whole.jsonl", [json.loads(manifest.read_text().splitlines()[0])]
    )
    assert validate_main([str(whole_only), "--video"]) == 0


def test_model_batch_invariance_across_clips_of_different_lengths():
    torch.manual_seed(0)
    model = SequenceClassifier(
        frontend=FrameEncoder(SmallCNN(channels=(8, 16), out_dim=16)),
        decoder=RecurrentDecoder(16, hidden=12, num_layers=1, cell="gru"),
        head=ClassifierHead(24, num_classes=10),
    )
    clips = [torch.randn(t, 3, 16, 16) for t in (8, 5, 1, 3)]
    logits, _ = assert_batch_invariant(model, clips)
    assert logits.shape == (4, 10)
    batch = collate_video(
        [type("S", (), {"clips": [c], "target": 0, "id": str(i)})() for i, c in enumerate(clips)]
    )
    assert batch.lengths.tolist() == [8, 5, 1, 3] and batch.frames.shape == (4, 8, 3, 16, 16)


def test_every_synthetic_class_shows_the_same_frames_in_its_own_order():
    """For one generator state, all 10 classes render the same set of frames: with the
    frames shuffled, nothing is left to tell the classes apart. Only the order differs."""
    clips = {a: render_clip(a, 12, 32, np.random.default_rng(1)) for a in ORDERS}
    assert all(c.shape == (12, 32, 32, 3) and c.dtype == np.uint8 for c in clips.values())
    frame_sets = {a: sorted(f.tobytes() for f in c) for a, c in clips.items()}
    assert all(s == frame_sets["right"] for s in frame_sets.values())
    assert len({c.tobytes() for c in clips.values()}) == len(ORDERS)  # ... in different orders
    assert len(set(frame_sets["right"])) == 12  # and the frames themselves all differ
    for action in ORDERS:
        assert sorted(frame_order(action, 12).tolist()) == list(range(12)), action
    # the left-hand classes mirror the right-hand ones along the path
    assert frame_order("left_twice", 6).tolist() == [5, 3, 1, 4, 2, 0]
    with pytest.raises(ValueError, match="multiple of 6"):
        frame_order("right", 8)


def test_ucf101_preparation(ucf101_root, tmp_path):
    out = UCF101Preparer(
        root=str(ucf101_root), out_dir=str(tmp_path / "ucf"), split=1, val_groups=1
    )()
    labels = ["ApplyEyeMakeup", "Archery", "YoYo"]
    splits = {
        s: read_manifest(out / f"{s}.jsonl", "video_filepath", labels=labels)
        for s in ("train", "val", "test")
    }
    groups = {s: {e.id.split("_g")[1][:2] for e in entries} for s, entries in splits.items()}
    assert groups == {"train": {"08", "09"}, "val": {"10"}, "test": {"01", "02"}}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 3, 6]
    assert splits["test"][0].duration == pytest.approx(0.6)
    (ucf101_root / "ucfTrainTestlist" / "testlist01.txt").write_text(
        "Bowling/v_Bowling_g01_c01.avi\n"
    )
    with pytest.raises(DatasetLayoutError, match=r"'Bowling' is not in classInd\.txt"):
        UCF101Preparer(root=str(ucf101_root), out_dir=str(tmp_path / "ucf2"))()


def test_hmdb51_preparation(hmdb51_root, tmp_path):
    out = HMDB51Preparer(
        root=str(hmdb51_root), out_dir=str(tmp_path / "hmdb"), split=1, val_share=0.3
    )()
    splits = {
        s: read_manifest(out / f"{s}.jsonl", "video_filepath", labels=["brush_hair", "wave"])
        for s in ("train", "val", "test")
    }
    assert len(splits["test"]) == 8  # k = 0, 3, 6, 9 of each class
    assert len(splits["train"]) + len(splits["val"]) == 14  # flag 1; flag 0 (unused) left out
    assert splits["val"] and not {e.id for e in splits["val"]} & {e.id for e in splits["train"]}
    with pytest.raises(DatasetLayoutError, match="split2"):
        HMDB51Preparer(root=str(hmdb51_root), out_dir=str(tmp_path / "h2"), split=2)()


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
            logits, _ = model.model(clip[None], torch.tensor([clip.shape[0]]))
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
    model = seqrec.load(tmp_path / "checkpoints" / "last.ckpt").model
    assert not any(isinstance(m, torch.nn.RNNBase) for m in model.modules())
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert "test/acc" in summary


def test_shuffle_time_keeps_frames_and_changes_order():
    from seqrec.evaluate import shuffle_time

    clip = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 3, 2, 2)
    (shuffled,) = shuffle_time([[clip]], torch.Generator().manual_seed(0))[0]
    assert sorted(shuffled[:, 0, 0, 0].tolist()) == list(range(10))
    assert shuffled[:, 0, 0, 0].tolist() != list(range(10))


def test_eval_and_predict_clis_for_video(tmp_path, video_data_dir, trained_run):
    from seqrec.evaluate import evaluate_classifier

    cfg = make_config(
        tmp_path / "run", ["experiment=video_synthetic", *tiny_video_overrides(video_data_dir)]
    )
    train(cfg)
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    manifest = video_data_dir / "video_synthetic" / "test.jsonl"
    results = {}
    for shuffle in ("false", "true"):
        out = tmp_path / f"eval_{shuffle}.json"
        run_cli(
            "seqrec-eval",
            f"ckpt_path={ckpt}",
            f"manifest={manifest}",
            f"shuffle_frames={shuffle}",
            f"output={out}",
            cwd=tmp_path,
        )
        results[shuffle] = json.loads(out.read_text())
        assert results[shuffle]["num_examples"] == len(TINY_ACTIONS)
        assert results[shuffle]["shuffle_frames"] == (shuffle == "true")
    preds = tmp_path / "preds.jsonl"
    run_cli(
        "seqrec-predict",
        f"ckpt_path={ckpt}",
        f"manifest={manifest}",
        f"output={preds}",
        cwd=tmp_path,
    )
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    # the CLI's predictions are the in-process model's, line for line, and seqrec-eval's
    # accuracy is theirs scored against the manifest labels
    entries = read_manifest(manifest, "video_filepath")
    expected = seqrec.load(ckpt).classify([e.path for e in entries], top_k=5)
    assert [r["input"] for r in rows] == [e.id for e in entries]
    assert [r["label"] for r in rows] == [p.label for p in expected]
    assert [r["score"] for r in rows] == pytest.approx([p.score for p in expected], abs=1e-5)
    correct = [r["label"] == e.label for r, e in zip(rows, entries, strict=True)]
    assert results["false"]["acc"] == pytest.approx(sum(correct) / len(correct))
    audio_model = seqrec.load(trained_run / "checkpoints" / "best.ckpt")
    with pytest.raises(ValueError, match="video models only"):
        evaluate_classifier(audio_model, manifest, shuffle_frames=True)


def test_video_pipeline_benchmark(video_data_dir, capsys):
    from seqrec.bench.video_pipeline import run

    overrides = [
        o for o in tiny_video_overrides(video_data_dir) if o.startswith(("paths.", "data."))
    ]
    result = run(["--clips", "6", *overrides])
    assert result["clips"] == 6 and result["frames_per_clip"] == 4
    assert result["raw_decode_clips_per_s"] > 0 and result["pipeline_clips_per_s"] > 0
    ratio = result["pipeline_clips_per_s"] / result["raw_decode_clips_per_s"]
    assert result["pipeline_over_raw"] == pytest.approx(ratio, rel=0.01)
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line) == result


@pytest.mark.parametrize(
    ("name", "dim"), [("resnet18", 512), ("mobilenet_v3_small", 576), ("efficientnet_b0", 1280)]
)
def test_torchvision_backbones_load_local_weights_and_freeze(tmp_path, name, dim):
    from seqrec.modules import torchvision_backbone

    torch.manual_seed(0)
    source = torchvision_backbone(name)
    full_state = dict(source.state_dict())
    # a checkpoint as torchvision publishes it: the whole classifier, head included
    import torchvision

    reference = getattr(torchvision.models, name)(weights=None)
    reference.load_state_dict({**reference.state_dict(), **full_state}, strict=True)
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)
    loaded = torchvision_backbone(name, weights_path=str(path), freeze=True)
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, full_state[key]), key
    assert not any(p.requires_grad for p in loaded.parameters())
    encoder = FrameEncoder(loaded, out_dim=dim).eval()
    features, _ = encoder(torch.randn(2, 3, 3, 32, 32), torch.tensor([3, 1]))
    assert features.shape == (2, 3, dim) and features[1, 1:].abs().sum() == 0
    with pytest.raises(FileNotFoundError, match="never downloads"):
        torchvision_backbone(name, weights_path=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="out_dim=7"):
        FrameEncoder(loaded, out_dim=7)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_a_backbone_config_names_torchvision_class_and_matches_the_old_named_form(name):
    """conf/frontend/<name>.yaml builds torchvision's class by ``_target_``; a checkpoint
    written before, naming the backbone by string, gets the same network."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from seqrec.modules import torchvision_backbone

    node = OmegaConf.load(Path(seqrec.__file__).parents[1] / "conf" / "frontend" / f"{name}.yaml")
    assert node.backbone.model._target_ == f"torchvision.models.{name}"
    built = instantiate(node)
    old = torchvision_backbone(name)
    assert built.out_dim == old.out_dim == node.out_dim
    new_state, old_state = built.backbone.state_dict(), old.state_dict()
    assert new_state.keys() == old_state.keys()
    built.backbone.load_state_dict(old_state)  # an old checkpoint's weights fit, and act alike
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(built.backbone.eval()(images), old.eval()(images))

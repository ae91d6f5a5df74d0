"""seqrec-export and seqrec.runtime against PyTorch, on tiny models built here: the
exported graph's outputs, the runtime's labels and transcripts, the metadata, int8
quantisation, the command, and the runtime without torch."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch

import seqrec
from seqrec.api import Classifier, Transcriber
from seqrec.core.video_frames import VideoError
from seqrec.export import (
    PARITY_ATOL,
    ExportError,
    check_lengths,
    export_onnx,
    max_difference,
    reader_config,
)
from seqrec.inference import frame_seconds
from seqrec.inference.checkpoint import build_model
from seqrec.runtime import OnnxNetwork, read_metadata
from tests.helpers import (
    AUDIO_READER,
    CLASSIFIERS,
    TRANSCRIBERS,
    VIDEO_MODEL,
    VIDEO_READER,
    error_rates,
    run_cli,
    synthetic_waves,
    write_checkpoint,
    write_test_set,
)
from tests.helpers import EXPORT_MODELS as MODELS
from tests.helpers import MODEL_LABELS as LABELS
from tests.helpers import MODEL_RATE as RATE
from tests.helpers import MODEL_SENTENCES as SENTENCES


class Exports:
    """Each model's checkpoint, its ``seqrec.load`` and its export, made once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: dict[tuple[str, str | None], tuple] = {}

    def __call__(self, name: str, quantize: str | None = None):
        key = (name, quantize)
        if key not in self.made:
            ckpt = self.folder / f"{name}.ckpt"
            if not ckpt.exists():
                write_checkpoint(ckpt, name)
            loaded = seqrec.load(ckpt)
            path = export_onnx(loaded, self.folder / f"{name}.{quantize or 'float'}.onnx", quantize)
            self.made[key] = (loaded, path)
        return self.made[key]


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Exports:
    return Exports(tmp_path_factory.mktemp("onnx"))


@pytest.mark.parametrize("name", list(MODELS))
def test_exported_outputs_match_pytorch(exports, name):
    """Logits or log-probs within 1e-4 at lengths around the 1 s export example: the
    shortest input the front end takes (1 sample, 1 frame), one under an FFT window,
    0.1 s, 1 s and 3 s (or 1, 4 and 9 frames), each alone and all in one batch."""
    loaded, path = exports(name)
    lengths = check_lengths(loaded)
    assert min(lengths) == 1 and len(set(lengths)) == len(lengths) >= 3
    worst = max_difference(loaded, path, lengths)
    assert worst <= PARITY_ATOL, f"{name}: max |onnx - torch| = {worst:.2e}"
    inputs, lengths = (t.type.tensor_type.shape.dim for t in onnx.load(str(path)).graph.input)
    assert inputs[0].dim_param and inputs[1].dim_param  # batch and time are symbolic
    assert lengths[0].dim_param == inputs[0].dim_param


@pytest.mark.slow
@pytest.mark.parametrize(
    "backbone, head",
    [("resnet18", "fc"), ("mobilenet_v3_small", "classifier"), ("efficientnet_b0", "classifier")],
)
def test_torchvision_backbones_export(tmp_path, backbone, head):
    frontend = {
        "_target_": "seqrec.modules.FrameEncoder",
        "backbone": {
            "_target_": "seqrec.modules.headless",
            "model": {"_target_": f"torchvision.models.{backbone}", "weights": None},
            "head": head,
        },
    }
    width = build_model(frontend, "backbone").out_dim
    config = {
        **VIDEO_MODEL,
        "frontend": frontend,
        "decoder": {**VIDEO_MODEL["decoder"], "input_dim": width},
    }
    reader = {**VIDEO_READER, "transform": {**VIDEO_READER["transform"], "size": 32}}
    torch.manual_seed(0)
    model = build_model(config, "x")
    state = {f"model.{key}": value for key, value in model.state_dict().items()}
    hparams = {"model_config": config, "labels": list("abcd"), "reader": reader}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, tmp_path / "v.ckpt")
    loaded = seqrec.load(tmp_path / "v.ckpt")
    path = export_onnx(loaded, tmp_path / "v.onnx")
    assert max_difference(loaded, path, check_lengths(loaded)) <= PARITY_ATOL


def test_a_30_second_clip_and_a_mixed_batch(exports):
    loaded, path = exports("ctc_bpe_subsampled")
    worst = max_difference(loaded, path, [30 * RATE, 7, RATE // 2 + 3], seed=1)
    assert worst <= PARITY_ATOL


@pytest.mark.parametrize("name", ["kws_gru_mean", "ctc_char", "video_small_cnn"])
def test_the_metadata_makes_the_file_self_contained(exports, name):
    loaded, path = exports(name)
    _, meta = read_metadata(path)
    assert meta["reader"] == reader_config(loaded.reader)
    assert meta["modality"] == loaded.modality
    assert meta["version"] == "0.1.0" and meta["quantized"] is None
    if name.startswith("ctc"):
        assert meta["kind"] == "transcriber" and meta["tokenizer"] == {"kind": "char"}
        assert (
            meta["frame_seconds"]
            == loaded.frame_seconds
            == frame_seconds(loaded.network.model, RATE)
        )
        assert meta["decoding"] == loaded.decoding and meta["sample_rate"] == RATE
    else:
        assert meta["kind"] == "classifier" and meta["labels"] == loaded.labels
    if name.startswith("video"):
        assert meta["frame_shape"] == [3, 16, 16]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_runtime_labels_audio_like_pytorch(exports, name, tmp_path):
    loaded, path = exports(name)
    runtime = seqrec.load(path)  # an .onnx file loads into seqrec.runtime
    assert isinstance(runtime, Classifier) and runtime.labels == LABELS
    assert isinstance(runtime.network, OnnxNetwork)  # the same class, another network
    waves = synthetic_waves()
    files = [tmp_path / "a.wav", tmp_path / "b_8k_stereo.wav"]
    sf.write(files[0], waves[0], RATE, subtype="PCM_16")
    sf.write(files[1], np.stack([waves[2][::2]] * 2, axis=1), RATE // 2, subtype="PCM_16")
    inputs = [*waves, *map(str, files)]
    expected = loaded.classify(inputs, top_k=3, batch_size=4)
    got = runtime.classify(inputs, top_k=3, batch_size=4)
    for e, g in zip(expected, got, strict=True):
        assert g.input == e.input and g.label == e.label
        assert [label for label, _ in g.top_k] == [label for label, _ in e.top_k]
        assert [p for _, p in g.top_k] == pytest.approx([p for _, p in e.top_k], abs=1e-5)


def test_runtime_labels_video_clips_like_pytorch(exports):
    loaded, path = exports("video_small_cnn")
    runtime = seqrec.load(path)
    generator = torch.Generator().manual_seed(0)
    clips = [torch.randn(n, 3, 16, 16, generator=generator) for n in (4, 1, 7, 4, 2)]
    items = [[clips[0], clips[1]], [clips[2]], [clips[3], clips[4], clips[1]]]
    names = ["v0", "v1", "v2"]
    expected = loaded.classify_clips(items, names, top_k=2, batch_size=3)
    got = runtime.classify_clips([[c.numpy() for c in clips] for clips in items], names, 2, 3)
    assert [g.label for g in got] == [e.label for e in expected]
    assert [g.score for g in got] == pytest.approx([e.score for e in expected], abs=1e-5)
    with pytest.raises(ValueError, match=r"\(T, 3, 16, 16\)"):
        runtime.classify([np.zeros((4, 3, 8, 8))])


def write_textured_video(path: Path, frames: int = 12, width: int = 36, height: int = 27) -> Path:
    """An H.264 video of random pictures, not square, so that the resize to the reader's
    size changes both sides and every pixel matters."""
    import av

    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height + 1, "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 256, (height + 1, width, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize(
    "changes",
    [{}, {"num_clips": 2, "clip_seconds": 0.5}, {"frames_per_second": 5.0, "short_side": 16}],
)
def test_runtime_reads_video_files_as_the_checkpoints_reader(tmp_path, changes):
    """The same frames, the same resized pixels (PyTorch's uint8 antialiased resize,
    computed the same way in numpy), the same crop and normalisation."""
    from seqrec.inference.checkpoint import build_reader
    from seqrec.runtime.video import read_clips

    video = write_textured_video(tmp_path / "textured.mp4")
    config = {**VIDEO_READER, **changes}
    expected = build_reader({"reader": config}, "test")(video)
    got = read_clips(video, config)
    assert [c.shape for c in got] == [tuple(e.shape) for e in expected]
    for clip, reference in zip(got, expected, strict=True):
        assert clip.dtype == np.float32
        np.testing.assert_allclose(clip, reference.numpy(), atol=1e-6)


def test_runtime_classifies_video_files_like_pytorch(exports, tmp_path):
    loaded, path = exports("video_small_cnn")
    runtime = seqrec.load(path)
    videos = [str(write_textured_video(tmp_path / f"v{n}.mp4", frames=n)) for n in (6, 12)]
    expected = loaded.classify(videos, top_k=2)
    got = runtime.classify(videos, top_k=2)
    assert [g.label for g in got] == [e.label for e in expected]
    assert [g.score for g in got] == pytest.approx([e.score for e in expected], abs=1e-5)
    with pytest.raises(VideoError, match=r"gone\.mp4"):
        runtime.classify([str(tmp_path / "gone.mp4")])


@pytest.mark.parametrize("name", TRANSCRIBERS)
def test_runtime_transcripts_and_word_times_like_pytorch(exports, name):
    loaded, path = exports(name)
    runtime = seqrec.load(path)
    assert isinstance(runtime, Transcriber) and isinstance(runtime.network, OnnxNetwork)
    waves = synthetic_waves()
    expected = loaded.transcribe_with_times(waves, batch_size=4)
    got = runtime.transcribe_with_times(waves, batch_size=4)
    assert any(t.text for t in expected)
    assert [g.as_dict() for g in got] == [e.as_dict() for e in expected]
    assert runtime.transcribe(waves[:2]) == loaded.transcribe(waves[:2])
    with pytest.raises(TypeError, match="classify"):
        runtime.classify(waves)


def test_runtime_chunks_long_audio_like_pytorch(exports):
    """Audio longer than chunk_seconds is cut at the same quiet points, and the words
    of every chunk keep their times in the whole recording."""
    loaded, path = exports("ctc_char")
    runtime = seqrec.load(path)
    chunk_seconds, loaded.chunk_seconds = loaded.chunk_seconds, 1.0  # loaded is shared
    runtime.chunk_seconds = 1.0
    long = np.concatenate(synthetic_waves(seconds=(1.2, 0.9, 1.4), seed=3))
    try:
        expected = loaded.transcribe_with_times([long, long[: RATE // 2]])
    finally:
        loaded.chunk_seconds = chunk_seconds
    got = runtime.transcribe_with_times([long, long[: RATE // 2]])
    assert [g.as_dict() for g in got] == [e.as_dict() for e in expected]
    assert max(w.end for w in got[0].words) > 2.0  # times run past the first chunk


@pytest.mark.parametrize("method", ["beam", "beam_lm"])
@pytest.mark.parametrize("name", TRANSCRIBERS)
def test_runtime_beam_search_like_pytorch(exports, name, method, tmp_path):
    """Beam search, and beam search over a lexicon with an n-gram LM, give the
    transcripts and word times of the PyTorch model with the same decoding config."""
    loaded, path = exports(name)
    runtime = seqrec.load(path)
    lm_text = tmp_path / "lm_text.txt"
    lm_text.write_text("\n".join(SENTENCES) + "\n")
    decoding = {
        "_target_": f"seqrec.core.ctc_search.{'BeamSearch' if method == 'beam' else 'LexiconBeamSearch'}"
    }
    decoding |= {"beam_size": 8} | ({"lm_text": str(lm_text)} if method == "beam_lm" else {})
    waves = synthetic_waves()
    try:
        loaded.set_decoding(decoding)
        runtime.set_decoding(decoding)
        expected = loaded.transcribe_with_times(waves, batch_size=4)
        got = runtime.transcribe_with_times(waves, batch_size=4)
    finally:
        loaded.set_decoding(None)
    assert runtime.search.method == method
    assert any(t.text for t in expected)
    assert [g.as_dict() for g in got] == [e.as_dict() for e in expected]
    if method == "beam_lm":  # only the lexicon's words
        lexicon = {w for s in SENTENCES for w in s.split()}
        assert {w for t in got for w in t.text.split()} <= lexicon


def test_runtime_decoding_configs_are_checked(exports):
    """A decoding config can come from the file: only seqrec's own searches, with
    their own settings, are built."""
    _, path = exports("ctc_char")
    runtime = seqrec.load(path)
    with pytest.raises(ValueError, match=r"'os\.system', which is none of seqrec's searches"):
        runtime.set_decoding({"_target_": "os.system", "command": "true"})
    with pytest.raises(ValueError, match="beam decoding takes no lm_weight"):
        runtime.set_decoding({"_target_": "seqrec.core.ctc_search.BeamSearch", "lm_weight": 2.0})
    with pytest.raises(ValueError, match="decoding names no search: give a _target_"):
        runtime.set_decoding({"method": "beam", "beam_size": 4})
    runtime.set_decoding({"_target_": "seqrec.decoding.BeamSearch", "beam_size": 4})  # old name
    assert runtime.search.method == "beam"


@pytest.mark.parametrize("name, most_change", [("kws_lstm_attention", 0.25), ("ctc_char", 0.5)])
def test_int8_quantisation(exports, name, most_change):
    """int8 weights in the recurrent and linear layers, the front end left float. The
    change is measured on a synthetic set against the float export: the share of
    labels that change, or the character error rate of the transcripts."""
    _, float_path = exports(name)
    _, path = exports(name, "int8")
    graph = onnx.load(str(path)).graph
    ops = {node.op_type for node in graph.node}
    assert "MatMulInteger" in ops, ops  # the linear layers
    assert ("DynamicQuantizeLSTM" in ops) == ("lstm" in name), ops  # ORT has no int8 GRU
    assert "ConvInteger" not in ops  # slower than float Conv on CPUs without VNNI
    floats = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    mel = "model.frontend.featurizer.mel"  # the front end's DFT and filterbank stay float
    assert {f"{mel}.basis", f"{mel}.filterbank"} <= floats
    _, meta = read_metadata(path)
    assert meta["quantized"] == "int8" and meta["kind"] == read_metadata(float_path)[1]["kind"]
    waves = synthetic_waves(seconds=(1.0, 0.4, 2.0, 0.8, 1.3, 0.2, 0.6, 1.7), seed=5)
    quantized, reference = seqrec.load(path), seqrec.load(float_path)
    if name.startswith("kws"):
        a, b = quantized.classify(waves), reference.classify(waves)
        change = np.mean([x.label != y.label for x, y in zip(a, b, strict=True)])
        what = "labels changed"
    else:
        _, change = error_rates(quantized.transcribe(waves), reference.transcribe(waves))
        what = "CER against the float transcripts"
    print(f"{name} int8: {what}: {change:.1%}")
    assert change <= most_change


TORCH_FREE = """
import json, sys
for name in ("torch", "torchaudio", "torchvision", "pytorch_lightning", "hydra", "omegaconf"):
    sys.modules[name] = None  # importing any of them now fails
import numpy as np
import seqrec
import seqrec.runtime
model = seqrec.load(sys.argv[1])
waves = list(np.load(sys.argv[2]))
if isinstance(model, seqrec.Classifier):
    print(json.dumps([p.as_dict() for p in model.classify(waves)]))
else:
    print(json.dumps([t.as_dict() for t in model.transcribe_with_times(waves)]))
"""


@pytest.mark.parametrize("name", ["kws_gru_mean", "ctc_bpe_subsampled"])
def test_the_runtime_needs_no_torch(exports, name, tmp_path):
    _, path = exports(name)
    waves = synthetic_waves(seconds=(0.5, 0.5))
    np.save(tmp_path / "waves.npy", np.stack(waves))
    result = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(path), str(tmp_path / "waves.npy")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runtime = seqrec.load(path)
    if name.startswith("kws"):
        expected = [p.as_dict() for p in runtime.classify(waves)]
    else:
        expected = [t.as_dict() for t in runtime.transcribe_with_times(waves)]
    assert json.loads(result.stdout) == expected


def test_seqrec_export_command(tmp_path):
    ckpt = write_checkpoint(tmp_path / "best.ckpt", "kws_gru_mean")
    result = run_cli("seqrec-export", f"ckpt_path={ckpt}", cwd=tmp_path)
    out = tmp_path / "best.onnx"  # the default name
    assert out.is_file() and "checked: max |onnx - torch|" in result.stdout
    waves = synthetic_waves()
    expected = [p.label for p in seqrec.load(ckpt).classify(waves)]
    assert [p.label for p in seqrec.load(out).classify(waves)] == expected


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["format=tflite"], "format=tflite is not one of ('onnx',)"),
        ([], "checkpoint not found"),
    ],
)
def test_seqrec_export_errors(tmp_path, arguments, message):
    """Each error is one line that names what was wrong."""
    result = run_cli(
        "seqrec-export", f"ckpt_path={tmp_path / 'missing.ckpt'}", *arguments, check=False
    )
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_export_refuses_an_unknown_quantisation(exports, tmp_path):
    loaded, _ = exports("kws_gru_mean")
    with pytest.raises(ExportError, match="quantize must be one of"):
        export_onnx(loaded, tmp_path / "x.onnx", quantize="int4")


@pytest.mark.parametrize("name", ["kws_lstm_attention", "ctc_bpe_subsampled"])
def test_seqrec_eval_scores_an_export_as_its_checkpoint(exports, name, tmp_path):
    """seqrec-eval on the .onnx file reads the manifest with the reader its metadata
    describes and gives the checkpoint's figures; the command takes the file too."""
    from seqrec.inference.evaluate import evaluate_classifier, evaluate_transcriber

    loaded, path = exports(name)
    runtime = seqrec.load(path)
    manifest = write_test_set(tmp_path, "kws" if name.startswith("kws") else "ctc")
    if name.startswith("kws"):
        expected = evaluate_classifier(loaded, manifest, batch_size=4)
        got = evaluate_classifier(runtime, manifest, batch_size=4)
        figures = [k for k in expected if k.startswith("acc")]
    else:
        expected = evaluate_transcriber(loaded, manifest, batch_size=4)
        got = evaluate_transcriber(runtime, manifest, batch_size=4)
        figures = ["wer", "cer"]
        assert expected["wer"] < 1.0 or expected["cer"] < 1.0  # not only empty transcripts
    assert {k: got[k] for k in figures} == {k: expected[k] for k in figures}
    assert got["num_examples"] == expected["num_examples"] == 6
    result = run_cli("seqrec-eval", f"ckpt_path={path}", f"manifest={manifest}", "threads=1")
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    assert {k: printed[k] for k in figures if k in printed} == {
        k: expected[k] for k in figures if k in printed
    }


def test_runtime_inputs_are_checked_or_converted_as_pytorch_does(exports, tmp_path):
    """A 2-D or empty array is an error naming the shape and the sample rate; a file
    at another rate or with two channels is resampled and averaged, as the
    checkpoint's reader does; an input shorter than one FFT window is padded."""
    loaded, path = exports("kws_lstm_attention")
    runtime = seqrec.load(path)
    for bad in (np.zeros((2, RATE), np.float32), np.zeros(0, np.float32)):
        with pytest.raises(ValueError, match=r"non-empty 1-D array at 16000 Hz, got shape"):
            runtime.classify([bad])
    wave = synthetic_waves(seconds=(0.7,))[0]
    stereo = tmp_path / "stereo8k.wav"
    sf.write(stereo, np.stack([wave[::2], 0.5 * wave[::2]], axis=1), RATE // 2)
    tiny = wave[:5]  # five samples: padded with silence inside the graph
    expected = [p.as_dict() for p in loaded.classify([str(stereo), tiny])]
    assert [p.as_dict() for p in runtime.classify([str(stereo), tiny])] == expected


def test_seqrec_predict_runs_an_export_as_its_checkpoint(exports, tmp_path):
    """Inputs and manifest segments, from the .onnx file and from the checkpoint: the
    same JSON lines."""
    loaded, path = exports("ctc_char")
    manifest = write_test_set(tmp_path, "ctc")
    rows = {}
    for model in (path, loaded.source):
        out = tmp_path / f"{Path(model).suffix[1:]}.jsonl"
        run_cli(
            "seqrec-predict", f"ckpt_path={model}", f"inputs=[{tmp_path / 'ctc0.wav'}]",
            f"manifest={manifest}", "word_times=true", f"output={out}",
        )  # fmt: skip
        rows[model] = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows[path]) == 7 and rows[path] == rows[loaded.source]


def test_a_fixed_clip_length_travels_with_the_export(tmp_path):
    """A reader with ``clip_seconds`` (the Speech Commands preset: every clip read at
    1 s) brings inputs to that length in the runtime too."""
    ckpt = write_checkpoint(tmp_path / "fixed.ckpt", "kws_gru_mean")
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["hyper_parameters"]["reader"] = {**AUDIO_READER, "clip_seconds": 1.0}
    torch.save(checkpoint, ckpt)
    loaded = seqrec.load(ckpt)
    runtime = seqrec.load(export_onnx(loaded, tmp_path / "fixed.onnx"))
    assert runtime.reader.config["clip_seconds"] == runtime.reader.clip_seconds == 1.0
    waves = synthetic_waves(seconds=(0.3, 1.0, 1.6))
    assert [w.shape[0] for wave in waves for w in runtime.prepare(wave)] == [RATE] * 3
    assert [p.as_dict() for p in runtime.classify(waves)] == [
        p.as_dict() for p in loaded.classify(waves)
    ]


def test_the_runtime_reads_video_files_without_torch(exports, tmp_path):
    _, path = exports("video_small_cnn")
    video = write_textured_video(tmp_path / "textured.mp4")
    script = (
        "import json, sys\n"
        "for name in ('torch', 'torchaudio', 'torchvision', 'pytorch_lightning', 'hydra'):\n"
        "    sys.modules[name] = None\n"
        "import seqrec\n"
        "print(json.dumps([p.as_dict() for p in seqrec.load(sys.argv[1]).classify([sys.argv[2]])]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), str(video)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == [p.as_dict() for p in seqrec.load(path).classify([video])]


def test_classify_gives_one_answer_for_a_word_whatever_its_format(tmp_path):
    """With the reader's clip format (trim, level, centre), classify() labels a word
    the same, with the same scores, whatever its padding, silence and level (peak
    0.05 to 1): on the checkpoint and on its export."""
    from tests.helpers import CLIP_FORMAT as FORMAT
    from tests.helpers import clip_variants as variants
    from tests.helpers import word_burst as word

    ckpt = write_checkpoint(tmp_path / "format.ckpt", "kws_lstm_attention")
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["hyper_parameters"]["reader"] = {**AUDIO_READER, **FORMAT}
    torch.save(checkpoint, ckpt)
    loaded = seqrec.load(ckpt)
    runtime = seqrec.load(export_onnx(loaded, tmp_path / "format.onnx"))
    waves = list(variants(word()).values())
    for model in (loaded, runtime):
        predictions = model.classify(waves, top_k=3)
        for p in predictions:
            assert [label for label, _ in p.top_k] == [label for label, _ in predictions[0].top_k]
            assert [score for _, score in p.top_k] == pytest.approx(
                [score for _, score in predictions[0].top_k], abs=1e-5
            )
    assert [p.label for p in runtime.classify(waves)] == [p.label for p in loaded.classify(waves)]

"""seqrec.runtime's numpy parts against the PyTorch code they stand in for (resampling,
reading audio); the loaded models on stand-in sessions (word times, non-finite
input); and the runtime imported with torch unimportable."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch
import torchaudio

from seqrec.core.ctc_search import GreedySearch
from seqrec.core.results import word_times
from seqrec.data.audio import load_audio
from seqrec.runtime import (
    AudioError,
    ExportedModelError,
    exported_classifier,
    exported_transcriber,
    read_audio,
    read_metadata,
    resample,
)
from seqrec.text import CharTokenizer, SentencePieceTokenizer


@pytest.mark.parametrize("rates", [(8000, 16000), (44100, 16000), (22050, 16000), (48000, 8000)])
def test_resample_matches_torchaudio(rates):
    wave = np.random.default_rng(0).standard_normal(12345).astype(np.float32) * 0.1
    expected = torchaudio.functional.resample(torch.from_numpy(wave), *rates).numpy()
    got = resample(wave, *rates)
    assert got.dtype == np.float32 and got.shape == expected.shape
    # the same kernel; float32 sums in another order (up to 459 taps for 22.05 kHz)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_read_audio_matches_load_audio(tmp_path):
    rng = np.random.default_rng(1)
    stereo = tmp_path / "stereo_8k.wav"
    sf.write(stereo, 0.2 * rng.standard_normal((8000, 2)), 8000, subtype="PCM_16")
    mono = tmp_path / "mono.flac"
    sf.write(mono, 0.2 * rng.standard_normal(16000), 16000)
    for path, options in [(stereo, {}), (mono, {}), (mono, {"offset": 0.25, "duration": 0.5})]:
        expected = load_audio(path, 16000, **options).numpy()
        np.testing.assert_allclose(read_audio(path, 16000, **options), expected, atol=2e-6)
    with pytest.raises(AudioError, match=r"missing\.wav: file not found"):
        read_audio(tmp_path / "missing.wav", 16000)
    with pytest.raises(AudioError, match="runs past the end"):
        read_audio(mono, 16000, offset=0.5, duration=1.0)


def bpe() -> SentencePieceTokenizer:
    text = ["the cat sat on the mat", "a dog ran up the hill", "we're quick brown foxes"]
    return SentencePieceTokenizer.train(text * 4, vocab_size=40)


@pytest.mark.parametrize("tokenizer", [CharTokenizer(), bpe()], ids=["char", "bpe"])
def test_a_transcriber_gives_its_searchs_words_and_times(tokenizer):
    """The greedy hypotheses of known log-probs, timed by word_times, are what a
    transcriber whose network returns those log-probs gives, batched and reordered."""
    generator = torch.Generator().manual_seed(3)
    scores = torch.randn(4, 60, tokenizer.num_classes, generator=generator)
    scores[..., 0] += 1.5  # blanks between tokens, so words have gaps
    log_probs = scores.log_softmax(-1)
    lengths = torch.tensor([60, 31, 1, 45])
    expected = GreedySearch(tokenizer).decode(log_probs.numpy(), lengths.numpy())
    assert any(e.text for e in expected)
    frame_seconds = 0.04
    expected_times = [word_times(e, tokenizer, frame_seconds) for e in expected]
    meta = {"modality": "audio", "sample_rate": 16000, "reader": {},
            "tokenizer": tokenizer.state(), "frame_seconds": frame_seconds}  # fmt: skip
    runtime = exported_transcriber(ReplaySession(log_probs.numpy()), meta)
    waves = [np.full(100 * n, i, np.float32) for i, n in enumerate(lengths.tolist())]
    transcripts = runtime.transcripts(waves, batch_size=3, with_times=True)
    assert [t.text for t in transcripts] == [e.text for e in expected]
    assert [t.words for t in transcripts] == expected_times
    assert sum(len(words) for words in expected_times) >= 3


class ReplaySession:
    """Stands in for an onnxruntime session of a CTC model with 100 samples per frame:
    input ``i`` (a waveform whose samples are all ``i``) gives the log-probs ``i`` of
    ``log_probs`` (N, T, C), cut to its length."""

    def __init__(self, log_probs: np.ndarray) -> None:
        self.log_probs = log_probs

    def get_outputs(self):
        return [SimpleNamespace(shape=["batch", "frames", self.log_probs.shape[-1]])]

    def run(self, _, feeds):
        x, lengths = feeds["inputs"], feeds["lengths"]
        rows = self.log_probs[x[:, 0].astype(int)]
        frames = lengths // 100
        return rows[:, : frames.max()], frames


class MeanSession:
    """Stands in for an onnxruntime session: the mean of each input's samples scales
    every class's logit (a classifier), or every frame of 100 samples gives log-probs
    from its mean (a CTC model), so that a NaN sample spreads as it does in a network."""

    def __init__(self, classes: int, ctc: bool = False) -> None:
        self.classes, self.ctc = classes, ctc

    def get_outputs(self):
        return [SimpleNamespace(shape=["batch", "frames", self.classes])]

    def run(self, _, feeds):
        x, lengths = feeds["inputs"], feeds["lengths"]
        scale = np.arange(self.classes, dtype=np.float32)
        if not self.ctc:
            return x.mean(axis=1, keepdims=True) * scale, lengths
        frames = x[:, : x.shape[1] // 100 * 100].reshape(x.shape[0], -1, 100).mean(axis=2)
        logits = frames[..., None] * scale  # (B, T, C)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        return log_probs, lengths // 100


def test_the_runtime_refuses_nan_or_inf_in_a_waveform_or_a_file(tmp_path):
    """Without the check, the runtime classifier answers its first label at score nan."""
    audio = {"modality": "audio", "sample_rate": 16000, "reader": {}}
    classifier = exported_classifier(MeanSession(3), {**audio, "labels": ["a", "b", "c"]})
    meta = {**audio, "tokenizer": {"kind": "char"}, "frame_seconds": 0.00625}
    transcriber = exported_transcriber(MeanSession(29, ctc=True), meta)
    good = np.full(1600, 0.1, np.float32)
    bad = good.copy()
    bad[345] = np.inf
    path = tmp_path / "inf.wav"
    sf.write(path, bad, 16000, subtype="FLOAT")
    assert [p.label for p in classifier.classify([good])] == ["c"]
    for method in (classifier.classify, transcriber.transcribe, transcriber.transcribe_with_times):
        with pytest.raises(AudioError, match=r"^waveform 1: audio contains NaN or infinite "
                                             r"samples \(the first, inf, at sample 345\)$"):  # fmt: skip
            method([good, bad])
        with pytest.raises(AudioError, match=r"^waveform 0: .*\(the first, nan, at sample 0\)$"):
            method([np.full(1600, np.nan)])
        with pytest.raises(AudioError, match=rf"^{path}: .*at sample 345\)$"):
            method([str(path)])


def test_a_file_that_is_not_a_seqrec_export_is_refused(tmp_path):
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "plain",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    onnx.save(onnx.helper.make_model(graph), tmp_path / "plain.onnx")
    with pytest.raises(ExportedModelError, match=r"plain\.onnx: not a seqrec export \(no seqrec"):
        read_metadata(tmp_path / "plain.onnx")
    with pytest.raises(ExportedModelError, match=r"gone\.onnx: file not found"):
        read_metadata(tmp_path / "gone.onnx")
    (tmp_path / "junk.onnx").write_text("not a model")
    with pytest.raises(ExportedModelError, match=r"junk\.onnx: not a readable ONNX model"):
        read_metadata(tmp_path / "junk.onnx")


NO_TORCH = """
import sys
blocked = ("torch", "torchaudio", "torchvision", "pytorch_lightning", "hydra", "omegaconf")
for name in blocked:
    sys.modules[name] = None  # importing any of them now fails
import numpy as np
import seqrec
import seqrec.runtime
assert seqrec.load is seqrec.runtime.load
wave = np.ones(8000, dtype=np.float32)
assert seqrec.runtime.resample(wave, 8000, 16000).shape == (16000,)
pieces = seqrec.runtime.split_at_quiet_points(wave, 3000, 16000)
assert sum(p.size for p in pieces) == 8000 and max(p.size for p in pieces) <= 3000
loaded = [name for name in blocked if sys.modules.get(name) is not None]
print("loaded:", loaded)
"""


def test_the_runtime_imports_without_torch():
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "loaded: []"

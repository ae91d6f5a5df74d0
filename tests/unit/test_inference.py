"""seqrec.load on checkpoints, and the loaded models (seqrec.api): classify, transcribe
(chunked, with word times)."""

import numpy as np
import pytest
import soundfile as sf
import torch

import seqrec
from seqrec.core.waveform import AudioError
from seqrec.data.audio import AudioReader
from seqrec.inference import torch_classifier, torch_transcriber
from seqrec.text import CharTokenizer
from tests.helpers import MODEL_LABELS as LABELS
from tests.helpers import (
    assert_batch_invariant,
    build_kws_model,
    synthetic_waves,
    tiny_ctc_model,
    waveforms,
    write_checkpoint,
)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A classifier's and a speech recogniser's checkpoint, written as training writes
    them (random seeded weights): what seqrec.load reads."""
    folder = tmp_path_factory.mktemp("checkpoints")
    return {
        kind: write_checkpoint(folder / f"{name}.ckpt", name)
        for kind, name in (("classifier", "kws_lstm_attention"), ("transcriber", "ctc_char"))
    }


@pytest.fixture(scope="module")
def model(checkpoints):
    return seqrec.load(checkpoints["classifier"])


def test_transcribe_returns_a_string_per_input_and_chunks_long_audio():
    transcriber = torch_transcriber(
        tiny_ctc_model(), CharTokenizer(), AudioReader(16000), chunk_seconds=2.0
    )
    seen = []
    original = transcriber.network.model.forward
    transcriber.network.model.forward = lambda x, n: seen.append(n.tolist()) or original(x, n)
    inputs = [torch.randn(8000) * 0.1, torch.randn(16000 * 7) * 0.1, torch.randn(3200) * 0.1]
    texts = transcriber.transcribe(inputs, batch_size=2)
    chunk_lengths = [n for batch in seen for n in batch]
    assert sum(chunk_lengths) == 8000 + 16000 * 7 + 3200  # every sample transcribed once
    assert max(chunk_lengths) <= 32000 and len(chunk_lengths) >= 6
    batched = assert_batch_invariant(lambda x: transcriber.transcribe(x, batch_size=2), inputs)
    assert batched == texts


def test_word_times_come_from_the_frames_where_the_tokens_fire():
    """A stand-in network spikes like a CTC model: "a" on the first and on the last
    loud output frame of each burst of sound, blank between, and a space on quiet
    frames. Each burst is then the word "aa", and its times must be the burst's,
    across chunk boundaries too."""
    tokenizer = CharTokenizer()
    transcriber = torch_transcriber(
        tiny_ctc_model(), tokenizer, AudioReader(16000), chunk_seconds=2.0
    )
    assert transcriber.frame_seconds == pytest.approx(0.04)  # 10 ms hop, subsampled 4 times
    network = transcriber.network.model.forward
    a, space = tokenizer.encode("a a")[:2]

    def spike_on_sound(x, lengths):
        _, out_lengths = network(x, lengths)
        frames = int(out_lengths.max())
        x = torch.nn.functional.pad(x, (0, max(0, frames * 640 - x.shape[1])))
        loud = x[:, : frames * 640].reshape(len(x), frames, 640).pow(2).mean(-1).sqrt() > 0.05
        quiet = torch.nn.functional.pad(~loud, (1, 1), value=True)
        edge = loud & (quiet[:, :-2] | quiet[:, 2:])  # first or last loud frame of a burst
        best = torch.where(edge, a, torch.where(loud, 0, space))
        return torch.nn.functional.one_hot(best, tokenizer.num_classes).float().log(), out_lengths

    transcriber.network.model.forward = spike_on_sound
    bursts = [(0.5, 0.7), (2.6, 2.9), (4.2, 4.4), (6.0, 6.5)]
    audio = torch.randn(7 * 16000) * 1e-3
    for start, end in bursts:
        audio[int(start * 16000) : int(end * 16000)] += 0.5
    (transcript,) = transcriber.transcribe_with_times([audio])
    assert transcript.text == "aa aa aa aa" == transcriber.transcribe([audio])[0]
    assert transcript.input == "input[0]"
    for word, (start, end) in zip(transcript.words, bursts, strict=True):
        assert abs(word.start - start) <= 0.04 and abs(word.end - end) <= 0.04, (word, start, end)


def test_a_model_says_which_methods_its_checkpoint_has(checkpoints):
    classifier_ckpt = checkpoints["classifier"]
    classifier = seqrec.load(classifier_ckpt)
    with pytest.raises(TypeError) as error:
        classifier.transcribe([torch.zeros(16000)])
    assert str(error.value) == (
        f"{classifier_ckpt}: transcribe() needs a speech-to-text (CTC) checkpoint, "
        "but this checkpoint is a classifier"
    )
    transcriber = seqrec.load(checkpoints["transcriber"])
    with pytest.raises(TypeError, match=r"ctc_char\.ckpt: classify\(\) needs a classifier"):
        transcriber.classify([torch.zeros(16000)])


def test_load_rebuilds_the_model_from_the_checkpoint_alone(checkpoints, model):
    checkpoint = torch.load(checkpoints["classifier"], weights_only=True)
    assert (
        checkpoint["hyper_parameters"]["model_config"]["_target_"] == "seqrec.modules.SequenceModel"
    )
    assert model.labels == LABELS and model.sample_rate == 16000
    assert not model.network.model.training


def test_classify_paths_and_waveforms(model, tmp_path):
    files = []
    for i, wave in enumerate(synthetic_waves()[:5]):
        files.append(tmp_path / f"clip{i}.wav")
        sf.write(files[-1], wave, 16000)
    by_path = model.classify(files, top_k=2, batch_size=2)
    assert len(by_path) == len(files)
    for prediction, path in zip(by_path, files, strict=True):
        wave = torch.from_numpy(sf.read(path, dtype="float32")[0])
        with torch.no_grad():  # the network on this file alone, outside classify()
            logits, _ = model.network.model(wave.unsqueeze(0), torch.tensor([wave.numel()]))
        probs, best = logits[0].softmax(-1).topk(2)
        assert [label for label, _ in prediction.top_k] == [LABELS[i] for i in best]
        assert [p for _, p in prediction.top_k] == pytest.approx(probs.tolist(), abs=1e-5)
        assert prediction.input == str(path)
        assert len(prediction.top_k) == 2 and prediction.top_k[0] == (
            prediction.label,
            prediction.score,
        )
        assert prediction.top_k[0][1] >= prediction.top_k[1][1] and 0 < prediction.score <= 1
    waves = [sf.read(f, dtype="float32")[0] for f in files]
    by_wave = model.classify(waves, top_k=5)
    assert len(by_wave[0].top_k) == 3  # capped at the number of labels
    for a, b in zip(by_path, by_wave, strict=True):
        assert a.label == b.label and a.score == pytest.approx(b.score, abs=1e-5)
    with pytest.raises(ValueError, match="1-D"):
        model.classify([torch.zeros(2, 100)])


def test_nan_or_inf_in_a_waveform_or_a_file_is_an_error_naming_it(tmp_path):
    """A NaN would make classify answer the first label at score nan, and transcribe
    an arbitrary text: every entry point refuses it, naming the file or the array."""
    classifier = torch_classifier(
        build_kws_model("gru"), [f"w{i}" for i in range(35)], AudioReader(16000)
    )
    transcriber = torch_transcriber(tiny_ctc_model(), CharTokenizer(), AudioReader(16000))
    good, bad = waveforms(8000, 8000)
    bad[1234] = float("nan")
    path = tmp_path / "nan.wav"
    sf.write(path, bad.numpy(), 16000, subtype="FLOAT")
    assert len(classifier.classify([good, good.numpy()])) == 2
    for method in (classifier.classify, transcriber.transcribe, transcriber.transcribe_with_times):
        with pytest.raises(AudioError, match=r"^waveform 2: audio contains NaN or infinite "
                                             r"samples \(the first, nan, at sample 1234\)$"):  # fmt: skip
            method([good, good.numpy(), bad])
        with pytest.raises(AudioError, match=r"^waveform 0: .*\(the first, -inf, at sample 7\)"):
            method([np.where(np.arange(8000) == 7, -np.inf, 0.0)])
        with pytest.raises(AudioError, match=rf"^{path}: .*at sample 1234\)$"):
            method([good, str(path)])


def test_one_path_or_waveform_instead_of_a_list_is_refused_with_how_to_pass_it(model, tmp_path):
    with pytest.raises(
        TypeError, match=r"classify takes a list of inputs, got one str: .*\['a\.wav'\]"
    ):
        model.classify("a.wav")  # not read as the files "a", ".", "w", "a", "v"
    with pytest.raises(TypeError, match=r"got one ndarray: pass \[input\]"):
        model.classify(np.zeros(16000, np.float32))
    # the list forms of the two: one prediction each, the file's the same as its waveform's
    wave = 0.1 * np.sin(np.arange(16000, dtype=np.float32) * 0.07)
    sf.write(tmp_path / "a.wav", wave, 16000, subtype="FLOAT")
    (from_file,) = model.classify([str(tmp_path / "a.wav")])
    (from_wave,) = model.classify([wave])
    assert from_file.input == str(tmp_path / "a.wav") and from_wave.input == "input[0]"
    assert from_file.label == from_wave.label
    assert from_file.score == pytest.approx(from_wave.score, abs=1e-6)

"""Speech-to-text: text, tokenizers, CTC, decoding, corpus, preparation, inference."""

import json
import math
from collections import Counter
from pathlib import Path

import hydra
import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from hypothesis import given, settings
from hypothesis import strategies as st

import seqrec
from seqrec.config import CONF_DIR
from seqrec.data.audio import AudioReader, TranscribedAudioDataset
from seqrec.data.librispeech import LibriSpeechPreparer
from seqrec.data.manifest import ManifestError
from seqrec.data.prepared import DatasetLayoutError
from seqrec.decoding import BeamSearch, GreedySearch, Hypothesis, LexiconBeamSearch, word_times
from seqrec.evaluate import (
    align_words,
    errors_by_known_words,
    evaluate_transcriber,
    read_known_words,
)
from seqrec.inference import Transcriber
from seqrec.modules import ConvSubsampling, CTCHead, RecurrentDecoder, SequenceModel
from seqrec.modules.features import AudioFrontend, LogMelSpectrogram
from seqrec.synth.asr import SyntheticSpeech, speak, text_statistics
from seqrec.synth.espeak import ENGLISH_ACCENTS, ESpeak
from seqrec.synth.sentences import (
    SentenceGenerator,
    all_words,
    split_vocabulary,
    zipf_weights,
)
from seqrec.tasks import metrics as names
from seqrec.tasks.ctc import ctc_min_frames
from seqrec.text import CharTokenizer, SentencePieceTokenizer, TextError, normalize_text
from seqrec.text.ngram import estimate_arpa
from tests.conftest import make_config, write_manifest_lines, write_wav
from tests.helpers import assert_batch_invariant, error_rates, run_cli

TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz' ", max_size=60)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_char_tokenizer_round_trips_normalised_text(text):
    tokenizer = CharTokenizer()
    ids = tokenizer.encode(text)
    assert all(1 <= i < tokenizer.num_classes for i in ids)
    assert tokenizer.decode(ids) == " ".join(normalize_text(text).split())


@pytest.fixture(scope="module")
def bpe() -> SentencePieceTokenizer:
    texts = [
        "the brave otter carried a golden pebble",
        "did alice find the rusty lantern",
        "they will paint every wooden wagon quietly",
    ] * 20
    return SentencePieceTokenizer.train(texts, vocab_size=60)


@settings(max_examples=100, deadline=None)
@given(TEXT)
def test_sentencepiece_round_trips_any_text_even_unseen_words(bpe, text):
    ids = bpe.encode(text)
    assert all(1 <= i < bpe.num_classes for i in ids)  # 0 stays the blank
    assert bpe.decode(ids) == " ".join(normalize_text(text).split())


def test_sentencepiece_survives_the_checkpoint_state(bpe):
    from seqrec.text import tokenizer_from_state

    rebuilt = tokenizer_from_state(json.loads(json.dumps(bpe.state())))
    assert rebuilt.tokens == bpe.tokens and rebuilt.encode("a zebra") == bpe.encode("a zebra")


@pytest.mark.parametrize("name, kind", [("char", CharTokenizer), ("bpe", SentencePieceTokenizer)])
def test_each_tokenizer_config_builds_the_size_the_ctc_head_reads(tmp_path, name, kind):
    """conf/tokenizer/: the datamodule builds the tokenizer (a BPE one learns from the
    training manifest's text), and the num_classes its config states, which the head
    takes, is the built tokenizer's."""
    texts = ["the brave otter carried a golden pebble", "did alice find the rusty lantern"] * 20
    rows = [{"audio_filepath": f"{i}.wav", "duration": 1.0, "text": t} for i, t in enumerate(texts)]
    manifest = write_manifest_lines(tmp_path / "train.jsonl", rows)
    overrides = ["experiment=asr_synthetic", f"tokenizer={name}", f"data.train_manifest={manifest}"]
    if name == "bpe":
        overrides.append("tokenizer.vocab_size=40")  # as many pieces as this text has
    cfg = make_config(tmp_path, overrides)
    tokenizer = hydra.utils.instantiate(cfg.data).build_tokenizer()
    assert type(tokenizer) is kind
    expected = 29 if name == "char" else 41
    assert (
        tokenizer.num_classes == cfg.tokenizer.num_classes == cfg.model.head.num_classes == expected
    )


def test_a_tokenizer_or_head_of_the_wrong_size_is_refused_naming_both_sizes(tmp_path):
    from types import SimpleNamespace

    from seqrec.train import build_task

    with pytest.raises(
        ValueError, match=r"CharTokenizer: num_classes=30 .* 28 tokens \+ the blank = 29"
    ):
        CharTokenizer(num_classes=30)
    texts = ["the brave otter carried a golden pebble", "did alice find the rusty lantern"] * 20
    with pytest.raises(ValueError, match=r"num_classes=40 .* 40 tokens \+ the blank = 41"):
        SentencePieceTokenizer.train(texts, vocab_size=40, num_classes=40)
    cfg = make_config(tmp_path, ["experiment=asr_synthetic", "head.num_classes=30"])
    datamodule = SimpleNamespace(task_targets=lambda: {"tokenizer": CharTokenizer()})
    with pytest.raises(
        ValueError,
        match=r"num_classes=30 .* the tokenizer gives 29 .* set head\.num_classes=29",
    ):
        build_task(cfg, datamodule)


def test_normalisation_is_the_documented_one_and_refuses_the_rest():
    assert normalize_text("“Naïve” Café—OPEN; it’s 'fine'...") == "naive cafe open it's 'fine'"
    with pytest.raises(TextError, match=r"character '7' \(U\+0037\) in 'room 7'"):
        CharTokenizer().encode("room 7")
    with pytest.raises(TextError, match="'&'"):
        normalize_text("salt & pepper")


def test_manifest_text_outside_the_vocabulary_names_the_line_or_is_skipped(tmp_path):
    wav = write_wav(tmp_path / "a.wav", seconds=0.5)
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl",
        [
            {"audio_filepath": str(wav), "duration": 0.5, "text": "Hello, World!"},
            {"audio_filepath": str(wav), "duration": 0.5, "text": "call 911"},
        ],
    )
    with pytest.raises(ManifestError, match=r"m\.jsonl:2: text: character '9'"):
        TranscribedAudioDataset(manifest, CharTokenizer(), AudioReader(16000))
    dataset = TranscribedAudioDataset(
        manifest, CharTokenizer(), AudioReader(16000), on_error="skip"
    )
    assert len(dataset) == 1 and [p.reason for p in dataset.problems] == ["bad_text"]
    assert CharTokenizer().decode(dataset[0].target.tolist()) == "hello world"


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_subsampling_lengths_match_the_frames_it_returns(factor):
    layer = ConvSubsampling(input_dim=8, out_dim=8, factor=factor, kernel_size=5).eval()
    for length in [1, 2, 3, 7, 8, 9, 31, 64, 101]:
        x = torch.randn(1, length, 8)
        y, out = layer(x, torch.tensor([length]))
        assert out.item() == y.shape[1] == math.ceil(length / factor), (factor, length)


def tiny_ctc_model(vocab: int = 29) -> SequenceModel:
    frontend = AudioFrontend(LogMelSpectrogram(16000, n_mels=16), out_dim=16)
    return SequenceModel(
        frontend,
        RecurrentDecoder(16, cell="lstm", hidden=16, num_layers=1, bidirectional=True),
        CTCHead(32, vocab),
        encoder=ConvSubsampling(16, 16, factor=4),
    ).eval()


def test_ctc_min_frames_counts_a_blank_between_repeats():
    targets = torch.tensor([[1, 1, 1, 0], [2, 3, 2, 3]])
    assert ctc_min_frames(targets, torch.tensor([3, 4])).tolist() == [5, 4]


def test_ctc_loss_is_finite_at_the_length_limit_and_too_short_is_filtered(tmp_path):
    from seqrec.tasks.ctc import CTCTask

    config = {
        "_target_": "seqrec.modules.SequenceModel",
        "frontend": {
            "_target_": "seqrec.modules.AudioFrontend",
            "out_dim": 16,
            "featurizer": {
                "_target_": "seqrec.modules.LogMelSpectrogram",
                "sample_rate": 16000,
                "n_mels": 16,
            },
        },
        "encoder": {"_target_": "seqrec.modules.ConvSubsampling", "input_dim": 16, "out_dim": 16},
        "decoder": {"_target_": "seqrec.modules.RecurrentDecoder", "input_dim": 16, "hidden": 8},
        "head": {"_target_": "seqrec.modules.CTCHead", "input_dim": 16, "num_classes": 29},
    }
    task = CTCTask(
        config,
        {"kind": "char"},
        {"modality": "audio", "sample_rate": 16000},
        optimizer=torch.optim.SGD,
    )
    samples = 16000  # 1 s: 97 feature frames -> 25 frames after x4 subsampling
    frames = task.model(torch.zeros(1, samples), torch.tensor([samples]))[1].item()
    exact = torch.tensor([[1 + (i % 2) for i in range(frames)]])  # alternating: no repeats
    too_long = torch.tensor([[1 + (i % 2) for i in range(frames + 1)]])
    repeats = torch.tensor([[1] * frames])  # needs 2 * frames - 1 frames
    batch = type("B", (), {})()
    batch.inputs = torch.randn(3, samples) * 0.1
    batch.lengths = torch.tensor([samples] * 3)
    batch.targets = torch.nn.utils.rnn.pad_sequence(
        [exact[0], too_long[0], repeats[0]], batch_first=True
    )
    batch.target_lengths = torch.tensor([frames, frames + 1, frames])
    loss, _, _, too_short = task._loss(batch)
    assert too_short == 2 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in task.parameters() if p.grad is not None)
    batch.inputs, batch.lengths = batch.inputs[1:], batch.lengths[1:]
    batch.targets, batch.target_lengths = batch.targets[1:], batch.target_lengths[1:]
    assert task._loss(batch)[0] is None  # nothing alignable: no loss, no NaN


def peaked_log_probs(ids: list[int], vocab: int, blanks: int = 1, seed: int = 0) -> torch.Tensor:
    """One frame per token with a blank run after each, all peaked but noisy."""
    generator = torch.Generator().manual_seed(seed)
    path = [t for i in ids for t in [i] + [0] * blanks]
    scores = torch.randn(len(path), vocab, generator=generator)
    scores[torch.arange(len(path)), torch.tensor(path)] += 12.0
    return scores.log_softmax(-1).unsqueeze(0)


def test_greedy_decoding_on_hand_made_log_probs():
    tokenizer = CharTokenizer()
    frames = torch.full((1, 9, tokenizer.num_classes), -20.0)
    a, b, apostrophe, s = (tokenizer.encode(c)[0] for c in ("a", "b", "'", "s"))
    path = [a, a, 0, a, b, 0, 0, apostrophe, s]  # repeats merge unless a blank separates them
    frames[0, torch.arange(9), torch.tensor(path)] = 0.0
    assert GreedySearch(tokenizer)(frames, torch.tensor([9])) == ["aab's"]
    assert GreedySearch(tokenizer)(frames, torch.tensor([4])) == ["aa"]  # padding ignored


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_beam_search_matches_greedy_on_peaked_inputs(kind, bpe):
    tokenizer = CharTokenizer() if kind == "char" else bpe
    beam = BeamSearch(tokenizer, beam_size=8)
    greedy = GreedySearch(tokenizer)
    for seed, text in enumerate(["the otter", "a golden wagon", "did alice find it"]):
        log_probs = peaked_log_probs(tokenizer.encode(text), tokenizer.num_classes, seed=seed)
        lengths = torch.tensor([log_probs.shape[1]])
        assert beam(log_probs, lengths) == greedy(log_probs, lengths) == [text]


def test_beam_with_lm_prefers_the_sentence_the_lm_knows(tmp_path):
    """Two spellings equally likely acoustically: the LM picks the one it has seen."""
    text = tmp_path / "lm.txt"
    text.write_text("the cat sat on the mat\nthe dog sat on the mat\n" * 5)
    tokenizer = CharTokenizer()
    log_probs = peaked_log_probs(tokenizer.encode("the cat sat on the mat"), tokenizer.num_classes)
    c, k = 1 + tokenizer.tokens.index("c"), 1 + tokenizer.tokens.index("k")
    column = (log_probs[0, :, c] > -1).nonzero()[0].item()  # the frame of "c"
    log_probs[0, column, c] = log_probs[0, column, k] = math.log(0.49)
    decoder = LexiconBeamSearch(tokenizer, lm_text=str(text), lm_weight=2.0)
    assert decoder(log_probs, torch.tensor([log_probs.shape[1]])) == ["the cat sat on the mat"]


SEARCHES = {"greedy": GreedySearch, "beam": BeamSearch, "beam_lm": LexiconBeamSearch}


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF_DIR / "decoding").glob("*.yaml")))
def test_each_decoding_config_builds_its_search_class(tmp_path, name):
    from omegaconf import OmegaConf

    from seqrec.checkpoint import ALLOWED_TARGETS
    from seqrec.decoding import build_search

    lm_text = tmp_path / "lm.txt"
    lm_text.write_text("the cat sat on the mat\n")
    cfg = make_config(
        tmp_path, ["experiment=asr_synthetic", f"decoding={name}", f"data.lm_text={lm_text}"]
    )
    config = OmegaConf.to_container(cfg.decoding, resolve=True)
    assert config["_target_"] in ALLOWED_TARGETS  # a checkpoint stores it
    search = build_search(config, CharTokenizer())
    assert type(search) is SEARCHES[name] and search.method == name


def test_a_checkpoint_from_before_named_searches_loads_and_decodes_as_before(tmp_path):
    """Older checkpoints hold the tokenizer state ``{"kind": "char"}`` and the decoding
    ``{"method": ..., ...}``: they load, and decode as the same search named by class."""
    import pytorch_lightning as pl

    from seqrec.tasks.ctc import CTCTask

    lm_text = tmp_path / "lm.txt"
    lm_text.write_text("the cat sat on the mat\nthe dog sat on the log\n")
    config = {
        "_target_": "seqrec.modules.SequenceModel",
        "frontend": {
            "_target_": "seqrec.modules.AudioFrontend",
            "featurizer": {"_target_": "seqrec.modules.LogMelSpectrogram", "n_mels": 16},
        },
        "encoder": {"_target_": "seqrec.modules.ConvSubsampling", "input_dim": 16, "out_dim": 16},
        "decoder": {"_target_": "seqrec.modules.RecurrentDecoder", "input_dim": 16, "hidden": 8},
        "head": {"_target_": "seqrec.modules.CTCHead", "input_dim": 16, "num_classes": 29},
    }
    reader = {"_target_": "seqrec.data.audio.AudioReader", "sample_rate": 16000}
    torch.manual_seed(0)
    task = CTCTask(config, CharTokenizer(), reader, optimizer=torch.optim.SGD)
    with torch.no_grad():
        task.model.head.linear.weight.mul_(20)  # peaked scores: the searches differ
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu")
    trainer.strategy.connect(task)
    trainer.save_checkpoint(tmp_path / "new.ckpt", weights_only=True)
    checkpoint = torch.load(tmp_path / "new.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["tokenizer"] == {"kind": "char"}  # as before
    generator = torch.Generator().manual_seed(0)
    waves = [torch.randn(n, generator=generator) * 0.1 for n in (16000, 9000)]
    old_and_new = [
        ({"method": "greedy"}, {"_target_": "seqrec.decoding.GreedySearch", "_partial_": True}),
        (
            {"method": "beam", "beam_size": 4, "beam_threshold": 20.0},
            {"_target_": "seqrec.decoding.BeamSearch", "beam_size": 4, "beam_threshold": 20.0},
        ),
        (
            {"method": "beam_lm", "lm_text": str(lm_text), "lm_weight": 2.0},
            {
                "_target_": "seqrec.decoding.LexiconBeamSearch",
                "lm_text": str(lm_text),
                "lm_weight": 2.0,
            },
        ),
    ]
    for old, new in old_and_new:
        checkpoint["hyper_parameters"]["decoding"] = old
        torch.save(checkpoint, tmp_path / "old.ckpt")
        model = seqrec.load(tmp_path / "old.ckpt")
        assert type(model.search) is SEARCHES[old["method"]]
        assert model.decoding == {"_partial_": True, **new}  # the old settings, all of them
        expected = model.transcribe(waves)
        model.set_decoding(new)
        assert type(model.search) is SEARCHES[old["method"]]
        assert model.transcribe(waves) == expected, old


def test_arpa_model_is_normalised(tmp_path):
    sentences = ["the cat sat on the mat", "the dog sat on a log", "a cat saw a dog"]
    counts = estimate_arpa(sentences, tmp_path / "lm.arpa", order=3)
    assert counts["1"] == 12  # 9 words, </s>, <unk> and <s> (listed, never predicted)
    probs, backoffs = {}, {}
    for line in (tmp_path / "lm.arpa").read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            probs[tuple(fields[1].split())] = 10 ** float(fields[0])
            if len(fields) == 3:
                backoffs[tuple(fields[1].split())] = 10 ** float(fields[2])

    def p(ngram):
        if ngram in probs:
            return probs[ngram]
        return backoffs.get(ngram[:-1], 1.0) * p(ngram[1:])

    vocab = [w for (w,) in (k for k in probs if len(k) == 1) if w != "<s>"]
    for context in [("<s>",), ("the",), ("<s>", "the"), ("the", "cat"), ("sat", "on"), ("zebra",)]:
        assert sum(p((*context, w)) for w in vocab) == pytest.approx(1.0, abs=1e-5), context


def test_encoder_output_does_not_depend_on_batch_padding():
    model = tiny_ctc_model()
    lengths = [16000, 9000, 4001, 12345]
    waves = [torch.randn(n) * 0.1 for n in lengths]
    # the README's promise; measured: at most 4.8e-7 over 30 random models. The padded
    # frames hold log-probabilities too: the CTC loss and the search ignore them.
    assert_batch_invariant(model, waves, atol=1e-5, zero_padding=False)


def test_transcribe_returns_a_string_per_input_and_chunks_long_audio():
    transcriber = Transcriber(
        tiny_ctc_model(),
        CharTokenizer(),
        AudioReader(16000),
        chunk_seconds=2.0,
    )
    seen = []
    original = transcriber.model.forward
    transcriber.model.forward = lambda x, n: seen.append(n.tolist()) or original(x, n)
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
    transcriber = Transcriber(tiny_ctc_model(), tokenizer, AudioReader(16000), chunk_seconds=2.0)
    assert transcriber.frame_seconds == pytest.approx(0.04)  # 10 ms hop, subsampled 4 times
    network = transcriber.model.forward
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

    transcriber.model.forward = spike_on_sound
    bursts = [(0.5, 0.7), (2.6, 2.9), (4.2, 4.4), (6.0, 6.5)]
    audio = torch.randn(7 * 16000) * 1e-3
    for start, end in bursts:
        audio[int(start * 16000) : int(end * 16000)] += 0.5
    (transcript,) = transcriber.transcribe_with_times([audio])
    assert transcript.text == "aa aa aa aa" == transcriber.transcribe([audio])[0]
    assert transcript.input == "input[0]"
    for word, (start, end) in zip(transcript.words, bursts, strict=True):
        assert abs(word.start - start) <= 0.04 and abs(word.end - end) <= 0.04, (word, start, end)


def test_beam_search_and_greedy_give_the_same_word_times(bpe):
    tokenizer = CharTokenizer()
    ids = tokenizer.encode("hi yo")
    path = [0, 0, ids[0], 0, ids[1], ids[1], 0, 0, ids[2], 0, ids[3], 0, 0, ids[4], 0]
    log_probs = torch.log_softmax(
        10 * torch.nn.functional.one_hot(torch.tensor([path]), 29).float(), -1
    )
    lengths = torch.tensor([len(path)])
    greedy = GreedySearch(tokenizer).decode(log_probs, lengths)[0]
    beam = BeamSearch(tokenizer).decode(log_probs, lengths)[0]
    assert greedy.frames == [2, 4, 8, 10, 13]
    expected = [("hi", 0.2, 0.5), ("yo", 1.0, 1.4)]  # first frame, one after the last, 0.1 s each
    for hypothesis in (greedy, beam):
        times = word_times(hypothesis, tokenizer, 0.1)
        assert [(w.word, round(w.start, 6), round(w.end, 6)) for w in times] == expected
    # SentencePiece: a piece that begins with "▁" begins a word
    pieces = bpe.encode("the brave otter")
    times = word_times(Hypothesis("the brave otter", pieces, list(range(len(pieces)))), bpe, 1.0)
    assert [w.word for w in times] == ["the", "brave", "otter"]
    assert times[0].start == 0 and times[-1].end == len(pieces)


def test_rendered_utterances_know_where_each_word_starts():
    """With no reverberation and little noise, the audio is quiet before the first
    reported word start and loud just after it, and every later start falls inside
    the speech."""
    corpus = SyntheticSpeech(root="unused", reverb_prob=0.0, snr_db=(60.0, 60.0))
    tts = ESpeak()
    resample = torchaudio.transforms.Resample(tts.sample_rate, corpus.sample_rate)
    text = "bruno trapped your spooky laptop on the gorilla eagerly"
    for seed in range(3):
        audio, _, starts = speak(corpus, tts, resample, text, "m3", np.random.default_rng(seed))
        assert len(starts) == 9 and starts[6] is None  # eSpeak speaks "on the" as one word
        timed = [s for s in starts if s is not None]
        assert timed == sorted(timed) and timed[0] >= 0.05 and timed[-1] < audio.size / 16000 - 0.05
        first = int(timed[0] * 16000)
        before, after = audio[: first - 320], audio[first : first + 4800]  # 20 ms / 300 ms
        assert np.sqrt(np.mean(before**2)) < 0.01 * np.sqrt(np.mean(after**2))


def test_word_time_benchmark_pairs_correct_words_with_their_starts():
    from seqrec.bench.word_times import start_errors, summarise
    from seqrec.decoding import WordTime
    from seqrec.inference import Transcript

    words = [("the", 0.12), ("big", 0.3), ("rad", 0.5), ("cat", 0.9), ("sat", 1.25)]
    transcript = Transcript("the big rad cat sat", [WordTime(w, t, t + 0.1) for w, t in words])
    # "big" is inserted, "red" substituted; "cat" has no reference start
    errors, total, correct = start_errors(
        [transcript], ["the red cat sat"], [[0.1, 0.5, None, 1.2]]
    )
    assert errors == pytest.approx([0.02, 0.05]) and (total, correct) == (4, 3)
    stats = summarise(errors, total, correct, frame_seconds=0.04)
    assert stats["within_1_frame"] == 0.5 and stats["mean_abs_error_s"] == pytest.approx(0.035)
    assert summarise([], 4, 0, 0.04)["mean_error_s"] is None


def test_word_time_benchmark_reports_what_the_model_transcribed(
    asr_run, asr_data_dir, capsys, monkeypatch
):
    """The benchmark's counts and errors are those of the model's transcripts: first
    the trained checkpoint's, recounted here; then a stand-in whose transcripts are
    known (greedy: every word, 30 ms late; beam_lm: the second word of each utterance
    wrong, the rest 50 ms early)."""
    from seqrec.bench import word_times as bench
    from seqrec.decoding import WordTime
    from seqrec.inference import Transcript

    corpus = asr_data_dir / "asr_synthetic"
    checkpoint = str(asr_run / "checkpoints" / "best.ckpt")
    waveforms, texts, starts = bench.render_split(corpus, "test", 2)
    assert len(waveforms) == len(texts) == len(starts) == 2
    # eSpeak NG renders a sentence slightly differently each time: render it once
    monkeypatch.setattr(bench, "render_split", lambda *args: (waveforms, texts, starts))
    model = seqrec.load(checkpoint)
    monkeypatch.setattr(seqrec, "load", lambda path: model)
    total = sum(len(t.split()) for t in texts)

    def run() -> dict:
        bench.main([checkpoint, "--corpus", str(corpus), "--limit", "2"])
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    result = run()
    assert result["utterances"] == 2 and result["frame_seconds"] == 0.04
    for method in ("greedy", "beam_lm"):
        model.set_decoding(
            {"method": method, "lm_text": str(corpus / "lm_text.txt")}
            if method == "beam_lm"
            else {"method": method}
        )
        correct = timed = 0
        for transcript, text, reference_starts in zip(
            model.transcripts(waveforms, with_times=True), texts, starts, strict=True
        ):
            i = 0
            for ref, hyp in align_words(text.split(), [w.word for w in transcript.words]):
                correct += ref is not None and ref == hyp
                timed += ref is not None and ref == hyp and reference_starts[i] is not None
                i += ref is not None
        assert result[f"{method}_words"] == total, method
        assert (result[f"{method}_correct"], result[f"{method}_timed"]) == (correct, timed), method

    def stand_in(waveforms, batch_size=16, with_times=True):
        late = 0.03 if model.search.method == "greedy" else -0.05
        transcripts = []
        for text, reference_starts in zip(texts, starts, strict=True):
            words = text.split()
            if model.search.method == "beam_lm":
                words[1] = "zzz"
            times = [
                WordTime(w, (s or 0.0) + late, (s or 0.0) + late + 0.1)
                for w, s in zip(words, reference_starts, strict=True)
            ]
            transcripts.append(Transcript(" ".join(words), times))
        return transcripts

    monkeypatch.setattr(model, "transcripts", stand_in)
    result = run()
    timed = sum(s is not None for row in starts for s in row)
    timed_second = sum(row[1] is not None for row in starts)
    assert (result["greedy_words"], result["greedy_correct"], result["greedy_timed"]) == (
        total,
        total,
        timed,
    )
    assert result["greedy_mean_error_s"] == result["greedy_mean_abs_error_s"] == 0.03
    assert result["greedy_within_1_frame"] == result["greedy_within_100ms"] == 1.0
    assert (result["beam_lm_correct"], result["beam_lm_timed"]) == (total - 2, timed - timed_second)
    assert result["beam_lm_mean_error_s"] == -0.05 and result["beam_lm_mean_abs_error_s"] == 0.05
    assert result["beam_lm_within_1_frame"] == 0.0 and result["beam_lm_within_100ms"] == 1.0


def test_vocabulary_has_no_homophones_in_any_accent():
    """No two words of the grammar sound the same to eSpeak, in any accent we use."""
    tts = ESpeak()
    words = sorted(all_words())
    for accent in ENGLISH_ACCENTS:
        sounds: dict[str, list[str]] = {}
        for word in words:
            phonemes = tts.phonemes(word, accent).replace("'", "").replace(",", "")
            sounds.setdefault(phonemes, []).append(word)
        assert [w for w in sounds.values() if len(w) > 1] == [], accent


def test_corpus_holds_out_voices_sentences_and_words(asr_data_dir):
    root = asr_data_dir / "asr_synthetic"
    rows = {
        s: [json.loads(line) for line in (root / f"{s}.jsonl").open()]
        for s in ("train", "val", "test")
    }
    assert [len(rows[s]) for s in ("train", "val", "test")] == [24, 4, 4]
    voices = {s: {r["speaker"] for r in rows[s]} for s in rows}
    texts = {s: {r["text"] for r in rows[s]} for s in rows}
    assert (
        not voices["train"] & (voices["val"] | voices["test"])
        and not voices["val"] & voices["test"]
    )
    assert not texts["train"] & (texts["val"] | texts["test"])
    lm_text = set((root / "lm_text.txt").read_text().splitlines())
    assert len(lm_text) == 200 and not lm_text & (texts["val"] | texts["test"])
    stats = json.loads((root / "text_stats.json").read_text())
    assert stats["test_unseen_type_share"] > 0
    assert [stats[f"{s}_left_out"] for s in ("train", "val", "test")] == [0, 0, 0]


@pytest.mark.parametrize("experiment", ["asr_synthetic", "asr_synthetic_large"])
def test_full_size_corpus_text_keeps_a_quarter_of_test_word_types_unseen(experiment, tmp_path):
    cfg = make_config(tmp_path, [f"experiment={experiment}"])
    corpus = hydra.utils.instantiate(cfg.data.prepare)
    texts = corpus.texts()  # the preset's own settings; text only, no audio
    assert len(texts["train"]) == cfg.data.prepare.utterances.train
    train_words = {w for s in texts["train"] for w in s.split()}
    test_tokens = [w for s in texts["test"] for w in s.split()]
    unseen = set(test_tokens) - train_words
    assert len(unseen) / len(set(test_tokens)) >= 0.25
    assert not set(texts["train"]) & set(texts["test"])
    stats = text_statistics(texts)
    assert stats["test_unseen_type_share"] == round(len(unseen) / len(set(test_tokens)), 4)
    token_share = sum(w in unseen for w in test_tokens) / len(test_tokens)
    assert stats["test_unseen_token_share"] == round(token_share, 4)
    if corpus.word_frequencies == "zipf":  # the unseen words are the rare ones
        assert token_share < 0.5 * stats["test_unseen_type_share"]


def test_zipf_word_frequencies_fall_with_rank_and_put_held_out_words_last():
    train, full = split_vocabulary(0.4, seed=0)
    weights = zipf_weights(train, full, exponent=1.0, seed=0)
    nouns = sorted(full["noun"], key=weights["noun"].get, reverse=True)
    assert set(nouns[: len(train["noun"])]) == set(train["noun"])
    generate = SentenceGenerator(full, seed=1, weights=weights)
    counts = Counter(w for _ in range(20000) for w in generate().split())
    top, middle = counts[nouns[0]], counts[nouns[len(nouns) // 2]]
    # noun slots per sentence vary by template, so compare ratios loosely: 1/rank
    assert 0.5 * (len(nouns) // 2 + 1) < top / max(middle, 1) < 2.0 * (len(nouns) // 2 + 1)
    assert sum(counts[w] for w in set(full["noun"]) - set(train["noun"])) < 0.2 * sum(
        counts[w] for w in full["noun"]
    )
    uniform = SentenceGenerator(full, seed=1)
    counts = Counter(w for _ in range(20000) for w in uniform().split())
    held_out_share = sum(counts[w] for w in set(full["noun"]) - set(train["noun"])) / sum(
        counts[w] for w in full["noun"]
    )
    assert held_out_share == pytest.approx(0.4, abs=0.03)  # without weights: every noun alike
    with pytest.raises(ValueError, match="word_frequencies must be 'uniform' or 'zipf'"):
        SyntheticSpeech(root="unused", word_frequencies="zip")


def test_librispeech_preparation(librispeech_root, tmp_path):
    out = LibriSpeechPreparer(
        root=str(librispeech_root.parent), out_dir=str(tmp_path / "ls"), eval_subsets=["dev-clean"]
    )()
    train = [json.loads(line) for line in (out / "train.jsonl").open()]
    dev = [json.loads(line) for line in (out / "dev-clean.jsonl").open()]
    assert len(train) == len(dev) == 4
    assert train[0]["text"] == "northanger abbey chapter two's end" and train[0]["speaker"] == "19"
    assert [r["duration"] for r in dev[:2]] == [0.5, 1.0] and Path(
        dev[0]["audio_filepath"]
    ).is_file()
    (librispeech_root / "dev-clean" / "26" / "495" / "26-495-0001.flac").unlink()
    with pytest.raises(
        DatasetLayoutError, match=r"26-495\.trans\.txt:2: audio 26-495-0001\.flac not found"
    ):
        LibriSpeechPreparer(
            root=str(librispeech_root), out_dir=str(tmp_path / "ls2"), eval_subsets=["dev-clean"]
        )()


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
            frames = [model.model(torch.zeros(1, n), torch.tensor([n]))[1].item() for n in samples]
        too_short[factor] = sum(f < k for f, k in zip(frames, needed, strict=True))
    assert too_short[0.9] <= metrics[names.TRAIN_TOO_SHORT] <= too_short[1.1]
    assert (asr_run / "checkpoints" / "best.ckpt").is_file()


def test_load_transcribe_eval_and_predict(asr_run, asr_data_dir, tmp_path):
    checkpoint = asr_run / "checkpoints" / "best.ckpt"
    model = seqrec.load(checkpoint)
    assert isinstance(model, Transcriber)
    manifest = asr_data_dir / "asr_synthetic" / "test.jsonl"
    results = evaluate_transcriber(model, manifest)
    rows = [json.loads(line) for line in manifest.open()]
    hypotheses = model.transcribe([manifest.parent / r["audio_filepath"] for r in rows])
    wer, cer = error_rates(hypotheses, [normalize_text(r["text"]) for r in rows])
    assert results["num_examples"] == 4 and results["rtf"] > 0
    assert results["wer"] == pytest.approx(wer, abs=1e-6)
    assert results["cer"] == pytest.approx(cer, abs=1e-6)
    out = tmp_path / "pred.jsonl"
    wav = next((asr_data_dir / "asr_synthetic" / "test").glob("*/*.wav"))
    run_cli(
        "seqrec-predict",
        f"ckpt_path={checkpoint}",
        f"inputs=[{wav}]",
        f"output={out}",
        "decoding=beam_lm",
        f"lm_text={asr_data_dir / 'asr_synthetic' / 'lm_text.txt'}",
        "word_times=true",
        cwd=tmp_path,
    )
    rows = [json.loads(line) for line in out.open()]
    model.set_decoding(
        {
            "_target_": "seqrec.decoding.LexiconBeamSearch",
            "beam_size": 64,  # as conf/decoding/beam_lm.yaml, which the CLI used
            "lm_text": str(asr_data_dir / "asr_synthetic" / "lm_text.txt"),
        }
    )
    (expected,) = model.transcribe_with_times([wav])  # the CLI transcribes as the API does
    assert len(rows) == 1 and rows[0]["text"] == expected.text
    assert rows[0]["words"] == [w.as_dict() for w in expected.words]
    words = rows[0]["words"]
    assert " ".join(w["word"] for w in words) == rows[0]["text"]
    duration = sf.info(wav).duration
    assert all(0 <= w["start"] < w["end"] <= duration + 0.04 for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    train = asr_data_dir / "asr_synthetic" / "train.jsonl"
    result = run_cli(
        "seqrec-eval",
        f"ckpt_path={checkpoint}",
        f"manifest={manifest}",
        "decoding=beam",
        f"known_words={train}",
        f"output={tmp_path / 'eval.json'}",
        cwd=tmp_path,
    )
    assert '"decoding": "beam"' in result.stdout and '"wer"' in result.stdout
    scored = json.loads((tmp_path / "eval.json").read_text())
    test_words = sum(len(json.loads(line)["text"].split()) for line in manifest.open())
    assert scored["known_words"]["words"] + scored["unknown_words"]["words"] == test_words


def test_word_alignment_and_errors_on_known_and_unknown_words():
    assert align_words([], ["a"]) == [(None, "a")]
    assert align_words(["a", "b"], []) == [("a", None), ("b", None)]
    assert align_words(["the", "red", "cat", "sat"], ["the", "rad", "cat"]) == [
        ("the", "the"),
        ("red", "rad"),
        ("cat", "cat"),
        ("sat", None),
    ]
    groups = errors_by_known_words(
        ["the rad cat", "a dog ran"], ["the red cat sat", "a dog"], known={"the", "cat", "sat", "a"}
    )
    # known: the cat sat a (sat deleted: 3 of 10 characters); unknown: red (1 of 3), dog
    assert groups["known_words"] == {"words": 4, "wer": 0.25, "cer": 0.3}
    assert groups["unknown_words"]["words"] == 2
    assert groups["unknown_words"]["wer"] == 0.5
    assert groups["unknown_words"]["cer"] == pytest.approx(1 / 6)


def test_known_words_come_from_a_manifest_or_text_and_bad_text_names_the_line(tmp_path):
    manifest = tmp_path / "train.jsonl"
    write_manifest_lines(
        manifest, [{"audio_filepath": "a.wav", "duration": 1.0, "text": "Hello, World"}]
    )
    text = tmp_path / "words.txt"
    text.write_text("one two\nthree\n")
    assert read_known_words(manifest) == {"hello", "world"}
    assert read_known_words(text) == {"one", "two", "three"}
    text.write_text("fine\nroom 101\n")
    with pytest.raises(TextError, match=r"words\.txt:2"):
        read_known_words(text)

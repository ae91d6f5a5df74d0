"""The CTC searches (seqrec.core.ctc_search): greedy and beam search (with and without
an LM), the decoding configs, old checkpoints' search names, word times."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import seqrec
from seqrec.config import CONF_DIR
from seqrec.core.ctc_search import BeamSearch, GreedySearch, LexiconBeamSearch, build_search
from seqrec.core.results import Hypothesis, best_paths, word_times
from seqrec.inference.checkpoint import CheckpointError
from seqrec.text import CharTokenizer
from tests.conftest import make_config


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

    from seqrec.inference.checkpoint import ALLOWED_TARGETS

    lm_text = tmp_path / "lm.txt"
    lm_text.write_text("the cat sat on the mat\n")
    cfg = make_config(
        tmp_path, ["experiment=asr_synthetic", f"decoding={name}", f"data.lm_text={lm_text}"]
    )
    config = OmegaConf.to_container(cfg.decoding, resolve=True)
    assert config["_target_"] in ALLOWED_TARGETS  # a checkpoint stores it
    search = build_search(config, CharTokenizer())
    assert type(search) is SEARCHES[name] and search.method == name


def test_a_checkpoint_naming_the_searches_by_their_old_names_decodes_as_before(tmp_path):
    """Checkpoints written before the searches moved to seqrec.core.ctc_search name
    ``seqrec.decoding.*`` with ``_partial_``: they load through the one map of renamed
    targets and decode as the search of the new name. The ``{"method": ...}`` form
    of the first pre-release checkpoints is refused with the fix in the message."""
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
    generator = torch.Generator().manual_seed(0)
    waves = [torch.randn(n, generator=generator) * 0.1 for n in (16000, 9000)]
    for name, options in [("Greedy", {}), ("Beam", {"beam_size": 4, "beam_threshold": 20.0})]:
        old = {"_target_": f"seqrec.decoding.{name}Search", "_partial_": True, **options}
        checkpoint["hyper_parameters"]["decoding"] = old
        torch.save(checkpoint, tmp_path / "old.ckpt")
        model = seqrec.load(tmp_path / "old.ckpt")
        assert type(model.search) is SEARCHES[name.lower()]
        expected = model.transcribe(waves)
        model.set_decoding({"_target_": f"seqrec.core.ctc_search.{name}Search", **options})
        assert type(model.search) is SEARCHES[name.lower()]
        assert model.transcribe(waves) == expected
        assert any(expected)
    old = {"_target_": "seqrec.decoding.LexiconBeamSearch", "lm_text": str(lm_text)}
    checkpoint["hyper_parameters"]["decoding"] = old
    torch.save(checkpoint, tmp_path / "old.ckpt")
    # a file may not name the LM: the user gives it, and it is read into the model
    with pytest.raises(CheckpointError, match=r"old\.ckpt: refused to load: decoding\.lm_text"):
        seqrec.load(tmp_path / "old.ckpt")
    model = seqrec.load(tmp_path / "old.ckpt", decoding=old)
    assert type(model.search) is LexiconBeamSearch and "lm_text" not in model.decoding
    assert model.decoding["words"] == ["the", "cat", "sat", "on", "mat", "dog", "log"]
    checkpoint["hyper_parameters"]["decoding"] = {"method": "beam", "beam_size": 4}
    torch.save(checkpoint, tmp_path / "old.ckpt")
    with pytest.raises(ValueError, match=r"old\.ckpt: decoding names no search: give a _target_"):
        seqrec.load(tmp_path / "old.ckpt")


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


@st.composite
def ctc_paths(draw, vocab: int = 6, blank: int = 0):
    """A label sequence and one of its CTC alignments (repeats and blanks inserted)."""
    labels = draw(st.lists(st.integers(1, vocab - 1), max_size=10))
    frames = [blank] * draw(st.integers(0, 2))
    for i, token in enumerate(labels):
        if i > 0 and labels[i - 1] == token:
            frames.append(blank)  # a repeated label needs a blank between
        frames += [token] * draw(st.integers(1, 3))
        frames += [blank] * draw(st.integers(0, 2))
    return labels, frames


@settings(max_examples=200, deadline=None)
@given(paths=st.lists(ctc_paths(), min_size=1, max_size=4), noise=st.integers(0, 2**16))
def test_greedy_decoding_recovers_the_labels_of_any_alignment(paths, noise):
    lengths = [max(1, len(frames)) for _, frames in paths]
    generator = torch.Generator().manual_seed(noise)
    log_probs = torch.randn(
        len(paths), max(lengths) + 3, 6, generator=generator
    )  # padding holds noise
    for b, (_, frames) in enumerate(paths):
        peaked = torch.full((len(frames), 6), -10.0)
        peaked[torch.arange(len(frames)), torch.tensor(frames, dtype=torch.long)] = 0.0
        log_probs[b, : len(frames)] = peaked
        if not frames:
            log_probs[b, 0] = torch.tensor([0.0] + [-10.0] * 5)  # one blank frame
    decoded = best_paths(log_probs.argmax(dim=-1).numpy(), lengths)
    assert [tokens for tokens, _ in decoded] == [labels for labels, _ in paths]

"""seqrec.text.tokenizers: round trips, checkpoint state, and the sizes the CTC head reads."""

import json

import hydra
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqrec.text import CharTokenizer, SentencePieceTokenizer, normalize_text
from tests.conftest import make_config, write_manifest_lines

TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz' ", max_size=60)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_char_tokenizer_round_trips_normalised_text(text):
    tokenizer = CharTokenizer()
    ids = tokenizer.encode(text)
    assert all(1 <= i < tokenizer.num_classes for i in ids)
    assert tokenizer.decode(ids) == " ".join(normalize_text(text).split())


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

"""seqrec.core.ctc_search: flashlight-text's beam searches built from numpy, as
torchaudio's ``ctc_decoder`` builds them, give the same hypotheses it gives."""

import numpy as np
import pytest
import torch
from torchaudio.models.decoder import ctc_decoder

from seqrec.core.ctc_search import (
    FlashlightSearch,
    decoding_config,
    lexicon_search,
    read_words,
    search_method,
)
from seqrec.text import CharTokenizer
from seqrec.text.ngram import estimate_arpa
from seqrec.text.tokenizers import WORD_BOUNDARY

SENTENCES = ["the cat sat on the mat", "a dog ran up the hill", "the dog sat"]


def noisy_log_probs(text: str, tokenizer, frames_per_token=3, seed=0, noise=2.0) -> np.ndarray:
    """(1, T, V) log-probabilities peaked on the characters of ``text`` with blanks
    between them, plus noise: several paths compete."""
    rng = np.random.default_rng(seed)
    ids = tokenizer.encode(text)
    path = [t for i in ids for t in [i] * frames_per_token + [0]]
    scores = rng.normal(0, noise, (len(path), tokenizer.num_classes))
    scores[np.arange(len(path)), path] += 4.0
    scores -= np.log(np.exp(scores).sum(-1, keepdims=True))
    return scores[None].astype(np.float32)


def torchaudio_hypothesis(decoder, log_probs: np.ndarray, extra_columns: int):
    emissions = torch.from_numpy(log_probs)
    if extra_columns:
        pad = emissions.new_full((*emissions.shape[:2], extra_columns), -1e5)
        emissions = torch.cat([emissions, pad], dim=-1)
    best = decoder(emissions.contiguous(), torch.tensor([log_probs.shape[1]], dtype=torch.int32))
    hyp = best[0][0]
    return hyp.tokens.tolist(), (hyp.timesteps - 1).clamp(min=0).tolist()


@pytest.mark.parametrize("use_lm", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_same_hypotheses_as_torchaudio_ctc_decoder(tmp_path, use_lm, seed):
    tokenizer = CharTokenizer()
    tokens = tokenizer.decoder_tokens()
    options = {"beam_size": 8, "beam_threshold": 25.0}
    if use_lm:
        arpa = tmp_path / "lm.arpa"
        estimate_arpa(SENTENCES, arpa, 2)
        words = read_words_of(SENTENCES)
        lexicon = tmp_path / "lexicon.txt"
        lexicon.write_text("".join(f"{w}\t{' '.join(tokenizer.spell(w))}\n" for w in words))
        ours = FlashlightSearch(tokenizer, lexicon=words, lm_path=arpa, lm_weight=1.5, **options)
        theirs = ctc_decoder(
            lexicon=str(lexicon), tokens=tokens, lm=str(arpa), lm_weight=1.5, word_score=0.0,
            blank_token=tokens[0], sil_token=WORD_BOUNDARY, nbest=1, **options,
        )  # fmt: skip
    else:
        ours = FlashlightSearch(tokenizer, **options)
        theirs = ctc_decoder(
            lexicon=None, tokens=tokens, lm=None, blank_token=tokens[0],
            sil_token=WORD_BOUNDARY, nbest=1, **options,
        )  # fmt: skip
    log_probs = noisy_log_probs("the dog sat on the mat", tokenizer, seed=seed)
    got = ours.decode(log_probs, [log_probs.shape[1]])[0]
    tokens_expected, frames_expected = torchaudio_hypothesis(
        theirs, log_probs, len(tokens) - tokenizer.num_classes
    )
    assert got.tokens == tokens_expected and got.frames == frames_expected
    assert got.text == tokenizer.decode(tokens_expected) and got.text
    if use_lm:
        assert set(got.text.split()) <= set(read_words_of(SENTENCES))


def read_words_of(sentences):
    return list(dict.fromkeys(w for s in sentences for w in s.split()))


def test_a_batch_decodes_each_row_to_its_own_length():
    tokenizer = CharTokenizer()
    search = FlashlightSearch(tokenizer, beam_size=8, beam_threshold=25.0)
    a = noisy_log_probs("the cat", tokenizer, noise=0.5)
    b = noisy_log_probs("up", tokenizer, seed=1, noise=0.5)
    batch = np.zeros((2, a.shape[1], a.shape[2]), np.float32)
    batch[0], batch[1, : b.shape[1]] = a[0], b[0]
    batch[1, b.shape[1] :] = a[0, : a.shape[1] - b.shape[1]]  # padding that must be ignored
    together = search.decode(batch, [a.shape[1], b.shape[1]])
    alone = [search.decode(a, [a.shape[1]])[0], search.decode(b, [b.shape[1]])[0]]
    assert [h.text for h in together] == [h.text for h in alone] == ["the cat", "up"]


def test_lexicon_search_errors(tmp_path):
    tokenizer = CharTokenizer()
    with pytest.raises(ValueError, match=r"lm_path .*, decoding\.lm_text or decoding\.lm_arpa"):
        lexicon_search(tokenizer)
    with pytest.raises(FileNotFoundError, match=r"LM text .*missing\.txt not found"):
        lexicon_search(tokenizer, lm_text=str(tmp_path / "missing.txt"))
    arpa = tmp_path / "lm.arpa"
    estimate_arpa(SENTENCES, arpa, 2)
    with pytest.raises(ValueError, match=r"needs decoding\.lexicon"):
        lexicon_search(tokenizer, lm_path=str(arpa))


def test_read_words_keeps_the_first_column_of_a_lexicon(tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("cat c a t |\ndog d o g |\ncat k a t |\n")
    assert read_words(lexicon, is_lexicon=True) == ["cat", "dog"]
    assert read_words(lexicon, is_lexicon=False)[:5] == ["cat", "c", "a", "t", "|"]


def test_decoding_configs_name_a_search_old_names_under_new():
    assert decoding_config(None) == {"_target_": "seqrec.core.ctc_search.GreedySearch"}
    old = {"_target_": "seqrec.decoding.LexiconBeamSearch", "_partial_": True, "lm_text": "t.txt"}
    assert decoding_config(old) == {**old, "_target_": "seqrec.core.ctc_search.LexiconBeamSearch"}
    assert search_method(old) == "beam_lm"
    with pytest.raises(ValueError, match="none of"):
        search_method({"_target_": "os.system"})
    with pytest.raises(ValueError, match="names no search: give a _target_, one of greedy, beam"):
        decoding_config({"method": "beam"})


def test_an_lm_travels_as_arpa_text_whose_header_must_be_true(tmp_path):
    from seqrec.core.ctc_search import check_arpa, embed_decoding

    text = tmp_path / "lm.txt"
    text.write_text("".join(s + "\n" for s in SENTENCES))
    config = embed_decoding(
        {"_target_": "seqrec.decoding.LexiconBeamSearch", "lm_text": str(text), "lm_order": 2}
    )
    assert not {"lm_text", "lm_path", "lexicon", "lm_order"} & config.keys()
    counts = check_arpa(config["lm_arpa"])
    assert set(counts) == {1, 2}
    search = lexicon_search(CharTokenizer(), lm_arpa=config["lm_arpa"], words=config["words"])
    assert search.method == "beam_lm"
    lying = config["lm_arpa"].replace(f"ngram 1={counts[1]}", "ngram 1=1000000000")
    with pytest.raises(ValueError, match=r"header declares \{1: 1000000000"):
        lexicon_search(CharTokenizer(), lm_arpa=lying, words=config["words"])
    deep = config["lm_arpa"].replace("ngram 2=", "ngram 9=")
    with pytest.raises(ValueError, match="order 9"):
        check_arpa(deep)
    binary = tmp_path / "lm.bin"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match=r"lm\.bin: a language model travels .* as ARPA text"):
        embed_decoding(
            {
                "_target_": "seqrec.decoding.LexiconBeamSearch",
                "lm_path": str(binary),
                "lexicon": str(text),
            }
        )

"""seqrec.bench.word_times: word-start errors, paired with the words a model got right."""

import json

import pytest

import seqrec
from seqrec.evaluate import align_words


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

"""seqrec.bench.word_times: word-start errors, paired with the words a model got right."""

import pytest


def test_word_time_benchmark_pairs_correct_words_with_their_starts():
    from seqrec.bench.word_times import start_errors, summarise
    from seqrec.core.results import Transcript, WordTime

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

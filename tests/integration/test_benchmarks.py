"""The speech-to-text benchmarks (seqrec-bench-asr, seqrec-bench and
seqrec-bench-word-times) on a session-trained speech recogniser (``asr_run``): what they
report is what the model does, recounted here."""

import json
import time

import pytest

import seqrec
from seqrec.bench import asr_rtf
from seqrec.bench.asr_rtf import GREEDY
from seqrec.bench.suite import MEASUREMENTS, run
from seqrec.core.safe_config import LEXICON_BEAM
from seqrec.data.manifest import read_manifest
from seqrec.inference.evaluate import align_words
from seqrec.text import normalize_text
from tests.conftest import tiny_bench_overrides as _tiny
from tests.conftest import write_manifest_lines
from tests.helpers import error_rates


def test_both_commands_measure_one_asr_rtf(asr_run, asr_data_dir, monkeypatch, capsys):
    ticks = iter(range(10**6))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(ticks)))  # one second a reading
    checkpoint = str(asr_run / "checkpoints" / "best.ckpt")
    manifest = asr_data_dir / "asr_synthetic" / "test.jsonl"
    asr_rtf.main([checkpoint, "--manifest", str(manifest), "--greedy-only"])
    alone = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    skip = ",".join(m for m in MEASUREMENTS if m != "asr_rtf")
    suite = run(["--asr-ckpt", checkpoint, "--skip", skip, *_tiny(asr_data_dir)])
    assert (
        alone["utterances"]
        == suite["asr_rtf_utterances"]
        == len(read_manifest(manifest, target_key="text"))
    )
    assert alone["audio_seconds"] == pytest.approx(suite["asr_rtf_audio_seconds"], abs=0.01)
    assert (
        alone["asr_rtf"]
        == suite["asr_rtf"]
        == pytest.approx(2 / suite["asr_rtf_audio_seconds"], rel=1e-3)
    )


def test_seqrec_bench_asr_with_its_default_arguments(
    asr_run, asr_data_dir, tmp_path, monkeypatch, capsys
):
    """Only the checkpoint given: the manifest and LM text from their default paths
    (under the working directory), and both default decoders, greedy and beam_lm.
    Each decoder's WER and CER are those of the model transcribing the files itself."""
    corpus = asr_data_dir / "asr_synthetic"
    data = tmp_path / "data" / "asr_synthetic"  # the default paths; the LM is built here
    data.mkdir(parents=True)
    entries = read_manifest(corpus / "test.jsonl", target_key="text")
    write_manifest_lines(
        data / "test.jsonl",
        [{"audio_filepath": str(e.path), "duration": e.duration, "text": e.text} for e in entries],
    )
    (data / "lm_text.txt").write_text((corpus / "lm_text.txt").read_text())
    monkeypatch.chdir(tmp_path)
    checkpoint = str(asr_run / "checkpoints" / "best.ckpt")
    asr_rtf.main([checkpoint])
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert [line.split()[0] for line in out[2:-1]] == ["greedy", "beam_lm"]
    assert summary["utterances"] == len(entries)
    assert summary["asr_rtf"] == summary["rtf_greedy"] > 0 and summary["rtf_beam_lm"] > 0
    model = seqrec.load(checkpoint)
    references = [normalize_text(e.text) for e in entries]
    lm = {
        "_target_": "seqrec.core.ctc_search.LexiconBeamSearch",
        "lm_text": str(data / "lm_text.txt"),
    }
    for name, decoding in (("greedy", GREEDY), ("beam_lm", lm)):
        model.set_decoding(decoding)
        wer, cer = error_rates(model.transcribe([e.path for e in entries]), references)
        assert summary[f"wer_{name}"] == pytest.approx(wer, abs=1e-4), name
        assert summary[f"cer_{name}"] == pytest.approx(cer, abs=1e-4), name


def test_word_time_benchmark_reports_what_the_model_transcribed(
    asr_run, asr_data_dir, capsys, monkeypatch
):
    """The benchmark's counts and errors are those of the model's transcripts: first
    the trained checkpoint's, recounted here; then a stand-in whose transcripts are
    known (greedy: every word, 30 ms late; beam_lm: the second word of each utterance
    wrong, the rest 50 ms early)."""
    from seqrec.bench import word_times as bench
    from seqrec.core.results import Transcript, WordTime

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
    SEARCHES = {"greedy": GREEDY["_target_"], "beam_lm": LEXICON_BEAM}
    for method in ("greedy", "beam_lm"):
        model.set_decoding(
            {"_target_": SEARCHES[method], "lm_text": str(corpus / "lm_text.txt")}
            if method == "beam_lm"
            else {"_target_": SEARCHES[method]}
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

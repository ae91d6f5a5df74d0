"""seqrec.bench.asr_rtf: the real-time factor, on a stand-in model with a fake clock and through both commands."""

import json
import time

import pytest

import seqrec
from seqrec.bench import asr_rtf
from seqrec.bench.asr_rtf import GREEDY
from seqrec.bench.suite import MEASUREMENTS, run
from seqrec.data.audio import AudioReader
from seqrec.data.manifest import read_manifest
from seqrec.text import normalize_text
from tests.conftest import tiny_bench_overrides as _tiny
from tests.conftest import write_manifest_lines, write_wav
from tests.helpers import FakeClock, error_rates


def test_rtf_is_reading_and_transcribing_time_over_audio_seconds(tmp_path):
    clock = FakeClock()
    rows = [
        {
            "audio_filepath": str(write_wav(tmp_path / f"u{i}.wav", s, rate=8000, seed=i)),
            "duration": s,
            "text": text,
        }
        for i, (s, text) in enumerate([(1.0, "yes no"), (3.0, "up")])
    ]
    manifest = write_manifest_lines(tmp_path / "test.jsonl", rows)
    real_reader = AudioReader(16000)

    def read(*args):  # reading costs 0.25 s a file
        clock.advance(0.25)
        return real_reader(*args)

    class Model:  # transcribing costs 1 s a call
        sample_rate, decoding, reader = 16000, {"method": "greedy"}, staticmethod(read)

        def set_decoding(self, decoding) -> None:
            self.decoding = decoding

        def transcribe_waveforms(self, waveforms, batch_size):
            clock.advance(1.0)
            return ["yes no", "down"][: len(waveforms)]

    beam = {"_target_": "seqrec.decoding.BeamSearch"}
    results = asr_rtf.measure_rtf(Model(), manifest, {"greedy": GREEDY, "beam": beam}, clock=clock)
    assert results["utterances"] == 2 and results["audio_seconds"] == pytest.approx(
        4.0
    )  # resampled to 16 kHz
    for name in ("greedy", "beam"):  # each decoder timed over the whole set in turn
        timed = results[name]
        assert timed["seconds"] == pytest.approx(2 * 0.25 + 1.0)  # the warm-up is not timed
        assert timed["rtf"] == pytest.approx(1.5 / 4.0)
        assert timed["read_seconds"] == pytest.approx(0.5)
        assert timed["wer"] == pytest.approx(1 / 3)


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
    lm = {"_target_": "seqrec.decoding.LexiconBeamSearch", "lm_text": str(data / "lm_text.txt")}
    for name, decoding in (("greedy", GREEDY), ("beam_lm", lm)):
        model.set_decoding(decoding)
        wer, cer = error_rates(model.transcribe([e.path for e in entries]), references)
        assert summary[f"wer_{name}"] == pytest.approx(wer, abs=1e-4), name
        assert summary[f"cer_{name}"] == pytest.approx(cer, abs=1e-4), name

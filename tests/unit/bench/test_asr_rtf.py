"""seqrec.bench.asr_rtf: the real-time factor, on a stand-in model with a fake clock (the commands on a trained model: tests/integration/test_benchmarks.py)."""

import pytest

from seqrec.bench import asr_rtf
from seqrec.bench.asr_rtf import GREEDY
from seqrec.data.audio import AudioReader
from tests.conftest import write_manifest_lines, write_wav
from tests.helpers import FakeClock


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
        sample_rate, decoding, reader = 16000, GREEDY, staticmethod(read)

        def set_decoding(self, decoding) -> None:
            self.decoding = decoding

        def transcribe_waveforms(self, waveforms, batch_size):
            clock.advance(1.0)
            return ["yes no", "down"][: len(waveforms)]

    beam = {"_target_": "seqrec.core.ctc_search.BeamSearch"}
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
